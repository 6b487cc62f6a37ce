"""FEATURES [B, n_mels, T], FEATURES_LENGTH -> LOGPROBS [B, T', classes], LOGPROBS_LENGTH (ONNX Runtime)."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.asr.acoustic import AcousticModel
from triton_speech.runtime.backend import ModelArgs, ragged_input, ragged_output, serve
from triton_speech.runtime.model_settings import QuartzNetSettings


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        settings = model.settings(QuartzNetSettings)
        self.model = AcousticModel.load(model.directory / settings.onnx_model, settings.intra_op_threads,
                                        model.placement())
        self.max_frames = settings.max_frames

    def execute(self, requests):
        # All requests of the dynamic batch run as one padded ONNX Runtime batch.
        return serve(pb_utils, requests, self.parse, self.model, self.pack)

    def parse(self, request):
        return ragged_input(pb_utils, request, "FEATURES", "FEATURES_LENGTH", axis=-1, max_length=self.max_frames)

    def pack(self, logprobs):
        return ragged_output(pb_utils, "LOGPROBS", "LOGPROBS_LENGTH", logprobs, axis=0)

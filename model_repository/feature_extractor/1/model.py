"""AUDIO [B, N] (+ optional AUDIO_LENGTH) -> FEATURES [B, n_mels, T], FEATURES_LENGTH [B, 1], by the exported
front-end graph (frontend.onnx) in ONNX Runtime: every request's rows of the dynamic batch in one run."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.asr.features import OnnxMelFrontend
from triton_speech.runtime.backend import ModelArgs, audio_rows, ragged_output, serve
from triton_speech.runtime.model_settings import FeatureExtractorSettings


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.settings = model.settings(FeatureExtractorSettings)
        self.frontend = OnnxMelFrontend.load(model.directory, self.settings.intra_op_threads, model.placement())

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, self.frontend, self.pack)

    def parse(self, request):
        return audio_rows(pb_utils, request, self.settings)

    def pack(self, features):
        return ragged_output(pb_utils, "FEATURES", "FEATURES_LENGTH", features, axis=-1)

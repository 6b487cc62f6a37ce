"""AUDIO [B, N] (+ optional AUDIO_LENGTH) -> FEATURES [B, n_mels, T], FEATURES_LENGTH [B, 1], by the exported
front-end graph (frontend.onnx) in ONNX Runtime: every request's rows of the dynamic batch in one run."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.asr.features import OnnxMelFrontend
from triton_speech.runtime.backend import ModelArgs, audio_rows, ragged_output, serve


class TritonPythonModel:
    def initialize(self, args):
        self.model = ModelArgs(args)
        self.frontend = OnnxMelFrontend.load(self.model.directory, int(self.model.parameter("intra_op_threads", "0")),
                                             self.model.placement())

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, self.frontend, self.pack)

    def parse(self, request):
        return audio_rows(pb_utils, request, self.model)

    def pack(self, features):
        return ragged_output(pb_utils, "FEATURES", "FEATURES_LENGTH", features, axis=-1)

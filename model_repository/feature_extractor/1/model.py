"""AUDIO [B, N] (+ optional AUDIO_LENGTH) -> FEATURES [B, n_mels, T], FEATURES_LENGTH [B, 1], by the exported
front-end graph (frontend.onnx) in ONNX Runtime: every request's rows of the dynamic batch in one run."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.asr.features import OnnxMelFrontend
from triton_speech.runtime.backend import ModelArgs, input_array, ragged_output, serve
from triton_speech.runtime.inputs import split_rows


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.frontend = OnnxMelFrontend.load(model.directory, int(model.parameter("intra_op_threads", "0")))
        self.sample_rate = int(model.parameter("sample_rate"))
        self.max_samples = int(float(model.parameter("max_audio_seconds")) * self.sample_rate)

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, self.frontend, self.pack)

    def parse(self, request):
        return split_rows(
            input_array(pb_utils, request, "AUDIO"),
            input_array(pb_utils, request, "AUDIO_LENGTH"),
            min_samples=self.frontend.config.hop_length,
            max_samples=self.max_samples,
            sample_rate=self.sample_rate,
        )

    def pack(self, features):
        return ragged_output(pb_utils, "FEATURES", "FEATURES_LENGTH", features, axis=-1)

"""AUDIO [B, N] (+ optional AUDIO_LENGTH) -> FEATURES [B, n_mels, T], FEATURES_LENGTH [B, 1]."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.asr.features import MelFrontend
from triton_speech.runtime.backend import ModelArgs, input_array, ragged_output, serve
from triton_speech.runtime.inputs import split_rows


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.frontend = MelFrontend.load(model.path("frontend"))
        self.sample_rate = int(model.parameter("sample_rate"))
        self.max_samples = int(float(model.parameter("max_audio_seconds")) * self.sample_rate)

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, self.compute, self.pack)

    def parse(self, request):
        return split_rows(
            input_array(pb_utils, request, "AUDIO"),
            input_array(pb_utils, request, "AUDIO_LENGTH"),
            min_samples=self.frontend.config.hop_length,
            max_samples=self.max_samples,
            sample_rate=self.sample_rate,
        )

    def compute(self, rows):
        return [self.frontend(audio) for audio in rows]

    def pack(self, features):
        return ragged_output(pb_utils, "FEATURES", "FEATURES_LENGTH", features, axis=-1)

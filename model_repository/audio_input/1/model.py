"""AUDIO [B, N] (+ optional AUDIO_LENGTH) -> CHECKED_AUDIO [B, N'], CHECKED_AUDIO_LENGTH [B, 1] INT64.

The asr ensemble's first step on the NGC target: the same checks as the pip target's feature_extractor (empty,
shorter than a frame, NaN/Inf, over the limit: INVALID_ARG naming the row), before the front-end graph, which a
native backend serves without checking anything.
"""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.backend import ModelArgs, audio_rows, ragged_output, serve
from triton_speech.runtime.model_settings import AudioLimits


class TritonPythonModel:
    def initialize(self, args):
        self.limits = ModelArgs(args).settings(AudioLimits)

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, lambda rows: rows, self.pack)

    def parse(self, request):
        return audio_rows(pb_utils, request, self.limits)

    def pack(self, rows):
        return ragged_output(pb_utils, "CHECKED_AUDIO", "CHECKED_AUDIO_LENGTH", rows, axis=0)

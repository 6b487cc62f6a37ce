"""MEL [B, n_mel, F], MEL_LENGTH (+ SEED) -> AUDIO [B, F*256] 22050 Hz, AUDIO_LENGTH, by Griffin-Lim."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.backend import ModelArgs, ragged_input, ragged_output, seed_inputs, serve
from triton_speech.runtime.model_settings import GriffinLimSettings
from triton_speech.runtime.tts.griffin_lim import griffin_lim


class TritonPythonModel:
    def initialize(self, args):
        settings = ModelArgs(args).settings(GriffinLimSettings)
        self.iterations, self.max_frames = settings.iterations, settings.max_mel_frames

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, self.compute, self.pack)

    def parse(self, request):
        mels = ragged_input(pb_utils, request, "MEL", "MEL_LENGTH", axis=-1, max_length=self.max_frames)
        return list(zip(mels, seed_inputs(pb_utils, request, len(mels))))

    def compute(self, rows):
        return [griffin_lim(mel, seed, self.iterations) for mel, seed in rows]

    def pack(self, audio):
        return ragged_output(pb_utils, "AUDIO", "AUDIO_LENGTH", audio, axis=0)

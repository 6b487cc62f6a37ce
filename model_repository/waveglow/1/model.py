"""MEL [B, n_mel, F], MEL_LENGTH (+ SEED, SIGMA, DENOISER_STRENGTH) -> AUDIO [B, F*256] 22050 Hz, AUDIO_LENGTH."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.backend import ModelArgs, optional_scalars, ragged_input, ragged_output, seed_inputs, serve
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.tts.waveglow import WaveGlowEngine, request_audio


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        self.engine = WaveGlowEngine.load(
            model.path("onnx_model"),
            sigma=float(model.parameter("sigma")),
            denoiser_strength=float(model.parameter("denoiser_strength")),
            intra_op_threads=int(model.parameter("intra_op_threads", "0")),
            device=model.parameter("device", "cpu"),
        )
        self.max_frames = int(model.parameter("max_mel_frames"))

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, self.compute, self.pack)

    def parse(self, request):
        mels = ragged_input(pb_utils, request, "MEL", "MEL_LENGTH", axis=-1, max_length=self.max_frames)
        seeds = seed_inputs(pb_utils, request, len(mels))
        sigmas = optional_scalars(pb_utils, request, "SIGMA", len(mels), self.engine.sigma)
        strengths = optional_scalars(pb_utils, request, "DENOISER_STRENGTH", len(mels), self.engine.denoiser_strength)
        for name, values in (("SIGMA", sigmas), ("DENOISER_STRENGTH", strengths)):
            if any(not 0.0 <= v < float("inf") for v in values):
                raise InputError(f"{name} must be a finite non-negative number, got {values}")
        return list(zip(mels, seeds, sigmas, strengths))

    def compute(self, rows):
        mels, seeds, sigmas, strengths = zip(*rows)
        return request_audio(self.engine, mels, seeds, sigmas, strengths)

    def pack(self, audio):
        return ragged_output(pb_utils, "AUDIO", "AUDIO_LENGTH", audio, axis=0)

"""MEL [B, n_mel, F], MEL_LENGTH (+ SEED, SIGMA, DENOISER_STRENGTH) -> AUDIO [B, F*256] 22050 Hz, AUDIO_LENGTH."""

import triton_python_backend_utils as pb_utils

from triton_speech.runtime.backend import ModelArgs, ragged_input, ragged_output, seed_inputs, serve, waveglow_inputs
from triton_speech.runtime.model_settings import WaveGlowSettings
from triton_speech.runtime.tts.waveglow import WaveGlowEngine, request_audio


class TritonPythonModel:
    def initialize(self, args):
        model = ModelArgs(args)
        settings = model.settings(WaveGlowSettings)
        self.engine = WaveGlowEngine.load(model.directory / settings.onnx_model, sigma=settings.sigma,
                                          denoiser_strength=settings.denoiser_strength,
                                          intra_op_threads=settings.intra_op_threads, device=model.placement())
        self.max_frames = settings.max_mel_frames

    def execute(self, requests):
        return serve(pb_utils, requests, self.parse, self.compute, self.pack)

    def parse(self, request):
        mels = ragged_input(pb_utils, request, "MEL", "MEL_LENGTH", axis=-1, max_length=self.max_frames)
        seeds = seed_inputs(pb_utils, request, len(mels))
        sigmas, strengths = waveglow_inputs(pb_utils, request, len(mels), self.engine.sigma,
                                            self.engine.denoiser_strength)
        return list(zip(mels, seeds, sigmas, strengths))

    def compute(self, rows):
        mels, seeds, sigmas, strengths = zip(*rows)
        return request_audio(self.engine, mels, seeds, sigmas, strengths)

    def pack(self, audio):
        return ragged_output(pb_utils, "AUDIO", "AUDIO_LENGTH", audio, axis=0)

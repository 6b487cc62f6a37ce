"""The ``tts`` ensemble in-process: text -> sentences -> Tacotron2 -> joined mel -> vocoder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from triton_speech.defaults import GRIFFIN_LIM_ITERATIONS
from triton_speech.runtime.tts.griffin_lim import griffin_lim
from triton_speech.runtime.tts.sentences import sentence_sequences
from triton_speech.runtime.tts.stft import SAMPLE_RATE
from triton_speech.runtime.tts.tacotron2 import Tacotron2Engine, request_mels
from triton_speech.runtime.tts.waveglow import WaveGlowEngine, request_audio


@dataclass
class Speech:
    audio: np.ndarray  # float32 samples at SAMPLE_RATE
    hit_step_limit: bool  # Tacotron2 never decided to stop: the audio is cut at max_decoder_steps


class TTSPipeline:
    """The ``tts`` ensemble in-process: text -> sentences -> Tacotron2 -> joined mel -> vocoder, where the
    vocoder is WaveGlow or, with ``waveglow`` None, Griffin-Lim (the ``griffin_lim`` model). Text is normalized as
    ``text_normalization`` says, by default as the Tacotron2 export records for its checkpoint."""

    sample_rate = SAMPLE_RATE

    def __init__(self, tacotron2: Tacotron2Engine, waveglow: WaveGlowEngine | None, max_sentence_chars: int,
                 griffin_lim_iterations: int = GRIFFIN_LIM_ITERATIONS, text_normalization: str | None = None):
        self.tacotron2 = tacotron2
        self.text_normalization = text_normalization or tacotron2.text_normalization
        self.waveglow = waveglow
        self.max_sentence_chars = max_sentence_chars
        self.griffin_lim_iterations = griffin_lim_iterations

    def __call__(self, text: str, seed: int = 0, sigma: float | None = None,
                 denoiser_strength: float | None = None) -> Speech:
        (speech,) = self.batch([text], [seed], sigma, denoiser_strength)
        return speech

    def batch(self, texts: Sequence[str], seeds: Sequence[int], sigma: float | None = None,
              denoiser_strength: float | None = None) -> list[Speech]:
        """Many texts decoded and vocoded together, as the served models do with a dynamic batch."""
        mels = request_mels(self.tacotron2, [
            (sentence_sequences(text, self.max_sentence_chars, normalization=self.text_normalization), seed)
            for text, seed in zip(texts, seeds)])
        if self.waveglow is None:
            if sigma is not None or denoiser_strength is not None:  # as the served griffin_lim ensemble refuses them
                raise ValueError("sigma and denoiser_strength are WaveGlow's: this pipeline vocodes with Griffin-Lim")
            audio = [griffin_lim(m.mel, seed, self.griffin_lim_iterations) for m, seed in zip(mels, seeds)]
        else:
            sigma = self.waveglow.sigma if sigma is None else sigma
            strength = self.waveglow.denoiser_strength if denoiser_strength is None else denoiser_strength
            audio = request_audio(self.waveglow, [m.mel for m in mels], seeds, [sigma] * len(mels),
                                  [strength] * len(mels))
        return [Speech(a, m.hit_step_limit) for a, m in zip(audio, mels)]

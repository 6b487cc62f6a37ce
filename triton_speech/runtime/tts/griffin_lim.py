"""Griffin-Lim vocoding of DLE log-mels (librosa's transforms): a vocoder with no weights.

The phase recovery is librosa's fast Griffin-Lim (``librosa.griffinlim``, momentum 0.99), except that the initial
phases are drawn frame by frame: librosa draws them bin by bin over the whole spectrogram, so a frame's initial
phase would depend on how many frames follow it. Drawn per frame, a window of frames starts from the same phases
as the whole mel, which lets ``GriffinLimStream`` vocode a mel as it grows, window by window, and stay close to
vocoding it whole.
"""

from __future__ import annotations

import numpy as np

from triton_speech.defaults import GRIFFIN_LIM_ITERATIONS
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.tts.stft import HOP, MEL_FMAX, SAMPLE_RATE, STFT_SIZE

BINS = STFT_SIZE // 2 + 1
MOMENTUM = 0.99  # librosa's fast Griffin-Lim


def magnitudes(mel: np.ndarray) -> np.ndarray:
    """DLE log-mel ``[n_mel, F]`` -> linear magnitude spectrogram ``[BINS, F]`` (librosa's non-negative least
    squares inversion of the mel bands)."""
    import librosa

    return librosa.feature.inverse.mel_to_stft(np.exp(mel.astype(np.float32)), sr=SAMPLE_RATE, n_fft=STFT_SIZE,
                                               power=1.0, fmin=0.0, fmax=MEL_FMAX)


def draw_phases(generator: np.random.Generator, frames: int) -> np.ndarray:
    """Initial phases of the next ``frames`` frames ``[BINS, frames]`` (complex64), drawn frame after frame."""
    return np.exp(2j * np.pi * generator.random((frames, BINS))).T.astype(np.complex64)


def phase_recovery(magnitude: np.ndarray, phases: np.ndarray, iterations: int = GRIFFIN_LIM_ITERATIONS) -> np.ndarray:
    """Fast Griffin-Lim from the given initial ``phases``: ``F * HOP`` samples (librosa's loop)."""
    import librosa

    angles = phases * magnitude
    eps = np.finfo(np.float32).tiny
    previous = None
    for _ in range(iterations):
        inverse = librosa.istft(angles, hop_length=HOP, n_fft=STFT_SIZE)
        rebuilt = librosa.stft(inverse, n_fft=STFT_SIZE, hop_length=HOP, pad_mode="constant")
        angles = rebuilt if previous is None else rebuilt - (MOMENTUM / (1 + MOMENTUM)) * previous
        angles = angles / (np.abs(angles) + eps) * magnitude
        previous = rebuilt
    audio = librosa.istft(angles, hop_length=HOP, n_fft=STFT_SIZE)
    # F centred frames span (F - 1) hops; the last hop is silence, so lengths match WaveGlow's F * HOP.
    return np.pad(audio.astype(np.float32), (0, magnitude.shape[1] * HOP - audio.shape[0]))


def griffin_lim(mel: np.ndarray, seed: int = 0, iterations: int = GRIFFIN_LIM_ITERATIONS) -> np.ndarray:
    """DLE log-mel ``[n_mel, F]`` -> ``F * HOP`` samples at 22050 Hz by Griffin-Lim phase recovery.

    A vocoder that needs no training: buzzier than a trained WaveGlow, but intelligible, so a Tacotron2 can be
    heard (and judged) before a WaveGlow for its voice exists. ``seed`` draws the initial phases.
    """
    if mel.ndim != 2 or mel.shape[1] == 0:
        raise InputError(f"MEL must be [n_mel, frames] with at least one frame, got {list(mel.shape)}")
    return phase_recovery(magnitudes(mel), draw_phases(np.random.default_rng(seed), mel.shape[1]), iterations)


class GriffinLimStream:
    """One request's Griffin-Lim over windows of its mel, for streaming: ``stream(window, start)`` vocodes mel frames
    ``[start, start + window frames)``. Windows move forward (each starts at or after the previous one's start).

    Magnitudes are computed once per frame and initial phases are those of the whole mel, so only the iterations
    see a window's edges: their effect fades within ``context_frames`` of the edge, which the caller crops.
    """

    def __init__(self, seed: int, iterations: int, context_frames: int):
        self.generator = np.random.default_rng(seed)
        self.iterations = iterations
        self.context_frames = context_frames
        self.offset = 0  # the frame the cached columns start at
        self.drawn = 0  # phases drawn so far (frames)
        self.magnitude = np.zeros((BINS, 0), dtype=np.float32)
        self.phases = np.zeros((BINS, 0), dtype=np.complex64)

    def __call__(self, mel: np.ndarray, start: int) -> np.ndarray:
        end = start + mel.shape[1]
        if start < self.offset:
            raise ValueError(f"window at frame {start} is behind the previous one at {self.offset}")
        cached_end = self.offset + self.magnitude.shape[1]
        keep = slice(min(start, cached_end) - self.offset, None)
        self.magnitude, self.phases, self.offset = self.magnitude[:, keep], self.phases[:, keep], start
        first = max(start, cached_end)
        if end > first:
            if first > self.drawn:  # frames no window needed: their phases are drawn all the same
                draw_phases(self.generator, first - self.drawn)
            self.magnitude = np.concatenate([self.magnitude, magnitudes(mel[:, first - start:])], axis=1)
            self.phases = np.concatenate([self.phases, draw_phases(self.generator, end - first)], axis=1)
            self.drawn = end
        return phase_recovery(self.magnitude[:, : end - start], self.phases[:, : end - start], self.iterations)

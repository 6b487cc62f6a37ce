"""A live stream's audio (``gateway/live.py``): frames in, 16 kHz chunks out, the recording as it is stored; the
frame checks and the limits. Expectations come from numpy and soxr's one-shot resampling, not from the code under
test."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from triton_speech.gateway.live import FrameError, LiveAudio, LiveLimits, quantized

LIMITS = LiveLimits(max_seconds=10.0, max_frame_seconds=1.0, ahead_seconds=5.0)
CHUNK = 5120  # 320 ms at 16 kHz, the streaming client's chunk


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def frames(samples: np.ndarray, size: int) -> list[bytes]:
    return [samples[start : start + size].tobytes() for start in range(0, samples.shape[0], size)]


def speech_like(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Noise shaped below 4 kHz, at speech level."""
    noise = np.random.default_rng(seed).standard_normal(int(seconds * rate))
    spectrum = np.fft.rfft(noise)
    spectrum[np.fft.rfftfreq(noise.shape[0], 1 / rate) > 4000] = 0
    shaped = np.fft.irfft(spectrum, noise.shape[0])
    return (0.2 * shaped / np.abs(shaped).max()).astype(np.float32)


def test_16_bit_frames_at_16_khz_pass_through_exactly_in_chunks():
    pcm = quantized(speech_like(1.5, 16000))
    live = LiveAudio(16000, "s16le", LIMITS)
    chunks = [chunk for frame in frames(pcm, 800) for chunk in live.add(frame)]  # 50 ms frames
    live.finish()
    assert [c.shape[0] for c in chunks] == [CHUNK] * 4  # 24000 samples: 4 whole chunks, the rest kept back
    assert np.array_equal(np.concatenate(chunks), pcm[: 4 * CHUNK].astype(np.float32) / 32768)
    assert np.array_equal(live.recording(), pcm)
    assert live.seconds == 1.5


def test_float_frames_are_quantized_as_a_wav_of_them_stores():
    audio = speech_like(0.5, 16000)
    audio[:3] = [1.5, -1.5, 0.5 / 32768]  # beyond full scale: clipped; half a step: rounded
    live = LiveAudio(16000, "f32le", LIMITS)
    for frame in frames(audio, 1600):
        live.add(frame)
    recording = live.recording()
    assert recording[:3].tolist() == [32767, -32768, 0]
    assert np.array_equal(recording, np.clip(np.round(audio.astype(np.float64) * 32768), -32768, 32767))


@pytest.mark.parametrize("rate", [48000, 44100, 8000])
def test_other_rates_are_resampled_as_soxr_resamples_the_whole(rate):
    audio = speech_like(2.0, rate, seed=1)
    live = LiveAudio(rate, "s16le", LIMITS)
    pcm = quantized(audio)
    chunks = [chunk for frame in frames(pcm, rate // 20) for chunk in live.add(frame)]
    live.finish()
    expected = soxr.resample(pcm.astype(np.float32) / 32768, rate, 16000, quality="HQ")
    recording = live.recording().astype(np.float32) / 32768
    assert recording.shape[0] == expected.shape[0] == 32000
    # frame by frame within a 16-bit step or two of the whole at once
    assert np.abs(recording - expected).max() < 3 / 32768
    sent = np.concatenate(chunks)
    assert np.array_equal(sent, recording[: sent.shape[0]])  # the chunks are the stored samples


def test_the_frame_that_passes_the_limit_is_cut_there():
    live = LiveAudio(16000, "s16le", LiveLimits(1.0, 1.0, 5.0))
    pcm = quantized(speech_like(1.2, 16000))
    live.add(pcm[:12000].tobytes())
    assert not live.full
    live.add(pcm[12000:].tobytes())
    assert live.full and live.recording().shape[0] == 16000 and live.seconds == 1.0
    assert live.add(pcm[:800].tobytes()) == []  # nothing more is taken
    assert live.recording().shape[0] == 16000


def test_audio_may_run_only_so_far_ahead_of_the_clock():
    clock = Clock()
    live = LiveAudio(16000, "s16le", LiveLimits(60.0, 1.0, 2.0), clock=clock)
    second = np.zeros(16000, np.int16).tobytes()
    live.add(second)
    live.add(second)  # 2 s at once: at the allowance
    with pytest.raises(FrameError, match="faster than it is spoken"):
        live.add(second)
    clock.now = 1.5  # a microphone's pace from here on is fine
    live.add(second)
    assert live.seconds == 3.0


@pytest.mark.parametrize("encoding, frame, problem", [
    ("s16le", b"\x00\x01\x02", "whole int16 samples"),
    ("f32le", b"\x00" * 6, "whole float32 samples"),
    ("s16le", b"", "whole int16 samples"),
    ("s16le", b"\x00" * 2 * 16001, "at most 1 s"),
    ("f32le", np.array([0.1, np.nan], "<f4").tobytes(), "NaN or infinite"),
    ("f32le", np.array([np.inf], "<f4").tobytes(), "NaN or infinite"),
])
def test_bad_frames_are_refused_with_the_reason(encoding, frame, problem):
    live = LiveAudio(16000, encoding, LIMITS)
    with pytest.raises(FrameError, match=problem):
        live.add(frame)
    assert live.seconds == 0


@pytest.mark.parametrize("rate, encoding, problem", [
    (4000, "s16le", "sample_rate 4000 Hz is not supported"),
    (384000, "s16le", "sample_rate 384000 Hz is not supported"),
    (16000, "mulaw", "format 'mulaw' is not supported"),
])
def test_bad_stream_formats_are_refused(rate, encoding, problem):
    with pytest.raises(FrameError, match=problem):
        LiveAudio(rate, encoding, LIMITS)

"""Uploaded recordings to the 16 kHz mono float32 the ``asr`` ensemble takes, and synthesized speech to WAV.

Browsers record WebM/Opus (Chrome, Firefox) or MP4/AAC (Safari); people upload WAV, FLAC, OGG and MP3. PyAV
(FFmpeg's libraries, in its wheels) decodes them all. FFmpeg can do far more than decode audio: some demuxers
(HLS playlists, concat lists) open further files or URLs named inside the upload. Only the demuxers of the
audio formats above are allowed, so an upload can never make the gateway read anything but itself.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr

from triton_speech import defaults
from triton_speech.client.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

# FFmpeg demuxer -> (file suffix, media type) of the stored upload. Demuxer names are FFmpeg's: "matroska,webm"
# is one demuxer, matched by either name.
FORMATS = {
    "wav": (".wav", "audio/wav"),
    "flac": (".flac", "audio/flac"),
    "ogg": (".ogg", "audio/ogg"),
    "matroska,webm": (".webm", "audio/webm"),
    "mp3": (".mp3", "audio/mpeg"),
    "mov,mp4,m4a,3gp,3g2,mj2": (".m4a", "audio/mp4"),
    "aac": (".aac", "audio/aac"),
}
ALLOWED_DEMUXERS = ",".join(name for names in FORMATS for name in names.split(","))
SUFFIXES = tuple(sorted({suffix for suffix, _ in FORMATS.values()}))
PROBE_BYTES = 8192


class AudioError(ValueError):
    """An upload that is not usable audio; the message says why, for the person who sent it."""


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32 mono at sample_rate
    sample_rate: int
    suffix: str  # of the container found, never of the name the client gave
    media_type: str

    @property
    def seconds(self) -> float:
        return self.samples.shape[0] / self.sample_rate


def decode(data: bytes, sample_rate: int, max_seconds: float) -> DecodedAudio:
    """Decode an upload, mix it to mono and resample it to ``sample_rate``, one frame at a time.

    Each decoded frame is mixed and resampled before the next is decoded, and decoding stops as soon as the audio
    is longer than ``max_seconds``: memory is bounded by ``max_seconds`` at ``sample_rate`` (plus one frame), never
    by what the file claims (a small file of hours of silence, or of 384 kHz and 8 channels, costs no more)."""
    import av

    if not data:
        raise AudioError("the uploaded file is empty")
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore", options={
            "format_whitelist": ALLOWED_DEMUXERS,
            # Audio containers say what they hold in their first kilobytes; FFmpeg's default probe reads far more
            # (about 10 ms per upload here) to learn what decoding tells anyway.
            "probesize": str(PROBE_BYTES)})
    except av.FFmpegError as error:
        raise AudioError(f"not an audio file in a supported format ({_supported()}): {_reason(error)}") from None
    with container:
        suffix, media_type = FORMATS.get(container.format.name, (None, None))
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if suffix is None or stream is None:
            raise AudioError(f"the file holds no audio stream (supported: {_supported()})")
        try:
            mono = _decode_mono(container, stream, sample_rate, max_seconds)
        except av.FFmpegError as error:
            raise AudioError(f"the audio could not be decoded: {_reason(error)}") from None
    return DecodedAudio(mono, sample_rate, suffix, media_type)


class _Mixer:
    """Decoded frames in, float32 mono at the target rate out, chunk by chunk, counting the source samples."""

    def __init__(self, rate: int, sample_rate: int, max_seconds: float):
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise AudioError(f"sample rate {rate} Hz is not supported ({MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz)")
        self.limit, self.max_seconds, self.samples, self.chunks = max_seconds * rate, max_seconds, 0, []
        self.stream = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ") \
            if rate != sample_rate else None

    def add(self, converted, last: bool = False) -> None:
        # Interleaved float32 at the stream's own rate and channels, mixed as load_audio mixes
        chunk = converted.to_ndarray().reshape(-1, len(converted.layout.channels)).mean(axis=1, dtype=np.float32) \
            if converted is not None else np.zeros(0, np.float32)
        self.samples += chunk.shape[0]
        if self.samples > self.limit:
            raise AudioError(f"the recording is longer than {self.max_seconds:g} s, the limit: send a shorter one")
        self.chunks.append(self.stream.resample_chunk(chunk, last=last) if self.stream is not None else chunk)

    def mono(self) -> np.ndarray:
        if self.samples == 0:
            raise AudioError("the file holds no audio samples")
        self.add(None, last=True)  # the resampler's tail
        return np.ascontiguousarray(np.concatenate(self.chunks), dtype=np.float32)


def _decode_mono(container, stream, sample_rate: int, max_seconds: float) -> np.ndarray:
    import av

    converter = av.AudioResampler(format="flt")
    mixer = None
    for frame in container.decode(stream):
        mixer = mixer or _Mixer(frame.sample_rate, sample_rate, max_seconds)
        for converted in converter.resample(frame):
            mixer.add(converted)
    if mixer is None:
        raise AudioError("the file holds no audio samples")
    for converted in converter.resample(None):  # what the converter still holds
        mixer.add(converted)
    return mixer.mono()


def trim_silence(samples: np.ndarray, sample_rate: int, threshold_db: float, lead_s: float,
                 tail_s: float) -> tuple[np.ndarray, float]:
    """The audio from ``lead_s`` before its first sound to ``tail_s`` after its last, and the seconds cut from the
    start (word times of the trimmed audio are that much later in the recording). A sound is a 10 ms frame no more
    than ``-threshold_db`` below the loudest frame; audio of one loudness throughout is kept whole."""
    frame = sample_rate // 100
    frames = samples.shape[0] // frame
    if frames == 0:
        return samples, 0.0
    power = np.mean(samples[: frames * frame].astype(np.float64).reshape(frames, frame) ** 2, axis=1)
    sounds = np.nonzero(power >= power.max() * 10 ** (threshold_db / 10))[0]
    start = max(0, sounds[0] * frame - int(lead_s * sample_rate))
    end = min(samples.shape[0], (sounds[-1] + 1) * frame + int(tail_s * sample_rate))
    return samples[start:end], start / sample_rate


def for_asr(decoded: DecodedAudio, trim: bool) -> tuple[np.ndarray, float]:
    """What the gateway sends to the asr model, and the seconds cut from the start (see ``trim_silence``)."""
    if not trim:
        return decoded.samples, 0.0
    return trim_silence(decoded.samples, decoded.sample_rate, defaults.TRIM_SILENCE_DB, defaults.TRIM_LEAD_S,
                        defaults.TRIM_TAIL_S)


def encode(audio: np.ndarray, sample_rate: int, container: str = "wav") -> bytes:
    """16-bit PCM in a WAV or FLAC file, what every browser and player reads."""
    # Quantized here, once: libsndfile rounds floats differently for WAV and FLAC.
    pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)
    buffer = io.BytesIO()
    soundfile.write(buffer, pcm, sample_rate, format=container.upper(), subtype="PCM_16")
    return buffer.getvalue()


def _supported() -> str:
    return "WAV, FLAC, OGG, WebM, MP3, MP4/M4A, AAC"


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)

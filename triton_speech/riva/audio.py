"""Audio as Riva requests carry it, to the 16 kHz mono float32 the ASR models take; synthesized speech to the
encoding and rate a Riva request asks for.

Recognize: LINEAR_PCM (raw 16-bit little-endian at ``sample_rate_hertz``, or a WAV file's bytes), FLAC, OGGOPUS
(Opus or Vorbis in Ogg), MULAW and ALAW (raw G.711 bytes), and ENCODING_UNSPECIFIED with a WAV (or FLAC, Ogg) file's
bytes, header included, which is what the official Riva scripts send. A header's rate and channels win over an
unset ``sample_rate_hertz`` / ``audio_channel_count``; a set one that disagrees with the header is refused.
Streaming: the same raw encodings, or a WAV file's bytes cut anywhere (the header in the first messages).
Every rate is resampled (soxr) and channels are mixed to mono. Bad audio raises InputError naming the problem.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
import soundfile
import soxr
from riva.client.proto.riva_audio_pb2 import AudioEncoding

from triton_speech import defaults
from triton_speech.client.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from triton_speech.runtime.errors import InputError

UNSPECIFIED, LINEAR_PCM, FLAC, MULAW, OGGOPUS, ALAW = (AudioEncoding.ENCODING_UNSPECIFIED, AudioEncoding.LINEAR_PCM,
                                                        AudioEncoding.FLAC, AudioEncoding.MULAW, AudioEncoding.OGGOPUS,
                                                        AudioEncoding.ALAW)
# Sample formats of raw audio: bytes per sample and how libsndfile names it (numpy reads 16-bit PCM and float).
SAMPLE_FORMATS = {"PCM_16": 2, "FLOAT": 4, "ULAW": 1, "ALAW": 1}
RAW_FORMATS = {LINEAR_PCM: "PCM_16", MULAW: "ULAW", ALAW: "ALAW"}
CONTAINERS = {b"RIFF": "WAV", b"fLaC": "FLAC", b"OggS": "Ogg"}
# The containers each encoding may come in (None: raw samples)
ACCEPTED = {UNSPECIFIED: {"WAV", "FLAC", "Ogg"}, LINEAR_PCM: {"WAV", None}, FLAC: {"FLAC"}, OGGOPUS: {"Ogg"},
            MULAW: {"WAV", None}, ALAW: {"WAV", None}}
KINDS = {"WAV": "a WAV file", "FLAC": "a FLAC file", "Ogg": "an Ogg file", None: "raw samples"}
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def encoding_name(encoding: int) -> str:
    try:
        return AudioEncoding.Name(encoding)
    except ValueError:
        return str(encoding)


def _check_encoding(encoding: int, allowed) -> None:
    if encoding not in allowed:
        names = ", ".join(encoding_name(e) for e in allowed)
        raise InputError(f"encoding {encoding_name(encoding)} is not supported here (supported: {names})")


def _check_rate(rate: int, what: str) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise InputError(f"{what} {rate} Hz is not supported ({MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz)")


def container_of(data: bytes) -> str | None:
    """The container a file's bytes start with, or None."""
    kind = CONTAINERS.get(bytes(data[:4]))
    return None if kind == "WAV" and data[8:12] != b"WAVE" else kind


def _check_header(container: str, rate: int, channels: int, sample_rate_hz: int, channel_count: int) -> None:
    if sample_rate_hz and sample_rate_hz != rate:
        raise InputError(f"sample_rate_hertz is {sample_rate_hz} but the {container} header says {rate} Hz: "
                         "leave it 0 or send the header's rate")
    if channel_count and channel_count != channels:
        raise InputError(f"audio_channel_count is {channel_count} but the {container} header says {channels}: "
                         "leave it 0 or send the header's count")


def to_model(frames: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """``[samples, channels]`` float at ``rate`` -> mono float32 at ``target_rate``."""
    mono = frames.mean(axis=1) if frames.shape[1] > 1 else frames[:, 0]
    if rate != target_rate:
        mono = soxr.resample(mono, rate, target_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def raw_frames(data: bytes, sample_format: str, channels: int, rate: int) -> np.ndarray:
    """Raw interleaved samples -> ``[samples, channels]`` float32 in [-1, 1]."""
    if sample_format == "PCM_16":
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    elif sample_format == "FLOAT":
        samples = np.frombuffer(data, dtype="<f4").astype(np.float32)
    else:
        samples, _ = soundfile.read(io.BytesIO(data), format="RAW", subtype=sample_format, samplerate=rate,
                                    channels=channels, dtype="float32", always_2d=True)
        return samples
    return samples.reshape(-1, channels)


def decode(data: bytes, encoding: int, sample_rate_hz: int, channel_count: int, target_rate: int,
           max_seconds: float) -> np.ndarray:
    """A whole recording (RecognizeRequest.audio) as mono float32 at ``target_rate``; longer than ``max_seconds``
    is refused before it is decoded."""
    _check_encoding(encoding, ACCEPTED)
    if not data:
        raise InputError("the audio is empty: send the recording's bytes in RecognizeRequest.audio")
    container = container_of(data)
    if container not in ACCEPTED[encoding]:
        found = KINDS[container] if container else "not a WAV, FLAC or Ogg file (no header)"
        expected = " or ".join(KINDS[c] for c in sorted(ACCEPTED[encoding], key=lambda c: (c is None, str(c))))
        raise InputError(f"encoding {encoding_name(encoding)} needs {expected}, but the audio is {found}: "
                         "set the encoding the bytes have")
    if container is None:
        return _decode_raw(data, encoding, sample_rate_hz, channel_count, target_rate, max_seconds)
    try:
        info = soundfile.info(io.BytesIO(data))
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise InputError(f"the {container} audio cannot be read: {error}") from None
    _check_header(container, info.samplerate, info.channels, sample_rate_hz, channel_count)
    _check_rate(info.samplerate, f"the {container} file's sample rate")
    _check_length(info.frames / info.samplerate, max_seconds)
    try:
        frames, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as error:
        raise InputError(f"the {container} audio cannot be decoded: {error}") from None
    if frames.shape[0] == 0:
        raise InputError(f"the {container} file holds no audio samples")
    return to_model(frames, rate, target_rate)


def _decode_raw(data: bytes, encoding: int, sample_rate_hz: int, channel_count: int, target_rate: int,
                max_seconds: float) -> np.ndarray:
    if sample_rate_hz <= 0:
        raise InputError(f"{encoding_name(encoding)} audio without a WAV header needs sample_rate_hertz (the "
                         "recording's rate): it is 0")
    _check_rate(sample_rate_hz, "sample_rate_hertz")
    channels = channel_count or 1
    if channels < 0:
        raise InputError(f"audio_channel_count must be positive, got {channels}")
    sample_format = RAW_FORMATS[encoding]
    frame_bytes = SAMPLE_FORMATS[sample_format] * channels
    if len(data) % frame_bytes:
        raise InputError(f"{encoding_name(encoding)} audio of {channels} channel(s) comes in {frame_bytes}-byte "
                         f"frames; {len(data)} bytes is not a whole number of them")
    _check_length(len(data) / frame_bytes / sample_rate_hz, max_seconds)
    return to_model(raw_frames(data, sample_format, channels, sample_rate_hz), sample_rate_hz, target_rate)


def _check_length(seconds: float, max_seconds: float) -> None:
    if seconds > max_seconds:
        raise InputError(f"the audio is {seconds:.1f} s long; the limit is {max_seconds:g} s")


@dataclass(frozen=True)
class WavFormat:
    sample_format: str
    channels: int
    rate: int
    data_offset: int  # where the samples start
    data_bytes: int | None  # the samples' length, None when the header does not say (a stream's placeholder)


# WAV format tags -> libsndfile sample formats, with the bits they must have
WAV_TAGS = {(1, 16): "PCM_16", (3, 32): "FLOAT", (7, 8): "ULAW", (6, 8): "ALAW"}
EXTENSIBLE = 0xFFFE


def parse_wav_header(data: bytes) -> WavFormat | None:
    """The format and where the samples start, once ``data`` holds the whole header (None until then)."""
    offset, fmt = 12, None
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        if chunk == b"data":
            if fmt is None:
                raise InputError("the WAV header has no 'fmt ' chunk before its samples")
            known = None if size in (0, 0xFFFFFFFF) else size
            return WavFormat(*fmt, data_offset=offset + 8, data_bytes=known)
        if offset + 8 + size > len(data):
            return None
        if chunk == b"fmt ":
            if size < 16:
                raise InputError("the WAV header's 'fmt ' chunk is too short")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, offset + 8)
            if tag == EXTENSIBLE and size >= 26:
                tag = struct.unpack_from("<H", data, offset + 8 + 24)[0]  # the sub-format GUID's first field
            if (tag, bits) not in WAV_TAGS:
                raise InputError(f"the WAV holds format {tag} with {bits}-bit samples; streaming takes 16-bit PCM, "
                                 "32-bit float, mu-law or A-law WAV (or send the file whole to Recognize)")
            if channels < 1:
                raise InputError("the WAV header says 0 channels")
            fmt = (WAV_TAGS[(tag, bits)], channels, rate)
        offset += 8 + size + (size & 1)  # chunks are padded to even lengths
    return None


class StreamDecoder:
    """The audio of a StreamingRecognize call, message by message: raw samples, or a WAV file's bytes whose header
    (in the first messages) says the format. ``feed`` returns the new samples, ``finish`` the last ones."""

    STREAMING = (UNSPECIFIED, LINEAR_PCM, MULAW, ALAW)

    def __init__(self, encoding: int, sample_rate_hz: int, channel_count: int, target_rate: int,
                 max_header_bytes: int = defaults.RIVA_MAX_WAV_HEADER_BYTES):
        if encoding in (FLAC, OGGOPUS):
            raise InputError(f"streaming recognition takes LINEAR_PCM (raw, or a WAV file's bytes), MULAW or ALAW; "
                             f"send {encoding_name(encoding)} audio whole to Recognize")
        _check_encoding(encoding, self.STREAMING)
        if sample_rate_hz:
            _check_rate(sample_rate_hz, "sample_rate_hertz")
        if channel_count < 0:
            raise InputError(f"audio_channel_count must be positive, got {channel_count}")
        self.encoding, self.sample_rate_hz, self.channel_count = encoding, sample_rate_hz, channel_count
        self.target_rate = target_rate
        self.max_header_bytes = max_header_bytes
        self.format: tuple[str, int, int] | None = None  # sample format, channels, rate, once known
        self._head = b""  # bytes before the format is known
        self._rest = b""  # a partial frame
        self._left: int | None = None  # sample bytes the WAV header announced and not yet read
        self._resampler = None
        self.seconds = 0.0  # audio received so far

    def feed(self, data: bytes) -> np.ndarray:
        if self.format is None:
            data = self._header(self._head + data)
            if self.format is None:
                return np.zeros(0, dtype=np.float32)
        if self._left is not None:
            data, self._left = data[: self._left], self._left - min(self._left, len(data))
        return self._samples(self._rest + data, last=False)

    def finish(self) -> np.ndarray:
        if self.format is None:
            if self._head and self.encoding != UNSPECIFIED:  # a few raw bytes that looked like a WAV's start
                return self._samples(self._raw(self._head), last=True)
            if self._head:
                raise InputError("the stream ended inside its WAV header")
            return np.zeros(0, dtype=np.float32)
        return self._samples(self._rest, last=True)

    def _header(self, data: bytes) -> bytes:
        """Learn the format from the first bytes; returns the samples' bytes after the header (empty while the
        header is incomplete)."""
        if len(data) < 12 and b"RIFF".startswith(data[:4]):  # too short to tell yet
            self._head = data
            return b""
        if container_of(data) != "WAV":
            return self._raw(data)
        found = parse_wav_header(data)
        if found is None:
            if len(data) > self.max_header_bytes:
                raise InputError(f"the WAV header is longer than {self.max_header_bytes} bytes")
            self._head = data
            return b""
        _check_header("WAV", found.rate, found.channels, self.sample_rate_hz, self.channel_count)
        _check_rate(found.rate, "the WAV file's sample rate")
        if self.encoding in (MULAW, ALAW) and found.sample_format != RAW_FORMATS[self.encoding] or \
                self.encoding == LINEAR_PCM and found.sample_format not in ("PCM_16", "FLOAT"):
            raise InputError(f"encoding is {encoding_name(self.encoding)} but the WAV holds {found.sample_format}")
        self._start(found.sample_format, found.channels, found.rate)
        self._left = found.data_bytes
        self._head = b""
        return data[found.data_offset :]

    def _raw(self, data: bytes) -> bytes:
        if self.encoding == UNSPECIFIED:
            raise InputError("encoding is ENCODING_UNSPECIFIED but the audio does not start with a WAV header: "
                             "set encoding (LINEAR_PCM with sample_rate_hertz) for raw samples")
        if self.sample_rate_hz <= 0:
            raise InputError(f"{encoding_name(self.encoding)} audio without a WAV header needs sample_rate_hertz "
                             "(the recording's rate): it is 0")
        self._start(RAW_FORMATS[self.encoding], self.channel_count or 1, self.sample_rate_hz)
        self._head = b""
        return data

    def _start(self, sample_format: str, channels: int, rate: int) -> None:
        self.format = (sample_format, channels, rate)
        if rate != self.target_rate:
            self._resampler = soxr.ResampleStream(rate, self.target_rate, 1, dtype="float32", quality="HQ")

    def _samples(self, data: bytes, last: bool) -> np.ndarray:
        sample_format, channels, rate = self.format
        frame_bytes = SAMPLE_FORMATS[sample_format] * channels
        whole = len(data) - len(data) % frame_bytes
        if last and whole < len(data):
            raise InputError(f"the stream ended inside a frame: {len(data) - whole} bytes left over "
                             f"({frame_bytes}-byte frames of {channels} channel(s))")
        self._rest = data[whole:]
        frames = raw_frames(data[:whole], sample_format, channels, rate) if whole else np.zeros((0, channels))
        self.seconds += frames.shape[0] / rate
        mono = (frames.mean(axis=1) if channels > 1 else frames[:, 0]).astype(np.float32)
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono, last=last)
        return np.ascontiguousarray(mono, dtype=np.float32)


# --- synthesized speech --------------------------------------------------------------------------------------

SYNTHESIS = (LINEAR_PCM, FLAC, MULAW, OGGOPUS, ALAW)  # what Synthesize returns (UNSPECIFIED means LINEAR_PCM)
SYNTHESIS_STREAMING = (LINEAR_PCM, MULAW, ALAW)  # what SynthesizeOnline returns, chunk by chunk


def output_format(encoding: int, sample_rate_hz: int, native_rate: int, streaming: bool) -> tuple[int, int]:
    """(encoding, rate) of synthesized audio for a request: UNSPECIFIED is LINEAR_PCM, rate 0 the model's own."""
    encoding = encoding or LINEAR_PCM
    if streaming and encoding in (FLAC, OGGOPUS):
        raise InputError(f"SynthesizeOnline returns LINEAR_PCM, MULAW or ALAW chunks; ask Synthesize for "
                         f"{encoding_name(encoding)}")
    _check_encoding(encoding, SYNTHESIS_STREAMING if streaming else SYNTHESIS)
    rate = sample_rate_hz or native_rate
    _check_rate(rate, "sample_rate_hz")
    if encoding == OGGOPUS and rate not in OPUS_RATES:
        raise InputError(f"OGGOPUS audio comes at {', '.join(map(str, OPUS_RATES))} Hz; sample_rate_hz is {rate}")
    return encoding, rate


def pcm16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


def encode(samples: np.ndarray, encoding: int) -> bytes:
    """Mono float32 at its final rate -> the bytes of one response: raw samples (LINEAR_PCM: 16-bit little-endian
    as Riva sends it, no header; MULAW, ALAW: G.711 bytes)."""
    if encoding == LINEAR_PCM:
        return pcm16(samples).astype("<i2").tobytes()
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 8000, format="RAW", subtype=RAW_FORMATS[encoding])  # the rate is not stored
    return buffer.getvalue()


def encode_file(samples: np.ndarray, rate: int, encoding: int) -> bytes:
    """Whole synthesized speech in ``encoding``: raw samples, or a FLAC / Ogg Opus file."""
    if encoding not in (FLAC, OGGOPUS):
        return encode(samples, encoding)
    buffer = io.BytesIO()
    if encoding == FLAC:
        soundfile.write(buffer, pcm16(samples), rate, format="FLAC", subtype="PCM_16")
    else:
        soundfile.write(buffer, samples, rate, format="OGG", subtype="OPUS")
    return buffer.getvalue()


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    if rate == target_rate:
        return samples
    return soxr.resample(samples, rate, target_rate, quality="HQ").astype(np.float32)


class StreamEncoder:
    """Synthesized chunks at ``rate`` -> response bytes at ``target_rate`` (one resampler over the whole stream, so
    that chunk edges leave no trace)."""

    def __init__(self, rate: int, target_rate: int, encoding: int):
        self.encoding = encoding
        self._resampler = None if rate == target_rate else soxr.ResampleStream(rate, target_rate, 1, dtype="float32",
                                                                               quality="HQ")

    def encode(self, samples: np.ndarray, last: bool) -> bytes:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=last)
        return encode(samples, self.encoding)

"""Request audio to the models' 16 kHz and synthesized audio to what a Riva request asks for, without a server.
Expectations come from soundfile (libsndfile) reading and writing the same audio, and from numpy."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
import soxr
from hypothesis import given
from hypothesis import strategies as st

from tests.support.audio import speechlike
from triton_speech.riva import audio
from triton_speech.riva.audio import ALAW, FLAC, LINEAR_PCM, MULAW, OGGOPUS, UNSPECIFIED
from triton_speech.runtime.errors import InputError

RATE = 16000


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def as_read(data: bytes) -> np.ndarray:
    """The file's samples as libsndfile reads them (float32, channels mixed)."""
    samples, _ = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return samples.mean(axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return speechlike(1.5, seed=3)


def test_a_wav_files_bytes_decode_as_libsndfile_reads_them(clip):
    data = wav_bytes(clip, RATE)
    for encoding in (UNSPECIFIED, LINEAR_PCM):
        assert np.array_equal(audio.decode(data, encoding, 0, 0, RATE, 60), as_read(data))
    # raw samples: the same without the header
    pcm = data[44:]
    assert np.array_equal(audio.decode(pcm, LINEAR_PCM, RATE, 1, RATE, 60), as_read(data))


def test_other_rates_and_channels_are_mixed_and_resampled(clip):
    stereo = np.stack([clip, 0.5 * clip], axis=1)
    rate = 44100
    resampled = soxr.resample(stereo, RATE, rate)
    data = wav_bytes(resampled, rate)
    expected = soxr.resample(as_read(data), rate, RATE, quality="HQ")
    decoded = audio.decode(data, UNSPECIFIED, 0, 0, RATE, 60)
    assert decoded.dtype == np.float32 and np.allclose(decoded, expected, atol=1e-6)
    raw = audio.decode(data[44:], LINEAR_PCM, rate, 2, RATE, 60)
    assert np.allclose(raw, expected, atol=1e-6)


@pytest.mark.parametrize("encoding, fmt, subtype", [(FLAC, "FLAC", "PCM_16"), (OGGOPUS, "OGG", "OPUS"),
                                                    (OGGOPUS, "OGG", "VORBIS"), (UNSPECIFIED, "FLAC", "PCM_24")])
def test_compressed_files(clip, encoding, fmt, subtype):
    buffer = io.BytesIO()
    soundfile.write(buffer, clip, RATE, format=fmt, subtype=subtype)
    data = buffer.getvalue()
    assert np.array_equal(audio.decode(data, encoding, 0, 0, RATE, 60), as_read(data))


@pytest.mark.parametrize("encoding, subtype", [(MULAW, "ULAW"), (ALAW, "ALAW")])
def test_raw_g711(clip, encoding, subtype):
    buffer = io.BytesIO()
    soundfile.write(buffer, clip, 8000, format="RAW", subtype=subtype)
    data = buffer.getvalue()
    expected, _ = soundfile.read(io.BytesIO(data), format="RAW", subtype=subtype, samplerate=8000, channels=1,
                                 dtype="float32")
    decoded = audio.decode(data, encoding, 8000, 1, RATE, 60)
    assert np.allclose(decoded, soxr.resample(expected, 8000, RATE, quality="HQ"), atol=1e-6)


@pytest.mark.parametrize("data, encoding, rate, channels, message", [
    (b"", UNSPECIFIED, 0, 0, "the audio is empty"),
    (b"\x01\x02" * 100, UNSPECIFIED, 0, 0,
     "ENCODING_UNSPECIFIED needs a FLAC file or an Ogg file or a WAV file, but the audio is not a WAV"),
    ("wav", FLAC, 0, 0, "encoding FLAC needs a FLAC file, but the audio is a WAV file"),
    ("wav", OGGOPUS, 0, 0, "encoding OGGOPUS needs an Ogg file, but the audio is a WAV file"),
    ("flac", LINEAR_PCM, 0, 0, "LINEAR_PCM needs a WAV file or raw samples, but the audio is a FLAC file"),
    (b"\x01\x02" * 100, LINEAR_PCM, 0, 0, "needs sample_rate_hertz"),
    (b"\x01\x02" * 100 + b"\x01", LINEAR_PCM, 16000, 1, "2-byte frames; 201 bytes is not a whole number"),
    (b"\x01\x02" * 101, LINEAR_PCM, 16000, 2, "4-byte frames; 202 bytes"),
    (b"\x01\x02" * 100, LINEAR_PCM, 1000, 1, "sample_rate_hertz 1000 Hz is not supported"),
    ("wav", UNSPECIFIED, 8000, 0, "sample_rate_hertz is 8000 but the WAV header says 16000 Hz"),
    ("wav", UNSPECIFIED, 0, 2, "audio_channel_count is 2 but the WAV header says 1"),
    (b"RIFF\x10\x00\x00\x00WAVEfmt \x02\x00\x00\x00", UNSPECIFIED, 0, 0, "the WAV audio cannot be read"),
    (b"\x01\x02" * 100, 9, 16000, 1, "encoding 9 is not supported here"),
])
def test_bad_audio_is_refused_with_a_message(clip, data, encoding, rate, channels, message):
    if data == "wav":
        data = wav_bytes(clip, RATE)
    elif data == "flac":
        buffer = io.BytesIO()
        soundfile.write(buffer, clip, RATE, format="FLAC")
        data = buffer.getvalue()
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        audio.decode(data, encoding, rate, channels, RATE, 60)


def test_audio_longer_than_the_limit_is_refused_before_decoding(clip):
    data = wav_bytes(np.tile(clip, 4), RATE)  # 6 s
    with pytest.raises(InputError, match="the audio is 6.0 s long; the limit is 5 s"):
        audio.decode(data, UNSPECIFIED, 0, 0, RATE, 5)
    with pytest.raises(InputError, match="6.0 s long"):
        audio.decode(data[44:], LINEAR_PCM, RATE, 1, RATE, 5)


def stream(decoder: audio.StreamDecoder, data: bytes, cuts: list[int]) -> np.ndarray:
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
    return np.concatenate([*(decoder.feed(p) for p in pieces), decoder.finish()])


@given(st.lists(st.integers(1, 4000), max_size=12))
def test_a_streamed_wav_cut_anywhere_decodes_as_the_whole_file(cuts):
    samples = speechlike(0.25, seed=5)
    stereo = np.stack([samples, -samples], axis=1)
    data = wav_bytes(stereo, RATE) + b"LIST\x04\x00\x00\x00junk"  # a chunk after the samples is no audio
    cuts = sorted(set(c for c in cuts if c < len(data)))
    decoder = audio.StreamDecoder(UNSPECIFIED, 0, 0, RATE)
    assert np.array_equal(stream(decoder, data, cuts), as_read(wav_bytes(stereo, RATE)))
    assert decoder.seconds == pytest.approx(0.25)


def test_a_streamed_wav_with_a_long_header_and_raw_pcm_streams(clip):
    data = wav_bytes(clip, RATE)
    long_header = data[:12] + b"LIST" + (1000).to_bytes(4, "little") + b"\x00" * 1000 + data[12:]
    assert np.array_equal(stream(audio.StreamDecoder(LINEAR_PCM, 0, 0, RATE), long_header, [3, 30, 700, 1100]),
                          as_read(data))
    raw = stream(audio.StreamDecoder(LINEAR_PCM, RATE, 1, RATE), data[44:], [1, 3201, 6401])
    assert np.array_equal(raw, as_read(data))


def test_a_streamed_44khz_wav_is_resampled_as_the_whole(clip):
    rate = 44100
    data = wav_bytes(soxr.resample(clip, RATE, rate), rate)
    whole = audio.decode(data, UNSPECIFIED, 0, 0, RATE, 60)
    streamed = stream(audio.StreamDecoder(UNSPECIFIED, 0, 0, RATE), data, list(range(3200, len(data), 3200)))
    assert streamed.size == pytest.approx(whole.size, abs=2)
    n = min(streamed.size, whole.size)
    assert np.abs(streamed[:n] - whole[:n]).max() < 1e-3


@pytest.mark.parametrize("encoding, first, message", [
    (UNSPECIFIED, b"\x01\x02" * 10, "does not start with a WAV header"),
    (LINEAR_PCM, b"\x01\x02" * 10, "needs sample_rate_hertz"),
    (FLAC, b"fLaC", "send FLAC audio whole to Recognize"),
    (MULAW, "wav", "encoding is MULAW but the WAV holds PCM_16"),
    (UNSPECIFIED, "wav24", "streaming takes 16-bit PCM, 32-bit float, mu-law or A-law WAV"),
])
def test_bad_streams_are_refused(clip, encoding, first, message):
    if first == "wav":
        first = wav_bytes(clip, RATE)
    elif first == "wav24":
        first = wav_bytes(clip, RATE, "PCM_24")
    with pytest.raises(InputError, match=message):
        decoder = audio.StreamDecoder(encoding, 0, 0, RATE)
        decoder.feed(first)
        decoder.finish()


def test_a_stream_ending_inside_a_frame_or_its_header_is_refused(clip):
    decoder = audio.StreamDecoder(LINEAR_PCM, RATE, 1, RATE)
    decoder.feed(b"\x01\x02\x03")
    with pytest.raises(InputError, match="ended inside a frame: 1 bytes left over"):
        decoder.finish()
    decoder = audio.StreamDecoder(UNSPECIFIED, 0, 0, RATE)
    decoder.feed(wav_bytes(clip, RATE)[:30])
    with pytest.raises(InputError, match="ended inside its WAV header"):
        decoder.finish()


# --- synthesized speech ------------------------------------------------------------------------------------------

def test_output_formats():
    assert audio.output_format(UNSPECIFIED, 0, 22050, streaming=False) == (LINEAR_PCM, 22050)
    assert audio.output_format(OGGOPUS, 48000, 22050, streaming=False) == (OGGOPUS, 48000)
    for encoding, rate, streaming, message in [
            (OGGOPUS, 44100, False, "OGGOPUS audio comes at 8000, 12000, 16000, 24000, 48000 Hz; sample_rate_hz is"),
            (FLAC, 16000, True, "SynthesizeOnline returns LINEAR_PCM, MULAW or ALAW chunks"),
            (LINEAR_PCM, 500, False, "sample_rate_hz 500 Hz is not supported")]:
        with pytest.raises(InputError, match=message):
            audio.output_format(encoding, rate, 22050, streaming)


@pytest.mark.parametrize("encoding, reader", [
    (LINEAR_PCM, dict(format="RAW", subtype="PCM_16", endian="LITTLE")), (MULAW, dict(format="RAW", subtype="ULAW")),
    (ALAW, dict(format="RAW", subtype="ALAW")), (FLAC, {}), (OGGOPUS, {})])
def test_synthesized_audio_reads_back(encoding, reader):
    speech = speechlike(0.5, seed=7, sample_rate=48000) * 0.8
    data = audio.encode_file(speech, 48000, encoding)
    raw = "format" in reader
    decoded, rate = soundfile.read(io.BytesIO(data), dtype="float32",
                                   **({**reader, "samplerate": 48000, "channels": 1} if raw else {}))
    assert rate == 48000
    if encoding == OGGOPUS:  # lossy, with the codec's delay: the same length and loudness
        assert decoded.size == pytest.approx(speech.size, rel=0.01)
        assert np.std(decoded) == pytest.approx(np.std(speech), rel=0.1)
    else:
        tolerance = 1 / 32768 if encoding in (LINEAR_PCM, FLAC) else 0.03
        assert decoded.size == speech.size and np.abs(decoded - speech).max() <= tolerance + 1e-6


def test_streamed_synthesis_is_the_whole_resampled():
    speech = speechlike(1.0, seed=9, sample_rate=22050) * 0.8
    encoder = audio.StreamEncoder(22050, 44100, LINEAR_PCM)
    pieces = [speech[:3000], speech[3000:3001], speech[3001:15000], speech[15000:]]
    streamed = b"".join(encoder.encode(p, last=i == len(pieces) - 1) for i, p in enumerate(pieces))
    whole = audio.encode(audio.resample(speech, 22050, 44100), LINEAR_PCM)
    a, b = (np.frombuffer(x, "<i2").astype(np.float32) / 32768 for x in (streamed, whole))
    assert a.size == pytest.approx(b.size, abs=2)
    assert np.abs(a[: min(a.size, b.size)] - b[: min(a.size, b.size)]).max() < 2e-3

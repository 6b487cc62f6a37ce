"""Decoding uploads: every container a browser or a person sends, judged against the clients' own reader (soundfile
+ soxr) or against the signal that was encoded; the demuxer allow-list; the limits."""

from __future__ import annotations

import io
import subprocess

import av
import numpy as np
import pytest
import soundfile

from triton_speech.client.audio import load_audio
from triton_speech.gateway.audio import AudioError, decode, encode, trim_silence

RATE = 16000


def tone(seconds: float, rate: int, frequency: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.4 * np.sin(2 * np.pi * frequency * t)
    return np.stack([signal * (c + 1) / channels for c in range(channels)], axis=1).astype(np.float32)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.shape[0])))
    return float(np.fft.rfftfreq(samples.shape[0], 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("suffix, sox_args", [(".wav", []), (".flac", []), (".ogg", []), (".wav", ["-r", "44100"]),
                                               (".flac", ["-c", "2"])])
def test_files_sox_writes_decode_as_the_clients_read_them(tmp_path, suffix, sox_args):
    source = tmp_path / "source.wav"
    soundfile.write(source, tone(1.3, 22050, channels=2), 22050)
    path = tmp_path / f"converted{suffix}"
    subprocess.run(["sox", str(source), *sox_args, str(path)], check=True)
    decoded = decode(path.read_bytes(), RATE, max_seconds=10)
    expected = load_audio(path, RATE)
    assert decoded.suffix == suffix and decoded.sample_rate == RATE and decoded.samples.dtype == np.float32
    if suffix == ".ogg":
        # FFmpeg's Vorbis decoder drops the first block's priming samples (256 here), libsndfile keeps them.
        assert 0 <= expected.shape[0] - decoded.samples.shape[0] <= 2048 * RATE // 22050
        assert abs(peak_hz(decoded.samples, RATE) - 440) < 3
    else:  # lossless: the very samples the clients read
        np.testing.assert_array_equal(decoded.samples, expected)


@pytest.mark.parametrize("container, codec, media_type", [
    ("webm", "libopus", "audio/webm"), ("ogg", "libopus", "audio/ogg"), ("mp4", "aac", "audio/mp4"),
    ("mp3", "libmp3lame", "audio/mpeg"),
])
def test_browser_and_compressed_recordings_keep_their_pitch_and_length(container, codec, media_type):
    """WebM/Opus (Chrome, Firefox), MP4/AAC (Safari), MP3: a 48 kHz stereo tone comes back as the same tone."""
    rate, seconds, frequency = 48000, 1.5, 523.25
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout="stereo")
        signal = tone(seconds, rate, frequency, channels=2)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(signal.T), format="fltp", layout="stereo")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            output.mux(packet)
    decoded = decode(buffer.getvalue(), RATE, max_seconds=10)
    assert decoded.media_type == media_type
    assert abs(decoded.seconds - seconds) < 0.1  # encoders pad a frame or two
    middle = decoded.samples[RATE // 4: RATE]
    assert abs(peak_hz(middle, RATE) - frequency) < 3
    # Mixed to mono: the mean of the channels (0.2 and 0.4 amplitude) is 0.3.
    assert abs(np.sqrt(2) * middle.std() - 0.3) < 0.03


@pytest.mark.parametrize("data, message", [
    (b"", "the uploaded file is empty"),
    (b"hello, this is not audio\n" * 40, "not an audio file in a supported format"),
    (bytes(range(256)) * 20, "not an audio file in a supported format"),
])
def test_not_audio_is_refused_with_a_message(data, message):
    with pytest.raises(AudioError, match=message):
        decode(data, RATE, max_seconds=10)


def test_a_wav_header_without_samples_is_refused():
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(0, np.float32), RATE, format="WAV")
    with pytest.raises(AudioError, match="holds no audio samples"):
        decode(buffer.getvalue(), RATE, max_seconds=10)


def test_a_concat_list_naming_another_file_is_refused(tmp_path, monkeypatch):
    """FFmpeg's concat demuxer would read the file a list names (relative to the working directory): the gateway
    allows only audio demuxers, so an upload cannot make it read anything else."""
    secret = tmp_path / "secret.wav"
    soundfile.write(secret, tone(1.0, RATE), RATE)
    monkeypatch.chdir(tmp_path)
    listing = b"ffconcat version 1.0\nfile 'secret.wav'\n"
    with av.open(io.BytesIO(listing)) as unrestricted:  # what FFmpeg alone does with it
        assert unrestricted.format.name == "concat"
        assert sum(frame.samples for frame in unrestricted.decode(audio=0)) == RATE  # the other file's samples
    with pytest.raises(AudioError, match="not an audio file"):
        decode(listing, RATE, max_seconds=10)


def test_decoding_stops_at_the_duration_limit():
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(RATE * 5, np.float32), RATE, format="FLAC")  # 5 s of silence, a few KB
    assert decode(buffer.getvalue(), RATE, max_seconds=5.0).seconds == 5.0  # the limit itself is allowed
    with pytest.raises(AudioError, match="longer than 4.5 s"):
        decode(buffer.getvalue(), RATE, max_seconds=4.5)


@pytest.mark.parametrize("container", ["wav", "flac"])
def test_encoded_speech_reads_back_as_16_bit_samples(container):
    audio = tone(0.5, 22050)[:, 0] * 2.2  # past full scale: clipped, not wrapped
    data = encode(audio, 22050, container)
    read, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    info = soundfile.info(io.BytesIO(data))
    assert rate == 22050 and info.subtype == "PCM_16" and info.format == container.upper()
    np.testing.assert_allclose(read, np.clip(audio, -1, 1), atol=0.5 / 32768 + 1e-7)


def test_wav_and_flac_hold_the_same_samples():
    audio = tone(0.3, 22050)[:, 0] * np.float32(0.731)
    wav, _ = soundfile.read(io.BytesIO(encode(audio, 22050, "wav")), dtype="int16")
    flac, _ = soundfile.read(io.BytesIO(encode(audio, 22050, "flac")), dtype="int16")
    np.testing.assert_array_equal(wav, flac)


def test_silence_around_a_sound_is_trimmed_to_the_margins():
    rng = np.random.default_rng(0)
    sound = tone(1.0, RATE)[:, 0]
    floor = 0.0005 * rng.standard_normal(RATE * 3).astype(np.float32)  # -60 dB noise: a quiet room
    recording = floor.copy()
    recording[RATE // 2 + 37: RATE // 2 + 37 + RATE] += sound  # the sound starts 0.5023 s in
    trimmed, offset = trim_silence(recording, RATE, threshold_db=-40, lead_s=0.02, tail_s=0.3)
    onset = (RATE // 2 + 37) // 160 * 160  # the 10 ms frame it starts in
    assert offset == (onset - 0.02 * RATE) / RATE
    start = onset - 320
    np.testing.assert_array_equal(trimmed, recording[start: start + trimmed.shape[0]])
    assert abs(trimmed.shape[0] / RATE - (0.02 + 1.0 + 0.3)) <= 0.011  # lead, the sound, the tail (to a frame)


@pytest.mark.parametrize("audio", [tone(1.0, RATE)[:, 0], np.zeros(RATE, np.float32), np.zeros(100, np.float32)])
def test_audio_without_silence_around_it_is_kept_whole(audio):
    trimmed, offset = trim_silence(audio, RATE, threshold_db=-40, lead_s=0.02, tail_s=0.3)
    assert offset == 0.0 and trimmed.shape == audio.shape

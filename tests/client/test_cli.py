"""``python -m client asr`` and ``from client import ASRClient`` against the real server."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import soundfile

from tests.support.audio import speechlike
from tests.support.ports import free_port
from triton_speech.client import ASRClient, ServerUnreachable
from triton_speech.client.audio import load_audio

pytestmark = pytest.mark.server


def run_client(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "client", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio")
    mono = folder / "mono16k.wav"
    soundfile.write(mono, speechlike(1.6, 1), 16000)
    stereo = folder / "stereo44k.flac"
    left, right = speechlike(2.1, 2, 44100), speechlike(2.1, 3, 44100)
    soundfile.write(stereo, np.stack([left, right], axis=1), 44100)
    return [mono, stereo]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_cli_prints_one_transcript_per_file(triton, pipeline, audio_files, protocol):
    url = triton.grpc_url if protocol == "grpc" else triton.http_url
    result = run_client("asr", *map(str, audio_files), "--url", url, "--protocol", protocol)
    assert result.returncode == 0, result.stderr
    expected = [f"{path}: {pipeline.transcribe([load_audio(path, 16000)])[0]}" for path in audio_files]
    assert result.stdout.splitlines() == expected


def test_stereo_is_mixed_to_mono_and_resampled(audio_files):
    audio = load_audio(audio_files[1], 16000)
    data, rate = soundfile.read(audio_files[1], dtype="float32")
    assert rate == 44100 and data.ndim == 2
    assert audio.ndim == 1 and abs(audio.shape[0] - round(data.shape[0] * 16000 / 44100)) <= 1


def test_stereo_mix_is_the_mean_of_channels_that_differ(tmp_path):
    """Left and right carry different tones: the mix holds both at half amplitude (not one channel)."""
    t = np.arange(16000) / 16000
    left, right = 0.4 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 1000 * t)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path, 16000), (left + right) / 2, atol=1e-6)


def test_single_file_prints_only_the_transcript(triton, pipeline, audio_files):
    result = run_client("asr", str(audio_files[0]), "--url", triton.grpc_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == pipeline.transcribe([load_audio(audio_files[0], 16000)])[0] + "\n"


def test_non_audio_file_is_reported_and_the_others_still_transcribed(triton, audio_files, tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("this is not audio")
    result = run_client("asr", str(fake), str(audio_files[0]), "--url", triton.grpc_url)
    assert result.returncode == 1
    assert f"{fake}: error: {fake}: not a readable audio file" in result.stderr
    assert result.stdout.startswith(f"{audio_files[0]}: ")


def test_unsupported_sample_rate_is_reported(triton, tmp_path):
    low = tmp_path / "low.wav"
    soundfile.write(low, speechlike(1.0, 4, 2000), 2000)
    result = run_client("asr", str(low), "--url", triton.grpc_url)
    assert result.returncode == 1
    assert "sample rate 2000 Hz cannot be resampled to 16000 Hz" in result.stderr


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_unreachable_server_gives_a_clear_message(audio_files, protocol):
    url = f"127.0.0.1:{free_port()}"
    result = run_client("asr", str(audio_files[0]), "--url", url, "--protocol", protocol)
    assert result.returncode == 2
    assert f"cannot reach a Triton server at {url} over {protocol}" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(ServerUnreachable):
        ASRClient(url, protocol).transcribe(np.zeros(1600, dtype=np.float32))

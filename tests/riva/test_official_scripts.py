"""NVIDIA's own Riva scripts (nvidia-riva/python-clients: scripts/asr, scripts/tts, scripts/nlp), unchanged, against
the endpoint with ``--server HOST:PORT``. Their code is not part of this project: RIVA_PYTHON_CLIENTS names a
checkout at the tag of the installed riva.client (r2.16.0 for nvidia-riva-client 2.16.0); without one these tests
are skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from tests.support.speech import spoken_wav
from triton_speech.client import ASRClient, PunctuatorClient, TTSClient
from triton_speech.client.audio import load_audio
from triton_speech.corpus.templates import DEMO_ASR_TEXT, DEMO_TTS_TEXT

CLIENTS = os.environ.get("RIVA_PYTHON_CLIENTS")
pytestmark = [pytest.mark.server,
              pytest.mark.skipif(not CLIENTS, reason="RIVA_PYTHON_CLIENTS (a python-clients checkout) is not set")]


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("riva_scripts") / "demo.wav"
    spoken_wav(DEMO_ASR_TEXT, path)
    return path


def script(riva_endpoint, name: str, *args) -> str:
    path = Path(CLIENTS) / "scripts" / name
    done = subprocess.run([sys.executable, str(path), "--server", riva_endpoint.address, *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=CLIENTS)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_transcribe_file_offline(riva_endpoint, wav):
    expected = ASRClient(riva_endpoint.triton.grpc_url).recognize(load_audio(wav, 16000), timestamps=False)
    out = script(riva_endpoint, "asr/transcribe_file_offline.py", "--input-file", wav, "--automatic-punctuation")
    assert f"Final transcript: {expected.text}" in out.splitlines()
    out = script(riva_endpoint, "asr/transcribe_file_offline.py", "--input-file", wav, "--word-time-offsets")
    assert f"Final transcript: {expected.raw}" in out.splitlines() and out.count("start_time") >= 5


def test_transcribe_file_streams_interim_and_final_transcripts(riva_endpoint, wav):
    expected = ASRClient(riva_endpoint.triton.grpc_url).recognize(load_audio(wav, 16000), timestamps=False)
    out = script(riva_endpoint, "asr/transcribe_file.py", "--input-file", wav, "--show-intermediate")
    assert out.count(">>") >= 2  # interim transcripts
    assert out.rstrip().endswith(f"## {expected.raw}")
    if "--list-models" in (Path(CLIENTS) / "scripts/asr/transcribe_file.py").read_text():  # newer scripts
        listed = script(riva_endpoint, "asr/transcribe_file.py", "--list-models")
        assert "{'en-US': [{'model': ['asr_streaming']}]}" in listed


def test_talk(riva_endpoint, tmp_path):
    speech = TTSClient(riva_endpoint.triton.grpc_url).synthesize(DEMO_TTS_TEXT)
    for extra in ([], ["--stream"]):
        output = tmp_path / f"talk{len(extra)}.wav"
        script(riva_endpoint, "tts/talk.py", "--text", DEMO_TTS_TEXT, "-o", output, *extra)
        info = soundfile.info(str(output))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 1, "PCM_16")
        assert info.duration == pytest.approx(speech.audio.size / speech.sample_rate, abs=0.01)
    voices = script(riva_endpoint, "tts/talk.py", "--list-voices")
    listed, _ = json.JSONDecoder().raw_decode(voices[voices.index("{"):])  # (r2.16 then says "No input text")
    assert listed == {"en-US": {"voices": ["English-US.Default"]}}


def test_punctuation_client(riva_endpoint):
    query = "hello how are you i am fine"
    expected = PunctuatorClient(riva_endpoint.triton.grpc_url).punctuate([query])[0]
    assert expected in script(riva_endpoint, "nlp/punctuation_client.py", "--query", query).splitlines()

"""make demo TEXT="...": a typed sentence said by the served TTS and by espeak-ng, each heard by our ASR and by the
Whisper judge, through the trained defaults on a real server."""

from __future__ import annotations

import pytest
import soundfile

from triton_speech.client import ASRClient, TTSClient
from triton_speech.demo import round_trip
from triton_speech.training.judge import score

pytestmark = pytest.mark.server


def test_a_typed_sentence_goes_round_the_served_models_and_the_judge(default_speech_server, tmp_path, judge):
    text = "Please call Emma on Friday."
    heard = round_trip(text, ASRClient(default_speech_server.grpc_url), TTSClient(default_speech_server.grpc_url),
                       tmp_path / "said.wav")
    assert set(heard) == {f"{voice} / {ear}" for voice in ("served tts", "espeak-ng")
                          for ear in ("our asr", "whisper base")}
    audio, rate = soundfile.read(tmp_path / "said.wav")
    assert rate == 22050 and audio.shape[0] > rate  # a second or more of speech
    # The judge hears espeak-ng's reading of plain English (measured 11.5% CER: "please call him on friday"). Our
    # default asr is not held to it: off its templates it hears template words (measured "please call emma at one
    # one eight eight the", issue 19).
    assert score([text], [heard["espeak-ng / whisper base"]])["cer"] <= 0.2
    # The served TTS on template-like words, judged by Whisper (measured 15.4%; the template bound is 22%)
    assert score([text], [heard["served tts / whisper base"]])["cer"] <= 0.3

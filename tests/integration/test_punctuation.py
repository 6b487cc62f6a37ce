"""The punctuator model and the punctuating asr ensemble on a real Triton server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.audio import speechlike
from tests.support.repository import TEST_MAX_PUNCTUATION_CHARS
from triton_speech.client import ASRClient, InferenceError, PunctuatorClient
from triton_speech.client.audio import load_audio
from triton_speech.runtime.punctuation import Punctuator

pytestmark = pytest.mark.server
TEXTS = [
    "hello world how are you today",
    "",
    "i'm not sure that's right but we'll see what the 3 of them say",
    "zoë said ça va in café",
    # longer than max_seq_length (64 subwords): windowed, then merged
    " ".join(["the quick brown fox jumps over the lazy dog and runs away"] * 12),
]


@pytest.fixture(scope="module")
def punctuator(punctuator_export):
    return Punctuator.load(punctuator_export)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_served_punctuation_equals_in_process(triton, punctuator, protocol):
    url = triton.grpc_url if protocol == "grpc" else triton.http_url
    served = PunctuatorClient(url, protocol).punctuate(TEXTS)
    assert served == punctuator(TEXTS)
    assert served[1] == ""  # empty text passes through unchanged
    assert served[0] != TEXTS[0]  # the random model does label something


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_asr_ensemble_returns_punctuated_and_raw_transcripts(triton, pipeline, protocol):
    url = triton.grpc_url if protocol == "grpc" else triton.http_url
    client = ASRClient(url, protocol)
    assert client.outputs() == ["TRANSCRIPT", "RAW_TRANSCRIPT"]
    for seed, seconds in enumerate((1.5, 3.2)):
        audio = speechlike(seconds, 40 + seed)
        served = client.recognize(audio)
        (expected,) = pipeline.recognize([audio])
        assert served == expected
        assert served.text == pipeline.punctuator([served.raw])[0]


def test_cli_asr_raw_prints_both(triton, pipeline, tmp_path):
    import soundfile

    path = tmp_path / "a.wav"
    soundfile.write(path, speechlike(2.0, 9), 16000)
    result = subprocess.run([sys.executable, "-m", "client", "asr", str(path), "--raw", "--url", triton.grpc_url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (expected,) = pipeline.recognize([load_audio(path, 16000)])
    assert result.stdout.splitlines() == [expected.text, f"  raw: {expected.raw}"]


def test_cli_punctuate(triton, punctuator):
    result = subprocess.run([sys.executable, "-m", "client", "punctuate", TEXTS[0], TEXTS[2], "--url", triton.grpc_url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == punctuator([TEXTS[0], TEXTS[2]])


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize(
    "raw, message",
    [
        (b"caf\xc3 ok", r"TEXT row 0 is not valid UTF-8: byte 0xc3 at offset 3"),
        (b"a" * (TEST_MAX_PUNCTUATION_CHARS + 1), rf"the limit is {TEST_MAX_PUNCTUATION_CHARS}.*not truncated"),
    ],
    ids=["not utf-8", "too long"],
)
def test_bad_text_gets_a_clear_error_and_the_server_keeps_serving(triton, punctuator, protocol, raw, message):
    client = PunctuatorClient(triton.grpc_url if protocol == "grpc" else triton.http_url, protocol)
    with pytest.raises(InferenceError, match=message) as raised:
        client.punctuate([raw])
    assert raised.value.status == {"grpc": "StatusCode.INVALID_ARGUMENT", "http": "400"}[protocol]
    assert client.punctuate([TEXTS[0]]) == punctuator([TEXTS[0]])

"""The decoupled tts_streaming model on a real Triton server (tiny random Tacotron2 + WaveGlow): joined chunks equal
the tts ensemble's audio, chunks arrive in order with the last marked, bad text gets its error as the only response,
concurrent streams do not mix, over gRPC and HTTP's generate_stream, and the CLI's --stream."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile

from tests.support.audio import assert_chunks_in_order
from tests.support.decoding import SEEDS, TEXTS
from tests.support.repository import TEST_STREAM_BLOCK_FRAMES
from triton_speech.client import InferenceError, TritonConnection, TTSClient
from triton_speech.runtime.errors import InputError

pytestmark = pytest.mark.server
MULTI_SENTENCE = "Hi. Hello there, how are you? The 3rd test costs $3.50 today."
CASES = [*zip(TEXTS, SEEDS), (MULTI_SENTENCE, 4), (TEXTS[0] + " " + TEXTS[2], 9)]
# WaveGlow's context is its whole reach: chunks differ from the whole text's audio by float rounding only.
AUDIO_TOLERANCE = 1e-4
STATUS = {"grpc": None, "http": "400"}  # a gRPC stream carries only the error's message


def url(triton, protocol: str) -> str:
    return triton.grpc_url if protocol == "grpc" else triton.http_url


def joined(chunks) -> np.ndarray:
    return np.concatenate([chunk.audio for chunk in chunks])


def assert_in_order(chunks) -> None:
    assert_chunks_in_order(chunks)
    assert {c.sample_rate for c in chunks} == {22050}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_joined_chunks_are_the_tts_audio_in_order(triton, protocol):
    """Against the served tts ensemble for the same text and seed (several texts, seeds, one hitting the limit)."""
    client = TTSClient(url(triton, protocol), protocol)
    counts, limits = [], []
    for text, seed in CASES:
        whole = client.synthesize(text, seed=seed)
        chunks = list(client.stream(text, seed=seed))
        assert_in_order(chunks)
        assert chunks[-1].step_limit_reached == whole.step_limit_reached
        limits.append(whole.step_limit_reached)
        audio = joined(chunks)
        assert audio.shape == whole.audio.shape
        np.testing.assert_allclose(audio, whole.audio, atol=AUDIO_TOLERANCE * max(1.0, np.abs(whole.audio).max()),
                                   rtol=0)
        counts.append(len(chunks))
    assert True in limits and False in limits
    # A 40-frame sentence went out in blocks of TEST_STREAM_BLOCK_FRAMES, and sentences apart.
    assert max(counts) >= 40 // TEST_STREAM_BLOCK_FRAMES - 2 and counts[CASES.index((MULTI_SENTENCE, 4))] >= 2


def test_sigma_and_denoiser_strength_apply_to_the_stream(triton):
    client = TTSClient(triton.grpc_url)
    for sigma, strength in ((0.0, None), (0.3, 0.05)):
        whole = client.synthesize(TEXTS[0], seed=2, sigma=sigma, denoiser_strength=strength).audio
        chunks = list(client.stream(TEXTS[0], seed=2, sigma=sigma, denoiser_strength=strength))
        np.testing.assert_allclose(joined(chunks), whole, atol=AUDIO_TOLERANCE * np.abs(whole).max(), rtol=0)
    default = joined(client.stream(TEXTS[0], seed=2))
    assert np.abs(default - whole).max() > 100 * AUDIO_TOLERANCE


BAD_STREAMS = {
    "empty": ({"TEXT": np.array([[b""]], dtype=object)}, r"TEXT row 0: text is empty"),
    "nothing to say": ({"TEXT": np.array([["!!! ...".encode()]], dtype=object)},
                       r"TEXT row 0 has no speakable characters"),
    "not utf-8": ({"TEXT": np.array([[b"caf\xe9"]], dtype=object)}, r"TEXT row 0 is not valid UTF-8"),
    "too long": ({"TEXT": np.array([[("word " * 100).encode()]], dtype=object)},
                 r"TEXT row 0 is 500 characters long; the limit is 400"),
    "negative seed": ({"TEXT": np.array([[b"Hi."]], dtype=object), "SEED": np.array([[-1]], dtype=np.int64)},
                      r"SEED must be non-negative"),
    "negative sigma": ({"TEXT": np.array([[b"Hi."]], dtype=object), "SIGMA": np.array([[-1.0]], dtype=np.float32)},
                       r"SIGMA must be a finite non-negative number"),
}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("case", list(BAD_STREAMS))
def test_bad_text_gets_its_error_as_the_only_response(triton, protocol, case):
    tensors, message = BAD_STREAMS[case]
    connection = TritonConnection(url(triton, protocol), protocol)
    responses = []
    local = protocol == "http" and case == "not utf-8"  # JSON cannot carry it: the client refuses to send it
    with pytest.raises(InputError if local else InferenceError, match=message) as raised:
        for response in connection.stream("tts_streaming", tensors, ["AUDIO", "FINAL"]):
            responses.append(response)
    assert responses == [] and (local or raised.value.status == STATUS[protocol])
    assert joined(TTSClient(url(triton, protocol), protocol).stream(TEXTS[1], seed=SEEDS[1])).size > 0


def test_two_texts_in_one_request_are_refused_by_name(triton):
    with pytest.raises(InferenceError, match="TEXT has 2 rows: tts_streaming streams one text per request"):
        list(TritonConnection(triton.grpc_url).stream("tts_streaming", {"TEXT": np.array([[b"Hi."], [b"Yo."]],
                                                                                        dtype=object)}, ["AUDIO"]))


def test_unary_inference_is_refused_and_tts_stays_for_http_users(triton):
    connection = TritonConnection(triton.http_url, "http")
    with pytest.raises(InferenceError, match="decoupled"):
        connection.infer("tts_streaming", {"TEXT": np.array([[b"Hi."]], dtype=object)}, ["AUDIO"])
    assert TTSClient(triton.http_url, "http").synthesize(TEXTS[1]).audio.size > 0


def test_concurrent_streams_do_not_mix(triton):
    """Streams started together (one decoder batch) and while others run (joining it): each gets its own audio,
    and a bad one among them fails alone."""
    client = TTSClient(triton.grpc_url)
    expected = [client.synthesize(text, seed=seed).audio for text, seed in CASES]

    def stream(case):
        text, seed = case
        return list(client.stream(text, seed=seed))

    with ThreadPoolExecutor(len(CASES) + 1) as pool:
        bad = pool.submit(lambda: list(client.stream(b"\xff")))
        results = list(pool.map(stream, CASES * 2))
        with pytest.raises(InferenceError, match="not valid UTF-8"):
            bad.result()
    for chunks, audio in zip(results, expected * 2):
        assert_in_order(chunks)
        np.testing.assert_allclose(joined(chunks), audio, atol=AUDIO_TOLERANCE * max(1.0, np.abs(audio).max()), rtol=0)


def test_cli_streams_and_prints_the_time_to_first_audio(triton, tmp_path):
    out = tmp_path / "streamed.wav"
    result = subprocess.run(
        [sys.executable, "-m", "client", "tts", "--stream", MULTI_SENTENCE, "-o", str(out), "--seed", "4",
         "--url", triton.grpc_url], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    first = [line for line in result.stdout.splitlines() if line.startswith("first audio after ")]
    assert len(first) == 1 and first[0].endswith(" ms") and int(first[0].split()[3]) >= 0
    audio, rate = soundfile.read(out, dtype="float32")
    whole = TTSClient(triton.grpc_url).synthesize(MULTI_SENTENCE, seed=4).audio
    assert rate == 22050 and audio.shape == whole.shape
    # 16-bit PCM: within one step of the clipped audio
    np.testing.assert_allclose(audio, np.clip(whole, -1, 1), atol=2 / 32768 + AUDIO_TOLERANCE * np.abs(whole).max())

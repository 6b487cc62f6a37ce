"""The tts ensemble on a real Triton server (tiny random Tacotron2 + WaveGlow)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile

from tests.support.decoding import SEEDS, TEXTS
from tests.support.triton import inference_stats
from triton_speech.client import InferenceError, TritonConnection, TTSClient
from triton_speech.runtime.tts.text import text_to_sequence

pytestmark = pytest.mark.server
MULTI_SENTENCE = "Hi. Hello there, how are you? The 3rd test costs $3.50 today."
# Float tolerance of served vs in-process audio: the same graphs, batched differently.
AUDIO_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def expected(tts_pipeline):
    return [tts_pipeline(text, seed) for text, seed in zip(TEXTS, SEEDS)]


def test_test_texts_decode_to_different_lengths_and_one_hits_the_limit(expected):
    lengths = [speech.audio.shape[0] for speech in expected]
    assert len(set(lengths)) == len(lengths)
    assert [speech.hit_step_limit for speech in expected].count(True) == 1


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_served_audio_equals_in_process_pipeline(triton, protocol, expected):
    client = TTSClient(triton.grpc_url if protocol == "grpc" else triton.http_url, protocol)
    for text, seed, speech in zip(TEXTS, SEEDS, expected):
        served = client.synthesize(text, seed=seed)
        assert served.sample_rate == 22050
        assert served.step_limit_reached == speech.hit_step_limit
        np.testing.assert_allclose(served.audio, speech.audio, atol=AUDIO_TOLERANCE, rtol=0)


def test_sentences_are_decoded_with_seeds_seed_plus_j_and_joined_in_order(triton):
    """The served tacotron2 on a three-sentence request equals the three sentences sent alone, sentence j with
    seed + j, their mels joined in order (the expectation never joins or seeds inside the code under test)."""
    connection = TritonConnection(triton.grpc_url)
    normalized = connection.infer("text_normalizer", {"TEXT": np.array([[MULTI_SENTENCE.encode()]], dtype=object)},
                                  ["SYMBOL_IDS", "SENTENCE_LENGTHS"])
    ids, lengths = normalized["SYMBOL_IDS"][0], normalized["SENTENCE_LENGTHS"][0]
    assert lengths.tolist() == [len(text_to_sequence(s)) for s in ("Hi.", "Hello there, how are you?",
                                                                   "The 3rd test costs $3.50 today.")]

    def mel(symbol_ids, sentence_lengths, seed):
        out = connection.infer("tacotron2", {"SYMBOL_IDS": symbol_ids[None], "SENTENCE_LENGTHS": sentence_lengths[None],
                                             "SEED": np.array([[seed]], dtype=np.int64)}, ["MEL", "MEL_LENGTH"])
        return out["MEL"][0, :, : int(out["MEL_LENGTH"].reshape(-1)[0])]

    starts = np.concatenate([[0], np.cumsum(lengths)])
    alone = [mel(ids[starts[j]:starts[j + 1]], lengths[j:j + 1], 7 + j) for j in range(len(lengths))]
    together = mel(ids, lengths, 7)
    assert len({a.shape[1] for a in alone}) > 1  # sentences of different lengths: an order mix-up would show
    np.testing.assert_allclose(together, np.concatenate(alone, axis=1), atol=1e-4, rtol=0)


def test_the_served_text_normalizer_gives_a_dle_checkpoint_dles_ids(triton):
    """The test checkpoint records no normalization, as NVIDIA's published ones: the served text_normalizer gives the
    ids DeepLearningExamples' own code gives (tests/data/tacotron2_dle_ids.json), for every text of the table that
    the server takes as one sentence as it is (no whitespace to collapse, no sentence to split)."""
    import json

    from tests.support.paths import DATA
    from tests.support.repository import TEST_SETTINGS
    from triton_speech.runtime.tts.text import split_sentences

    table = json.loads((DATA / "tacotron2_dle_ids.json").read_text(encoding="utf-8"))
    symbols = json.loads((DATA / "tacotron2_text.json").read_text())["symbols"]
    entries = [entry for entry in table["entries"][: table["texts"]]
               if " ".join(entry["text"].split()) == entry["text"] and entry["text"]
               and split_sentences(entry["text"], TEST_SETTINGS["max_sentence_chars"]) == [entry["text"]]
               and any(symbols[i].isalpha() or symbols[i].startswith("@") for i in entry["ids"])]
    assert len(entries) > 150
    texts = np.array([[entry["text"].encode()] for entry in entries], dtype=object)
    connection = TritonConnection(triton.grpc_url)
    for start in range(0, len(entries), 8):  # the repository's max_batch_size
        served = connection.infer("text_normalizer", {"TEXT": texts[start : start + 8]},
                                  ["SYMBOL_IDS", "SENTENCE_LENGTHS"])
        for row, entry in enumerate(entries[start : start + 8]):
            (length,) = served["SENTENCE_LENGTHS"][row][served["SENTENCE_LENGTHS"][row] > 0]
            assert served["SYMBOL_IDS"][row][:length].tolist() == entry["ids"], entry["text"]


def test_long_text_is_split_into_sentences_and_joined(triton, tts_pipeline):
    speech = tts_pipeline(MULTI_SENTENCE, seed=5)
    single = tts_pipeline(TEXTS[0], seed=5)
    assert speech.audio.shape[0] > single.audio.shape[0]
    served = TTSClient(triton.grpc_url).synthesize(MULTI_SENTENCE, seed=5)
    np.testing.assert_allclose(served.audio, speech.audio, atol=AUDIO_TOLERANCE, rtol=0)


def test_concurrent_texts_are_batched_and_each_gets_its_alone_audio(triton, expected):
    client = TTSClient(triton.grpc_url)
    before = inference_stats(triton, "tacotron2")
    with ThreadPoolExecutor(len(TEXTS)) as pool:
        served = list(pool.map(lambda args: client.synthesize(*args), zip(TEXTS, SEEDS)))
    inferences, executions = (a - b for a, b in zip(inference_stats(triton, "tacotron2"), before))
    assert inferences == len(TEXTS) and executions < len(TEXTS), "the requests were not batched"
    for result, speech in zip(served, expected):
        np.testing.assert_allclose(result.audio, speech.audio, atol=AUDIO_TOLERANCE, rtol=0)


def test_sigma_and_denoiser_strength_are_applied(triton, tts_pipeline):
    client = TTSClient(triton.grpc_url)
    default = client.synthesize(TEXTS[1], seed=2).audio
    for sigma, strength in ((0.0, None), (0.3, 0.05)):
        served = client.synthesize(TEXTS[1], seed=2, sigma=sigma, denoiser_strength=strength).audio
        reference = tts_pipeline(TEXTS[1], seed=2, sigma=sigma, denoiser_strength=strength).audio
        np.testing.assert_allclose(served, reference, atol=AUDIO_TOLERANCE, rtol=0)
        assert np.abs(served - default).max() > 100 * AUDIO_TOLERANCE


def test_the_same_seed_gives_the_same_audio_and_another_seed_differs(triton):
    client = TTSClient(triton.grpc_url)
    first, again, other = (client.synthesize(TEXTS[0], seed=s).audio for s in (7, 7, 8))
    np.testing.assert_array_equal(first, again)
    assert first.shape != other.shape or np.abs(first - other).max() > 1e-3


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_client_writes_a_wav_with_the_served_rate_and_length(triton, tmp_path, protocol, expected):
    url = triton.grpc_url if protocol == "grpc" else triton.http_url
    out = tmp_path / "hello.wav"
    result = subprocess.run(
        [sys.executable, "-m", "client", "tts", TEXTS[0], "-o", str(out), "--seed", str(SEEDS[0]),
         "--url", url, "--protocol", protocol],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    audio, rate = soundfile.read(out, dtype="float32")
    assert rate == 22050 and audio.shape == expected[0].audio.shape
    assert ("step limit" in result.stderr) == expected[0].hit_step_limit


def test_hitting_the_step_limit_is_reported_by_the_cli(triton, tmp_path, expected):
    limited = [text for text, speech in zip(TEXTS, expected) if speech.hit_step_limit][0]
    seed = SEEDS[TEXTS.index(limited)]
    result = subprocess.run(
        [sys.executable, "-m", "client", "tts", limited, "-o", str(tmp_path / "cut.wav"), "--seed", str(seed),
         "--url", triton.grpc_url], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "hit its step limit" in result.stderr


BAD_TEXT = {
    "empty": (b"", r"text is empty"),
    "only unsupported characters": ("日本語 … ☃".encode(), r"no speakable characters"),
    "only punctuation": (b"!!! ... ???", r"no speakable characters"),
    "not utf-8": (b"caf\xe9 au lait", r"TEXT row 0 is not valid UTF-8: byte 0xe9 at offset 3"),
    "too long": (("word " * 100).encode(), r"TEXT row 0 is 500 characters long; the limit is 400.*not truncated"),
}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("case", list(BAD_TEXT))
def test_bad_text_gets_a_clear_error_and_the_server_keeps_serving(triton, protocol, case, expected):
    raw, message = BAD_TEXT[case]
    url = triton.grpc_url if protocol == "grpc" else triton.http_url
    client = TTSClient(url, protocol)
    with pytest.raises(InferenceError, match=message) as raised:
        client.synthesize(raw)
    assert raised.value.status == {"grpc": "StatusCode.INVALID_ARGUMENT", "http": "400"}[protocol]
    np.testing.assert_allclose(client.synthesize(TEXTS[1], seed=SEEDS[1]).audio, expected[1].audio,
                               atol=AUDIO_TOLERANCE, rtol=0)


def test_negative_sigma_is_rejected(triton):
    with pytest.raises(InferenceError, match="SIGMA must be a finite non-negative number"):
        TTSClient(triton.grpc_url).synthesize(TEXTS[1], sigma=-1.0)


def test_negative_seed_is_rejected_by_name(triton, expected):
    # numpy's generators take no negative seed: once an internal error for the whole batch, now the request's own.
    client = TTSClient(triton.grpc_url)
    with pytest.raises(InferenceError, match="SEED must be non-negative"):
        client.synthesize(TEXTS[1], seed=-5)
    np.testing.assert_allclose(client.synthesize(TEXTS[1], seed=SEEDS[1]).audio, expected[1].audio,
                               atol=AUDIO_TOLERANCE, rtol=0)


def test_one_bad_text_in_a_batch_fails_alone(triton, expected):
    """A padded batch request can't mix good and bad rows, but concurrent requests can share a batch."""
    client = TTSClient(triton.grpc_url)
    with ThreadPoolExecutor(2) as pool:
        bad = pool.submit(client.synthesize, b"\xff")
        good = pool.submit(client.synthesize, TEXTS[1], SEEDS[1])
        with pytest.raises(InferenceError):
            bad.result()
        np.testing.assert_allclose(good.result().audio, expected[1].audio, atol=AUDIO_TOLERANCE, rtol=0)
    assert TritonConnection(triton.grpc_url).client.is_model_ready("tts")

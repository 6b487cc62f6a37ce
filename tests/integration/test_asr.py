"""The asr ensemble on a real Triton server: results, batching, bad input, metrics."""

from __future__ import annotations

import re
import time
import urllib.request

import numpy as np
import pytest

from tests.support.audio import speechlike
from tests.support.repository import TEST_MAX_AUDIO_SECONDS
from tests.support.triton import inference_stats
from triton_speech.client import ASRClient, InferenceError, TritonConnection
from triton_speech.runtime.errors import InputError

pytestmark = pytest.mark.server
SECONDS = (1.0, 2.7, 0.4, 4.2, 1.9, 3.3, 0.8, 2.2)


@pytest.fixture(scope="module")
def utterances():
    return [speechlike(s, 100 + seed) for seed, s in enumerate(SECONDS)]


@pytest.fixture(scope="module")
def expected(pipeline, utterances):
    """The in-process pipeline, one utterance at a time."""
    return [pipeline.transcribe([audio])[0] for audio in utterances]


def test_expected_transcripts_are_not_trivial(expected):
    # The comparisons below mean little if the random model said nothing.
    assert sum(len(text) > 0 for text in expected) >= len(expected) - 1
    assert len(set(expected)) > 1


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_served_transcript_equals_in_process_pipeline(triton, protocol, utterances, expected):
    url = triton.grpc_url if protocol == "grpc" else triton.http_url
    client = ASRClient(url, protocol)
    assert [client.transcribe(audio) for audio in utterances[:4]] == expected[:4]


def test_concurrent_requests_of_different_lengths_are_batched_and_match_alone(triton, utterances, expected):
    inferences_before, executions_before = inference_stats(triton, "quartznet")
    results = ASRClient(triton.grpc_url).transcribe_many(utterances, concurrency=len(utterances))
    inferences, executions = inference_stats(triton, "quartznet")
    assert results == expected
    assert inferences - inferences_before == len(utterances)
    # Fewer executions than requests: the dynamic batcher merged ragged requests.
    assert executions - executions_before < len(utterances)


def test_a_request_may_ask_for_any_subset_of_outputs(triton, utterances, pipeline):
    (expected,) = pipeline.recognize([utterances[0]])
    connection = TritonConnection(triton.grpc_url)
    for outputs in (["TRANSCRIPT"], ["RAW_TRANSCRIPT"], ["RAW_TRANSCRIPT", "TRANSCRIPT"]):
        result = connection.infer("asr", {"AUDIO": utterances[0].reshape(1, -1)}, outputs)
        assert {name: result[name][0, 0].decode() for name in outputs} == {
            name: {"TRANSCRIPT": expected.text, "RAW_TRANSCRIPT": expected.raw}[name] for name in outputs}


def test_padded_batch_in_one_request_uses_audio_length(triton, utterances, expected):
    rows = utterances[:3]
    audio = np.zeros((len(rows), max(r.shape[0] for r in rows)), dtype=np.float32)
    for i, r in enumerate(rows):
        audio[i, : r.shape[0]] = r
    lengths = np.array([[r.shape[0]] for r in rows], dtype=np.int32)
    outputs = TritonConnection(triton.grpc_url).infer("asr", {"AUDIO": audio, "AUDIO_LENGTH": lengths}, ["TRANSCRIPT"])
    assert [t.decode() for t in outputs["TRANSCRIPT"].reshape(-1)] == expected[:3]


def _audio(samples: int, value: float = 0.1, dtype=np.float32) -> np.ndarray:
    return np.full((1, samples), value, dtype=dtype)


def _with_bad_sample(value: float) -> np.ndarray:
    audio = speechlike(1.0, 5).reshape(1, -1).copy()
    audio[0, 1234] = value
    return audio


BAD_INPUTS = {
    "empty": ({"AUDIO": _audio(0)}, r"empty"),
    "shorter than one frame": ({"AUDIO": _audio(100)}, r"100 samples; at least 160"),
    "wrong dtype": ({"AUDIO": _audio(16000, dtype=np.float64)},
                    r"'AUDIO' data-type is 'FP64', but model 'asr' expects 'FP32'"),
    "wrong rank": ({"AUDIO": np.zeros((1, 2, 16000), dtype=np.float32)}, r"unexpected shape for input 'AUDIO'"),
    "nan": ({"AUDIO": _with_bad_sample(np.nan)}, r"1 NaN or Inf samples"),
    "inf": ({"AUDIO": _with_bad_sample(np.inf)}, r"1 NaN or Inf samples"),
    "too long": (
        {"AUDIO": _audio(int((TEST_MAX_AUDIO_SECONDS + 0.5) * 16000))},
        rf"20.50 s long; the limit is {TEST_MAX_AUDIO_SECONDS:g} s .*not truncated",
    ),
    "length beyond samples": (
        {"AUDIO": _audio(1600), "AUDIO_LENGTH": np.array([[3200]], dtype=np.int32)},
        r"AUDIO_LENGTH of row 0 is 3200: it must be between 1 and the 1600 samples sent",
    ),
}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_clear_error_and_the_server_keeps_serving(triton, protocol, case, utterances, expected):
    tensors, message = BAD_INPUTS[case]
    url = triton.grpc_url if protocol == "grpc" else triton.http_url
    connection = TritonConnection(url, protocol)
    with pytest.raises(InferenceError, match=message) as raised:
        connection.infer("asr", tensors, ["TRANSCRIPT"])
    assert raised.value.status == {"grpc": "StatusCode.INVALID_ARGUMENT", "http": "400"}[protocol]
    assert ASRClient(url, protocol).transcribe(utterances[0]) == expected[0]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_audio_of_exactly_the_limit_is_accepted_and_one_sample_more_refused(triton, protocol):
    url = triton.grpc_url if protocol == "grpc" else triton.http_url
    limit = int(TEST_MAX_AUDIO_SECONDS * 16000)
    # Straight to asr (ASRClient would send longer audio in windows)
    connection = TritonConnection(url, protocol)
    audio = speechlike(TEST_MAX_AUDIO_SECONDS, 9)
    assert connection.infer("asr", ASRClient.tensors(audio), ["TRANSCRIPT"])["TRANSCRIPT"].shape == (1, 1)
    with pytest.raises(InferenceError, match=rf"is {(limit + 1) / 16000:.2f} s long; the limit is") as raised:
        connection.infer("asr", ASRClient.tensors(np.concatenate([audio, [0.0]])), ["TRANSCRIPT"])
    assert raised.value.bad_input


@pytest.mark.parametrize("case", ["empty", "shorter than one frame", "nan"])
def test_in_process_pipeline_refuses_what_the_server_refuses(pipeline, utterances, case):
    """python -m export.evaluate_asr and the benchmarks' baseline run this pipeline: same audio, same error."""
    tensors, message = BAD_INPUTS[case]
    with pytest.raises(InputError, match=message):
        pipeline.recognize([utterances[0], tensors["AUDIO"][0]])


def _metric(triton, name: str, model: str) -> float:
    """Sum of a counter over its series for ``model`` (failures carry an extra ``reason`` label)."""
    text = urllib.request.urlopen(triton.metrics_url, timeout=5).read().decode()
    series = re.findall(rf'^{name}{{([^}}]*)}} (\S+)$', text, re.MULTILINE)
    return sum(float(value) for labels, value in series if f'model="{model}"' in labels.split(","))


def _settled_metric(triton, name: str, model: str, expected, timeout_s: float = 10.0) -> float:
    """The counter once ``expected(value)`` holds, or its last value (metrics update asynchronously)."""
    deadline = time.monotonic() + timeout_s
    value = _metric(triton, name, model)
    while not expected(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = _metric(triton, name, model)
    return value


def test_metrics_count_requests(triton, utterances):
    success_before = _metric(triton, "nv_inference_request_success", "asr")
    failure_before = _metric(triton, "nv_inference_request_failure", "asr")
    client = ASRClient(triton.grpc_url)
    for audio in utterances[:3]:
        client.transcribe(audio)
    success = _settled_metric(triton, "nv_inference_request_success", "asr", lambda v: v >= success_before + 3)
    assert success - success_before == 3
    with pytest.raises(InferenceError):
        client.transcribe(np.zeros(0, dtype=np.float32))
    # Triton 2.51 counts a failed ensemble request under reason="OTHER" once per failing layer (2 here).
    failure = _settled_metric(triton, "nv_inference_request_failure", "asr", lambda v: v > failure_before)
    assert failure > failure_before
    assert _metric(triton, "nv_inference_request_success", "asr") == success

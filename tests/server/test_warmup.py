"""Warm at load, through real servers: every model with a warm-up sample has run it, successfully, before the
server says READY (Triton's statistics count warm-up runs), none has without warm-up; and the first request after
a start is no outlier against the requests after it with model_warmup, and is one without it (the same exports and
settings, compared in the same run: no fixed times)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.audio import speechlike
from tests.support.ports import free_ports
from tests.support.repository import TEST_SETTINGS
from triton_speech.benchmarks.warmup import pipeline_calls, timed_ms

pytestmark = pytest.mark.server
STEADY_REQUESTS = 12


def first_and_after(repository, audio) -> dict[str, tuple[float, list[float]]]:
    """Per pipeline: the first request's ms after a fresh start, and the ms of the requests after it."""
    from triton_speech.server import TritonServer

    with TritonServer(repository, ports=free_ports()) as server:
        timings = {}
        for name, call in pipeline_calls(server, audio).items():
            first = timed_ms(call)
            timings[name] = (first, [timed_ms(call) for _ in range(STEADY_REQUESTS)])
        return timings


def outlier(first: float, after: list[float]) -> bool:
    """Slower than every request after it and than 1.5 times their median (the issue's bound)."""
    return first > max(max(after), 1.5 * sorted(after)[len(after) // 2])


@pytest.fixture(scope="module")
def repositories(tmp_path_factory, quartznet_export, punctuator_export, tacotron2_export, decoding_case):
    """The test exports with Griffin-Lim (the default vocoder, whose first call compiles librosa's numba code),
    built with warm-up and without."""
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings

    decoder = decoding_case[3]
    settings = RepositorySettings(**TEST_SETTINGS, gate_threshold=decoder.gate_threshold,
                                  max_decoder_steps=decoder.max_decoder_steps, vocoder="griffin_lim")
    exports = Exports(asr=quartznet_export, punctuator=punctuator_export, tacotron2=tacotron2_export[0])
    built = {}
    for name, warm in (("warm", True), ("cold", False)):
        built[name] = tmp_path_factory.mktemp(f"{name}_repository")
        build(built[name], exports, replace(settings, warmup=warm))
    return built


def test_the_first_request_after_a_start_is_no_outlier_with_warm_up_and_is_one_without(repositories):
    audio = speechlike(2.0, 5)
    warm = first_and_after(repositories["warm"], audio)
    cold = first_and_after(repositories["cold"], audio)
    for name, (first, after) in warm.items():
        print(f"{name}: warm first {first:.0f} ms, after {[round(t) for t in after]}; cold first {cold[name][0]:.0f} "
              f"ms, after {[round(t) for t in cold[name][1]]}")
    assert [name for name, timing in warm.items() if outlier(*timing)] == []
    # What warm-up removes: without it, first requests are outliers by the same measure.
    assert [name for name, timing in cold.items() if outlier(*timing)] != []


def runs_before_any_request(repository) -> dict[str, tuple[int, int]]:
    """Per model: (successful, failed) executions Triton counted between the start and READY."""
    import tritonclient.http as http

    from triton_speech.server import TritonServer

    with TritonServer(repository, ports=free_ports()) as server:
        client = http.InferenceServerClient(server.http_url)
        stats = client.get_inference_statistics(headers=server.admin_headers("http"))["model_stats"]
        return {entry["name"]: (entry["inference_stats"]["success"]["count"], entry["inference_stats"]["fail"]["count"])
                for entry in stats}


def test_every_model_with_a_warm_up_sample_ran_it_before_ready(repositories):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as pb

    samples = {}
    for config_file in repositories["warm"].glob("*/config.pbtxt"):
        config = text_format.Parse(config_file.read_text(), pb.ModelConfig())
        samples[config.name] = len(config.model_warmup)
    warmed = {name for name, count in samples.items() if count}
    # the front-end, acoustic model, decoder, punctuator, text normalizer, Tacotron2 and vocoder all warm up
    assert {"feature_extractor", "quartznet", "ctc_decoder", "punctuator", "text_normalizer", "tacotron2",
            "griffin_lim"} <= warmed
    warm = runs_before_any_request(repositories["warm"])
    assert {name: warm[name] for name in warmed} == {name: (samples[name], 0) for name in warmed}
    cold = runs_before_any_request(repositories["cold"])
    assert {name: runs for name, runs in cold.items() if runs != (0, 0)} == {}

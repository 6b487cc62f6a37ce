"""The first request after a server start against steady state, for the punctuator, asr and tts, with the models'
warm-up (``model_warmup``, the builder's default) and without it (``--no-warmup``): the same exports and settings
built twice, each served by a fresh server.

Per server: the time from start to ready, then for each pipeline in turn (punctuator, asr, tts) its first request
and ``repeats`` more, whose median is the steady state. (asr's punctuation step has served the punctuator's
requests by then.)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from triton_speech.client import ASRClient, PunctuatorClient, TTSClient
from triton_speech.corpus.templates import DEMO_TTS_TEXT
from triton_speech.ensembles.builder import Exports, build
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.server import TritonServer

PUNCTUATOR_TEXT = "so i think we should meet on monday and talk about the budget for next year"


def timed_ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def steady_ms(call: Callable[[], object], repeats: int) -> float:
    """The median ms of ``repeats`` calls."""
    return float(np.median([timed_ms(call) for _ in range(repeats)]))


def first_and_steady(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(the first call's ms, the median ms of ``repeats`` calls after it)."""
    return timed_ms(call), steady_ms(call, repeats)


def pipeline_calls(server: TritonServer, audio: np.ndarray) -> dict[str, Callable[[], object]]:
    """One request to each served pipeline, in the order they are measured. The clients connect (a liveness call)
    and read asr's outputs and audio limit beforehand: the first call measures the models, not a connection's set-up."""
    punctuator, asr, tts = (PunctuatorClient(server.grpc_url), ASRClient(server.grpc_url), TTSClient(server.grpc_url))
    for client in (punctuator, asr, tts):
        assert client.connection.client.is_server_ready()
    assert asr.outputs() and asr.max_audio_seconds > 0
    return {
        "punctuator": lambda: punctuator.punctuate([PUNCTUATOR_TEXT]),
        "asr": lambda: asr.recognize(audio),
        "tts": lambda: tts.synthesize(DEMO_TTS_TEXT, seed=0),
    }


def measure(exports: Exports, settings: RepositorySettings, audio: np.ndarray, repeats: int = 5) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as folder, tqdm(total=2, desc="warm-up benchmark", unit="server") as bar:
        for warmup in (True, False):
            repository = Path(folder) / ("warm" if warmup else "cold")
            build(repository, exports, replace(settings, warmup=warmup))
            started = time.perf_counter()
            with TritonServer(repository) as server:
                ready_s = time.perf_counter() - started
                for name, call in pipeline_calls(server, audio).items():
                    first, steady = first_and_steady(call, repeats)
                    rows.append({"model_warmup": "on" if warmup else "off", "start_to_ready_s": round(ready_s, 1),
                                 "pipeline": name, "first_ms": round(first, 1), "steady_median_ms": round(steady, 1),
                                 "first/steady": round(first / steady, 2)})
            bar.update(1)
    return rows

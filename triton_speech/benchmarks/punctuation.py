"""Punctuator latency per request, and what the punctuation step adds to the ``asr`` ensemble.

Sequential requests (concurrency 1), medians and p90 over the same texts and clips. The asr ensemble is
measured twice in the same run: built with and without the punctuator.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from triton_speech.client import ASRClient, PunctuatorClient
from triton_speech.ensembles.builder import Exports, build
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.runtime.punctuation import Punctuator
from triton_speech.server import TritonServer

# Transcript-like texts: lower case, no punctuation, 10 to 60 words.
WORDS = ("so i think we should meet on monday and talk about the budget for next year because the numbers "
         "we got from the team last week do not add up and i would like to understand why before we decide "
         "anything else what do you think about that").split()
TEXTS = [" ".join(WORDS[:n]) for n in (10, 20, 30, 45, 60)]


def _latencies(call: Callable[[], object], repeats: int) -> list[float]:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _row(what: str, times: Sequence[float]) -> dict:
    return {"what": what, "requests": len(times), "p50_ms": round(float(np.percentile(times, 50)), 2),
            "p90_ms": round(float(np.percentile(times, 90)), 2)}


def measure(asr_export: Path, punctuator_export: Path, clips: Sequence[np.ndarray], repeats: int = 20) -> list[dict]:
    punctuator = Punctuator.load(punctuator_export)
    rows = [_row("punctuator in-process (one text)",
                 [t for text in TEXTS for t in _latencies(lambda text=text: punctuator([text]), repeats)])]
    with tempfile.TemporaryDirectory() as folder, tqdm(total=2, desc="punctuation benchmark") as bar:
        for label, punctuator_dir in (("with", punctuator_export), ("without", None)):
            repository = Path(folder) / label
            build(repository, Exports(asr=asr_export, punctuator=punctuator_dir), RepositorySettings())
            with TritonServer(repository) as server:
                if punctuator_dir is not None:
                    client = PunctuatorClient(server.grpc_url)
                    rows.append(_row("punctuator served grpc (one text)", [
                        t for text in TEXTS
                        for t in _latencies(lambda client=client, text=text: client.punctuate([text]), repeats)]))
                asr = ASRClient(server.grpc_url)
                rows.append(_row(f"asr ensemble {label} punctuator", [
                    t for clip in clips for t in _latencies(lambda asr=asr, clip=clip: asr.recognize(clip), repeats)]))
            bar.update(1)
    with_p, without_p = (next(r for r in rows if r["what"] == f"asr ensemble {w} punctuator")
                         for w in ("with", "without"))
    rows.append({"what": "added by the punctuation step", "requests": with_p["requests"],
                 "p50_ms": round(with_p["p50_ms"] - without_p["p50_ms"], 2),
                 "p90_ms": round(with_p["p90_ms"] - without_p["p90_ms"], 2)})
    return rows

"""Time to first audio vs time to all audio: texts of 1, 3 and 6 sentences streamed through ``tts_streaming`` and
synthesized whole through ``tts``, at concurrency 1 and 4 (that many clients, each sending its requests one after
another), on the served repository. Medians over every request of a point.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from triton_speech.client import TTSClient

SENTENCES = [
    "The train to London leaves at seven thirty in the evening.",
    "Please call Emma and ask her to bring the tickets.",
    "It costs five dollars and fifty cents.",
    "We will meet on Friday at ten in the morning.",
    "The weather in Paris is lovely in May.",
    "Thank you for waiting, your table is ready.",
]


def text_of(sentences: int) -> str:
    return " ".join(SENTENCES[:sentences])


@dataclass
class Timing:
    first_ms: float  # until the first audio (the whole audio, for tts)
    all_ms: float
    audio_s: float


def streamed(client: TTSClient, text: str) -> Timing:
    started, first, samples = time.perf_counter(), None, 0
    for chunk in client.stream(text, seed=0):
        first = first if first is not None else time.perf_counter() - started
        samples += chunk.audio.size
    return Timing(first * 1000, (time.perf_counter() - started) * 1000, samples / chunk.sample_rate)


def whole(client: TTSClient, text: str) -> Timing:
    started = time.perf_counter()
    speech = client.synthesize(text, seed=0)
    elapsed = (time.perf_counter() - started) * 1000
    return Timing(elapsed, elapsed, speech.audio.size / speech.sample_rate)


def _client_run(url: str, call, text: str, rounds: int) -> list[Timing]:
    client = TTSClient(url)
    return [call(client, text) for _ in range(rounds)]


def measure(url: str, sentence_counts=(1, 3, 6), concurrency=(1, 4), rounds: int = 2) -> list[dict]:
    points = [(n, c, mode) for n in sentence_counts for c in concurrency for mode in ("streamed", "whole")]
    rows = []
    for sentences, clients, mode in tqdm(points, desc="streaming benchmark", unit="point"):
        call, text = (streamed if mode == "streamed" else whole), text_of(sentences)
        with ThreadPoolExecutor(clients) as pool:
            runs = pool.map(lambda _, call=call, text=text: _client_run(url, call, text, rounds), range(clients))
            timings = [t for run in runs for t in run]
        first, total = (float(np.median([getattr(t, key) for t in timings])) for key in ("first_ms", "all_ms"))
        rows.append({"sentences": sentences, "concurrency": clients, "mode": mode,
                     "audio_s": round(timings[0].audio_s, 2), "first_audio_ms": round(first),
                     "all_audio_ms": round(total), "requests": len(timings)})
    for row in rows:  # the whole text's time against the stream's first audio, at the same point
        if row["mode"] == "streamed":
            same = next(r for r in rows if r["mode"] == "whole" and
                        (r["sentences"], r["concurrency"]) == (row["sentences"], row["concurrency"]))
            row["tts_ms / first_audio_ms"] = round(same["all_audio_ms"] / row["first_audio_ms"], 1)
        else:
            row["tts_ms / first_audio_ms"] = ""
    return rows

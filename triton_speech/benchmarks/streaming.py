"""Streaming and long recordings, served.

Streaming (``asr_streaming``): N streams at once, each sending its audio in chunks at the pace of the audio (as a
microphone would); the latency of a chunk is from the moment its audio has ended (when it is sent) to its answer
(the partial transcript). A stream keeps up while answers come within one chunk's duration; the most streams that
keep up (p99 within a chunk) is searched between the concurrencies measured.

Long audio: one recording of many utterances in a row through ``asr_long`` (one request) and through the client's
windows, against the same utterances sent to ``asr`` one by one (concurrently); RTFx is audio seconds per wall second.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from triton_speech.client.asr import ASRClient, chunked
from triton_speech.client.connection import TritonConnection
from triton_speech.defaults import ASR_SAMPLE_RATE


def stream_point(url: str, clips: list[np.ndarray], streams: int, chunk_ms: float) -> dict:
    """``streams`` concurrent real-time streams, stream k sending clip k (cycled)."""

    def one(k: int) -> list[float]:
        answers = ASRClient(url).stream(chunked(clips[k % len(clips)], chunk_ms), realtime=True)
        return [answer.latency_s * 1000 for answer in answers]

    started = time.perf_counter()
    with ThreadPoolExecutor(streams) as pool:
        latencies = np.concatenate([np.array(ms) for ms in pool.map(one, range(streams))])
    wall = time.perf_counter() - started
    audio_s = sum(clips[k % len(clips)].shape[0] for k in range(streams)) / ASR_SAMPLE_RATE
    return {"streams": streams, "chunk_ms": chunk_ms, "chunks": int(latencies.size),
            "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "p99_ms": round(float(np.percentile(latencies, 99)), 1),
            "max_ms": round(float(latencies.max()), 1),
            "keeps_up": bool(np.percentile(latencies, 99) <= chunk_ms),
            "audio_s_per_wall_s": round(audio_s / wall, 2)}


def streaming(url: str, clips: list[np.ndarray], concurrencies: tuple[int, ...], chunk_ms: float,
              search_steps: int) -> tuple[list[dict], int]:
    """Rows at each concurrency, then a bisection for the most streams that keep up; returns (rows, that most)."""
    rows = []
    for streams in tqdm(concurrencies, desc="streaming", unit="point"):
        rows.append(stream_point(url, clips, streams, chunk_ms))
    keeping = [r["streams"] for r in rows if r["keeps_up"]]
    low = max(keeping, default=0)
    high = min((r["streams"] for r in rows if not r["keeps_up"] and r["streams"] > low), default=None)
    for _ in range(search_steps):
        if high is None or high - low <= 1:
            break
        middle = (low + high) // 2
        row = stream_point(url, clips, middle, chunk_ms)
        rows.append(row)
        low, high = (middle, high) if row["keeps_up"] else (low, middle)
    return sorted(rows, key=lambda r: r["streams"]), low


def long_audio(grpc_url: str, http_url: str, pieces: list[np.ndarray], minutes: float,
               concurrency: int) -> list[dict]:
    """The pieces repeated into a ``minutes`` recording: the utterances one by one to asr, the recording through
    asr_long (one gRPC request, one plain HTTP request) and through the client's windows."""
    repeats = int(np.ceil(minutes * 60 * ASR_SAMPLE_RATE / sum(piece.shape[0] for piece in pieces)))
    utterances = pieces * repeats
    recording = np.concatenate(utterances)
    seconds = recording.shape[0] / ASR_SAMPLE_RATE
    client = ASRClient(grpc_url)
    client.transcribe(pieces[0])  # warm-up

    def timed(what: str, run) -> dict:
        started = time.perf_counter()
        run()
        wall = time.perf_counter() - started
        return {"what": what, "audio_s": round(seconds, 1), "wall_s": round(wall, 3), "rtfx": round(seconds / wall, 1)}

    runs = [
        (f"{len(utterances)} utterances one by one to asr ({concurrency} at a time)",
         lambda: client.transcribe_many(utterances, concurrency=concurrency)),
        ("the recording to asr_long, one gRPC request",
         lambda: TritonConnection(grpc_url).infer("asr_long", {"AUDIO": recording[None]}, ["TRANSCRIPT"])),
        ("the recording to asr_long, one plain HTTP request",
         lambda: TritonConnection(http_url, "http").infer("asr_long", {"AUDIO": recording[None]}, ["TRANSCRIPT"])),
        (f"the recording in the client's windows to asr ({concurrency} at a time)",
         lambda: client.recognize(recording, timestamps=False, concurrency=concurrency)),
    ]
    return [timed(what, run) for what, run in tqdm(runs, desc="long audio", unit="run")]

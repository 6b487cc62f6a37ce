"""Streaming and long recordings, served.

Streaming (``asr_streaming``): N clients at once, each sending clips back to back as streams, chunk by chunk at the
pace of the audio (as a microphone would), client k starting k/N of a clip's duration after the first, so that
streams start and end at independent times, as speakers' do, and N are open at any time. The latency of a chunk is
from the moment its audio has ended (when it is sent) to its answer (the partial transcript, or the final one after
the last chunk); only chunks sent while all N clients were streaming count. A stream keeps up while answers come
within one chunk's duration; the most streams that keep up (p99 within a chunk) is searched between the
concurrencies measured. ``partial_vs_final_wer``: the word error rate of each stream's last partial against its
final transcript (how much the final still changes). The repository as built is measured beside a baseline built
in the same run with the previous method (``--stream-partials buffered``: the model and the decoder over the whole
buffer after every chunk; FP32; ONNX Runtime on all cores; the partials' beam as wide as the final's).

Long audio: one recording of many utterances in a row through ``asr_long`` (one request) and through the client's
windows, against the same utterances sent to ``asr`` one by one (concurrently); RTFx is audio seconds per wall second.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import jiwer
import numpy as np
from tqdm import tqdm

from triton_speech.client.asr import ASRClient, chunked
from triton_speech.client.connection import TritonConnection
from triton_speech.defaults import ASR_SAMPLE_RATE, CTC_BEAM_SIZE
from triton_speech.ensembles.settings import RepositorySettings


def baseline_settings(lexicon: str) -> RepositorySettings:
    """The previous streaming method, for the baseline: buffered partials, FP32, ONNX Runtime on all cores, the
    partials' beam as wide as the final's."""
    return RepositorySettings(lexicon=lexicon, precision="fp32", stream_partials="buffered", stream_onnx_threads=0,
                              stream_beam_size=CTC_BEAM_SIZE)


def stream_point(url: str, clips: list[np.ndarray], streams: int, chunk_ms: float, rounds: int = 2) -> dict:
    """``streams`` clients, each sending ``rounds`` clips in a row (client k: clips k, k + streams, ... cycled),
    client k starting k / streams of the first clip's duration late."""
    period = clips[0].shape[0] / ASR_SAMPLE_RATE
    started = time.perf_counter()

    def one(k: int) -> tuple[list, list[tuple[str, str]], float, float]:
        """The client's answers, (last partial, final) of each of its streams, when it started and ended."""
        time.sleep(max(0.0, started + k * period / streams - time.perf_counter()))
        begin, answers, texts = time.perf_counter(), [], []
        for r in range(rounds):
            stream = list(ASRClient(url).stream(chunked(clips[(k + r * streams) % len(clips)], chunk_ms),
                                                realtime=True))
            answers += stream
            texts.append((stream[-2].text if len(stream) > 1 else "", stream[-1].text))
        return answers, texts, begin, time.perf_counter()

    with ThreadPoolExecutor(streams) as pool:
        clients = list(pool.map(one, range(streams)))
    wall = time.perf_counter() - started
    # Chunks sent while every client was streaming
    low, high = max(c[2] for c in clients), min(c[3] for c in clients)
    latencies = np.array([a.latency_s * 1000 for c in clients for a in c[0] if low <= a.sent_at <= high])
    pairs = [(final, partial) for c in clients for partial, final in c[1] if final.strip()]
    audio_s = sum(clips[(k + r * streams) % len(clips)].shape[0] for k in range(streams)
                  for r in range(rounds)) / ASR_SAMPLE_RATE
    return {"streams": streams, "load_1min": round(os.getloadavg()[0], 1), "chunk_ms": chunk_ms,
            "chunks": int(latencies.size),
            "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "p99_ms": round(float(np.percentile(latencies, 99)), 1),
            "max_ms": round(float(latencies.max()), 1),
            "keeps_up": bool(np.percentile(latencies, 99) <= chunk_ms),
            "audio_s_per_wall_s": round(audio_s / wall, 2),
            "partial_vs_final_wer": round(float(jiwer.wer([f for f, _ in pairs], [p or "-" for _, p in pairs])), 3)
            if pairs else ""}


def streaming(url: str, clips: list[np.ndarray], concurrencies: tuple[int, ...], chunk_ms: float,
              search_steps: int, rounds: int = 2) -> tuple[list[dict], int]:
    """Rows at each concurrency, then a bisection for the most streams that keep up; returns (rows, that most)."""
    rows = []
    for streams in tqdm(concurrencies, desc="streaming", unit="point"):
        rows.append(stream_point(url, clips, streams, chunk_ms, rounds))
    keeping = [r["streams"] for r in rows if r["keeps_up"]]
    low = max(keeping, default=0)
    high = min((r["streams"] for r in rows if not r["keeps_up"] and r["streams"] > low), default=None)
    for _ in range(search_steps):
        if high is None or high - low <= 1:
            break
        middle = (low + high) // 2
        row = stream_point(url, clips, middle, chunk_ms, rounds)
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

"""ASR throughput and latency: the served ``asr`` ensemble vs ONNX Runtime in-process.

Baseline: the same exported model, front-end and decoder in this process (``ASRPipeline``) at its best
batch size, the limit serving can approach. Served: the ensemble over gRPC at several concurrencies.
Both see the same clips and weights in the same run; results are reported as ratios.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from triton_speech.client.asr import ASRClient
from triton_speech.runtime.asr.pipeline import ASRPipeline


@dataclass
class Measurement:
    mode: str
    clip_seconds: float
    concurrency_or_batch: int
    requests: int
    wall_seconds: float
    latencies_ms: list[float]

    def row(self) -> dict:
        latencies = np.array(self.latencies_ms)
        audio_seconds = self.requests * self.clip_seconds
        return {
            "mode": self.mode,
            "clip_s": self.clip_seconds,
            "concurrency_or_batch": self.concurrency_or_batch,
            "requests": self.requests,
            "throughput_rps": round(self.requests / self.wall_seconds, 3),
            "rtfx": round(audio_seconds / self.wall_seconds, 2),
            "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "p90_ms": round(float(np.percentile(latencies, 90)), 1),
            "p99_ms": round(float(np.percentile(latencies, 99)), 1),
            "mean_ms": round(float(latencies.mean()), 1),
        }


def in_process(pipeline: ASRPipeline, clips: list[np.ndarray], clip_seconds: float, batch: int,
               rounds: int) -> Measurement:
    latencies = []
    started = time.perf_counter()
    for _ in range(rounds):
        for first in range(0, len(clips), batch):
            t = time.perf_counter()
            pipeline.transcribe(clips[first : first + batch])
            latencies.append((time.perf_counter() - t) * 1000)
    wall = time.perf_counter() - started
    return Measurement("in-process onnxruntime", clip_seconds, batch, rounds * len(clips), wall, latencies)


def merged(first: Measurement, second: Measurement) -> Measurement:
    """Two measurements of the same point as one (their requests and times together)."""
    return Measurement(first.mode, first.clip_seconds, first.concurrency_or_batch, first.requests + second.requests,
                       first.wall_seconds + second.wall_seconds, first.latencies_ms + second.latencies_ms)


def stage_times(pipeline: ASRPipeline, clips: list[np.ndarray]) -> dict[str, float]:
    """Median milliseconds per clip of each stage in-process, one clip at a time (the steps the served ensemble
    runs as models): the front-end, the acoustic model, CTC decoding (the text) and punctuation."""
    times: dict[str, list[float]] = {"feature_extractor": [], "quartznet": [], "ctc_decoder": [], "punctuator": []}
    for audio in clips:
        started = time.perf_counter()
        (features,) = pipeline.frontend([audio])
        after_frontend = time.perf_counter()
        (logprobs,) = pipeline.acoustic([features])
        after_acoustic = time.perf_counter()
        text = pipeline.decoder(logprobs)
        after_decoder = time.perf_counter()
        if pipeline.punctuator is not None:
            pipeline.punctuator([text])
        done = time.perf_counter()
        for stage, (begin, end) in zip(times, ((started, after_frontend), (after_frontend, after_acoustic),
                                               (after_acoustic, after_decoder), (after_decoder, done))):
            times[stage].append((end - begin) * 1000)
    return {stage: round(float(np.median(values)), 2) for stage, values in times.items()
            if stage != "punctuator" or pipeline.punctuator is not None}


def served(url: str, clips: list[np.ndarray], clip_seconds: float, concurrency: int, rounds: int) -> Measurement:
    client = ASRClient(url, "grpc")

    async def run():
        connection = await client.connection.open_async()
        gate = asyncio.Semaphore(concurrency)
        latencies = []

        async def one(audio):
            async with gate:
                t = time.perf_counter()
                await client.connection.infer_async(connection, "asr", {"AUDIO": audio.reshape(1, -1)}, ["TRANSCRIPT"])
                latencies.append((time.perf_counter() - t) * 1000)

        try:
            started = time.perf_counter()
            await asyncio.gather(*(one(a) for _ in range(rounds) for a in clips))
            return time.perf_counter() - started, latencies
        finally:
            await connection.close()

    ASRClient(url).transcribe(clips[0])  # warm-up
    wall, latencies = asyncio.run(run())
    return Measurement("served grpc", clip_seconds, concurrency, rounds * len(clips), wall, latencies)


def sweep(url: str, pipeline: ASRPipeline, clips_by_length: dict[float, list[np.ndarray]],
          concurrencies: tuple[int, ...], batches: tuple[int, ...], rounds: int) -> list[dict]:
    plan = [(length, "in", b) for length in clips_by_length for b in batches]
    plan += [(length, "served", c) for length in clips_by_length for c in concurrencies]
    rows = []
    for length, mode, size in tqdm(plan, desc="asr benchmark", unit="point"):
        clips = clips_by_length[length]
        if mode == "in":
            pipeline.transcribe(clips[:size])  # warm-up
            rows.append(in_process(pipeline, clips, length, size, rounds).row())
        else:
            rows.append(served(url, clips, length, size, rounds).row())
    return rows

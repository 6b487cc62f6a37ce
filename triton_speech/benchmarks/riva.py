"""The Riva endpoint's overhead and streaming latency, with riva.client as Riva users call it.

Recognize vs direct: the same 16-bit WAV files through riva.client's ``offline_recognize`` (the whole file, header
included, as the official scripts send it: decoded, sent to ``asr``, answered) and as samples straight to the
``asr`` ensemble over gRPC, one request at a time, interleaved; ``overhead_p50_ms`` is the p50 difference.
Streaming: the same files through riva.client's ``streaming_response_generator`` in the official script's 3200-byte
chunks (the first holding the header), sent at the pace of the audio (``--simulate-realtime``) or all at once;
``first_interim_ms`` is the time from the first chunk to the first interim result, ``final_after_end_ms`` from the
last chunk to the final one. Beside it, ``asr_streaming`` straight over gRPC in the endpoint's 320 ms chunks, from
the first chunk to the first non-empty partial
(or the final, when no partial says anything), and from the last chunk to the final.
"""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import soundfile

from triton_speech.benchmarks import audio
from triton_speech.client.asr import ASRClient, chunked
from triton_speech.defaults import ASR_SAMPLE_RATE, STREAM_CHUNK_MS

CHUNK_BYTES = 3200  # the official transcribe_file.py: 1600 frames of 16-bit mono


def ms(times: list[float], q: float) -> float:
    return round(float(np.percentile(times, q)), 1)


def streaming_row(name: str, seconds: float, first: list[float], final: list[float]) -> dict:
    return {"path": name, "clip_s": seconds, "streams": len(first), "first_interim_p50_ms": ms(first, 50),
            "first_interim_p90_ms": ms(first, 90), "final_after_end_p50_ms": ms(final, 50)}


def measure(grpc_url: str, seconds: float, clips: int, rounds: int, port: int) -> tuple[list[dict], list[dict]]:
    """(Recognize rows, streaming rows)."""
    import riva.client

    from triton_speech.riva.server import RivaServer
    from triton_speech.riva.settings import RivaSettings

    files = audio.wav_files(seconds, clips, ASR_SAMPLE_RATE)
    samples = [soundfile.read(io.BytesIO(data), dtype="float32")[0] for data in files]
    direct = ASRClient(grpc_url)
    with RivaServer(RivaSettings(triton_url=grpc_url, host="127.0.0.1", port=port)) as server:
        auth = riva.client.Auth(uri=server.address)
        asr = riva.client.ASRService(auth)
        config = riva.client.RecognitionConfig(enable_automatic_punctuation=True)
        latencies = audio.interleaved([lambda i: direct.recognize(samples[i], timestamps=False),
                                       lambda i: asr.offline_recognize(files[i], config)], len(files), rounds)
        recognize = [{"path": name, "clip_s": seconds, "requests": len(times), "p50_ms": ms(times, 50),
                 "p90_ms": ms(times, 90), "overhead_p50_ms": round(ms(times, 50) - ms(latencies[0], 50), 1)}
                for name, times in zip(("triton grpc asr (direct)", "riva Recognize"), latencies)]
        streaming = []
        for realtime in (True, False):
            timings = [stream(asr, data, realtime) for _ in range(rounds) for data in files]
            streaming.append(streaming_row(f"riva StreamingRecognize, 3200-byte chunks{' in real time' * realtime}",
                                      seconds, [t[0] for t in timings], [t[1] for t in timings]))
    first, final = [], []
    for _ in range(rounds):
        for clip in samples:
            started, heard = time.perf_counter(), None
            for answer in direct.stream(chunked(clip, STREAM_CHUNK_MS), realtime=True):
                if heard is None and (answer.text or answer.final):
                    heard = (time.perf_counter() - started) * 1000
                if answer.final:
                    final.append(answer.latency_s * 1000)  # from sending the last chunk
            first.append(heard)
    streaming.append(streaming_row(f"asr_streaming direct, {STREAM_CHUNK_MS} ms chunks in real time", seconds,
                                   first, final))
    return recognize, streaming


def stream(asr, data: bytes, realtime: bool) -> tuple[float, float]:
    """(ms from the first chunk to the first interim result, ms from the last chunk to the final result)."""
    import riva.client

    chunks = [data[start : start + CHUNK_BYTES] for start in range(0, len(data), CHUNK_BYTES)]
    marks: dict[str, float] = {}
    sent_last = threading.Event()

    def audio_chunks():
        marks["start"] = time.perf_counter()
        for index, chunk in enumerate(chunks):
            if realtime:  # as --simulate-realtime: each chunk once the audio before its end has "happened"
                played = sum(len(c) for c in chunks[: index + 1]) - 44
                time.sleep(max(0.0, marks["start"] + played / 2 / ASR_SAMPLE_RATE - time.perf_counter()))
            yield chunk
        marks["end"] = time.perf_counter()
        sent_last.set()

    config = riva.client.StreamingRecognitionConfig(
        config=riva.client.RecognitionConfig(enable_automatic_punctuation=True), interim_results=True)
    for response in asr.streaming_response_generator(audio_chunks(), config):
        for result in response.results:
            now = time.perf_counter()
            if not result.is_final:
                marks.setdefault("first", now)
            else:
                marks["final"] = now
    sent_last.wait()
    first = marks.get("first", marks["final"])
    return (first - marks["start"]) * 1000, (marks["final"] - marks["end"]) * 1000

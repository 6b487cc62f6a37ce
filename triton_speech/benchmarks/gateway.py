"""Gateway overhead: the same recordings transcribed through the gateway and sent to Triton directly.

Direct: the ``asr`` ensemble over gRPC with the samples the gateway sends for the recording (decoded, silence
trimmed). Gateway: the recording uploaded as a 16-bit WAV (multipart over HTTP, decoded, sent to Triton, answered
as JSON), to ``/v1/audio/transcriptions`` (nothing stored) and ``/api/transcriptions`` (a row and a file written
too). One request at a time, the three interleaved so that a noisy neighbour slows all alike; ``overhead_p50_ms``
is the path's p50 minus the direct p50.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from triton_speech.benchmarks import audio
from triton_speech.client.asr import ASRClient
from triton_speech.defaults import ASR_SAMPLE_RATE
from triton_speech.gateway.audio import decode, for_asr
from triton_speech.gateway.database import Database
from triton_speech.gateway.keys import KeyStore
from triton_speech.gateway.serving import gateway_in_thread
from triton_speech.gateway.settings import GatewaySettings

PATHS = ("triton grpc (direct)", "gateway /v1/audio/transcriptions", "gateway /api/transcriptions (stored)")


def bench_key(database_url: str) -> str:
    database = Database(database_url)
    try:
        database.migrate()
        return KeyStore(database).create("bench")[1]
    finally:
        database.close()


def measure(grpc_url: str, seconds: float, clips: int, rounds: int, port: int) -> list[dict]:
    import httpx

    files = audio.wav_files(seconds, clips, ASR_SAMPLE_RATE)
    # Direct requests carry what the gateway sends Triton for the same file (decoded, silence trimmed).
    samples = [for_asr(decode(data, ASR_SAMPLE_RATE, max_seconds=seconds + 1), trim=True)[0] for data in files]
    client = ASRClient(grpc_url)
    with tempfile.TemporaryDirectory(prefix="gateway_bench_") as folder:
        # one key (checked at every request, as in production) without a rate limit in the way
        settings = GatewaySettings(triton_url=grpc_url, database_url=f"sqlite:///{Path(folder) / 'bench.sqlite3'}",
                                   media_dir=Path(folder) / "media", max_audio_seconds=seconds + 1,
                                   rate_limit="1000000/minute")
        headers = {"Authorization": f"Bearer {bench_key(settings.database_url)}"}
        with gateway_in_thread(settings, port) as url, httpx.Client(base_url=url, headers=headers,
                                                                    timeout=120) as http:
            def upload(path: str, data: bytes) -> None:
                response = http.post(path, files={"file": ("clip.wav", data, "audio/wav")})
                response.raise_for_status()

            latencies = audio.interleaved([lambda i: client.recognize(samples[i]),
                                           lambda i: upload("/v1/audio/transcriptions", files[i]),
                                           lambda i: upload("/api/transcriptions", files[i])], len(files), rounds)
    direct = float(np.percentile(latencies[0], 50))
    rows = []
    for path, times in zip(PATHS, latencies):
        p50 = float(np.percentile(times, 50))
        rows.append({"path": path, "clip_s": seconds, "requests": len(times), "p50_ms": round(p50, 1),
                     "p90_ms": round(float(np.percentile(times, 90)), 1), "overhead_p50_ms": round(p50 - direct, 1)})
    return rows

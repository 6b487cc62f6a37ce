"""Session fixtures: one QuartzNet 15x5 export, one model repository and one real Triton server."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
# Audio limit of the test repository: small, so the over-limit request stays cheap.
TEST_MAX_AUDIO_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports():
    from triton_speech.server import Ports

    return Ports(http=free_port(), grpc=free_port(), metrics=free_port())


def speechlike(seconds: float, seed: int, sample_rate: int = 16000) -> np.ndarray:
    """Harmonic bursts plus noise: audio with varied spectra (float32)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    pitch = rng.uniform(90, 260)
    voiced = sum(np.sin(2 * np.pi * k * pitch * t + rng.uniform(0, 6)) / k for k in range(1, 6))
    envelope = np.sin(2 * np.pi * rng.uniform(1, 4) * t) ** 2
    return (0.3 * envelope * voiced + 0.03 * rng.standard_normal(t.shape)).astype(np.float32)


@pytest.fixture(scope="session")
def quartznet_model():
    """QuartzNet 15x5 with the deterministic random weights the export uses (NeMo model, eval mode)."""
    from export import quartznet

    logging.getLogger("nemo_logger").setLevel(logging.ERROR)
    return quartznet.random_model(quartznet.quartznet_config())


@pytest.fixture(scope="session")
def quartznet_export(tmp_path_factory) -> Path:
    from export import quartznet

    output = tmp_path_factory.mktemp("export") / "quartznet"
    quartznet.export(None, output)
    return output


@pytest.fixture(scope="session")
def asr_repository(tmp_path_factory, quartznet_export) -> Path:
    from ensembles.builder import build
    from ensembles.settings import RepositorySettings

    output = tmp_path_factory.mktemp("model_repository")
    # A long queue delay makes the dynamic batcher merge the concurrent requests of the batching test.
    settings = RepositorySettings(max_batch_size=8, max_queue_delay_us=20000, max_audio_seconds=TEST_MAX_AUDIO_SECONDS)
    build(output, quartznet_export, settings)
    return output


@pytest.fixture(scope="session")
def triton(asr_repository, tmp_path_factory):
    from triton_speech.server import TritonServer

    log = tmp_path_factory.mktemp("triton") / "tritonserver.log"
    server = TritonServer(asr_repository, ports=free_ports(), log_path=log)
    with server:
        yield server
    assert server.remove_shm_regions() == [], "server left /dev/shm regions behind"


@pytest.fixture(scope="session")
def pipeline(quartznet_export):
    from triton_speech.pipeline import ASRPipeline

    return ASRPipeline.from_export(quartznet_export)

"""Session fixtures: one QuartzNet 15x5 export, one model repository and one real Triton server."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Property tests explore the same examples on every run (CI stays deterministic); HYPOTHESIS_PROFILE=explore
# draws new ones.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

DATA = Path(__file__).parent / "data"
# Audio limit of the test repository: small, so the over-limit request stays cheap.
TEST_MAX_AUDIO_SECONDS = 20.0
TEST_MAX_PUNCTUATION_CHARS = 2000


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


# Fixtures that export models (seconds to a minute each): tests using them are marked `export`, so that quick
# runs (make mutation) can leave them out with -m "not export".
EXPORTING_FIXTURES = {"quartznet_model", "quartznet_export", "punctuator_export", "default_punctuator_export",
                      "tacotron2_checkpoint", "tacotron2_export", "waveglow_export", "repository", "triton",
                      "tts_pipeline", "pipeline", "decoding_case", "small_export", "context_free_export"}


def pytest_collection_modifyitems(items):
    for item in items:
        if EXPORTING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.export)


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
def punctuator_export(tmp_path_factory) -> Path:
    """The small random punctuator the export builds without a checkpoint."""
    from export.punctuator import export_punctuator

    output = tmp_path_factory.mktemp("export") / "punctuator"
    export_punctuator(None, output)
    return output


@pytest.fixture(scope="session")
def default_punctuator_export(tmp_path_factory) -> Path:
    """The trained default punctuator shipped at export/defaults/punctuator_small.nemo, exported."""
    from export.punctuator import export_punctuator
    from export.train_punctuator import SMALL_PUNCTUATOR_NEMO

    output = tmp_path_factory.mktemp("export") / "default_punctuator"
    export_punctuator(SMALL_PUNCTUATOR_NEMO, output)
    return output


@pytest.fixture(scope="session")
def tacotron2_checkpoint(tmp_path_factory) -> Path:
    import torch

    from tests.tiny_models import TINY_TACOTRON2, dle_wrapped, tiny_tacotron2

    path = tmp_path_factory.mktemp("tts") / "tacotron2.pt"
    torch.save(dle_wrapped(tiny_tacotron2(), {**TINY_TACOTRON2, "n_frames_per_step": 1, "gate_threshold": 0.5}), path)
    return path


@pytest.fixture(scope="session")
def tacotron2_export(tacotron2_checkpoint, tmp_path_factory) -> tuple[Path, dict]:
    from export import tts

    output = tmp_path_factory.mktemp("tts") / "tacotron2"
    return output, tts.export_tacotron2(tacotron2_checkpoint, output)


@pytest.fixture(scope="session")
def waveglow_export(tmp_path_factory) -> tuple[Path, dict]:
    import torch

    from export import tts
    from tests.tiny_models import TINY_WAVEGLOW, dle_wrapped, tiny_waveglow

    directory = tmp_path_factory.mktemp("tts")
    torch.save(dle_wrapped(tiny_waveglow(), TINY_WAVEGLOW), directory / "waveglow.pt")
    return directory / "out", tts.export_waveglow(directory / "waveglow.pt", directory / "out")


@pytest.fixture(scope="session")
def decoding_case():
    """(model, sequences, seeds, decoder settings, stop steps) where the tiny Tacotron2 items stop apart."""
    from tests.tiny_models import decoding_case

    return decoding_case()


# Settings of the test repository: a long queue delay makes the dynamic batcher merge the concurrent
# requests of the batching tests; small limits keep the over-limit requests cheap.
TEST_SETTINGS = dict(
    max_batch_size=8, max_queue_delay_us=20000, max_audio_seconds=TEST_MAX_AUDIO_SECONDS,
    max_text_chars=400, max_sentence_chars=60, max_punctuation_chars=TEST_MAX_PUNCTUATION_CHARS,
)


@pytest.fixture(scope="session")
def repository(tmp_path_factory, quartznet_export, punctuator_export, tacotron2_export, waveglow_export,
               decoding_case) -> Path:
    """ASR (QuartzNet 15x5 + small punctuator, random) and TTS (tiny Tacotron2 + WaveGlow) in one repository."""
    from ensembles.builder import Exports, build
    from ensembles.settings import RepositorySettings

    output = tmp_path_factory.mktemp("model_repository")
    exports = Exports(asr=quartznet_export, punctuator=punctuator_export, tacotron2=tacotron2_export[0],
                      waveglow=waveglow_export[0])
    decoder = decoding_case[3]
    settings = RepositorySettings(**TEST_SETTINGS, gate_threshold=decoder.gate_threshold,
                                  max_decoder_steps=decoder.max_decoder_steps)
    build(output, exports, settings)
    return output


@pytest.fixture(scope="session")
def triton(repository, tmp_path_factory):
    from triton_speech.server import TritonServer

    log = tmp_path_factory.mktemp("triton") / "tritonserver.log"
    server = TritonServer(repository, ports=free_ports(), log_path=log)
    with server:
        yield server
    assert server.remove_shm_regions() == [], "server left /dev/shm regions behind"


@pytest.fixture(scope="session")
def tts_pipeline(tacotron2_export, waveglow_export, decoding_case):
    """The tts ensemble in-process, with the test repository's settings."""
    from triton_speech.tts import Tacotron2Engine, TTSPipeline, WaveGlowEngine

    settings = decoding_case[3]
    return TTSPipeline(Tacotron2Engine.load(tacotron2_export[0], settings), WaveGlowEngine.load(waveglow_export[0]),
                       max_sentence_chars=TEST_SETTINGS["max_sentence_chars"])


@pytest.fixture(scope="session")
def pipeline(quartznet_export, punctuator_export):
    """The asr ensemble in-process (with the punctuator)."""
    from triton_speech.pipeline import ASRPipeline

    return ASRPipeline.from_export(quartznet_export, punctuator_export)

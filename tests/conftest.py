"""Session fixtures: one QuartzNet 15x5 export, one model repository and one real Triton server."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from hypothesis import Phase, settings

# Property tests explore the same examples on every run (CI stays deterministic); HYPOTHESIS_PROFILE=explore
# draws new ones.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
# make mutation: a failing property is a killed mutant; shrinking its example to the smallest would only cost time
settings.register_profile("mutation", derandomize=True, max_examples=25,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

from tests.support.markers import mark_items, marks  # noqa: E402
from tests.support.paths import DEFAULT_LEXICON, DEFAULTS  # noqa: E402
from tests.support.ports import free_ports  # noqa: E402
from tests.support.repository import TEST_SETTINGS  # noqa: E402


def pytest_collection_modifyitems(items):
    """``export`` and ``postgres`` come from the fixtures each test uses (tests/support/markers.py)."""
    mark_items(items)


@pytest.fixture(scope="session")
@marks("export")
def quartznet_model():
    """QuartzNet 15x5 with the deterministic random weights the export uses (NeMo model, eval mode)."""
    from triton_speech.export import quartznet

    logging.getLogger("nemo_logger").setLevel(logging.ERROR)
    return quartznet.random_model(quartznet.quartznet_config())


@pytest.fixture(scope="session")
def quartznet_export(tmp_path_factory) -> Path:
    from triton_speech.export import quartznet

    output = tmp_path_factory.mktemp("export") / "quartznet"
    quartznet.export(None, output)
    return output


# What the calibrated QuartzNet hears while its BatchNorm statistics are re-estimated (espeak-ng, four voices).
CALIBRATION_SPEECH = [
    ("en-us", "the quick brown fox jumps over the lazy dog"),
    ("en-gb", "she sells sea shells by the sea shore"),
    ("en-us+f3", "we will meet at seven thirty on monday morning"),
    ("en-gb-scotland", "how much wood would a woodchuck chuck"),
    ("en-gb+m3", "please call stella and ask her to bring these things"),
    ("en-us+m2", "the rain in spain stays mainly in the plain"),
    ("en-029", "a large fawn jumped quickly over white zinc boxes"),
    ("en-us+f2", "my flight to toronto leaves at noon"),
]


@pytest.fixture(scope="session")
@marks("export")
def calibrated_quartznet(tmp_path_factory):
    """(model, .nemo path) of a stand-in for a trained QuartzNet 15x5: NeMo's EncDecCTCModel of the real 15x5
    config, random weights at full scale, BatchNorm statistics re-estimated on espeak-ng speech (as training leaves
    them), then eval. Its float32 run is about 1e-2 in log-prob from its float64 run, like a real checkpoint's."""
    from tests.support.speech import spoken_wav
    from triton_speech.client.audio import load_audio
    from triton_speech.export import quartznet

    logging.getLogger("nemo_logger").setLevel(logging.ERROR)
    folder = tmp_path_factory.mktemp("calibrated_quartznet")
    speech = []
    for index, (voice, text) in enumerate(CALIBRATION_SPEECH):
        spoken_wav(text, folder / f"{index}.wav", voice)
        speech.append(load_audio(folder / f"{index}.wav", 16000))
    model = quartznet.random_model(quartznet.quartznet_config(), residual_branch_scale=1.0, calibration_audio=speech)
    model.save_to(str(folder / "calibrated.nemo"))
    return model, folder / "calibrated.nemo"


@pytest.fixture(scope="session")
def calibrated_quartznet_export(calibrated_quartznet, tmp_path_factory) -> tuple[Path, dict]:
    """``python -m export quartznet --nemo`` of the calibrated 15x5 (raises if its parity check refuses it)."""
    from triton_speech.export import quartznet

    output = tmp_path_factory.mktemp("export") / "calibrated_quartznet"
    return output, quartznet.export(calibrated_quartznet[1], output)


@pytest.fixture(scope="session")
def punctuator_export(tmp_path_factory) -> Path:
    """The small random punctuator the export builds without a checkpoint."""
    from triton_speech.export.punctuator import export_punctuator

    output = tmp_path_factory.mktemp("export") / "punctuator"
    export_punctuator(None, output)
    return output


@pytest.fixture(scope="session")
def default_punctuator_export(tmp_path_factory) -> Path:
    """The trained default punctuator shipped in defaults/, exported."""
    from triton_speech.export.punctuator import export_punctuator

    output = tmp_path_factory.mktemp("export") / "default_punctuator"
    export_punctuator(DEFAULTS / "punctuator_small.nemo", output)
    return output


@pytest.fixture(scope="session")
def default_quartznet_export(tmp_path_factory) -> Path:
    """The trained default QuartzNet shipped in defaults/, exported."""
    from triton_speech.export.quartznet import export

    output = tmp_path_factory.mktemp("export") / "default_quartznet"
    assert not export(DEFAULTS / "quartznet_small.nemo", output)["random_weights"]
    return output


@pytest.fixture(scope="session")
def default_tacotron2_export(tmp_path_factory) -> Path:
    """The trained default Tacotron2 shipped in defaults/, exported."""
    from triton_speech.export.tacotron2 import export_tacotron2

    output = tmp_path_factory.mktemp("export") / "default_tacotron2"
    assert not export_tacotron2(DEFAULTS / "tacotron2_small.pt", output)["random_weights"]
    return output


@pytest.fixture(scope="session")
@marks("export")
def tacotron2_checkpoint(tmp_path_factory) -> Path:
    import torch

    from tests.support.models import TINY_TACOTRON2, dle_wrapped, tiny_tacotron2

    path = tmp_path_factory.mktemp("tts") / "tacotron2.pt"
    torch.save(dle_wrapped(tiny_tacotron2(), {**TINY_TACOTRON2, "n_frames_per_step": 1, "gate_threshold": 0.5}), path)
    return path


@pytest.fixture(scope="session")
def tacotron2_export(tacotron2_checkpoint, tmp_path_factory) -> tuple[Path, dict]:
    from triton_speech.export import tacotron2 as tts

    output = tmp_path_factory.mktemp("tts") / "tacotron2"
    return output, tts.export_tacotron2(tacotron2_checkpoint, output)


@pytest.fixture(scope="session")
def waveglow_export(tmp_path_factory) -> tuple[Path, dict]:
    import torch

    from tests.support.models import TINY_WAVEGLOW, dle_wrapped, tiny_waveglow
    from triton_speech.export.waveglow import export_waveglow

    directory = tmp_path_factory.mktemp("tts")
    torch.save(dle_wrapped(tiny_waveglow(), TINY_WAVEGLOW), directory / "waveglow.pt")
    return directory / "out", export_waveglow(directory / "waveglow.pt", directory / "out")


@pytest.fixture(scope="session")
@marks("export")
def decoding_case():
    """(model, sequences, seeds, decoder settings, stop steps) where the tiny Tacotron2 items stop apart."""
    from tests.support.decoding import decoding_case

    return decoding_case()


@pytest.fixture(scope="session")
def repository(tmp_path_factory, quartznet_export, punctuator_export, tacotron2_export, waveglow_export,
               decoding_case) -> Path:
    """ASR (QuartzNet 15x5 + small punctuator, random) and TTS (tiny Tacotron2 + WaveGlow) in one repository."""
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings

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
    from triton_speech.runtime.tts.pipeline import TTSPipeline
    from triton_speech.runtime.tts.tacotron2 import Tacotron2Engine
    from triton_speech.runtime.tts.waveglow import WaveGlowEngine

    settings = decoding_case[3]
    return TTSPipeline(Tacotron2Engine.load(tacotron2_export[0], settings), WaveGlowEngine.load(waveglow_export[0]),
                       max_sentence_chars=TEST_SETTINGS["max_sentence_chars"])


@pytest.fixture(scope="session")
def pipeline(quartznet_export, punctuator_export):
    """The asr ensemble in-process (with the punctuator)."""
    from triton_speech.runtime.asr.pipeline import ASRPipeline

    return ASRPipeline.from_export(quartznet_export, punctuator_export)


@pytest.fixture(scope="session")
@marks("export")
def custom_punctuator():
    """A small random punctuator with 2-layer gelu heads and five punctuation labels."""
    from tests.support.archives import CUSTOM_CAPIT, CUSTOM_PUNCT
    from triton_speech.models.punctuator import random_punctuator

    return random_punctuator(seed=2, num_fc_layers=2, activation="gelu", punct_labels=CUSTOM_PUNCT,
                             capit_labels=CUSTOM_CAPIT)


@pytest.fixture(scope="session")
def custom_punctuator_nemo(custom_punctuator, tmp_path_factory):
    from triton_speech.models.punctuator import write_nemo

    path = tmp_path_factory.mktemp("nemo") / "custom_punctuator.nemo"
    write_nemo(path, custom_punctuator.model, custom_punctuator.vocab, custom_punctuator.config)
    return path


@pytest.fixture(scope="session")
def tone_export(tmp_path_factory) -> Path:
    """The tone model (tests/support/tones.py): words whose times are known, with a log-prob stride of 40 ms."""
    from tests.support.tones import tone_export

    return tone_export(tmp_path_factory.mktemp("export") / "tone")


@pytest.fixture(scope="session")
def tone_pipeline(tone_export):
    from triton_speech.runtime.asr.pipeline import ASRPipeline

    return ASRPipeline.from_export(tone_export)


@pytest.fixture(scope="session")
def tone_repository(tone_export, tmp_path_factory) -> Path:
    """asr, asr_long and asr_streaming over the tone model (TONE_SETTINGS: short windows, buffer and idle time, so
    that the tests reach every edge quickly); small and quick to start, also for tests that kill servers."""
    from tests.support.tones import TONE_SETTINGS
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings

    repository = tmp_path_factory.mktemp("tone_repository")
    build(repository, Exports(asr=tone_export), RepositorySettings(**TONE_SETTINGS))
    return repository


@pytest.fixture(scope="session")
def tone_triton(tone_repository, tmp_path_factory):
    """A real server of the tone repository."""
    from triton_speech.server import TritonServer

    server = TritonServer(tone_repository, ports=free_ports(),
                          log_path=tmp_path_factory.mktemp("triton") / "tone.log")
    with server:
        yield server
    assert server.remove_shm_regions() == [], "server left /dev/shm regions behind"


@pytest.fixture(scope="session")
def default_asr_server(tmp_path_factory, default_quartznet_export):
    """A real server of the shipped default QuartzNet decoded over its lexicon, as `make repository` serves it
    (no punctuator); ``export_dir`` is its export."""
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings
    from triton_speech.server import TritonServer

    repository = tmp_path_factory.mktemp("default_asr_repository")
    build(repository, Exports(asr=default_quartznet_export), RepositorySettings(lexicon=str(DEFAULT_LEXICON)))
    with TritonServer(repository, ports=free_ports()) as server:
        server.export_dir = default_quartznet_export
        yield server


@pytest.fixture(scope="session")
def judge():
    """The independent judge: Whisper base (the judge extra, make judge), a recognizer the project did not train."""
    from triton_speech.training.judge import Judge

    return Judge("base")


@pytest.fixture(scope="session")
def default_speech_server(tmp_path_factory, default_quartznet_export, default_punctuator_export,
                          default_tacotron2_export):
    """Triton over the trained defaults as `make repository` builds them: asr (lexicon decoding, punctuator) and
    tts (Griffin-Lim)."""
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings
    from triton_speech.server import TritonServer

    repository = tmp_path_factory.mktemp("default_speech_repository")
    build(repository, Exports(asr=default_quartznet_export, punctuator=default_punctuator_export,
                              tacotron2=default_tacotron2_export),
          RepositorySettings(lexicon=str(DEFAULT_LEXICON), vocoder="griffin_lim"))
    with TritonServer(repository, ports=free_ports()) as server:
        yield server

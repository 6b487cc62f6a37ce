"""The trained default punctuator shipped at defaults/punctuator_small.nemo: it loads strictly,
exports, and restores held-out template text, in process and through a real Triton server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.paths import DEFAULTS
from tests.support.ports import free_ports
from triton_speech.client import PunctuatorClient
from triton_speech.export.punctuator import OUTPUT_NAMES
from triton_speech.models.punctuator import NEMO_CAPIT_LABELS, NEMO_PUNCT_LABELS, read_nemo
from triton_speech.runtime.punctuation import Punctuator
from triton_speech.training.punctuation_data import (
    ASR_TEXT,
    join_examples,
    restoration_metrics,
    train_heldout_sentences,
    unpunctuated,
)
from triton_speech.training.train_punctuator import SMALL_PUNCTUATOR_NEMO

HELDOUT = json.loads((DEFAULTS / "punctuator_small.heldout.json").read_text())["examples"]
TRAINING_SUMMARY = json.loads(SMALL_PUNCTUATOR_NEMO.with_suffix(".json").read_text())
MAX_CHECKPOINT_BYTES = 10 * 1024 * 1024
# Measured on these held-out examples when the checkpoint was trained (TRAINING_SUMMARY["heldout_shipped"]):
# punctuation macro F1 0.968 (',' 0.981, '.' 0.997, '?' 0.925), word punctuation accuracy 0.997, capitalization
# accuracy 1.000, 97 of 100 examples restored exactly. The bounds sit a small margin below (a few more
# errors; one '?' error moves the macro F1 by about 0.01). The errors left are mostly a name between two
# sentences, which could as well close the first ("..., Kate?") as open the second ("Kate, ...").
MIN_PUNCT_MACRO_F1 = 0.94
MIN_PUNCT_ACCURACY = 0.99
MIN_CAPIT_ACCURACY = 0.99
MIN_EXACT_EXAMPLES = 0.93


def assert_restored_well(restored: list[str]) -> dict:
    metrics = restoration_metrics(restored, [example["expected"] for example in HELDOUT])
    assert metrics["punct_macro_f1"] >= MIN_PUNCT_MACRO_F1, metrics
    assert metrics["punct_accuracy"] >= MIN_PUNCT_ACCURACY, metrics
    assert metrics["capit_accuracy"] >= MIN_CAPIT_ACCURACY, metrics
    assert metrics["exact_examples"] >= MIN_EXACT_EXAMPLES, metrics
    return metrics


def test_shipped_checkpoint_loads_strictly():
    loaded = read_nemo(SMALL_PUNCTUATOR_NEMO)  # load_state_dict(strict=True)
    bert = loaded.model.bert_model.config
    assert (loaded.punct_labels, loaded.capit_labels, loaded.pad_label) == (NEMO_PUNCT_LABELS, NEMO_CAPIT_LABELS, "O")
    assert (bert.hidden_size, bert.num_attention_heads, bert.max_position_embeddings) == (128, 4, 128)
    assert bert.vocab_size == len(loaded.vocab)
    assert loaded.lowercase
    assert SMALL_PUNCTUATOR_NEMO.stat().st_size < MAX_CHECKPOINT_BYTES


def test_shipped_checkpoint_exports(default_punctuator_export):
    info = json.loads((default_punctuator_export / "export.json").read_text())
    assert Path(info["source"]).resolve() == SMALL_PUNCTUATOR_NEMO.resolve() and not info["random_weights"]
    assert info["max_seq_length"] <= info["max_position_embeddings"]
    assert all(info["parity"][name]["onnx_vs_float64"] <= info["parity"][name]["bound"] for name in OUTPUT_NAMES)


def test_heldout_set_is_asr_text_the_training_never_saw():
    """The file is the first held-out examples of the training run, and no held-out sentence was trained on."""
    summary = TRAINING_SUMMARY
    seed = summary["seed"]
    train, heldout = train_heldout_sentences(summary["train_sentences"], summary["heldout_sentences"], seed)
    assert HELDOUT == join_examples(heldout, seed + 1)[: len(HELDOUT)]
    assert not {unpunctuated(text) for text in heldout} & {unpunctuated(text) for text in train}
    for example in HELDOUT:
        assert ASR_TEXT.fullmatch(example["input"]) and example["input"] == unpunctuated(example["expected"])


def test_the_bounds_reject_unrestored_text():
    """The input itself (no marks, no capitals) scores far below every bound: the assertions can fail."""
    metrics = restoration_metrics([example["input"] for example in HELDOUT], [e["expected"] for e in HELDOUT])
    assert metrics["punct_macro_f1"] < MIN_PUNCT_MACRO_F1 / 2
    assert metrics["capit_accuracy"] < MIN_CAPIT_ACCURACY - 0.05
    assert metrics["exact_examples"] == 0


def test_restores_heldout_text_in_process(default_punctuator_export):
    punctuator = Punctuator.load(default_punctuator_export, intra_op_threads=1)
    assert_restored_well(punctuator([example["input"] for example in HELDOUT]))


@pytest.fixture(scope="module")
def default_punctuator_server(default_punctuator_export, tmp_path_factory):
    """A real Triton serving only the shipped punctuator, with the default repository settings."""
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings
    from triton_speech.server import TritonServer

    repository = tmp_path_factory.mktemp("default_punctuator_repository")
    build(repository, Exports(punctuator=default_punctuator_export), RepositorySettings())
    server = TritonServer(repository, ports=free_ports(), log_path=tmp_path_factory.mktemp("triton") / "server.log")
    with server:
        yield server
    assert server.remove_shm_regions() == [], "server left /dev/shm regions behind"


@pytest.mark.server
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_served_default_punctuator_restores_heldout_text(default_punctuator_server, default_punctuator_export,
                                                        protocol):
    from triton_speech.ensembles.settings import RepositorySettings

    server = default_punctuator_server
    client = PunctuatorClient(server.grpc_url if protocol == "grpc" else server.http_url, protocol)
    inputs = [example["input"] for example in HELDOUT]
    rows = RepositorySettings().max_batch_size  # one request may carry at most a batch
    served = [text for start in range(0, len(inputs), rows) for text in client.punctuate(inputs[start : start + rows])]
    assert_restored_well(served)
    assert served == Punctuator.load(default_punctuator_export, intra_op_threads=1)(inputs)

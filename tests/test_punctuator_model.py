"""The punctuation model class: published layout, .nemo loading with strict=True, ONNX parity."""

import io
import json
import tarfile

import numpy as np
import pytest
import torch
import yaml

from export import punctuator
from export.punctuator_model import (
    LEGACY_POSITION_IDS,
    PunctuationCapitalizationModel,
    bert_config_from_model_config,
    nemo_model_config,
    random_punctuator,
    read_nemo,
    write_nemo,
)
from tests.conftest import DATA

PUBLISHED = json.loads((DATA / "punctuation_en_bert_nemo.json").read_text())
# Not NeMo's defaults, so they can only come from the checkpoint.
CUSTOM_PUNCT = ["O", "!", ",", ".", "?"]
CUSTOM_CAPIT = ["O", "U"]


def read_archive(path) -> dict[str, bytes]:
    with tarfile.open(path, "r:*") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def write_archive(path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def edited_checkpoint(members: dict[str, bytes], edit) -> dict[str, bytes]:
    state_dict = torch.load(io.BytesIO(members["./model_weights.ckpt"]), weights_only=True)
    edit(state_dict)
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return {**members, "./model_weights.ckpt": buffer.getvalue()}


@pytest.fixture(scope="module")
def custom():
    """A small random punctuator with 2-layer gelu heads and five punctuation labels."""
    return random_punctuator(seed=2, num_fc_layers=2, activation="gelu", punct_labels=CUSTOM_PUNCT,
                             capit_labels=CUSTOM_CAPIT)


@pytest.fixture(scope="module")
def custom_nemo(custom, tmp_path_factory):
    path = tmp_path_factory.mktemp("nemo") / "custom.nemo"
    write_nemo(path, custom.model, custom.vocab, custom.config)
    return path


@pytest.fixture(scope="module")
def custom_export(custom_nemo, tmp_path_factory):
    output = tmp_path_factory.mktemp("export")
    info = punctuator.export_punctuator(custom_nemo, output)
    return output, info


def test_model_built_from_the_published_config_has_the_published_layout():
    config = nemo_model_config()  # bert-base-uncased, 1-layer relu heads, labels O , . ?
    model = PunctuationCapitalizationModel.from_config(config, bert_config_from_model_config(config))
    ours = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    assert ours == PUBLISHED["params"]
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED["summary"]["n_parameters"]
    labels = PUBLISHED["config_facts"]["labels"]
    assert config["punct_label_ids"] == labels["punct_label_ids"]
    assert config["capit_label_ids"] == labels["capit_label_ids"]


def test_head_depth_and_activation_come_from_the_config(custom):
    keys = [key for key in custom.model.state_dict() if "_classifier." in key]
    assert sorted(keys) == sorted(
        f"{head}_classifier.mlp.layer{n}.{p}" for head in ("punct", "capit") for n in (0, 2) for p in ("weight", "bias")
    )
    assert custom.model.punct_classifier.mlp.layer1 is torch.nn.functional.gelu
    assert custom.model.punct_classifier.mlp.layer2.out_features == len(CUSTOM_PUNCT)


def test_nemo_archive_is_written_in_nemo_format_with_position_ids(custom_nemo):
    members = read_archive(custom_nemo)
    assert {"./model_config.yaml", "./model_weights.ckpt", "./tokenizer.vocab_file", "./punct_label_ids.csv",
            "./capit_label_ids.csv"} <= set(members)
    state_dict = torch.load(io.BytesIO(members["./model_weights.ckpt"]), weights_only=True)
    assert torch.equal(state_dict[LEGACY_POSITION_IDS], torch.arange(512)[None])
    config = yaml.safe_load(members["./model_config.yaml"])
    assert config["punct_label_ids"] == {label: i for i, label in enumerate(CUSTOM_PUNCT)}
    assert config["punct_head"]["punct_num_fc_layers"] == 2 and "common_dataset_parameters" not in config


def test_nemo_archive_loads_strictly_with_weights_labels_and_vocabulary(custom, custom_nemo):
    loaded = read_nemo(custom_nemo)
    assert loaded.punct_labels == CUSTOM_PUNCT and loaded.capit_labels == CUSTOM_CAPIT
    assert loaded.vocab == custom.vocab and loaded.pad_label == "O"
    expected = custom.model.state_dict()
    assert loaded.model.state_dict().keys() == expected.keys()
    for key, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, expected[key]), key
    assert loaded.model.bert_model.config.num_attention_heads == custom.model.bert_model.config.num_attention_heads


@pytest.mark.parametrize("edit, message", [
    (lambda sd: sd.update(extra=torch.zeros(3)), "Unexpected key"),
    (lambda sd: sd.pop("bert_model.pooler.dense.bias"), "Missing key"),
    (lambda sd: sd.pop("capit_classifier.mlp.layer2.bias"), "Missing key"),
])
def test_loading_is_strict(custom_nemo, tmp_path, edit, message):
    path = tmp_path / "edited.nemo"
    write_archive(path, edited_checkpoint(read_archive(custom_nemo), edit))
    with pytest.raises(RuntimeError, match=message):
        read_nemo(path)


def test_newer_nemo_layout_loads_too(custom, custom_nemo, tmp_path):
    """NeMo >= 1.7: plain tar, no './' prefix, '<uuid>_' artifact names, 'nemo:' paths, new config keys."""
    members = {name.removeprefix("./"): data for name, data in read_archive(custom_nemo).items()}
    config = yaml.safe_load(members.pop("model_config.yaml"))
    members["0a1b_vocab.txt"] = members.pop("tokenizer.vocab_file")
    for name in ("punct_label_ids.csv", "capit_label_ids.csv"):
        members[f"9f8e_{name}"] = members.pop(name)
    config["tokenizer"]["vocab_file"] = "nemo:0a1b_vocab.txt"
    config["class_labels"] = {"punct_labels_file": "nemo:9f8e_punct_label_ids.csv",
                              "capit_labels_file": "nemo:9f8e_capit_label_ids.csv"}
    config["common_dataset_parameters"] = {"pad_label": "O", "punct_label_ids": config.pop("punct_label_ids"),
                                           "capit_label_ids": config.pop("capit_label_ids")}
    for head in ("punct", "capit"):
        config[f"{head}_head"]["num_fc_layers"] = config[f"{head}_head"].pop(f"{head}_num_fc_layers")
    members["model_config.yaml"] = yaml.safe_dump(config).encode()
    path = tmp_path / "new.nemo"
    members = edited_checkpoint({f"./{k}": v for k, v in members.items()}, lambda sd: sd.pop(LEGACY_POSITION_IDS))
    write_archive(path, {name.removeprefix("./"): data for name, data in members.items()}, mode="w")
    loaded = read_nemo(path)
    assert loaded.punct_labels == CUSTOM_PUNCT and loaded.vocab == custom.vocab


def test_label_files_that_contradict_the_config_are_refused(custom_nemo, tmp_path):
    members = read_archive(custom_nemo)
    members["./punct_label_ids.csv"] = "\n".join(["O", ",", "!", ".", "?"]).encode()
    write_archive(tmp_path / "contradicting.nemo", members)
    with pytest.raises(ValueError, match="punct labels differ"):
        read_nemo(tmp_path / "contradicting.nemo")


def test_an_archive_without_vocabulary_needs_one_given(custom, custom_nemo, tmp_path):
    members = read_archive(custom_nemo)
    del members["./tokenizer.vocab_file"]
    write_archive(tmp_path / "no_vocab.nemo", members)
    with pytest.raises(ValueError, match="no WordPiece vocabulary"):
        read_nemo(tmp_path / "no_vocab.nemo")
    (tmp_path / "vocab.txt").write_text("\n".join(custom.vocab) + "\n")
    assert read_nemo(tmp_path / "no_vocab.nemo", vocab=tmp_path / "vocab.txt").vocab == custom.vocab


def test_export_writes_the_checkpoint_labels_vocabulary_and_settings(custom, custom_export):
    output, info = custom_export
    labels = json.loads((output / "labels.json").read_text())
    assert labels == {"punct": CUSTOM_PUNCT, "capit": CUSTOM_CAPIT, "pad_label": "O"}
    assert (output / "vocab.txt").read_text().splitlines() == custom.vocab
    assert json.loads((output / "export.json").read_text()) == info
    assert (info["max_seq_length"], info["step"], info["margin"]) == (64, 8, 16) and not info["random_weights"]
    assert max(info["parity"]["punct_logits_max_abs"], info["parity"]["capit_logits_max_abs"]) <= 1e-4


def test_onnx_matches_pytorch_on_a_padded_batch(custom, custom_export):
    from triton_speech.acoustic import onnx_session

    output, _ = custom_export
    session = onnx_session(output / "model.onnx")
    assert [i.name for i in session.get_inputs()] == punctuator.INPUT_NAMES
    assert [o.name for o in session.get_outputs()] == punctuator.OUTPUT_NAMES
    lengths = (5, 40, 17, 64)
    batch = punctuator.parity_batch(len(custom.vocab), lengths, seed=11)
    served = session.run(punctuator.OUTPUT_NAMES, dict(zip(punctuator.INPUT_NAMES, batch)))
    padded = punctuator.torch_logits(custom.model, *batch)
    assert served[0].shape == (4, 64, len(CUSTOM_PUNCT)) and served[1].shape == (4, 64, len(CUSTOM_CAPIT))
    for row, length in enumerate(lengths):
        alone = punctuator.torch_logits(custom.model, *(x[row : row + 1, :length] for x in batch))
        for ours, batched, single in zip(served, padded, alone):
            np.testing.assert_allclose(ours[row, :length], batched[row, :length], atol=1e-4, rtol=0)
            np.testing.assert_allclose(ours[row, :length], single[0], atol=1e-4, rtol=0)
    # Varied logits, so the comparison means something.
    assert np.ptp(served[0][0, :5].argmax(-1)) > 0 or np.ptp(served[0][1, :40].argmax(-1)) > 0


def test_export_refuses_an_onnx_graph_that_differs_from_pytorch(custom_nemo, tmp_path, monkeypatch):
    export_onnx = punctuator.export_onnx

    def export_a_perturbed_model(model, path, **kwargs):
        bias = model.capit_classifier.mlp.layer2.bias
        with torch.no_grad():
            bias += 1e-3
            export_onnx(model, path, **kwargs)
            bias -= 1e-3

    monkeypatch.setattr(punctuator, "export_onnx", export_a_perturbed_model)
    with pytest.raises(AssertionError, match="capit_logits differ from PyTorch"):
        punctuator.export_punctuator(custom_nemo, tmp_path / "out")

"""The punctuation model class: the published layout, .nemo archives read and written with strict=True."""

import io
import json

import pytest
import torch
import yaml

from tests.support.archives import CUSTOM_CAPIT, CUSTOM_PUNCT, edited_checkpoint, read_archive, write_archive
from tests.support.paths import DATA
from triton_speech.models.punctuator import (
    LEGACY_POSITION_IDS,
    PunctuationCapitalizationModel,
    bert_config_from_model_config,
    nemo_model_config,
    read_nemo,
)

PUBLISHED = json.loads((DATA / "punctuation_en_bert_nemo.json").read_text())
def test_model_built_from_the_published_config_has_the_published_layout():
    config = nemo_model_config()  # bert-base-uncased, 1-layer relu heads, labels O , . ?
    model = PunctuationCapitalizationModel.from_config(config, bert_config_from_model_config(config))
    ours = {name: list(tensor.shape) for name, tensor in model.state_dict().items()}
    assert ours == PUBLISHED["params"]
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED["summary"]["n_parameters"]
    labels = PUBLISHED["config_facts"]["labels"]
    assert config["punct_label_ids"] == labels["punct_label_ids"]
    assert config["capit_label_ids"] == labels["capit_label_ids"]


def test_head_depth_and_activation_come_from_the_config(custom_punctuator):
    keys = [key for key in custom_punctuator.model.state_dict() if "_classifier." in key]
    assert sorted(keys) == sorted(
        f"{head}_classifier.mlp.layer{n}.{p}" for head in ("punct", "capit") for n in (0, 2) for p in ("weight", "bias")
    )
    assert custom_punctuator.model.punct_classifier.mlp.layer1 is torch.nn.functional.gelu
    assert custom_punctuator.model.punct_classifier.mlp.layer2.out_features == len(CUSTOM_PUNCT)


def test_nemo_archive_is_written_in_nemo_format_with_position_ids(custom_punctuator_nemo):
    members = read_archive(custom_punctuator_nemo)
    assert {"./model_config.yaml", "./model_weights.ckpt", "./tokenizer.vocab_file", "./punct_label_ids.csv",
            "./capit_label_ids.csv"} <= set(members)
    state_dict = torch.load(io.BytesIO(members["./model_weights.ckpt"]), weights_only=True)
    assert torch.equal(state_dict[LEGACY_POSITION_IDS], torch.arange(512)[None])
    config = yaml.safe_load(members["./model_config.yaml"])
    assert config["punct_label_ids"] == {label: i for i, label in enumerate(CUSTOM_PUNCT)}
    assert config["punct_head"]["punct_num_fc_layers"] == 2 and "common_dataset_parameters" not in config


def test_nemo_archive_loads_strictly_with_weights_labels_and_vocabulary(custom_punctuator, custom_punctuator_nemo):
    loaded = read_nemo(custom_punctuator_nemo)
    assert loaded.punct_labels == CUSTOM_PUNCT and loaded.capit_labels == CUSTOM_CAPIT
    assert loaded.vocab == custom_punctuator.vocab and loaded.pad_label == "O"
    expected = custom_punctuator.model.state_dict()
    assert loaded.model.state_dict().keys() == expected.keys()
    for key, tensor in loaded.model.state_dict().items():
        assert torch.equal(tensor, expected[key]), key
    expected_heads = custom_punctuator.model.bert_model.config.num_attention_heads
    assert loaded.model.bert_model.config.num_attention_heads == expected_heads


@pytest.mark.parametrize("edit, message", [
    (lambda sd: sd.update(extra=torch.zeros(3)), "Unexpected key"),
    (lambda sd: sd.pop("bert_model.pooler.dense.bias"), "Missing key"),
    (lambda sd: sd.pop("capit_classifier.mlp.layer2.bias"), "Missing key"),
])
def test_loading_is_strict(custom_punctuator_nemo, tmp_path, edit, message):
    path = tmp_path / "edited.nemo"
    write_archive(path, edited_checkpoint(read_archive(custom_punctuator_nemo), edit))
    with pytest.raises(RuntimeError, match=message):
        read_nemo(path)


def test_newer_nemo_layout_loads_too(custom_punctuator, custom_punctuator_nemo, tmp_path):
    """NeMo >= 1.7: plain tar, no './' prefix, '<uuid>_' artifact names, 'nemo:' paths, new config keys."""
    members = {name.removeprefix("./"): data for name, data in read_archive(custom_punctuator_nemo).items()}
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
    assert loaded.punct_labels == CUSTOM_PUNCT and loaded.vocab == custom_punctuator.vocab


def test_label_files_that_contradict_the_config_are_refused(custom_punctuator_nemo, tmp_path):
    members = read_archive(custom_punctuator_nemo)
    members["./punct_label_ids.csv"] = "\n".join(["O", ",", "!", ".", "?"]).encode()
    write_archive(tmp_path / "contradicting.nemo", members)
    with pytest.raises(ValueError, match="punct labels differ"):
        read_nemo(tmp_path / "contradicting.nemo")


def test_an_archive_without_vocabulary_needs_one_given(custom_punctuator, custom_punctuator_nemo, tmp_path):
    members = read_archive(custom_punctuator_nemo)
    del members["./tokenizer.vocab_file"]
    write_archive(tmp_path / "no_vocab.nemo", members)
    with pytest.raises(ValueError, match="no WordPiece vocabulary"):
        read_nemo(tmp_path / "no_vocab.nemo")
    (tmp_path / "vocab.txt").write_text("\n".join(custom_punctuator.vocab) + "\n")
    assert read_nemo(tmp_path / "no_vocab.nemo", vocab=tmp_path / "vocab.txt").vocab == custom_punctuator.vocab



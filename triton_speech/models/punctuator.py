"""NeMo's BERT punctuation + capitalization model (``punctuation_en_bert.nemo``) without NeMo.

NeMo 3.0 dropped ``PunctuationCapitalizationModel``; the published checkpoint is still the model we serve.
This module rebuilds its parameter layout exactly (``bert_model`` = a ``transformers.BertModel`` with its
pooler, and two NeMo ``TokenClassifier`` heads whose ``mlp`` holds ``layer0``, ``layer1``, ...), so the
published ``model_weights.ckpt`` loads with ``strict=True``.

``.nemo`` archive (a tar, gzip before NeMo 1.7; member names may start with ``./``):
    model_config.yaml       label ids, head depth/activation, tokenizer and language-model sections
    model_weights.ckpt      ``torch.save(state_dict)``; old files also hold ``bert_model.embeddings.position_ids``
    tokenizer.vocab_file    WordPiece vocabulary, one token a line (name given by ``tokenizer.vocab_file``)
    punct_label_ids.csv / capit_label_ids.csv   one label a line, line number == id (optional)
"""

from __future__ import annotations

import io
import json
import random
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch
import yaml
from torch import nn
from transformers import BertConfig, BertModel

# Persistent in the transformers releases the checkpoint was trained with, a non-persistent buffer now.
# NeMo itself drops this key before loading.
LEGACY_POSITION_IDS = "bert_model.embeddings.position_ids"
# The labels of punctuation_en_bert: NeMo gives the pad label id 0, then sorts the others.
NEMO_PUNCT_LABELS = ["O", ",", ".", "?"]
NEMO_CAPIT_LABELS = ["O", "U"]
PAD_LABEL = "O"
VOCAB_MEMBER = "tokenizer.vocab_file"
LABEL_FILES = {"punct": "punct_label_ids.csv", "capit": "capit_label_ids.csv"}
BERT_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# BERT's convention where a config names no head count: 64-dimensional attention heads.
BERT_HEAD_DIM = 64
HEADS = ("punct", "capit")


@dataclass(frozen=True)
class HeadSpec:
    """One NeMo ``TokenClassifier``: ``num_fc_layers`` linear layers, ``activation`` between them."""

    num_classes: int
    num_fc_layers: int = 1
    activation: str = "relu"
    dropout: float = 0.1


def activation_function(name: str):
    """NeMo looks the activation up as ``getattr(torch, name)``; ``gelu`` only exists in ``torch.nn.functional``."""
    function = getattr(torch, name, None) or getattr(torch.nn.functional, name, None)
    if not callable(function):
        raise ValueError(f"unknown head activation {name!r}")
    return function


class MultiLayerPerceptron(nn.Module):
    """``layer0`` .. ``layer{2(n-1)}``: linear layers with the activation function stored between them.

    The activation sits in an odd ``layerK`` attribute as a plain function (as in NeMo), so it has no
    state-dict key and the linear layers keep NeMo's even numbering.
    """

    def __init__(self, hidden_size: int, num_classes: int, num_layers: int, activation: str):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"a head needs at least one layer, got num_fc_layers={num_layers}")
        function = activation_function(activation)
        self.num_sublayers = 2 * num_layers - 1
        for index in range(0, self.num_sublayers - 1, 2):
            setattr(self, f"layer{index}", nn.Linear(hidden_size, hidden_size))
            setattr(self, f"layer{index + 1}", function)
        setattr(self, f"layer{self.num_sublayers - 1}", nn.Linear(hidden_size, num_classes))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        for index in range(self.num_sublayers):
            hidden_states = getattr(self, f"layer{index}")(hidden_states)
        return hidden_states


class TokenClassifier(nn.Module):
    def __init__(self, hidden_size: int, head: HeadSpec):
        super().__init__()
        self.dropout = nn.Dropout(head.dropout)
        self.mlp = MultiLayerPerceptron(hidden_size, head.num_classes, head.num_fc_layers, head.activation)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.dropout(hidden_states))


class PunctuationCapitalizationModel(nn.Module):
    """BERT encoder + punctuation and capitalization token classifiers; returns logits, not log-probs."""

    def __init__(
        self, bert_config: BertConfig, punct_head: HeadSpec, capit_head: HeadSpec, add_pooling_layer: bool = True
    ):
        super().__init__()
        # Eager attention: the plain math, which the ONNX exporter reproduces as is.
        bert_config._attn_implementation = "eager"
        # NeMo's BertEncoder keeps the pooler (unused by token classification, but in the checkpoint).
        self.bert_model = BertModel(bert_config, add_pooling_layer=add_pooling_layer)
        self.punct_classifier = TokenClassifier(bert_config.hidden_size, punct_head)
        self.capit_classifier = TokenClassifier(bert_config.hidden_size, capit_head)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
        hidden_states = self.bert_model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        return self.punct_classifier(hidden_states), self.capit_classifier(hidden_states)

    @classmethod
    def from_config(cls, model_config: dict, bert_config: BertConfig, add_pooling_layer: bool = True):
        labels = {head: label_ids_from_config(model_config, head) for head in HEADS}
        missing = [head for head, ids in labels.items() if ids is None]
        if missing:
            raise ValueError(f"the model config has no {' or '.join(missing)} label ids")
        punct_head, capit_head = (head_spec(model_config, head, len(labels[head])) for head in HEADS)
        return cls(bert_config, punct_head, capit_head, add_pooling_layer)


@dataclass
class NemoPunctuator:
    """A loaded checkpoint: model (eval mode), WordPiece vocabulary, label lists in id order, its config."""

    model: PunctuationCapitalizationModel
    vocab: list[str]
    punct_labels: list[str]
    capit_labels: list[str]
    pad_label: str
    config: dict

    @property
    def lowercase(self) -> bool:
        name = str((self.config.get("tokenizer") or {}).get("tokenizer_name") or "")
        return "-cased" not in name and not name.endswith("_cased")

    @property
    def training_max_seq_length(self) -> int | None:
        for section in ("dataset", "train_ds"):
            length = (self.config.get(section) or {}).get("max_seq_length")
            if length is not None:
                return int(length)
        return None


# ---------------------------------------------------------------------------------------------- config


def nemo_model_config(
    punct_labels: list[str] = NEMO_PUNCT_LABELS,
    capit_labels: list[str] = NEMO_CAPIT_LABELS,
    *,
    pretrained_model_name: str = "bert-base-uncased",
    bert: dict | None = None,
    num_fc_layers: int = 1,
    activation: str = "relu",
    fc_dropout: float = 0.1,
    max_seq_length: int = 128,
    pad_label: str = PAD_LABEL,
) -> dict:
    """A model config in the legacy layout of ``punctuation_en_bert.nemo`` (defaults: its inferred values).

    ``bert`` (HuggingFace ``BertConfig`` fields) goes to ``language_model.config``; the published file has
    none there, since ``pretrained_model_name`` implied the geometry.
    """
    def head(name: str) -> dict:
        return {f"{name}_num_fc_layers": num_fc_layers, "fc_dropout": fc_dropout, "activation": activation,
                "log_softmax": True, "use_transformer_init": True}

    return {
        "punct_label_ids": {label: index for index, label in enumerate(punct_labels)},
        "capit_label_ids": {label: index for index, label in enumerate(capit_labels)},
        "class_labels": {"punct_labels_file": LABEL_FILES["punct"], "capit_labels_file": LABEL_FILES["capit"]},
        "dataset": {"data_dir": None, "max_seq_length": max_seq_length, "pad_label": pad_label,
                    "ignore_extra_tokens": False, "ignore_start_end": False, "use_cache": True},
        "tokenizer": {"tokenizer_name": pretrained_model_name, "vocab_file": VOCAB_MEMBER,
                      "tokenizer_model": None, "special_tokens": None},
        "language_model": {"pretrained_model_name": pretrained_model_name, "lm_checkpoint": None,
                           "config_file": None, "config": bert},
        "punct_head": head("punct"),
        "capit_head": head("capit"),
    }


def head_spec(model_config: dict, head: str, num_classes: int) -> HeadSpec:
    """Read a head from ``{head}_head``: ``num_fc_layers`` (NeMo >= 1.6) or ``{head}_num_fc_layers`` (legacy)."""
    section = model_config.get(f"{head}_head") or {}
    layers = section.get("num_fc_layers", section.get(f"{head}_num_fc_layers", HeadSpec.num_fc_layers))
    return HeadSpec(
        num_classes=num_classes,
        num_fc_layers=int(layers),
        activation=str(section.get("activation", HeadSpec.activation)),
        dropout=float(section.get("fc_dropout", HeadSpec.dropout)),
    )


def label_ids_from_config(model_config: dict, head: str) -> list[str] | None:
    """``{head}_label_ids`` (legacy: top level; NeMo >= 1.6: ``common_dataset_parameters``) as a list in id order."""
    common = model_config.get("common_dataset_parameters") or {}
    ids = model_config.get(f"{head}_label_ids") or common.get(f"{head}_label_ids")
    return None if ids is None else labels_in_id_order(ids, f"{head}_label_ids")


def labels_in_id_order(label_ids: dict, what: str) -> list[str]:
    ordered = sorted(label_ids.items(), key=lambda item: int(item[1]))
    if [int(index) for _, index in ordered] != list(range(len(ordered))):
        raise ValueError(f"{what}: ids must be 0..{len(ordered) - 1}, got {dict(label_ids)}")
    return [str(label) for label, _ in ordered]


def pad_label_from_config(model_config: dict) -> str:
    for section in ("common_dataset_parameters", "dataset"):
        label = (model_config.get(section) or {}).get("pad_label")
        if label is not None:
            return str(label)
    return PAD_LABEL


def bert_config_from_checkpoint(state_dict: dict, model_config: dict, encoder_config: dict | None = None) -> BertConfig:
    """The encoder geometry: dimensions from the weights' shapes, the rest from the model config.

    Shapes cannot tell the head count, activation or epsilon: those come from ``language_model.config``
    or the archive's encoder config file when present, else BERT's conventions (64-dim heads, gelu, 1e-12).
    """
    prefix = "bert_model."
    if f"{prefix}encoder.layer.0.attention.self.query.weight" not in state_dict:
        name = (model_config.get("language_model") or {}).get("pretrained_model_name")
        raise ValueError(f"not a BERT encoder checkpoint (language model {name!r}); only BertModel layouts load")
    word_embeddings = state_dict[f"{prefix}embeddings.word_embeddings.weight"]
    layer_numbers = {int(m.group(1)) for key in state_dict if (m := re.match(rf"{prefix}encoder\.layer\.(\d+)\.", key))}
    from_shapes = {
        "vocab_size": word_embeddings.shape[0],
        "hidden_size": word_embeddings.shape[1],
        "max_position_embeddings": state_dict[f"{prefix}embeddings.position_embeddings.weight"].shape[0],
        "type_vocab_size": state_dict[f"{prefix}embeddings.token_type_embeddings.weight"].shape[0],
        "num_hidden_layers": max(layer_numbers) + 1,
        "intermediate_size": state_dict[f"{prefix}encoder.layer.0.intermediate.dense.weight"].shape[0],
    }
    declared = dict(encoder_config or {})
    declared.update((model_config.get("language_model") or {}).get("config") or {})
    for key, value in from_shapes.items():
        if key in declared and int(declared[key]) != int(value):
            raise ValueError(f"the config says {key}={declared[key]} but the weights have {value}")
    fields = {"num_attention_heads": from_shapes["hidden_size"] // BERT_HEAD_DIM, "hidden_act": "gelu",
              "layer_norm_eps": 1e-12}
    fields.update({key: value for key, value in declared.items() if key in BertConfig().to_dict()})
    fields.update(from_shapes)
    return BertConfig(**fields)


def bert_config_from_model_config(model_config: dict) -> BertConfig:
    """The encoder a config describes without weights: ``language_model.config`` over bert-base-uncased."""
    name = (model_config.get("language_model") or {}).get("pretrained_model_name")
    overrides = (model_config.get("language_model") or {}).get("config") or {}
    if name != "bert-base-uncased" and not overrides:
        raise ValueError(f"no geometry known for language model {name!r}; give language_model.config")
    # transformers' BertConfig defaults are bert-base-uncased's geometry.
    return BertConfig(**overrides)


# ---------------------------------------------------------------------------------------------- archive


def _artifact_name(value) -> str | None:
    """A config path (``nemo:<name>``, a bare name, or a path on the training machine) -> its member name."""
    if not value:
        return None
    return PurePosixPath(str(value).removeprefix("nemo:")).name


def _read_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:*") as archive:  # NeMo < 1.7 wrote gzip, later versions plain tar
        return {
            member.name.removeprefix("./"): archive.extractfile(member).read()
            for member in archive.getmembers()
            if member.isfile()
        }


def _find_member(members: dict[str, bytes], name: str | None) -> bytes | None:
    """A member by name, also as a NeMo >= 1.7 ``<uuid>_<name>`` artifact."""
    if not name:
        return None
    for member, data in members.items():
        base = PurePosixPath(member).name
        if base == name or base.endswith(f"_{name}"):
            return data
    return None


def _vocab_from_members(members: dict[str, bytes], model_config: dict) -> list[str] | None:
    declared = _artifact_name((model_config.get("tokenizer") or {}).get("vocab_file"))
    for name in (declared, VOCAB_MEMBER, "vocab.txt"):
        data = _find_member(members, name)
        if data is not None:
            return data.decode("utf-8").splitlines()
    token_ids = _find_member(members, "tokenizer_vocab_dict.json")
    if token_ids is not None:
        mapping = json.loads(token_ids)
        return sorted(mapping, key=mapping.get)
    return None


def _labels(members: dict[str, bytes], model_config: dict, head: str) -> list[str]:
    from_config = label_ids_from_config(model_config, head)
    file_name = _artifact_name((model_config.get("class_labels") or {}).get(f"{head}_labels_file"))
    data = _find_member(members, file_name)
    from_file = None if data is None else [line.strip() for line in data.decode("utf-8").splitlines()]
    if from_config is not None and from_file is not None and from_config != from_file:
        raise ValueError(f"{head} labels differ: config {from_config}, {file_name} {from_file}")
    labels = from_config or from_file
    if labels is None:
        raise ValueError(f"the checkpoint has no {head} labels (neither {head}_label_ids nor {file_name})")
    return labels


def read_nemo(path: Path, vocab: Path | None = None) -> NemoPunctuator:
    """Load a ``punctuation_en_bert``-style ``.nemo`` with ``strict=True`` (``vocab`` overrides the archive's)."""
    path = Path(path)
    members = _read_members(path)
    for required in ("model_config.yaml", "model_weights.ckpt"):
        if required not in members:
            raise ValueError(f"{path}: no {required} in the archive (members: {sorted(members)})")
    model_config = yaml.safe_load(members["model_config.yaml"])
    state_dict = torch.load(io.BytesIO(members["model_weights.ckpt"]), map_location="cpu", weights_only=True)
    state_dict.pop(LEGACY_POSITION_IDS, None)

    language_model = model_config.get("language_model") or {}
    encoder_file = _find_member(members, _artifact_name(language_model.get("config_file")))
    encoder_config = json.loads(encoder_file) if encoder_file else None
    bert_config = bert_config_from_checkpoint(state_dict, model_config, encoder_config)
    punct_labels, capit_labels = (_labels(members, model_config, head) for head in HEADS)
    model = PunctuationCapitalizationModel(
        bert_config,
        head_spec(model_config, "punct", len(punct_labels)),
        head_spec(model_config, "capit", len(capit_labels)),
        add_pooling_layer="bert_model.pooler.dense.weight" in state_dict,
    )
    model.load_state_dict(state_dict, strict=True)

    if vocab is not None:
        tokens = Path(vocab).read_text(encoding="utf-8").splitlines()
    else:
        tokens = _vocab_from_members(members, model_config)
    if tokens is None:
        raise ValueError(f"{path}: the archive holds no WordPiece vocabulary; pass the tokenizer's vocab.txt")
    if len(tokens) > bert_config.vocab_size:
        raise ValueError(f"the vocabulary has {len(tokens)} tokens, the embedding only {bert_config.vocab_size}")
    pad_label = pad_label_from_config(model_config)
    for head, labels in (("punct", punct_labels), ("capit", capit_labels)):
        if labels[0] != pad_label:
            raise ValueError(f"{head} labels {labels}: the pad label {pad_label!r} must have id 0")
    return NemoPunctuator(model.eval(), tokens, punct_labels, capit_labels, pad_label, model_config)


def write_nemo(path: Path, model: PunctuationCapitalizationModel, vocab: list[str], config: dict,
               legacy_position_ids: bool = True) -> None:
    """Write a ``.nemo`` as NeMo 1.0 did: gzip tar, ``./``-prefixed members, label CSVs, vocabulary.

    ``legacy_position_ids`` stores the ``[1, max_positions]`` buffer that checkpoints of that era carry.
    """
    config = json.loads(json.dumps(config))  # a deep copy, and plain types for YAML
    config.setdefault("tokenizer", {})["vocab_file"] = VOCAB_MEMBER
    state_dict = {key: tensor.detach().clone() for key, tensor in model.state_dict().items()}
    if legacy_position_ids:
        positions = model.bert_model.config.max_position_embeddings
        state_dict[LEGACY_POSITION_IDS] = torch.arange(positions, dtype=torch.int64)[None]
    weights = io.BytesIO()
    torch.save(state_dict, weights)
    files = {
        "model_config.yaml": yaml.safe_dump(config, sort_keys=False).encode("utf-8"),
        "model_weights.ckpt": weights.getvalue(),
        VOCAB_MEMBER: ("\n".join(vocab) + "\n").encode("utf-8"),
    }
    for head in HEADS:
        labels = label_ids_from_config(config, head)
        if labels is not None:
            files[LABEL_FILES[head]] = "\n".join(labels).encode("utf-8")
    with tarfile.open(path, "w:gz") as archive:
        root = tarfile.TarInfo("./")
        root.type, root.mode = tarfile.DIRTYPE, 0o755
        archive.addfile(root)
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------------------------------------- random model

_SUBJECTS = ["i", "you", "we", "they", "she", "he", "my friend", "the teacher", "our team", "the doctor",
             "john", "mary", "the children", "my mother", "the president", "everyone", "nobody", "sarah"]
_VERBS = ["like", "want", "need", "see", "know", "bought", "visited", "found", "remember", "called", "watched",
          "opened", "cleaned", "painted", "sold", "built", "read", "wrote", "carried", "forgot", "ordered"]
_OBJECTS = ["the book", "a new car", "the old house", "coffee", "the report", "a letter", "the garden",
            "the city", "his phone", "the music", "a small dog", "the window", "the meeting", "dinner",
            "the train station", "the weather", "a question", "the answer", "some water", "the project",
            "the quiz", "jazz music", "the zoo", "a box of pizza"]
_PLACES = ["in london", "at home", "in the morning", "after work", "on monday", "in new york", "at school",
           "before lunch", "during the summer", "in paris", "at the office", "last night", "next week"]
_CONNECTIVES = ["and", "but", "because", "so", "although", "when", "while", "however", "then", "if"]
_QUESTIONS = ["what", "where", "when", "why", "how", "who", "which"]
_AUXILIARIES = ["do", "did", "can", "will", "should", "would", "could"]


def english_sentences(count: int = 3000, seed: int = 0) -> list[str]:
    """Lower-case template English (statements, questions, clauses, numbers) for training a vocabulary."""
    rng = random.Random(seed)

    def clause() -> str:
        return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_PLACES)}"

    shapes = [
        clause,
        lambda: f"{clause()} {rng.choice(_CONNECTIVES)} {clause()}",
        lambda: f"{rng.choice(_QUESTIONS)} {rng.choice(_AUXILIARIES)} {rng.choice(_SUBJECTS)} "
                f"{rng.choice(_VERBS)} {rng.choice(_OBJECTS)}",
        lambda: f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.randint(2, 60)} things {rng.choice(_PLACES)}",
        lambda: f"yes {clause()}",
        lambda: f"well i don't think {clause()}",
    ]
    return [rng.choice(shapes)() for _ in range(count)]


def train_wordpiece_vocab(sentences: list[str]) -> list[str]:
    """A BERT-style uncased WordPiece vocabulary trained on ``sentences``: special tokens, then sorted tokens.

    Trained to saturation (every corpus word becomes a token), then the intermediate merge pieces are
    dropped: which of them survive depends on how the trainer breaks ties between equal pair counts, which
    follows hash order and changes from run to run. Characters (``c`` and ``##c``) and whole words do not.
    """
    from tokenizers import BertWordPieceTokenizer

    tokenizer = BertWordPieceTokenizer(lowercase=True)
    tokenizer.train_from_iterator(
        sentences, vocab_size=1 << 20, min_frequency=1, special_tokens=BERT_SPECIAL_TOKENS, show_progress=False
    )
    words = {
        word
        for sentence in sentences
        for word, _ in tokenizer.pre_tokenizer.pre_tokenize_str(tokenizer.normalizer.normalize_str(sentence))
    }
    trained = set(tokenizer.get_vocab())
    if not words <= trained:
        raise RuntimeError(f"the trainer stopped before every word was a token: {sorted(words - trained)[:10]}")
    kept = {token for token in trained if token in words or len(token.removeprefix("##")) == 1}
    return BERT_SPECIAL_TOKENS + sorted(kept - set(BERT_SPECIAL_TOKENS))


def random_punctuator(seed: int = 0, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
                      num_fc_layers: int = 1, activation: str = "relu",
                      punct_labels: list[str] = NEMO_PUNCT_LABELS,
                      capit_labels: list[str] = NEMO_CAPIT_LABELS) -> NemoPunctuator:
    """A small BERT punctuator with deterministic random weights and a vocabulary trained here."""
    vocab = train_wordpiece_vocab(english_sentences(seed=seed))
    bert = {"vocab_size": len(vocab), "hidden_size": hidden_size, "num_hidden_layers": num_layers,
            "num_attention_heads": num_heads, "intermediate_size": 2 * hidden_size,
            "max_position_embeddings": 512, "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12}
    config = nemo_model_config(punct_labels, capit_labels, pretrained_model_name="random-bert-uncased", bert=bert,
                               num_fc_layers=num_fc_layers, activation=activation)
    torch.manual_seed(seed)
    model = PunctuationCapitalizationModel.from_config(config, BertConfig(**bert)).eval()
    # Heads at unit gain: with BERT's 0.02 init every word would get nearly the same, untestable label.
    with torch.no_grad():
        for classifier in (model.punct_classifier, model.capit_classifier):
            for layer in classifier.mlp.children():
                nn.init.normal_(layer.weight, std=hidden_size**-0.5)
                nn.init.normal_(layer.bias, std=0.1)
    return NemoPunctuator(model, vocab, list(punct_labels), list(capit_labels), PAD_LABEL, config)

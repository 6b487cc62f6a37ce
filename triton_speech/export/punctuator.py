"""Export NeMo's BERT punctuation + capitalization model (``punctuation_en_bert.nemo``) to ONNX.

Artifacts written to ``output``:
    model.onnx     input_ids, attention_mask, token_type_ids [B, S] INT64
                   -> punct_logits [B, S, P] FP32, capit_logits [B, S, C] FP32 (B and S dynamic)
    vocab.txt      the checkpoint's WordPiece vocabulary, one token a line (line number == token id)
    labels.json    {"punct": [...], "capit": [...], "pad_label": "O"}, labels in id order
    export.json    source, geometry, windowing (max_seq_length, step, margin), parity measured at export
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from triton_speech.defaults import PUNCTUATION_MARGIN, PUNCTUATION_MAX_SEQ_LENGTH, PUNCTUATION_STEP
from triton_speech.export.parity import Parity, float64
from triton_speech.export.progress import Stages, provenance, random_weights_notice
from triton_speech.models.punctuator import NemoPunctuator, PunctuationCapitalizationModel, random_punctuator, read_nemo
from triton_speech.runtime.punctuation import INPUT_NAMES, OUTPUT_NAMES, check_window_settings


def export_onnx(model: PunctuationCapitalizationModel, path: Path, opset: int = 18) -> None:
    # The dynamo exporter: the TorchScript one mistraces transformers 5's BertModel (logits off by ~3,
    # measured, even at the example's shape). An example batch >= 2 keeps the batch axis dynamic.
    input_ids = torch.randint(5, model.bert_model.config.vocab_size, (2, 16))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 11:] = 0
    axes = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")}
    with torch.no_grad():
        torch.onnx.export(
            model,
            (input_ids, attention_mask, torch.zeros_like(input_ids)),
            str(path),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=(axes, axes, axes),
            opset_version=opset,
            dynamo=True,
            external_data=False,  # one file: bert-base is ~440 MB, under protobuf's 2 GB limit
            verbose=False,
        )


def parity_batch(vocab_size: int, lengths: tuple[int, ...], seed: int = 1) -> tuple[np.ndarray, ...]:
    """Rows of random token ids, right-padded: input_ids, attention_mask, token_type_ids."""
    rng = np.random.default_rng(seed)
    input_ids = np.zeros((len(lengths), max(lengths)), np.int64)
    attention_mask = np.zeros_like(input_ids)
    for row, length in enumerate(lengths):
        input_ids[row, :length] = rng.integers(5, vocab_size, length)
        attention_mask[row, :length] = 1
    return input_ids, attention_mask, np.zeros_like(input_ids)


def torch_logits(model: PunctuationCapitalizationModel, *inputs: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        return [logits.numpy() for logits in model(*(torch.from_numpy(x) for x in inputs))]


def check_onnx(model: PunctuationCapitalizationModel, onnx_path: Path, max_seq_length: int) -> dict[str, Parity]:
    """Per output: max |logit error| of ONNX on a padded batch against PyTorch alone on each row in float64, judged by
    the float64 rule (parity.py), and ONNX against PyTorch in float32 (for the record).

    Comparing with each row alone also proves the padding is masked out of the attention.
    """
    from triton_speech.runtime.onnx import onnx_session

    lengths = (max_seq_length, 7, max_seq_length // 2 + 3)
    batch = parity_batch(model.bert_model.config.vocab_size, lengths)
    rows = [tuple(x[row : row + 1, :length] for x in batch) for row, length in enumerate(lengths)]
    served = onnx_session(onnx_path).run(list(OUTPUT_NAMES), dict(zip(INPUT_NAMES, batch)))
    references = [torch_logits(model, *row) for row in rows]
    with float64(model):
        exact = [torch_logits(model, *row) for row in rows]
    parity = {}
    for index, name in enumerate(OUTPUT_NAMES):
        errors = np.zeros(3)
        for row, length in enumerate(lengths):
            ours, reference, expected = served[index][row, :length], references[row][index][0], exact[row][index][0]
            errors = np.maximum(errors, [np.abs(ours - expected).max(), np.abs(reference - expected).max(),
                                         np.abs(ours - reference).max()])
        parity[name] = Parity(*map(float, errors), metric="max abs logit")
    return parity


def export_punctuator(
    nemo: Path | None,
    output: Path,
    max_seq_length: int = PUNCTUATION_MAX_SEQ_LENGTH,
    step: int = PUNCTUATION_STEP,
    margin: int = PUNCTUATION_MARGIN,
    vocab: Path | None = None,
    check: bool = True,
) -> dict:
    """Export a ``.nemo`` punctuator (or deterministic random weights when ``nemo`` is None).

    ``max_seq_length``, ``step`` and ``margin`` are the serving windows (NeMo 2.4's inference defaults);
    ``vocab`` supplies the WordPiece vocabulary for an archive that carries none.
    """
    check_window_settings(max_seq_length, step, margin)
    output = Path(output)
    with Stages.of_export(output, ["load", "export", "parity", "write"], "punctuator") as stages:
        if nemo is None:
            random_weights_notice("the punctuator (with a home-made vocabulary)", "--nemo", "punctuation_en_bert.nemo")
        loaded: NemoPunctuator = random_punctuator() if nemo is None else read_nemo(nemo, vocab)
        model, bert = loaded.model.eval(), loaded.model.bert_model.config
        if max_seq_length > bert.max_position_embeddings:
            raise ValueError(
                f"max_seq_length={max_seq_length} exceeds the model's {bert.max_position_embeddings} positions"
            )

        stages.next("export")
        export_onnx(model, output / "model.onnx")

        stages.next("parity")
        parity = check_onnx(model, output / "model.onnx", max_seq_length) if check else {}
        for name, judged in parity.items():
            judged.check(f"ONNX {name}")

        stages.next("write")
        (output / "vocab.txt").write_text("\n".join(loaded.vocab) + "\n", encoding="utf-8")
        labels = {"punct": loaded.punct_labels, "capit": loaded.capit_labels, "pad_label": loaded.pad_label}
        (output / "labels.json").write_text(json.dumps(labels, indent=1, ensure_ascii=False), encoding="utf-8")
        info = {
            **provenance("punctuator", nemo),
            "max_seq_length": max_seq_length,
            "step": step,
            "margin": margin,
            "lowercase": loaded.lowercase,
            "training_max_seq_length": loaded.training_max_seq_length,
            "max_position_embeddings": bert.max_position_embeddings,
            "vocab_size": len(loaded.vocab),
            "hidden_size": bert.hidden_size,
            "num_hidden_layers": bert.num_hidden_layers,
            "num_attention_heads": bert.num_attention_heads,
            "parameters": sum(p.numel() for p in model.parameters()),
            "inputs": {name: "INT64 [batch, sequence]" for name in INPUT_NAMES},
            "outputs": {"punct_logits": f"FP32 [batch, sequence, {len(loaded.punct_labels)}]",
                        "capit_logits": f"FP32 [batch, sequence, {len(loaded.capit_labels)}]"},
            "parity": {name: judged.record() for name, judged in parity.items()},
        }
        (output / "export.json").write_text(json.dumps(info, indent=1))
    return info

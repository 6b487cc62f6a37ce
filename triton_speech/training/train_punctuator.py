"""Train the small default punctuation + capitalization model on template text (CPU, a few minutes).

    python -m export.train_punctuator --output defaults/punctuator_small.nemo   (make train-punctuator)

The text comes from ``export/punctuation_data.py`` (the ASR corpus's domain, punctuated). The model is a
small BERT in the layout of NeMo's ``punctuation_en_bert`` (labels ``O , . ?`` and ``O U``) with a WordPiece
vocabulary trained on the same text, trained from scratch on each word's first subword. It is saved as a
``.nemo`` that ``python -m export punctuator --nemo`` exports like the published checkpoint, then scored
on held-out text through that export and the serving ``Punctuator``. Writes beside the checkpoint a JSON
summary, and a slice of the held-out text for the tests.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm
from transformers import BertConfig

from triton_speech.defaults import PUNCTUATION_MAX_SEQ_LENGTH
from triton_speech.export.punctuator import export_punctuator
from triton_speech.models.punctuator import (
    NEMO_CAPIT_LABELS,
    NEMO_PUNCT_LABELS,
    PunctuationCapitalizationModel,
    nemo_model_config,
    train_wordpiece_vocab,
    write_nemo,
)
from triton_speech.runtime.punctuation import wordpiece_tokenizer
from triton_speech.training.punctuation_data import (
    join_examples,
    restoration_metrics,
    train_heldout_sentences,
    word_labels,
)

IGNORED = -100  # cross-entropy's ignore_index: subwords after a word's first, [CLS], [SEP], padding
MODEL_NAME = "triton-speech-small-bert-uncased"  # "uncased": the export lower-cases inputs
# The trained default shipped in the repository.
SMALL_PUNCTUATOR_NEMO = Path("defaults/punctuator_small.nemo")


def small_bert(vocab_size: int, layers: int, hidden: int, heads: int) -> dict:
    return {"vocab_size": vocab_size, "hidden_size": hidden, "num_hidden_layers": layers,
            "num_attention_heads": heads, "intermediate_size": 4 * hidden, "max_position_embeddings": 128,
            "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12}


def encode(examples: list[dict], tokenizer, max_seq_length: int) -> list[tuple[list[int], list[int], list[int]]]:
    """(token ids, punct label ids, capit label ids) with [CLS] and [SEP]; labels on first subwords only.

    Words are tokenized one by one, as the serving ``Punctuator`` does. A text longer than a serving
    window is cut after the last word that fits.
    """
    words = sorted({word for example in examples for word in example["input"].split()})
    word_ids = dict(zip(words, (e.ids for e in tokenizer.encode_batch(words, add_special_tokens=False))))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    punct_index = {label: index for index, label in enumerate(NEMO_PUNCT_LABELS)}
    capit_index = {label: index for index, label in enumerate(NEMO_CAPIT_LABELS)}
    encoded = []
    for example in examples:
        ids, punct, capit = [cls], [IGNORED], [IGNORED]
        for word, punct_label, capit_label in zip(example["input"].split(), *word_labels(example["expected"])):
            pieces = word_ids[word]
            if len(ids) + len(pieces) > max_seq_length - 1:
                break
            ids += pieces
            punct += [punct_index[punct_label]] + [IGNORED] * (len(pieces) - 1)
            capit += [capit_index[capit_label]] + [IGNORED] * (len(pieces) - 1)
        encoded.append((ids + [sep], punct + [IGNORED], capit + [IGNORED]))
    return encoded


def batches(encoded: list, batch_size: int, rng: random.Random, pad_id: int):
    """Shuffled, right-padded batches: input_ids, attention_mask, punct labels, capit labels."""
    order = list(range(len(encoded)))
    rng.shuffle(order)
    for offset in range(0, len(order), batch_size):
        rows = [encoded[index] for index in order[offset : offset + batch_size]]
        width = max(len(ids) for ids, _, _ in rows)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.int64)
        attention_mask = torch.zeros_like(input_ids)
        punct = torch.full_like(input_ids, IGNORED)
        capit = torch.full_like(input_ids, IGNORED)
        for row, (ids, punct_ids, capit_ids) in enumerate(rows):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention_mask[row, : len(ids)] = 1
            punct[row, : len(ids)] = torch.tensor(punct_ids)
            capit[row, : len(ids)] = torch.tensor(capit_ids)
        yield input_ids, attention_mask, punct, capit


def evaluate(nemo: Path, examples: list[dict]) -> dict:
    """Scores on ``examples`` through the ONNX export and the serving ``Punctuator`` (default windows)."""
    from triton_speech.runtime.punctuation import Punctuator

    with tempfile.TemporaryDirectory() as export_dir:
        export_punctuator(nemo, Path(export_dir))
        punctuator = Punctuator.load(export_dir, intra_op_threads=1)
        restored = punctuator([example["input"] for example in examples])
    return restoration_metrics(restored, [example["expected"] for example in examples])


def train(output: Path, train_sentences: int = 40000, heldout_sentences: int = 1000, epochs: int = 5,
          batch_size: int = 32, lr: float = 2e-3, layers: int = 3, hidden: int = 128, heads: int = 4,
          seed: int = 0, heldout_json: Path | None = None, heldout_json_examples: int = 100) -> dict:
    started = time.time()
    torch.manual_seed(seed)
    train_texts, heldout_texts = train_heldout_sentences(train_sentences, heldout_sentences, seed)
    train_examples = join_examples(train_texts, seed)
    heldout_examples = join_examples(heldout_texts, seed + 1)

    vocab = train_wordpiece_vocab([example["input"] for example in train_examples])
    bert = small_bert(len(vocab), layers, hidden, heads)
    config = nemo_model_config(pretrained_model_name=MODEL_NAME, bert=bert, max_seq_length=PUNCTUATION_MAX_SEQ_LENGTH)
    model = PunctuationCapitalizationModel.from_config(config, BertConfig(**bert))
    with tempfile.TemporaryDirectory() as tmp:
        vocab_path = Path(tmp) / "vocab.txt"
        vocab_path.write_text("\n".join(vocab) + "\n", encoding="utf-8")
        tokenizer = wordpiece_tokenizer(vocab_path)
    encoded = encode(train_examples, tokenizer, PUNCTUATION_MAX_SEQ_LENGTH)

    steps = epochs * math.ceil(len(encoded) / batch_size)
    warmup = max(1, steps // 20)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    # Linear warm-up, then cosine decay to zero.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, 0.5 * (1 + math.cos(math.pi * step / steps))))
    loss_function = nn.CrossEntropyLoss(ignore_index=IGNORED)
    rng = random.Random(seed)
    model.train()
    progress = tqdm(total=steps, desc="train punctuator", unit="step", file=sys.stderr)
    for _ in range(epochs):
        for input_ids, attention_mask, punct, capit in batches(encoded, batch_size, rng, vocab.index("[PAD]")):
            punct_logits, capit_logits = model(input_ids, attention_mask, torch.zeros_like(input_ids))
            loss = (loss_function(punct_logits.flatten(0, 1), punct.flatten())
                    + loss_function(capit_logits.flatten(0, 1), capit.flatten()))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.4f}")
    progress.close()
    model.eval()
    training_minutes = (time.time() - started) / 60

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    write_nemo(output, model, vocab, config)
    shipped = heldout_examples[:heldout_json_examples]
    if heldout_json is not None:
        heldout_json = Path(heldout_json)
        heldout_json.parent.mkdir(parents=True, exist_ok=True)
        heldout_json.write_text(json.dumps({
            "description": f"held-out examples of python -m export.train_punctuator (seed {seed}); "
                           "no sentence here is in its training text",
            "examples": shipped,
        }, indent=1) + "\n")
    summary = {
        "checkpoint": output.name,
        "checkpoint_bytes": output.stat().st_size,
        "architecture": {**bert, "punct_labels": NEMO_PUNCT_LABELS, "capit_labels": NEMO_CAPIT_LABELS,
                         "head_fc_layers": 1},
        "parameters": sum(p.numel() for p in model.parameters()),
        "seed": seed,
        "train_sentences": len(train_texts),
        "train_examples": len(train_examples),
        "epochs": epochs,
        "steps": steps,
        "batch_size": batch_size,
        "lr": lr,
        "training_minutes": round(training_minutes, 2),
        "final_loss": round(loss.item(), 5),
        "heldout_sentences": len(heldout_texts),
        "heldout": evaluate(output, heldout_examples),
        "heldout_shipped": evaluate(output, shipped) | {"file": str(heldout_json) if heldout_json else None},
        "evaluation": "ONNX export + triton_speech.punctuation.Punctuator (max_seq_length 64, step 8, margin 16)",
    }
    output.with_suffix(".json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)  # a small model: one core is enough, and the other stays free
    parser = argparse.ArgumentParser(prog="python -m export.train_punctuator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=SMALL_PUNCTUATOR_NEMO)
    parser.add_argument("--train-sentences", type=int, default=40000)
    parser.add_argument("--heldout-sentences", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heldout-json", type=Path, default=SMALL_PUNCTUATOR_NEMO.with_suffix(".heldout.json"),
                        help="where to write held-out examples for the tests")
    parser.add_argument("--heldout-json-examples", type=int, default=100)
    args = parser.parse_args(argv)
    summary = train(args.output, args.train_sentences, args.heldout_sentences, args.epochs, args.batch_size,
                    args.lr, args.layers, args.hidden, args.heads, args.seed, args.heldout_json,
                    args.heldout_json_examples)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

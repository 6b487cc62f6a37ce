"""Punctuation and capitalization with NeMo's BERT punctuator exported to ONNX (numpy + tokenizers only).

What NeMo's ``add_punctuation_capitalization`` does, reproduced for serving:
- a text is split on whitespace into words; each word is WordPiece-tokenized on its own, and a word's
  labels are read at its first subword;
- a text longer than ``max_seq_length - 2`` subwords is cut into overlapping windows, ``step`` subwords
  apart; ``margin`` subwords at each inner window edge (seen with one-sided context) are not used;
- a word seen by several windows gets the label with the largest product of its window probabilities;
- punctuation label P (not the pad label) is appended after the word; a capitalization label other than
  the pad label upper-cases the word's first letter.
Here all windows of all texts of a request run as one padded batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triton_speech.defaults import PUNCTUATION_MARGIN, PUNCTUATION_MAX_SEQ_LENGTH, PUNCTUATION_STEP
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.onnx import onnx_session

# Tensor names of the exported network (triton_speech.export.punctuator writes them).
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = ("punct_logits", "capit_logits")
# A word already ending in one of these keeps it; no predicted mark is added after it.
CLOSING_MARKS = frozenset(".,?!;:…")
WORD = re.compile(r"\S+")  # str.split()'s notion of a word, as NeMo splits queries

# (input_ids, attention_mask, token_type_ids) [B, S] int64 -> (punct_logits [B, S, P], capit_logits [B, S, C])
LogitsFunction = Callable[[np.ndarray, np.ndarray, np.ndarray], Sequence[np.ndarray]]


def wordpiece_tokenizer(vocab_path: str | Path, lowercase: bool = True, unk_token: str = "[UNK]"):
    """BERT's WordPiece tokenizer (clean-up, CJK split, lowercase + accent stripping when uncased)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece

    tokenizer = Tokenizer(WordPiece.from_file(str(vocab_path), unk_token=unk_token))
    tokenizer.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return tokenizer


def check_window_settings(max_seq_length: int, step: int, margin: int) -> None:
    """NeMo's limits: room for [CLS], a subword and [SEP]; margins under half a window; a positive step."""
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length={max_seq_length}: a window needs [CLS], one subword and [SEP]")
    if margin < 0 or (margin > 0 and margin >= (max_seq_length - 2) // 2):
        raise ValueError(
            f"margin={margin} must be in 0..{(max_seq_length - 2) // 2 - 1} for max_seq_length={max_seq_length}"
        )
    if step < 1:
        raise ValueError(f"step={step} must be positive")


def window_starts(num_tokens: int, max_seq_length: int, step: int, margin: int) -> list[int]:
    """First subword of each window of a text (NeMo: one window if it fits; else ``step`` apart,
    shortened so that the kept middles of neighbouring windows leave no gap)."""
    length = max_seq_length - 2
    if num_tokens <= length:
        return [0]
    step = min(length - 2 * margin, step)
    return list(range(0, num_tokens - length + step, step))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def capitalize_first_letter(word: str) -> str:
    """Title-case the first letter, skipping leading marks ("'twas" -> "'Twas"); words led by digits stay."""
    for index, char in enumerate(word):
        if char.isalnum():
            return word[:index] + char.title() + word[index + 1 :] if char.isalpha() else word
    return word


@dataclass
class Window:
    text: int  # index of the text in the request
    start: int  # position of the window's first subword in the text's subwords
    token_ids: list[int]  # without [CLS] and [SEP]
    kept: range  # text subword positions whose predictions count


@dataclass
class WordLabels:
    """A text's words with their summed log-probabilities over the windows that saw them."""

    text: str
    spans: list[tuple[int, int]]  # character span of each word in ``text``
    punct_scores: np.ndarray  # [words, punct labels]
    capit_scores: np.ndarray  # [words, capit labels]

    @property
    def punct_ids(self) -> np.ndarray:
        return self.punct_scores.argmax(axis=-1)

    @property
    def capit_ids(self) -> np.ndarray:
        return self.capit_scores.argmax(axis=-1)


class Punctuator:
    """Restores punctuation and capitalization of lower-case texts; all windows of a call run as one batch.

    ``session_or_callable``: an ONNX Runtime session of the exported model, or a function with the same
    contract (see ``LogitsFunction``). ``labels``: ``labels.json`` of the export (``punct``, ``capit`` in
    id order, ``pad_label``).
    """

    def __init__(
        self,
        session_or_callable,
        vocab_path: str | Path,
        labels: Mapping,
        max_seq_length: int = PUNCTUATION_MAX_SEQ_LENGTH,
        step: int = PUNCTUATION_STEP,
        margin: int = PUNCTUATION_MARGIN,
        lowercase: bool = True,
        max_windows_per_run: int | None = None,
    ):
        check_window_settings(max_seq_length, step, margin)
        self.logits = self._logits_function(session_or_callable)
        self.tokenizer = wordpiece_tokenizer(vocab_path, lowercase)
        self.special_ids = {}
        for token in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
            token_id = self.tokenizer.token_to_id(token)
            if token_id is None:
                raise ValueError(f"{vocab_path}: the vocabulary has no {token} token")
            self.special_ids[token] = token_id
        self.punct_labels = list(labels["punct"])
        self.capit_labels = list(labels["capit"])
        self.pad_label = labels.get("pad_label", "O")
        self.closing_marks = CLOSING_MARKS | {label for label in self.punct_labels if label != self.pad_label}
        self.max_seq_length, self.step, self.margin = max_seq_length, step, margin
        self.max_windows_per_run = max_windows_per_run

    @classmethod
    def load(cls, export_dir: str | Path, intra_op_threads: int = 0, device: str = "cpu", logits=None,
             **overrides) -> "Punctuator":
        """From an export directory (``model.onnx``, ``vocab.txt``, ``labels.json``, ``export.json``); ``logits``,
        a ``LogitsFunction``, runs the network instead of a session of ``model.onnx`` (e.g. a served model)."""
        export_dir = Path(export_dir)
        info = json.loads((export_dir / "export.json").read_text())
        settings = {key: info[key] for key in ("max_seq_length", "step", "margin", "lowercase") if key in info}
        settings.update(overrides)
        if settings.get("max_seq_length", PUNCTUATION_MAX_SEQ_LENGTH) > info.get("max_position_embeddings", np.inf):
            raise ValueError(f"max_seq_length exceeds the model's {info['max_position_embeddings']} positions")
        return cls(
            logits or onnx_session(export_dir / "model.onnx", intra_op_threads, device),
            export_dir / "vocab.txt",
            json.loads((export_dir / "labels.json").read_text()),
            **settings,
        )

    @staticmethod
    def _logits_function(session_or_callable) -> LogitsFunction:
        if hasattr(session_or_callable, "run") and hasattr(session_or_callable, "get_inputs"):
            session = session_or_callable

            def run(input_ids, attention_mask, token_type_ids):
                feeds = dict(zip(INPUT_NAMES, (input_ids, attention_mask, token_type_ids)))
                return session.run(list(OUTPUT_NAMES), feeds)

            return run
        if not callable(session_or_callable):
            raise TypeError("session_or_callable must be an ONNX Runtime session or a logits function")
        return session_or_callable

    def __call__(self, texts: Sequence[str]) -> list[str]:
        return [self.apply(labels) for labels in self.predict(texts)]

    def predict(self, texts: Sequence[str]) -> list[WordLabels]:
        """Each text's words and label scores (texts without words get no scores and pass through)."""
        if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
            raise InputError(f"expected a list of texts, got {type(texts).__name__}")
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"text {index} is {type(text).__name__}, expected str (decode UTF-8 first)")
        spans = [[match.span() for match in WORD.finditer(text)] for text in texts]
        words = [text[start:end] for text, text_spans in zip(texts, spans) for start, end in text_spans]
        word_token_ids = iter(self._tokenize_words(words))
        results, windows, word_starts = [], [], []
        for index, (text, text_spans) in enumerate(zip(texts, spans)):
            token_ids, starts = [], []
            for _ in text_spans:
                starts.append(len(token_ids))
                token_ids.extend(next(word_token_ids))
            word_starts.append(starts)
            windows.extend(self._windows(index, token_ids))
            results.append(WordLabels(
                text, text_spans,
                np.zeros((len(text_spans), len(self.punct_labels)), np.float32),
                np.zeros((len(text_spans), len(self.capit_labels)), np.float32),
            ))
        seen = [np.zeros(len(text_spans), bool) for text_spans in spans]
        for window, punct_logits, capit_logits in self._run(windows):
            starts = word_starts[window.text]
            # Words whose first subword lies in the kept part of the window (positions shift by [CLS]).
            first, last = np.searchsorted(starts, [window.kept.start, window.kept.stop])
            rows = np.asarray(starts[first:last], dtype=np.int64) - window.start + 1
            result = results[window.text]
            result.punct_scores[first:last] += log_softmax(punct_logits[rows])
            result.capit_scores[first:last] += log_softmax(capit_logits[rows])
            seen[window.text][first:last] = True
        for index, text_seen in enumerate(seen):
            if not text_seen.all():
                raise RuntimeError(f"text {index}: words {np.flatnonzero(~text_seen).tolist()} fell in no window")
        return results

    def apply(self, labels: WordLabels) -> str:
        """The text with each word's labels applied; whitespace between words is kept as it was."""
        pieces, end = [], 0
        for (start, stop), punct_id, capit_id in zip(labels.spans, labels.punct_ids, labels.capit_ids):
            pieces.append(labels.text[end:start])
            word = labels.text[start:stop]
            pieces.append(self.label_word(word, self.punct_labels[punct_id], self.capit_labels[capit_id]))
            end = stop
        pieces.append(labels.text[end:])
        return "".join(pieces)

    def label_word(self, word: str, punct: str, capit: str) -> str:
        if capit != self.pad_label:
            word = capitalize_first_letter(word)
        if punct != self.pad_label and word[-1] not in self.closing_marks:
            word += punct
        return word

    def _tokenize_words(self, words: list[str]) -> list[list[int]]:
        encodings = self.tokenizer.encode_batch(words, add_special_tokens=False) if words else []
        # A word of only control or zero-width characters normalizes to nothing; [UNK] keeps it a word.
        return [encoding.ids or [self.special_ids["[UNK]"]] for encoding in encodings]

    def _windows(self, text: int, token_ids: list[int]) -> list[Window]:
        if not token_ids:
            return []
        length = self.max_seq_length - 2
        starts = window_starts(len(token_ids), self.max_seq_length, self.step, self.margin)
        windows = []
        for number, start in enumerate(starts):
            stop = min(start + length, len(token_ids))
            kept_from = start if number == 0 else start + self.margin
            kept_to = stop if number == len(starts) - 1 else stop - self.margin
            windows.append(Window(text, start, token_ids[start:stop], range(kept_from, kept_to)))
        return windows

    def _run(self, windows: list[Window]):
        """Yield (window, punct_logits [S, P], capit_logits [S, C]); windows run as padded batches."""
        chunk = self.max_windows_per_run or max(len(windows), 1)
        for offset in range(0, len(windows), chunk):
            batch = windows[offset : offset + chunk]
            width = max(len(window.token_ids) for window in batch) + 2
            input_ids = np.full((len(batch), width), self.special_ids["[PAD]"], np.int64)
            attention_mask = np.zeros((len(batch), width), np.int64)
            for row, window in enumerate(batch):
                ids = [self.special_ids["[CLS]"], *window.token_ids, self.special_ids["[SEP]"]]
                input_ids[row, : len(ids)] = ids
                attention_mask[row, : len(ids)] = 1
            punct_logits, capit_logits = self.logits(input_ids, attention_mask, np.zeros_like(input_ids))
            for name, logits, classes in (("punct", punct_logits, self.punct_labels),
                                          ("capit", capit_logits, self.capit_labels)):
                expected = (len(batch), width, len(classes))
                if logits.shape != expected:
                    raise RuntimeError(f"{name}_logits has shape {logits.shape}, expected {expected}")
            yield from zip(batch, punct_logits, capit_logits)

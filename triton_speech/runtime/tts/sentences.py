"""Text to sentences of symbol ids, and the SYMBOL_IDS / SENTENCE_LENGTHS wire format between the served
``text_normalizer`` and ``tacotron2`` (one pack / unpack pair)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from triton_speech.defaults import TEXT_NORMALIZATION
from triton_speech.runtime.batching import pad_batch
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.tts.text import cleaners, split_sentences, text_to_sequence

# A sentence with none of these after cleaning has nothing to say ("!!!", "--") and is skipped.
_SPEAKABLE = re.compile(r"[a-z0-9{]")


def sentence_sequences(text: str, max_sentence_chars: int, what: str = "TEXT",
                       normalization: str = TEXT_NORMALIZATION) -> list[np.ndarray]:
    """Symbol ids of each sentence of ``text`` (long text is split so no sentence exceeds the limit) by the text
    ``normalization`` (text.py); an InputError starts with ``what`` (the input and row)."""
    clean = cleaners(normalization)
    try:
        sentences = [s for s in split_sentences(text, max_sentence_chars) if _SPEAKABLE.search(clean(s))]
        if not sentences:
            raise InputError(f"{what} has no speakable characters: {text[:60]!r}")
        return [np.asarray(text_to_sequence(sentence, normalization), dtype=np.int64) for sentence in sentences]
    except InputError as error:
        raise error if str(error).startswith(what) else InputError(f"{what}: {error}") from None


def pack_sentences(requests: Sequence[Sequence[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The wire format from ``text_normalizer`` to ``tacotron2``: each request's sentences' ids joined into one
    row of ``SYMBOL_IDS`` [B, N] and their lengths as a row of ``SENTENCE_LENGTHS`` [B, S], both padded with 0."""
    ids, _ = pad_batch([np.concatenate(sentences).astype(np.int64) for sentences in requests], axis=0)
    lengths, _ = pad_batch([np.array([len(s) for s in sentences], dtype=np.int64) for sentences in requests], axis=0)
    return ids, lengths


def unpack_sentences(ids: np.ndarray, lengths: np.ndarray, n_symbols: int,
                     max_symbols: int | None = None) -> list[list[np.ndarray]]:
    """The inverse of ``pack_sentences``, checked: lengths are positive then 0-padded and fit the ids sent, every
    id is within the vocabulary, and a request has at most ``max_symbols`` ids; InputError names the row."""
    ids, lengths = np.asarray(ids), np.asarray(lengths)
    if ids.ndim != 2 or lengths.ndim != 2 or lengths.shape[0] != ids.shape[0]:
        raise InputError(f"SYMBOL_IDS {list(ids.shape)} and SENTENCE_LENGTHS {list(lengths.shape)} must be "
                         "[batch, n] with the same batch")
    requests = []
    for row, (row_ids, row_lengths) in enumerate(zip(ids, lengths)):
        count = int(np.count_nonzero(row_lengths))
        if count == 0 or (row_lengths[:count] <= 0).any() or (row_lengths[count:] != 0).any():
            raise InputError(f"SENTENCE_LENGTHS row {row} must be positive lengths followed by 0 padding, "
                             f"got {row_lengths.tolist()}")
        total = int(row_lengths.sum())
        if total > row_ids.shape[0]:
            raise InputError(f"SENTENCE_LENGTHS row {row} adds up to {total}, more than the {row_ids.shape[0]} "
                             "SYMBOL_IDS sent")
        if max_symbols is not None and total > max_symbols:
            raise InputError(f"SYMBOL_IDS row {row} has {total} symbols; the limit is {max_symbols}")
        used = row_ids[:total]
        if used.min() < 0 or used.max() >= n_symbols:
            raise InputError(f"SYMBOL_IDS row {row} has ids outside 0..{n_symbols - 1}")
        requests.append(np.split(used.astype(np.int64), np.cumsum(row_lengths[:count])[:-1]))
    return requests

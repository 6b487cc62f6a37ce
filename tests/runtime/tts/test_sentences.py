"""Tacotron2 text front-end: DLE's symbol table, english_cleaners, text_to_sequence and sentence splitting."""

import json

import pytest

from tests.support.paths import DATA
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.tts.text import (
    SYMBOLS,
)

PUBLISHED = json.loads((DATA / "tacotron2_text.json").read_text())


# --- the SYMBOL_IDS / SENTENCE_LENGTHS wire format between text_normalizer and tacotron2 ---------------------

def test_sentences_round_trip_through_the_wire_format():
    import numpy as np

    from triton_speech.runtime.tts.sentences import pack_sentences, unpack_sentences

    requests = [[np.array([5, 6, 7]), np.array([8])], [np.array([9, 10])]]
    ids, lengths = pack_sentences(requests)
    # By hand: rows joined and 0-padded to the longest, lengths 0-padded to the most sentences.
    assert ids.tolist() == [[5, 6, 7, 8], [9, 10, 0, 0]] and lengths.tolist() == [[3, 1], [2, 0]]
    unpacked = unpack_sentences(ids, lengths, n_symbols=11)
    assert [[s.tolist() for s in r] for r in unpacked] == [[[5, 6, 7], [8]], [[9, 10]]]


@pytest.mark.parametrize("ids, lengths, message", [
    ([[1, 2, 3]], [[0, 0]], r"SENTENCE_LENGTHS row 0 must be positive lengths followed by 0 padding"),
    ([[1, 2, 3]], [[2, -1]], r"SENTENCE_LENGTHS row 0 must be positive lengths"),
    ([[1, 2, 3]], [[0, 2]], r"SENTENCE_LENGTHS row 0 must be positive lengths"),
    ([[1, 2, 3], [1, 1, 1]], [[2, 1], [2, 2]], r"SENTENCE_LENGTHS row 1 adds up to 4, more than the 3 SYMBOL_IDS"),
    ([[1, 99, 3]], [[3]], r"SYMBOL_IDS row 0 has ids outside 0..10"),
    ([[1, -1, 3]], [[3]], r"SYMBOL_IDS row 0 has ids outside 0..10"),
    ([[1, 2, 3]], [[3]], r"SYMBOL_IDS row 0 has 3 symbols; the limit is 2"),
])
def test_unpacking_refuses_malformed_rows_by_name(ids, lengths, message):
    import numpy as np

    from triton_speech.runtime.tts.sentences import unpack_sentences

    with pytest.raises(InputError, match=message):
        unpack_sentences(np.array(ids), np.array(lengths), n_symbols=11, max_symbols=2 if "limit" in message else None)


# --- properties on arbitrary text (hypothesis) -------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=300), max_chars=st.integers(20, 250), normalization=st.sampled_from(["dle", "extended"]))
def test_the_text_normalizer_either_speaks_or_says_why_on_any_text(text, max_chars, normalization):
    from triton_speech.runtime.tts.sentences import sentence_sequences

    try:
        sentences = sentence_sequences(text, max_chars, "TEXT row 0", normalization)
    except InputError as error:
        assert str(error).startswith("TEXT row 0")
        return
    assert sentences and all(s.size > 0 for s in sentences)
    assert all(0 <= s.min() and s.max() < len(SYMBOLS) for s in sentences)



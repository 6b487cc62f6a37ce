"""Words as the served tensors: packed per row, padded with empty words, unpacked back."""

import numpy as np

from triton_speech.runtime.asr.ctc import Word
from triton_speech.runtime.asr.words import pack_words, transcript_from, unpack_words


def test_rows_of_different_lengths_round_trip_through_the_padded_tensors():
    rows = [[Word("hello", 0.125, 0.5, 0.875), Word("wörld", 0.625, 1.0, 0.5)], [], [Word("a", 2.0, 2.25, 1.0)]]
    tensors = pack_words(rows)  # times and confidences float32: these are exact
    assert tensors["WORDS"].shape == (3, 2) and tensors["WORDS"][1, 0] == b"" and tensors["WORDS"][2, 1] == b""
    assert tensors["WORD_START_S"].dtype == np.float32
    assert unpack_words(tensors) == rows


def test_no_words_at_all_is_a_zero_width_tensor():
    tensors = pack_words([[]])
    assert tensors["WORDS"].shape == (1, 0) and unpack_words(tensors) == [[]]


def test_an_asr_answer_becomes_a_transcript():
    tensors = pack_words([[Word("hi", 0.0, 0.25, 0.75)]])
    answer = {"TRANSCRIPT": np.array([[b"Hi."]], dtype=object), "RAW_TRANSCRIPT": np.array([[b"hi"]], dtype=object),
              **tensors}
    transcript = transcript_from(answer)
    assert (transcript.text, transcript.raw, transcript.words) == ("Hi.", "hi", [Word("hi", 0.0, 0.25, 0.75)])
    assert transcript_from({"TRANSCRIPT": answer["RAW_TRANSCRIPT"]}).words is None

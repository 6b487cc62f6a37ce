"""CTC decoding: greedy, and beam search over a lexicon."""

import numpy as np
import pytest

from triton_speech.runtime.asr.ctc import GreedyCTCDecoder, LexiconCTCDecoder, check_spelling, read_lexicon

LABELS = [" ", "a", "b", "c", "'"]
BLANK = len(LABELS)


def logprobs_for(path: list[int], classes: int = len(LABELS) + 1) -> np.ndarray:
    """Log-probs whose per-frame arg-max is ``path``."""
    scores = np.full((len(path), classes), -10.0, dtype=np.float32)
    scores[np.arange(len(path)), path] = -0.01
    return scores


@pytest.mark.parametrize(
    "path, text",
    [
        ([1, 1, 1], "a"),  # repeats collapse
        ([1, BLANK, 1], "aa"),  # a blank separates a real double letter
        ([BLANK, BLANK], ""),  # all blank
        ([2, 2, BLANK, 0, 0, 3, BLANK, BLANK, 4, 3], "b c'c"),
        ([BLANK, 1, 2, BLANK, 2, 1, 1], "abba"),
        ([1, 0, BLANK, 0, 2], "a b"),  # a space emitted twice separates words once
        ([0, 1, 0, BLANK, 0], "a"),  # no space before the first word or after the last
    ],
)
def test_collapse_and_blank_removal(path, text):
    assert GreedyCTCDecoder(LABELS)(logprobs_for(path)) == text


def test_length_limits_the_frames_decoded():
    scores = logprobs_for([1, 2, 3, 1])
    assert GreedyCTCDecoder(LABELS)(scores, length=2) == "ab"


def test_vocabulary_comes_from_the_caller():
    decoder = GreedyCTCDecoder(["x", "y"])
    assert decoder.num_classes == 3 and decoder.blank_id == 2
    assert decoder(logprobs_for([0, 2, 1, 1], classes=3)) == "xy"


def test_wrong_class_count_is_an_error():
    with pytest.raises(ValueError, match=r"\[T, 6\]"):
        GreedyCTCDecoder(LABELS)(np.zeros((4, 7), dtype=np.float32))


# --- beam search over a lexicon ---------------------------------------------------------------------

SPACE, A, B, C, QUOTE = range(5)


def scored_frames(frames: list[dict[int, float]]) -> np.ndarray:
    """Log-probs with the given scores per frame; every other class is very unlikely."""
    scores = np.full((len(frames), len(LABELS) + 1), -20.0, dtype=np.float32)
    for t, frame in enumerate(frames):
        for index, score in frame.items():
            scores[t, index] = score
    return scores


def test_lexicon_decoding_agrees_with_greedy_when_greedy_spells_known_words():
    rng = np.random.default_rng(0)
    words = ["ab", "ba", "cab", "a", "c'b", "abba"]
    decoder = LexiconCTCDecoder(LABELS, words)
    for _ in range(20):
        said = " ".join(rng.choice(words, size=rng.integers(1, 5)))
        path = []
        for char in said:  # each letter for 1-3 frames, a blank between repeated letters
            index = LABELS.index(char)
            if path and path[-1] == index:
                path.append(BLANK)
            path += [index] * int(rng.integers(1, 4))
        scores = logprobs_for(path)
        assert GreedyCTCDecoder(LABELS)(scores) == said
        assert decoder(scores) == said


def test_lexicon_decoding_picks_the_best_known_spelling():
    # Best path: "a" "a" "c" -> "ac", which is not a word; "abc" costs one less likely frame.
    frames = scored_frames([{A: -0.4, B: -1.2}, {A: -0.4, B: -1.2}, {C: -0.01}])
    assert GreedyCTCDecoder(LABELS)(frames) == "ac"
    assert LexiconCTCDecoder(LABELS, ["abc", "cc"])(frames) == "abc"


def test_lexicon_decoding_keeps_ctc_rules_for_double_letters():
    decoder = LexiconCTCDecoder(LABELS, ["ab", "abb"])
    assert decoder(logprobs_for([A, B, B])) == "ab"  # a repeat without a blank is one letter
    assert decoder(logprobs_for([A, B, BLANK, B])) == "abb"


def test_lexicon_decoding_respects_the_length():
    decoder = LexiconCTCDecoder(LABELS, ["ab", "c"])
    scores = logprobs_for([A, B, SPACE, C])
    assert decoder(scores) == "ab c" and decoder(scores, length=2) == "ab" and decoder(scores, length=0) == ""


def test_lexicon_words_must_be_spelled_with_the_labels(tmp_path):
    with pytest.raises(ValueError, match=r"'abd'.*\['d'\]"):
        LexiconCTCDecoder(LABELS, ["ab", "abd"])
    with pytest.raises(ValueError, match="no words"):
        check_spelling([], LABELS)
    with pytest.raises(ValueError, match="space label"):
        LexiconCTCDecoder(["a", "b"], ["ab"])
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("ab a b\n\nc'b  c ' b\nab\n")  # a pronunciation lexicon: the first column is the word
    assert check_spelling(read_lexicon(lexicon), LABELS) == ["ab", "c'b"]


# --- properties on arbitrary log-probabilities (hypothesis) ------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

logprob_matrices = st.integers(0, 40).flatmap(lambda frames: arrays(
    np.float32, (frames, len(LABELS) + 1), elements=st.floats(-30, 0, width=32)))


def best_path_reference(logprobs: np.ndarray) -> str:
    """Greedy CTC written another way: collapse runs with groupby, drop blanks, normalize spaces."""
    from itertools import groupby

    symbols = [LABELS[k] for k, _ in groupby(np.argmax(logprobs, axis=1)) if k != BLANK] if len(logprobs) else []
    return " ".join("".join(symbols).split())


@settings(max_examples=300, deadline=None)
@given(logprob_matrices)
def test_greedy_equals_a_reference_best_path_on_any_input(logprobs):
    assert GreedyCTCDecoder(LABELS)(logprobs) == best_path_reference(logprobs)


@settings(max_examples=150, deadline=None)
@given(logprob_matrices)
def test_lexicon_decoding_says_only_listed_words_on_any_input(logprobs):
    words = ["a", "ab", "cab", "c'a"]
    text = LexiconCTCDecoder(LABELS, words, beam_size=8)(logprobs)
    assert text == " ".join(text.split())
    assert set(text.split()) <= set(words), text


# --- words with frames, times and confidences ---------------------------------------------------------------

def test_greedy_words_start_at_their_first_frame_and_end_after_their_last():
    # frames:   0  1  2      3      4  5  6  7      8      9
    path = [BLANK, A, A, BLANK, SPACE, B, C, C, BLANK, SPACE]
    words = GreedyCTCDecoder(LABELS).words(logprobs_for(path), frame_seconds=0.02)
    assert [(w.text, w.start_s, w.end_s) for w in words] == [("a", 0.02, 0.06), ("bc", 0.1, 0.16)]


def test_a_word_spans_the_blanks_inside_it_and_a_double_letter():
    path = [B, BLANK, B, A, A, SPACE, SPACE, C]  # "bba", then "c" at the last frame
    words = GreedyCTCDecoder(LABELS).words(logprobs_for(path), frame_seconds=0.5)
    assert [(w.text, w.start_s, w.end_s) for w in words] == [("bba", 0.0, 2.5), ("c", 3.5, 4.0)]


def test_confidence_is_the_weakest_letters_best_frame_probability():
    probabilities = np.full((4, len(LABELS) + 1), 0.01)
    probabilities[0, A], probabilities[1, A] = 0.6, 0.9  # "a" peaks at 0.9
    probabilities[2, B] = 0.7  # "b" at 0.7: the word's confidence
    probabilities[3, SPACE] = 0.9
    (word,) = GreedyCTCDecoder(LABELS).words(np.log(probabilities).astype(np.float32), 0.02)
    assert word.text == "ab" and word.confidence == pytest.approx(0.7, rel=1e-6)


def test_words_respect_the_length_and_no_frames_mean_no_words():
    decoder = GreedyCTCDecoder(LABELS)
    assert [w.text for w in decoder.words(logprobs_for([A, SPACE, B]), 0.02, length=1)] == ["a"]
    assert decoder.words(logprobs_for([BLANK, SPACE]), 0.02) == []
    assert decoder.words(np.zeros((0, len(LABELS) + 1), np.float32), 0.02) == []


def test_lexicon_words_have_the_frames_and_confidences_of_the_same_path_decoded_greedily():
    path = [BLANK, A, B, B, BLANK, SPACE, SPACE, C, A, B, BLANK, BLANK]
    scores = logprobs_for(path)
    greedy = GreedyCTCDecoder(LABELS).words(scores, 0.02)
    assert [w.text for w in greedy] == ["ab", "cab"]
    assert LexiconCTCDecoder(LABELS, ["ab", "cab"]).words(scores, 0.02) == greedy


def test_lexicon_words_are_what_the_decoder_says():
    # The best path "ac" is not a word; the beam says "abc": its letters' frames are 0-2
    frames = scored_frames([{A: -0.4, B: -1.2}, {A: -0.4, B: -1.2}, {C: -0.01}])
    (word,) = LexiconCTCDecoder(LABELS, ["abc", "cc"]).words(frames, 0.02)
    assert (word.text, word.start_s, word.end_s) == ("abc", 0.0, 0.06)
    assert word.confidence == pytest.approx(np.exp(-1.2), rel=1e-5)  # "b" at best exp(-1.2)


@settings(max_examples=200, deadline=None)
@given(logprob_matrices)
def test_words_joined_are_the_transcript_in_order_within_the_audio(logprobs):
    for decoder in (GreedyCTCDecoder(LABELS), LexiconCTCDecoder(LABELS, ["a", "ab", "cab", "c'a"], beam_size=8)):
        words = decoder.words(logprobs, 0.02)
        assert " ".join(w.text for w in words) == decoder(logprobs)
        ends = [0.0] + [edge for w in words for edge in (w.start_s, w.end_s)]
        assert ends == sorted(ends) and ends[-1] <= len(logprobs) * 0.02 + 1e-9
        assert all(w.end_s > w.start_s and 0 < w.confidence <= 1 for w in words)


def test_the_served_decoding_reads_the_files_and_settings_a_config_names(tmp_path):
    import json

    from triton_speech.defaults import CTC_BEAM_SIZE, LM_ALPHA, LM_BETA
    from triton_speech.runtime.backend import ModelArgs
    from triton_speech.runtime.model_settings import Decoding

    def decoding(parameters: dict) -> dict:
        config = {"name": "ctc_decoder", "parameters": {k: {"string_value": v} for k, v in parameters.items()}}
        model = ModelArgs({"model_config": json.dumps(config), "model_repository": str(tmp_path), "model_version": "1"})
        return model.settings(Decoding).decoder_arguments(model.directory)

    assert decoding({}) == dict(lexicon=None, lm=None, beam_size=CTC_BEAM_SIZE, lm_alpha=LM_ALPHA, lm_beta=LM_BETA)
    given = decoding({"lm": "lm.arpa", "beam_size": "8", "lm_alpha": "0.7", "lm_beta": "2"})
    assert given == dict(lexicon=None, lm=tmp_path / "1" / "lm.arpa", beam_size=8, lm_alpha=0.7, lm_beta=2.0)
    assert decoding({"lexicon": "lexicon.txt"})["lexicon"] == tmp_path / "1" / "lexicon.txt"


# --- decoding in pieces (asr_streaming) ----------------------------------------------------------------------

from triton_speech.runtime.asr.ctc import LanguageModelCTCDecoder  # noqa: E402


def pyctcdecode_beams(decoder, logprobs: np.ndarray) -> list:
    """pyctcdecode's own decode_beams (the library's frame loop): every beam's words and frames, best first."""
    return [frames for _, _, frames, *_ in decoder._decoder.decode_beams(logprobs.astype(np.float32),
                                                                         beam_width=decoder.beam_size)]


def in_pieces(decoder, logprobs: np.ndarray, sizes: list[int]):
    state, start = decoder.begin(), 0
    for size in sizes:
        state = decoder.advance(state, logprobs[start : start + size])
        start += size
    return decoder.advance(state, logprobs[start:])


@settings(max_examples=120, deadline=None)
@given(st.integers(1, 60).flatmap(lambda frames: arrays(np.float32, (frames, len(LABELS) + 1),
                                                        elements=st.floats(-12, 0, width=32))),
       st.lists(st.integers(0, 9), max_size=8), st.sampled_from([1, 3, 8, 32]))
def test_lexicon_beam_search_in_pieces_is_pyctcdecodes_at_once(logprobs, sizes, beam):
    """Every beam (words and frames, in order) of the resumable search, fed in any pieces, is pyctcdecode's."""
    decoder = LexiconCTCDecoder(LABELS, ["a", "ab", "cab", "c'a", "b", "bb"], beam_size=beam)
    state = in_pieces(decoder, logprobs, sizes)
    assert decoder._ended(state) == pyctcdecode_beams(decoder, logprobs)
    assert decoder.state_words(state) == decoder.frame_words(logprobs)


def test_lm_beam_search_in_pieces_is_pyctcdecodes_at_once():
    from pathlib import Path

    lm = Path(__file__).parents[3] / "defaults" / "lm_general.arpa"
    labels = [" ", *"abcdefghijklmnopqrstuvwxyz", "'"]
    decoder = LanguageModelCTCDecoder(labels, lm, beam_size=16)
    rng = np.random.default_rng(1)
    for _ in range(5):
        logits = rng.normal(0, 3, (70, len(labels) + 1)).astype(np.float32)
        logprobs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        beams = pyctcdecode_beams(decoder, logprobs)
        assert decoder._ended(in_pieces(decoder, logprobs, [5, 16, 1, 30])) == beams
        assert decoder._beams(logprobs) == beams


@settings(max_examples=200, deadline=None)
@given(logprob_matrices, st.lists(st.integers(0, 9), max_size=8))
def test_greedy_words_in_pieces_are_the_words_at_once(logprobs, sizes):
    decoder = GreedyCTCDecoder(LABELS)
    assert decoder.state_words(in_pieces(decoder, logprobs, sizes)) == decoder.frame_words(logprobs)


def test_a_state_can_be_continued_along_two_paths():
    decoder = LexiconCTCDecoder(LABELS, ["ab", "c'b"], beam_size=8)
    frames = scored_frames([{A: -0.1}, {BLANK: -0.1}, {B: -0.1}, {SPACE: -0.1}, {C: -0.1}, {QUOTE: -0.1},
                            {B: -0.1}])
    start = decoder.advance(decoder.begin(), frames[:4])
    assert [w.text for w in decoder.state_words(decoder.advance(start, frames[4:]))] == ["ab", "c'b"]
    assert [w.text for w in decoder.state_words(start)] == ["ab"]  # unchanged by the continuation


def test_a_narrower_beam_is_the_same_decoder_with_another_width():
    decoder = LexiconCTCDecoder(LABELS, ["ab", "c'b"], beam_size=32)
    narrow = decoder.with_beam_size(2)
    assert (narrow.beam_size, decoder.beam_size, narrow.lexicon) == (2, 32, decoder.lexicon)
    with pytest.raises(ValueError, match="beam size must be at least 1"):
        decoder.with_beam_size(0)
    assert GreedyCTCDecoder(LABELS).with_beam_size(4).__class__ is GreedyCTCDecoder

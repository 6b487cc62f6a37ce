"""Long recordings: the window plan, and merging windows' words by time without losing or doubling a word."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triton_speech.runtime.asr.ctc import Word
from triton_speech.runtime.asr.longform import (
    TimedWords,
    merge,
    merge_windows,
    plan_windows,
    splice,
    window_settings,
)
from triton_speech.runtime.asr.words import Transcript


def test_windows_of_a_hand_checked_plan():
    assert plan_windows(100, 40, 10) == [(0, 40), (30, 70), (60, 100)]
    assert plan_windows(95, 40, 10) == [(0, 40), (30, 70), (55, 95)]  # the last starts earlier, not short
    assert plan_windows(40, 40, 10) == [(0, 40)] and plan_windows(7, 40, 10) == [(0, 7)]
    with pytest.raises(ValueError, match="shorter than the window"):
        plan_windows(100, 40, 40)


@given(st.integers(1, 10_000), st.integers(2, 900), st.data())
def test_windows_cover_the_audio_and_overlap_at_least_as_asked(samples, window, data):
    overlap = data.draw(st.integers(0, window - 1))
    spans = plan_windows(samples, window, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == samples
    assert all(end - start == min(window, samples) for start, end in spans)
    assert all(previous[1] - current[0] >= overlap for previous, current in zip(spans, spans[1:]))


def test_window_settings_stay_within_the_servers_limit():
    assert window_settings(60.0, 30.0, 5.0) == (30.0, 5.0)
    assert window_settings(20.0, 30.0, 15.0) == (20.0, 10.0)  # at most the limit, overlapping at most half
    with pytest.raises(ValueError, match="positive"):
        window_settings(60.0, 30.0, 0.0)


def words(*spec) -> list[Word]:
    return [Word(text, start, end, 1.0) for text, start, end in spec]


def test_the_splice_is_in_the_middle_of_the_words_both_windows_agree_on():
    # The windows share 8-12 s; the left one garbles the word it hears cut at its end, the right one the word cut
    # at its start, and the right one places words 0.3 s late (a drift within the margin).
    left = words(("one", 7.0, 7.4), ("two", 8.1, 8.5), ("three", 9.0, 9.5), ("four", 10.0, 10.4),
                 ("five", 11.0, 11.5), ("sxi", 11.8, 12.0))
    right = words(("wo", 8.0, 8.8), ("three", 9.3, 9.8), ("four", 10.3, 10.7), ("five", 11.3, 11.8),
                  ("six", 12.1, 12.6), ("seven", 13.0, 13.4))
    i, j = splice(left, right, 8.0, 12.0)
    assert [w.text for w in left[:i] + right[j:]] == ["one", "two", "three", "four", "five", "six", "seven"]
    assert right[j].text == "four"  # the middle of the run three-four-five comes from the right window


def test_without_common_words_the_splice_is_at_the_middle_of_the_overlap():
    # Each window hears noise differently in the overlap 2-5 s: the left one's words before 3.5 s, the right one's
    # from 3.5 s on.
    left = words(("one", 1.0, 1.5), ("hum", 2.6, 3.0), ("noise", 4.2, 4.6))
    right = words(("hiss", 3.0, 3.3), ("buzz", 4.0, 4.3), ("two", 5.5, 6.0))
    i, j = splice(left, right, 2.0, 5.0)
    assert [w.text for w in left[:i] + right[j:]] == ["one", "hum", "buzz", "two"]


def test_a_repeated_phrase_is_not_matched_one_repetition_off():
    # "yes no" twice; the right window (from 2 s) hears the second. Matched with the first (2.1 s apart) the
    # splice would lose a "yes no"; rejected, the cut at the overlap's middle keeps both.
    left = words(("yes", 1.0, 1.3), ("no", 1.5, 1.8), ("yes", 3.1, 3.4), ("no", 3.6, 3.9))
    right = words(("yes", 3.1, 3.4), ("no", 3.6, 3.9), ("maybe", 4.5, 5.0))
    i, j = splice(left, right, 2.0, 4.0)
    assert [w.text for w in left[:i] + right[j:]] == ["yes", "no", "yes", "no", "maybe"]


def test_merge_moves_windows_to_the_recordings_time_and_keeps_what_each_shows():
    first = TimedWords.of(words(("hello", 0.5, 0.9), ("there", 1.2, 1.6)), ["Hello", "there."])
    second = TimedWords.of(words(("there", 0.2, 0.6), ("friend", 1.0, 1.5)), ["There", "friend."], offset_s=1.0)
    merged = merge([(first, 0.0, 2.0), (second, 1.0, 3.0)])
    assert merged.raw == "hello there friend" and merged.text == "Hello There friend."
    assert [(w.start_s, w.end_s) for w in merged.words] == [(0.5, 0.9), (1.2, 1.6), (2.0, 2.5)]
    assert TimedWords.of(words(("a", 0, 1)), ["A.", "extra"]).shown == ("a",)  # shown forms must pair up


def test_merge_windows_places_each_window_at_its_start_sample():
    # Two windows of a 16 kHz recording, [0, 3 s) and [2 s, 5 s): each window's word times count from its own
    # start, so the second window's "friend" at 1.5 s is at 3.5 s of the recording. What is shown of a word comes
    # from its own window's punctuated text.
    first = Transcript("Hello there.", "hello there", words(("hello", 0.5, 0.9), ("there", 2.2, 2.6)))
    second = Transcript("There, friend.", "there friend", words(("there", 0.2, 0.6), ("friend", 1.5, 1.9)))
    merged = merge_windows([first, second], [(0, 48_000), (32_000, 80_000)], 16_000)
    # spliced at "there", which both heard: the right window's words (and what it shows) from there on
    assert merged.raw == "hello there friend" and merged.text == "Hello There, friend."
    assert [(w.text, w.start_s, w.end_s) for w in merged.words] == [
        ("hello", 0.5, 0.9), ("there", 2.2, 2.6), ("friend", 3.5, 3.9)]
    # the same windows 1 s later in a longer recording: every time moves by exactly 1 s
    later = merge_windows([first, second], [(16_000, 64_000), (48_000, 96_000)], 16_000)
    assert [w.start_s for w in later.words] == pytest.approx([1.5, 3.2, 4.5])


@st.composite
def recordings(draw):
    """A timeline of words and the windows of a plan over it: each window hears the words wholly inside it,
    at times off by up to 50 ms, and garbles or misses a word its edge cuts."""
    count = draw(st.integers(1, 60))
    texts = [f"w{k}" for k in range(count)]  # repeated words: the tests above
    timeline, t = [], draw(st.floats(0.0, 1.0))
    for text in texts:
        length = draw(st.floats(0.1, 0.6))
        timeline.append(Word(text, t, t + length, 1.0))
        t += length + draw(st.floats(0.05, 0.8))
    duration = t
    window = draw(st.floats(3.0, 10.0))
    overlap = draw(st.floats(1.0, window / 2))
    rate = 100
    spans = [(s / rate, e / rate) for s, e in plan_windows(int(duration * rate) + 1, int(window * rate),
                                                           int(overlap * rate))]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    pieces = []
    for start, end in spans:
        heard = []
        for word in timeline:
            if start <= word.start_s and word.end_s <= end:
                jitter = rng.uniform(-0.05, 0.05)
                heard.append(Word(word.text, word.start_s + jitter, word.end_s + jitter, 1.0))
            elif word.start_s < end and word.end_s > start and rng.random() < 0.5:
                heard.append(Word("zz", max(start, word.start_s), min(end, word.end_s), 0.2))  # cut: garbled
        pieces.append((TimedWords.of(heard), start, end))
    return timeline, pieces


@settings(max_examples=300, deadline=None)
@given(recordings())
def test_merged_windows_lose_and_double_no_word(recording):
    timeline, pieces = recording
    merged = merge(pieces)
    assert [w.text for w in merged.words] == [w.text for w in timeline]
    assert all(abs(m.start_s - w.start_s) <= 0.05 + 1e-9 for m, w in zip(merged.words, timeline))

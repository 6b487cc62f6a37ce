"""Long recordings in overlapping windows, merged by word time: no word lost or doubled at a window edge.

Each window is recognized on its own (with its own feature normalization, as ``asr`` does); its word times are
moved by the window's start. Two neighbouring windows both hear the overlap between them, and the words of the
overlap are spliced where both windows agree: in the longest run of the same words that both place in the
overlap, the left window's words are kept before the run's middle word and the right window's from it on, so
every word comes from the window that heard it with context on both sides. Where the windows agree on no run
(the overlap is silence, or noise each window hears differently), the splice is at the middle of the overlap:
left words whose middle lies before it, right words from it on.

Matched words must be placed within ``MATCH_TOLERANCE_S`` by both windows: a phrase said twice is not matched one
repetition off. Splicing at a word both windows heard, rather than cutting at a time, keeps a word that straddles
the cut (placed a little differently by each window) from being doubled or lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher

import numpy as np

from triton_speech.defaults import LONG_OVERLAP_SECONDS, LONG_WINDOW_SECONDS
from triton_speech.runtime.asr.ctc import Word
from triton_speech.runtime.asr.words import Transcript

# Words both windows heard are a splice point only if both place them this close (seconds).
MATCH_TOLERANCE_S = 0.5


def window_settings(max_audio_seconds: float, window_seconds: float = LONG_WINDOW_SECONDS,
                    overlap_seconds: float = LONG_OVERLAP_SECONDS) -> tuple[float, float]:
    """(window, overlap) in seconds for a server whose asr takes at most ``max_audio_seconds``: ``window_seconds``
    or shorter, overlapping by ``overlap_seconds`` or at most half a window."""
    if window_seconds <= 0 or overlap_seconds <= 0:
        raise ValueError(f"window ({window_seconds:g} s) and overlap ({overlap_seconds:g} s) must be positive")
    window = min(window_seconds, max_audio_seconds)
    return window, min(overlap_seconds, window / 2)


def plan_windows(num_samples: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """Sample ranges ``[start, end)`` of ``window`` samples, each overlapping the previous by at least
    ``overlap``; the last ends at the end (it starts earlier rather than being short). One window when the
    audio fits in one."""
    if not 0 <= overlap < window:
        raise ValueError(f"overlap {overlap} must be at least 0 and shorter than the window {window}")
    if num_samples <= window:
        return [(0, num_samples)]
    step = window - overlap
    starts = list(range(0, num_samples - window, step)) + [num_samples - window]
    return [(start, start + window) for start in starts]


@dataclass(frozen=True)
class TimedWords:
    """Words with absolute times and what to show for each (the punctuated form, or the word itself)."""

    words: tuple[Word, ...] = ()
    shown: tuple[str, ...] = ()

    @classmethod
    def of(cls, words: Sequence[Word], shown: Sequence[str] | None = None, offset_s: float = 0.0) -> "TimedWords":
        """``words`` moved by ``offset_s``; ``shown`` falls back to the words when it does not pair up one to one."""
        moved = tuple(replace(w, start_s=w.start_s + offset_s, end_s=w.end_s + offset_s) for w in words)
        shown = tuple(shown) if shown is not None and len(shown) == len(words) else tuple(w.text for w in words)
        return cls(moved, shown)

    @property
    def raw(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def text(self) -> str:
        return " ".join(self.shown)

    def __add__(self, other: "TimedWords") -> "TimedWords":
        return TimedWords(self.words + other.words, self.shown + other.shown)

    def __getitem__(self, index: slice) -> "TimedWords":
        return TimedWords(self.words[index], self.shown[index])


def middle(word: Word) -> float:
    return (word.start_s + word.end_s) / 2


def splice(left: Sequence[Word], right: Sequence[Word], overlap_start_s: float,
           overlap_end_s: float) -> tuple[int, int]:
    """``(i, j)``: the merge of two windows' words is ``left[:i] + right[j:]``. The windows share
    ``[overlap_start_s, overlap_end_s)``; words are matched within it, give or take half its length."""
    margin = (overlap_end_s - overlap_start_s) / 2
    left_first = next((i for i, w in enumerate(left) if middle(w) >= overlap_start_s - margin), len(left))
    right_stop = next((j for j, w in enumerate(right) if middle(w) > overlap_end_s + margin), len(right))
    left_words = [w.text for w in left[left_first:]]
    right_words = [w.text for w in right[:right_stop]]
    matcher = SequenceMatcher(None, left_words, right_words, autojunk=False)
    center = (overlap_start_s + overlap_end_s) / 2
    best = None
    for a, b, size in matcher.get_matching_blocks():
        if size == 0:
            continue
        pick = size // 2
        i, j = left_first + a + pick, b + pick
        shift = abs(middle(left[i]) - middle(right[j]))
        if shift > MATCH_TOLERANCE_S:
            continue
        # the longest run; among equally long ones, the one both windows place closest, then nearest the centre
        key = (size, -round(shift, 3), -abs(middle(right[j]) - center))
        if best is None or key > best[0]:
            best = (key, i, j)
    if best is not None:
        return best[1], best[2]
    i = next((i for i, w in enumerate(left) if middle(w) >= center), len(left))
    j = next((j for j, w in enumerate(right) if middle(w) >= center), len(right))
    return i, j


def merge(pieces: Sequence[tuple[TimedWords, float, float]]) -> TimedWords:
    """Merge consecutive windows: ``(words with absolute times, window start s, window end s)`` in order."""
    merged, merged_end = TimedWords(), None
    for words, start_s, end_s in pieces:
        if merged_end is None or start_s >= merged_end:
            merged = merged + words
        else:
            i, j = splice(merged.words, words.words, start_s, merged_end)
            merged = merged[:i] + words[j:]
        merged_end = end_s
    return merged


def merge_windows(results: Sequence[Transcript], spans: Sequence[tuple[int, int]], sample_rate: int) -> Transcript:
    """One transcript of a recording from its windows' transcripts (with words, times from each window's start)
    and the windows' sample ranges; what is shown of each word comes from its window's (punctuated) text."""
    merged = merge([(TimedWords.of(result.words, result.text.split(), start / sample_rate), start / sample_rate,
                     end / sample_rate) for result, (start, end) in zip(results, spans)])
    return Transcript(merged.text, merged.raw, list(merged.words))


async def recognize_in_windows(audio: np.ndarray, spans: Sequence[tuple[int, int]], sample_rate: int,
                               recognize: Callable[[np.ndarray], Awaitable[Transcript]]) -> Transcript:
    """``recognize`` (a request to ``asr`` with the word outputs) on every window at once, merged."""
    results = await asyncio.gather(*(recognize(np.ascontiguousarray(audio[s:e])) for s, e in spans))
    return merge_windows(results, spans, sample_rate)

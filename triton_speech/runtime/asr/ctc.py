"""CTC decoding: greedy (best path), a beam search constrained to a word list (lexicon), or a beam search scored by
an n-gram language model (pyctcdecode + KenLM: open vocabulary); optionally each word with its frames and a
confidence.

Word times follow NeMo's convention: a word starts at the first frame of its first letter and ends after the last
frame of its last letter; a frame index times the model's output stride (seconds per log-prob frame) is a time.
A word's confidence is its weakest letter's posterior: for each letter, its highest probability on any frame of
the word; the word takes the lowest of these (NeMo's max-prob confidence with min aggregation).
"""

from __future__ import annotations

import copy
import heapq
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triton_speech.defaults import CTC_BEAM_SIZE, LM_ALPHA, LM_BETA

# pyctcdecode's decode_beams defaults, which the served decoders use: beams this far below the best are dropped, and
# labels this unlikely on a frame are not tried (but the frame's best always is)
BEAM_PRUNE_LOGP = -10.0
TOKEN_MIN_LOGP = -5.0
PARTIAL_SCORE_CACHE = 200_000  # partial words whose scores the resumable beam search keeps


@dataclass(frozen=True)
class Word:
    """A recognized word: start and end in seconds from the start of the audio, confidence 0-1."""

    text: str
    start_s: float
    end_s: float
    confidence: float


@dataclass(frozen=True)
class FrameWord:
    """A decoded word on the log-prob frames: ``start`` is its first frame, ``end`` one past its last."""

    text: str
    start: int
    end: int
    label_ids: tuple[int, ...]

    def word(self, logprobs: np.ndarray, frame_seconds: float) -> Word:
        return self.timed(logprobs[self.start : self.end], frame_seconds)

    def timed(self, frames: np.ndarray, frame_seconds: float) -> Word:
        """The word with times and confidence from the log-probs of its own frames."""
        peaks = frames[:, list(self.label_ids)].max(axis=0)
        return Word(self.text, self.start * frame_seconds, self.end * frame_seconds, float(np.exp(peaks.min())))


@dataclass(frozen=True)
class GreedyState:
    """Greedy decoding after ``frames`` frames: the words ended, the letters of the word still open
    (label, first frame, one past the last) and the last frame's label."""

    frames: int = 0
    words: tuple[FrameWord, ...] = ()
    letters: tuple[tuple[int, int, int], ...] = ()
    last: int = -1


@dataclass(frozen=True)
class BeamState:
    """pyctcdecode's beams after ``frames`` frames, and the stream's cache of word-sequence scores."""

    frames: int
    beams: tuple
    lm_scores: dict


def _combined(beam: tuple) -> float:
    return beam[-1]


class GreedyCTCDecoder:
    """Arg-max per frame, collapse repeats, drop blanks, map ids to characters; words separated by one space.

    ``labels`` is the checkpoint's vocabulary; the blank is the extra class after it (NeMo's layout:
    ``num_classes = len(labels) + 1`` and ``blank = len(labels)``).
    """

    def __init__(self, labels: Sequence[str], blank_id: int | None = None):
        self.labels = list(labels)
        self.blank_id = len(self.labels) if blank_id is None else blank_id
        self.num_classes = len(self.labels) + 1
        if not 0 <= self.blank_id < self.num_classes:
            raise ValueError(f"blank id {self.blank_id} is outside 0..{self.num_classes - 1}")
        symbols = list(self.labels)
        symbols.insert(self.blank_id, "")
        self._symbols = np.array(symbols, dtype=object)

    def check(self, logprobs: np.ndarray, length: int | None) -> np.ndarray:
        """``logprobs`` ``[T, num_classes]`` cut to ``length`` frames."""
        if logprobs.ndim != 2 or logprobs.shape[1] != self.num_classes:
            raise ValueError(f"expected log-probs [T, {self.num_classes}], got {list(logprobs.shape)}")
        return logprobs[: logprobs.shape[0] if length is None else int(length)]

    def token_ids(self, logprobs: np.ndarray, length: int | None = None) -> np.ndarray:
        """Collapsed non-blank token ids of one utterance; ``logprobs`` is ``[T, num_classes]``."""
        best = self.check(logprobs, length).argmax(axis=1)
        if best.size == 0:
            return best
        keep = np.ones(best.shape, dtype=bool)
        keep[1:] = best[1:] != best[:-1]
        best = best[keep]
        return best[best != self.blank_id]

    def __call__(self, logprobs: np.ndarray, length: int | None = None) -> str:
        # CTC may emit the space twice (space, blank, space) or at either end: a transcript's words are separated
        # by one space, as the lexicon decoder's are.
        return " ".join("".join(self._symbols[self.token_ids(logprobs, length)]).split())

    def frame_words(self, logprobs: np.ndarray) -> list[FrameWord]:
        """The words of the best path with their frames; ``logprobs`` is ``[T, num_classes]``."""
        best = self.check(logprobs, None).argmax(axis=1)
        if best.size == 0:
            return []
        starts = np.flatnonzero(np.concatenate([[True], best[1:] != best[:-1]]))  # one run per emitted label
        ends = np.append(starts[1:], best.size)
        words, letters = [], []
        for start, end, label in zip(starts.tolist(), ends.tolist(), best[starts].tolist()):
            if label == self.blank_id:
                continue
            if self._symbols[label] == " ":
                words += [self._word(letters)] if letters else []
                letters = []
            else:
                letters.append((label, start, end))
        return words + ([self._word(letters)] if letters else [])

    def _word(self, letters: list[tuple[int, int, int]]) -> FrameWord:
        ids = tuple(label for label, _, _ in letters)
        return FrameWord("".join(self._symbols[list(ids)]), letters[0][1], letters[-1][2], ids)

    def words(self, logprobs: np.ndarray, frame_seconds: float, length: int | None = None) -> list[Word]:
        """The words ``__call__`` says (joined by spaces they are its transcript), each with its start and end
        (seconds: frames times ``frame_seconds``) and confidence."""
        emissions = self.check(logprobs, length)
        return [word.word(emissions, frame_seconds) for word in self.frame_words(emissions)]

    # Decoding a stream whose log-probs come in pieces (asr_streaming): ``advance`` takes the next frames and returns
    # a new state (the one given stays valid: a state can be advanced along several continuations), and
    # ``state_words`` says what ``frame_words`` says over all the frames so far (the same words and frames).

    def with_beam_size(self, beam_size: int) -> GreedyCTCDecoder:
        return self  # no beams

    def begin(self) -> GreedyState:
        return GreedyState()

    def advance(self, state: GreedyState, logprobs: np.ndarray) -> GreedyState:
        best = self.check(logprobs, None).argmax(axis=1).tolist()
        words, letters, last, frame = list(state.words), list(state.letters), state.last, state.frames
        for label in best:
            if label == last:  # the same run: a letter's run grows
                if letters and label != self.blank_id and self._symbols[label] != " ":
                    letters[-1] = (label, letters[-1][1], frame + 1)
            elif label != self.blank_id:
                if self._symbols[label] == " ":
                    words += [self._word(letters)] if letters else []
                    letters = []
                else:
                    letters.append((label, frame, frame + 1))
            last, frame = label, frame + 1
        return GreedyState(frame, tuple(words), tuple(letters), last)

    def state_words(self, state: GreedyState) -> list[FrameWord]:
        return list(state.words) + ([self._word(list(state.letters))] if state.letters else [])


def read_lexicon(path: str | Path) -> list[str]:
    """A word list: one word per line (a pronunciation lexicon's first column; the rest of a line is ignored)."""
    words = [line.split()[0] for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not words:
        raise ValueError(f"lexicon {path} has no words")
    return words


def check_spelling(words: Iterable[str], labels: Sequence[str]) -> list[str]:
    """The distinct ``words``, each checked to be spelled with ``labels`` (the space excluded: it separates)."""
    words = list(dict.fromkeys(words))
    if not words:
        raise ValueError("the lexicon has no words")
    spellable = set(labels) - {" "}
    for word in words:
        if set(word) - spellable:
            raise ValueError(f"lexicon word {word!r} cannot be spelled with the model's labels "
                             f"(not in them: {sorted(set(word) - spellable)})")
    return words


class WordListModel:
    """pyctcdecode's language-model interface over a word list: every listed word scores 0, anything else
    (and any partial word that no listed word starts with) scores ``unknown_word_score``, low enough that
    the beam search drops it. There is no word-order model: the choice among known words is acoustic."""

    order = 1

    def __init__(self, words: Iterable[str], unknown_word_score: float = -1000.0):
        self.words = frozenset(words)
        self.unknown_word_score = unknown_word_score
        self._prefixes = frozenset(word[:end] for word in self.words for end in range(1, len(word) + 1))

    def get_start_state(self) -> None:
        return None

    def score_partial_token(self, partial_token: str) -> float:
        known = not partial_token or partial_token in self._prefixes
        return 0.0 if known else self.unknown_word_score

    def score(self, prev_state, word: str, is_last_word: bool = False) -> tuple[float, None]:
        return (0.0 if word in self.words else self.unknown_word_score), None


class BeamSearchCTCDecoder(GreedyCTCDecoder):
    """CTC prefix beam search (pyctcdecode): the transcript and the words' frames are the chosen beam's."""

    def __init__(self, labels: Sequence[str], blank_id: int | None, beam_size: int):
        super().__init__(labels, blank_id)
        import logging

        logging.getLogger("pyctcdecode").setLevel(logging.ERROR)  # "kenlm not installed" when only a word list
        if beam_size < 1:
            raise ValueError(f"beam size must be at least 1, got {beam_size}")
        self.beam_size = beam_size
        from pyctcdecode.language_model import HotwordScorer

        self._no_hotwords = HotwordScorer.build_scorer(None)

    def __call__(self, logprobs: np.ndarray, length: int | None = None) -> str:
        return " ".join(word for word, _ in self._best_beam(self.check(logprobs, length)))

    def frame_words(self, logprobs: np.ndarray) -> list[FrameWord]:
        """The words of the best beam with the frames pyctcdecode tracked for them."""
        ids = {symbol: index for index, symbol in enumerate(self._symbols)}
        return [FrameWord(word, start, end, tuple(ids[letter] for letter in word))
                for word, (start, end) in self._best_beam(self.check(logprobs, None))]

    def _beams(self, emissions: np.ndarray) -> list[list[tuple[str, tuple[int, int]]]]:
        """Each beam's (word, (first frame, one past the last frame)), best first."""
        if emissions.shape[0] == 0:
            return []
        return self._ended(self.advance(self.begin(), emissions))

    def _best_beam(self, emissions: np.ndarray) -> list[tuple[str, tuple[int, int]]]:
        beams = self._beams(emissions)
        return beams[0] if beams else []

    # pyctcdecode's ``decode_beams`` (0.5.0 with its default pruning; character labels, no hotwords), resumable:
    # its frame loop over frames that may come in pieces (asr_streaming), its end-of-utterance scoring on a copy of
    # the beams at each ``state_words``. Its beams, its words and their frames, in pieces as at once (tested against
    # ``decode_beams``); the loop is pyctcdecode's with Python floats and its helper calls inlined, 1.3-3x faster.

    def begin(self) -> BeamState:
        from pyctcdecode.decoder import EMPTY_START_BEAM

        language_model = self._decoder._language_model
        start = None if language_model is None else language_model.get_start_state()
        return BeamState(0, (EMPTY_START_BEAM,), {("", False): (0.0, 0.0, start)})

    def advance(self, state: BeamState, logprobs: np.ndarray) -> BeamState:
        from pyctcdecode.decoder import MIN_TOKEN_CLIP_P, _log_softmax, _sum_log_scores

        if self._decoder._language_model is None:
            raise ValueError("resumable beam search needs a word list or a language model")
        emissions = self.check(logprobs, None).astype(np.float32)
        logits = np.clip(_log_softmax(emissions, axis=1), np.log(MIN_TOKEN_CLIP_P), 0)
        # Python floats (the float64 values numpy's scalars would give, computed faster), the labels tried per frame
        # in the order pyctcdecode tries them (a set of the likely ones, and the best)
        columns = logits.tolist()
        likely = [np.flatnonzero(row).tolist() for row in logits >= TOKEN_MIN_LOGP]
        best_labels = logits.argmax(axis=1).tolist()
        vocabulary = self._decoder._idx2vocab
        language_model, lm_scores, partial_scores = self._decoder._language_model, state.lm_scores, self._partial_scores
        beam_size = self.beam_size
        beams = state.beams
        for frame, (column, candidates, top) in enumerate(zip(columns, likely, best_labels), start=state.frames):
            # Extend every beam by every label tried, merging equal prefixes (pyctcdecode's _merge_beams: the
            # first one's place, the last one's frames, the scores' log-sum); beams carry no next word here.
            merged: dict = {}
            for index in set(candidates) | {top}:
                p_char, char = column[index], vocabulary[index]
                for text, _, word_part, last_char, text_frames, part_frames, score in beams:
                    if char == "" or last_char == char:
                        key, beam = (text, word_part, char), (text, "", word_part, char, text_frames,
                                                              part_frames if char == "" else
                                                              (part_frames[0], frame + 1), score + p_char)
                    elif char == " ":
                        new_text = text if not word_part else (word_part if not text else text + " " + word_part)
                        key, beam = (new_text, "", char), (text, word_part, "", char,
                                                           text_frames if word_part == "" else
                                                           text_frames + [part_frames], (-1, -1), score + p_char)
                    else:
                        part = word_part + char
                        key, beam = (text, part, char), (text, "", part, char, text_frames,
                                                         (frame, frame + 1) if part_frames[0] < 0 else
                                                         (part_frames[0], frame + 1), score + p_char)
                    known = merged.get(key)
                    merged[key] = beam if known is None else beam[:6] + (_sum_log_scores(known[6], beam[6]),)
            # Word-list or LM scores (pyctcdecode's _get_lm_beams, no hotwords), then its pruning and trimming
            scored = []
            for (new_text, word_part, _), (text, next_word, _, last_char, text_frames, part_frames, score) in \
                    merged.items():
                cached = lm_scores.get((new_text, False))
                if cached is None:
                    _, previous, lm_state = lm_scores[(text, False)]
                    value, end_state = language_model.score(lm_state, next_word, is_last_word=False)
                    cached = lm_scores[(new_text, False)] = (previous + value, previous + value, end_state)
                lm_score = cached[0]
                if word_part:
                    partial = partial_scores.get(word_part)
                    if partial is None:
                        partial = partial_scores[word_part] = language_model.score_partial_token(word_part)
                    lm_score += partial
                scored.append((new_text, "", word_part, last_char, text_frames, part_frames, score,
                               score + lm_score))
            floor = max(b[7] for b in scored) + BEAM_PRUNE_LOGP
            beams = [b[:7] for b in heapq.nlargest(beam_size, [b for b in scored if b[7] >= floor], key=_combined)]
        return BeamState(state.frames + logits.shape[0], tuple(beams), state.lm_scores)

    def state_words(self, state: BeamState) -> list[FrameWord]:
        ids = {symbol: index for index, symbol in enumerate(self._symbols)}
        return [FrameWord(word, start, end, tuple(ids[letter] for letter in word))
                for word, (start, end) in self._choose(self._ended(state))]

    def _ended(self, state: BeamState) -> list[list[tuple[str, tuple[int, int]]]]:
        """The beams with their last words ended and scored as such, best first: each (word, frames) of a beam."""
        from pyctcdecode.decoder import _merge_beams, _sort_and_trim_beams

        ended = _merge_beams([(text, word_part, "", None, frames if word_part == "" else frames + [part], (-1, -1),
                               score) for text, _, word_part, _, frames, part, score in state.beams])
        scored = self._decoder._get_lm_beams(ended, self._no_hotwords, state.lm_scores, self._partial_scores,
                                             is_eos=True)
        best = max(b[-1] for b in scored)
        return [list(zip(text.split(), frames)) for text, _, _, _, frames, _, _, _ in
                _sort_and_trim_beams([b for b in scored if b[-1] >= best + BEAM_PRUNE_LOGP], self.beam_size)]

    def _choose(self, beams: list) -> list[tuple[str, tuple[int, int]]]:
        return beams[0] if beams else []

    def with_beam_size(self, beam_size: int) -> BeamSearchCTCDecoder:
        """The same decoder (word list or LM) with another beam width."""
        if beam_size < 1:
            raise ValueError(f"beam size must be at least 1, got {beam_size}")
        narrower = copy.copy(self)
        narrower.beam_size = beam_size
        return narrower

    @property
    def _partial_scores(self) -> dict:
        """Scores of partial words, a function of the word alone: one cache for all streams, bounded."""
        cache = self.__dict__.setdefault("_partial_score_cache", {})
        if len(cache) > PARTIAL_SCORE_CACHE:
            cache.clear()
        return cache


class LexiconCTCDecoder(BeamSearchCTCDecoder):
    """CTC prefix beam search (pyctcdecode) whose words all come from a word list (a lexicon).

    A character model that hears "anma" for a name it knows is steered to the closest known spelling. The
    space label is the word boundary, as in NeMo's character vocabularies. Decoding is beam search over the
    same log-probabilities the greedy decoder reads, and it cannot say a word outside the list (a closed
    vocabulary: build the list from the domain's text). Where the acoustics favour another listed word it
    says that one (the default model can hear "emma" for "anna").
    """

    def __init__(self, labels: Sequence[str], words: Iterable[str], blank_id: int | None = None,
                 beam_size: int = CTC_BEAM_SIZE):
        super().__init__(labels, blank_id, beam_size)
        from pyctcdecode import Alphabet, BeamSearchDecoderCTC

        if " " not in self.labels:
            raise ValueError("lexicon decoding needs a space label as the word boundary")
        self.lexicon = check_spelling(words, self.labels)
        # pyctcdecode marks the blank as "" in the class order the model emits.
        self._language_model = WordListModel(self.lexicon)
        self._decoder = BeamSearchDecoderCTC(Alphabet(list(self._symbols), False), self._language_model)

    def _best_beam(self, emissions: np.ndarray) -> list[tuple[str, tuple[int, int]]]:
        # The word scores only rank hypotheses: when every beam ends in an unlisted word (a word cut short at
        # the last frame, say), pyctcdecode still returns the best. The best beam of listed words wins instead,
        # and failing any, the best beam's listed words: the output never holds a word outside the list.
        return self._choose(self._beams(emissions))

    def _choose(self, beams: list) -> list[tuple[str, tuple[int, int]]]:
        listed = self._language_model.words
        for frames in beams:
            if all(word in listed for word, _ in frames):
                return frames
        return [(word, span) for word, span in beams[0] if word in listed] if beams else []


class LanguageModelCTCDecoder(BeamSearchCTCDecoder):
    """CTC prefix beam search (pyctcdecode) scored by a word n-gram language model (KenLM reads the ARPA or binary
    file): ``alpha`` weighs the LM, ``beta`` rewards each word. Any spelling can come out (open vocabulary); the LM
    prefers the words and word orders of its text. Needs the ``kenlm`` package (the ``lm`` extra)."""

    def __init__(self, labels: Sequence[str], lm_path: str | Path, blank_id: int | None = None,
                 beam_size: int = CTC_BEAM_SIZE, alpha: float = LM_ALPHA, beta: float = LM_BETA):
        super().__init__(labels, blank_id, beam_size)
        import kenlm
        from pyctcdecode import Alphabet, BeamSearchDecoderCTC
        from pyctcdecode.language_model import LanguageModel

        lm_path = Path(lm_path)
        unigrams = arpa_unigrams(lm_path) if lm_path.suffix == ".arpa" else None
        model = LanguageModel(kenlm.Model(str(lm_path)), unigrams, alpha=alpha, beta=beta)
        self._decoder = BeamSearchDecoderCTC(Alphabet(list(self._symbols), False), model)


def arpa_unigrams(path: str | Path) -> list[str]:
    """The words of an ARPA file's 1-grams (pyctcdecode needs them to score partial words)."""
    words, section = [], False
    with open(path, encoding="utf-8") as arpa:
        for line in arpa:
            if line.startswith("\\1-grams:"):
                section = True
            elif section and line.startswith("\\"):
                break
            elif section and line.strip():
                word = line.split("\t")[1].strip()
                if word not in ("<s>", "</s>", "<unk>"):
                    words.append(word)
    return words


def load_decoder(labels_json: str | Path, lexicon: str | Path | None = None, beam_size: int = CTC_BEAM_SIZE,
                 lm: str | Path | None = None, lm_alpha: float = LM_ALPHA,
                 lm_beta: float = LM_BETA) -> GreedyCTCDecoder:
    """The decoder of an export's ``labels.json``: greedy, beam search over a ``lexicon``'s words, or beam search
    with the n-gram ``lm``. The builder (to check a lexicon or LM), the served ``ctc_decoder`` and ``ASRPipeline``
    all make it here."""
    vocabulary = json.loads(Path(labels_json).read_text())
    if lexicon is not None and lm is not None:
        raise ValueError("decode over a lexicon or with a language model, not both")
    if lm is not None:
        return LanguageModelCTCDecoder(vocabulary["labels"], lm, vocabulary["blank_id"], beam_size, lm_alpha, lm_beta)
    if lexicon is None:
        return GreedyCTCDecoder(vocabulary["labels"], vocabulary["blank_id"])
    return LexiconCTCDecoder(vocabulary["labels"], read_lexicon(lexicon), vocabulary["blank_id"], beam_size)

"""CTC decoding: greedy (best path), a beam search constrained to a word list (lexicon), or a beam search scored by
an n-gram language model (pyctcdecode + KenLM: open vocabulary); optionally each word with its frames and a
confidence.

Word times follow NeMo's convention: a word starts at the first frame of its first letter and ends after the last
frame of its last letter; a frame index times the model's output stride (seconds per log-prob frame) is a time.
A word's confidence is its weakest letter's posterior: for each letter, its highest probability on any frame of
the word; the word takes the lowest of these (NeMo's max-prob confidence with min aggregation).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triton_speech.defaults import CTC_BEAM_SIZE, LM_ALPHA, LM_BETA


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
        peaks = logprobs[self.start : self.end][:, list(self.label_ids)].max(axis=0)
        return Word(self.text, self.start * frame_seconds, self.end * frame_seconds, float(np.exp(peaks.min())))


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
        import pygtrie

        self.words = frozenset(words)
        self.unknown_word_score = unknown_word_score
        self._prefixes = pygtrie.CharTrie.fromkeys(self.words, True)

    def get_start_state(self) -> None:
        return None

    def score_partial_token(self, partial_token: str) -> float:
        known = not partial_token or self._prefixes.has_node(partial_token)
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
        beams = self._decoder.decode_beams(emissions.astype(np.float32), beam_width=self.beam_size)
        return [frames for _, _, frames, *_ in beams]

    def _best_beam(self, emissions: np.ndarray) -> list[tuple[str, tuple[int, int]]]:
        beams = self._beams(emissions)
        return beams[0] if beams else []


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
        beams = self._beams(emissions)
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

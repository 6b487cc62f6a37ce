"""The project's n-gram LM: Kneser-Ney values checked by hand, distributions that sum to one through KenLM
(also after pruning), and LM beam search that fixes what greedy CTC decoding gets wrong."""

import math

import numpy as np
import pytest

from triton_speech.runtime.asr.ctc import GreedyCTCDecoder, LanguageModelCTCDecoder, arpa_unigrams
from triton_speech.training.language_model import estimate, write_arpa

kenlm = pytest.importorskip("kenlm", reason="pip install kenlm (the lm extra)")
LABELS = [" "] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["'"]


def model_from(sentences, tmp_path, order=2, min_counts=(1, 1)):
    path = write_arpa(estimate(sentences, order, min_counts), tmp_path / "lm.arpa")
    return kenlm.Model(str(path)), path


def conditional(model, context, word):
    state = kenlm.State()
    model.BeginSentenceWrite(state)
    for w in context:
        out = kenlm.State()
        model.BaseScore(state, w, out)
        state = out
    return model.BaseScore(state, word, kenlm.State())


def test_kneser_ney_values_by_hand(tmp_path):
    # corpus a b / a b / a c: continuation counts a=1 b=1 c=1 </s>=2 (total 5), D1 = 3/5;
    # bigram counts <s>a=3 ab=2 ac=1 b</s>=2 c</s>=1: D2 = n1/(n1+2n2) = 2/6.
    model, _ = model_from(["a b", "a b", "a c"], tmp_path)
    p_b = (1 - 0.6) / 5 + (0.6 * 4 / 5) / 5  # 0.176
    p_b_after_a = (2 - 1 / 3) / 3 + (1 / 3) * 2 / 3 * p_b
    assert conditional(model, ["a"], "b") == pytest.approx(math.log10(p_b_after_a), abs=1e-4)
    assert conditional(model, ["a"], "zzz") < conditional(model, ["a"], "c") < conditional(model, ["a"], "b")


@pytest.mark.parametrize("min_counts", [(1, 1, 1), (1, 2, 2), (1, 3, 3)])
def test_every_distribution_sums_to_one(tmp_path, min_counts):
    rng = np.random.default_rng(0)
    words = "the cat dog sat on mat ran to a big small red house".split()
    sentences = [" ".join(rng.choice(words, rng.integers(2, 9))) for _ in range(400)]
    model, path = model_from(sentences, tmp_path, 3, min_counts)
    vocabulary = arpa_unigrams(path) + ["</s>", "<unk>"]
    assert sorted(arpa_unigrams(path)) == sorted(words)
    for context in ([], ["the"], ["the", "cat"], ["sat", "on"], ["zzz"], ["house", "zzz"]):
        total = sum(10 ** conditional(model, context, w) for w in vocabulary)
        assert total == pytest.approx(1.0, abs=1e-4), context


def test_pruning_keeps_fewer_ngrams(tmp_path):
    sentences = ["the cat sat on the mat", "the dog sat on the log", "a cat ran"] * 2 + ["one rare line here"]
    full = estimate(sentences, 3, (1, 1, 1))
    pruned = estimate(sentences, 3, (1, 2, 2))
    assert len(pruned["probs"][0]) == len(full["probs"][0])  # every word stays
    assert len(pruned["probs"][2]) < len(full["probs"][2])
    assert ("one", "rare", "line") not in pruned["probs"][2] and ("the", "cat", "sat") in pruned["probs"][2]


def spell(text: str, frames_per_char: int = 3, confusions: dict | None = None) -> np.ndarray:
    """CTC log-probs that spell ``text``; ``confusions`` {position: wrong letter} make greedy read the wrong
    letter there (the right one a close second)."""
    blank = len(LABELS)
    rows = []
    for index, char in enumerate(text):
        probs = np.full(len(LABELS) + 1, 0.01)
        if confusions and index in confusions:
            probs[LABELS.index(confusions[index])], probs[LABELS.index(char)] = 0.5, 0.4
        else:
            probs[LABELS.index(char)] = 0.9
        rows += [probs] * frames_per_char
        gap = np.full(len(LABELS) + 1, 0.01)
        gap[blank] = 0.9
        rows.append(gap)
    rows = np.array(rows)
    return np.log(rows / rows.sum(axis=1, keepdims=True)).astype(np.float32)


def test_lm_beam_search_fixes_greedy_spelling(tmp_path):
    text = "the cat sat on the mat"
    sentences = ["the cat sat on the mat", "a cat sat on a hat", "the dog sat on the mat", "the cat ran"] * 5
    _, path = model_from(sentences, tmp_path, 3, (1, 1, 1))
    logprobs = spell(text, confusions={4: "k", 19: "n"})  # "the kat sat on the nat"
    greedy = GreedyCTCDecoder(LABELS)(logprobs)
    assert greedy == "the kat sat on the nat"
    assert LanguageModelCTCDecoder(LABELS, path, alpha=0.8, beta=1.0)(logprobs) == text

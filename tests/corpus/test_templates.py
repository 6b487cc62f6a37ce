"""The template domain: training templates, held-out templates and hand-written sentences, and their words."""

from __future__ import annotations

import random

from tests.support.paths import DEFAULT_LEXICON
from triton_speech.corpus import templates


def test_vocabulary_is_the_served_lexicon():
    # defaults/quartznet_small.lexicon.txt is the words of the default model's training transcripts
    assert templates.vocabulary() == DEFAULT_LEXICON.read_text().split()


def test_held_out_templates_and_new_combinations_say_only_known_words_in_new_patterns():
    known = set(templates.vocabulary())
    held_out = templates.sentences(500, seed=0, templates=templates.HELD_OUT_TEMPLATES)
    assert {word for text in held_out + templates.NEW_COMBINATIONS for word in text.split()} <= known
    trained = set(templates.sentences(20000, seed=1))
    assert not trained & set(held_out) and not trained & set(templates.NEW_COMBINATIONS)
    assert not set(templates.NEW_COMBINATIONS) & set(held_out)
    assert len(set(templates.NEW_COMBINATIONS)) == len(templates.NEW_COMBINATIONS)


def test_random_words_are_known_words_in_the_asked_number():
    rng, words = random.Random(0), templates.vocabulary()
    drawn = [templates.random_words(rng, words, 4, 8).split() for _ in range(200)]
    assert {len(d) for d in drawn} == set(range(4, 9))
    assert {w for d in drawn for w in d} <= set(words) and len({" ".join(d) for d in drawn}) == 200

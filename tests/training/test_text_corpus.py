"""General English text: normalization to what the ASR writes, sources read, split by sentence, determinism."""

from pathlib import Path

import pytest

from triton_speech.training import text_corpus
from triton_speech.training.text_corpus import normalize, split

HELDOUT = Path(__file__).parents[1] / "data" / "general_heldout" / "sentences.txt"


def test_normalize_spells_out_and_strips():
    assert normalize("Coffee and tea stimulate me!") == "coffee and tea stimulate me"
    assert normalize("He paid $5 on the 3rd of May.") == "he paid five dollars on the third of may"
    assert normalize("A well-known, 'quoted' phrase") == "a well known quoted phrase"
    assert normalize("isn't it") is None  # two words: too short
    assert normalize("send it to me@example") is None  # a symbol left after cleaning
    assert normalize(" ".join(["word"] * 31)) is None


def test_split_is_by_sentence_and_seeded():
    sentences = [f"sentence number {i} here" for i in range(100)] + ["sentence number 1 here"]
    train, held = split(sentences, 10, seed=3)
    assert len(held) == 10 and len(train) == 90
    assert not set(train) & set(held)
    assert split(sentences, 10, seed=3) == (train, held)
    assert split(sentences, 10, seed=4)[1] != held


def test_wordnet_and_fortunes_parse(tmp_path):
    wordnet = tmp_path / "wordnet"
    wordnet.mkdir()
    gloss = ('00022686 29 v 06 stimulate 0 arouse 0 018 @ 00019448 v 0000 | cause to be alert and energetic; '
             '"Coffee and tea stimulate me"; "This herbal infusion doesn\'t stimulate"  \n')
    (wordnet / "data.verb").write_text("  1 This software and database is being provided\n" + gloss)
    for part in ("noun", "adj", "adv"):
        (wordnet / f"data.{part}").write_text("")
    fortunes = tmp_path / "fortunes"
    fortunes.mkdir()
    (fortunes / "wisdom").write_text("A penny saved is a penny earned. Waste not, want not at all.\n"
                                     "\t\t-- Benjamin Franklin\n%\nThe early bird gets the worm.\n%\n")
    (fortunes / "wisdom.dat").write_text("binary index")
    (fortunes / "perl").write_text("print $x for 1..10;\n%\n")
    kept, counts = text_corpus.collect(wordnet, fortunes)
    assert kept["wordnet_examples"] == ["coffee and tea stimulate me", "this herbal infusion doesn't stimulate"]
    assert kept["wordnet_definitions"] == ["cause to be alert and energetic"]
    assert kept["fortunes"] == ["a penny saved is a penny earned", "waste not want not at all",
                                "the early bird gets the worm"]
    assert counts["fortunes"]["words"] == 7 + 6 + 6


def test_committed_heldout_sentences_are_normalized_and_not_in_training_text():
    sentences = HELDOUT.read_text().splitlines()
    assert 200 <= len(sentences) == len(set(sentences))
    assert all(normalize(s) == s for s in sentences)
    train = Path("build/text/train.txt")
    if not train.exists():
        pytest.skip("no build/text/train.txt (python -m triton_speech.training.text_corpus)")
    assert not set(sentences) & set(train.read_text().splitlines())

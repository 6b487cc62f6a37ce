"""Tacotron2 text front-ends: DLE's symbol table, the extended readings' english_cleaners, the choice between them
(dle and extended), text_to_sequence and sentence splitting. DLE's own readings: test_dle_text.py."""

import json
import re

import pytest

from tests.support.paths import DATA
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.tts.text import (
    ABBREVIATIONS,
    NORMALIZATIONS,
    SYMBOLS,
    cleaners,
    english_cleaners,
    export_normalization,
    number_to_words,
    ordinal_to_words,
    split_sentences,
    text_to_sequence,
)

PUBLISHED = json.loads((DATA / "tacotron2_text.json").read_text())


def published_ids(symbols: list[str]) -> list[int]:
    """Ids by the published list (independent of our table)."""
    return [PUBLISHED["symbols"].index(s) for s in symbols]


def test_symbol_table_is_the_published_one():
    assert SYMBOLS == PUBLISHED["symbols"]
    assert len(SYMBOLS) == PUBLISHED["n_symbols"] == 148


def test_abbreviation_table_is_the_published_one():
    assert [list(pair) for pair in ABBREVIATIONS] == PUBLISHED["abbreviations"]


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (21, "twenty one"), (99, "ninety nine"),
    (100, "one hundred"), (101, "one hundred one"), (110, "one hundred ten"), (999, "nine hundred ninety nine"),
    (1000, "one thousand"), (1001, "one thousand one"), (10**6, "one million"),
    (10**9 + 1, "one billion one"), (123456789, "one hundred twenty three million four hundred fifty six thousand "
                                                 "seven hundred eighty nine"),
    (-4, "minus four"),
])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


@pytest.mark.parametrize("n, words", [
    (1, "first"), (2, "second"), (3, "third"), (4, "fourth"), (5, "fifth"), (8, "eighth"), (9, "ninth"),
    (11, "eleventh"), (12, "twelfth"), (13, "thirteenth"), (20, "twentieth"), (21, "twenty first"),
    (22, "twenty second"), (40, "fortieth"), (100, "one hundredth"), (101, "one hundred first"),
    (1000, "one thousandth"),
])
def test_ordinal_to_words(n, words):
    assert ordinal_to_words(n) == words


@pytest.mark.parametrize("text, cleaned", [
    # numbers, commas in numbers
    ("I have 3 cats", "i have three cats"),
    ("1,000,000 people", "one million people"),
    ("10,500 km", "ten thousand five hundred km"),
    ("room 42", "room forty two"),
    # ordinals
    ("the 1st and 2nd", "the first and second"),
    ("May 23rd", "may twenty third"),
    ("the 4TH time", "the fourth time"),
    # decimals, percentages, negatives
    ("3.5 liters", "three point five liters"),
    ("pi is 3.14", "pi is three point one four"),
    ("50% off", "fifty percent off"),
    ("-5 degrees", "minus five degrees"),
    # currency
    ("$3.50", "three dollars, fifty cents"),
    ("$1", "one dollar"),
    ("$0.01", "one cent"),
    ("$2.5", "two dollars, fifty cents"),
    ("$1,200", "twelve hundred dollars"),
    ("$2.5 million", "two point five million dollars"),
    ("£5", "five pounds"),
    ("£3.50", "three pounds, fifty pence"),
    ("€1", "one euro"),
    # years (DLE's rule for 1001..2999), and the numbers just outside that range
    ("1000", "one thousand"),
    ("1001", "ten oh one"),
    ("2999", "twenty nine ninety nine"),
    ("1995", "nineteen ninety five"),
    ("in 2000", "in two thousand"),
    ("in 2005", "in two thousand five"),
    ("1900", "nineteen hundred"),
    ("1805", "eighteen oh five"),
    ("2010", "twenty ten"),
    ("3000", "three thousand"),
    # abbreviations (case-insensitive, need the period)
    ("Mr. Smith and Mrs. Smith", "mister smith and misess smith"),
    ("Dr. Who", "doctor who"),
    ("St. Louis", "saint louis"),
    ("MAJ. GEN. Jones", "major general jones"),
    ("the mr in the middle", "the mr in the middle"),
    # unicode and whitespace
    ("Café naïve Zoë", "cafe naive zoe"),
    ("\u201cQuoted\u201d \u2014 it\u2019s", '"quoted" - it\'s'),
    ("Straße", "strasse"),
    ("a \t\n  b", "a b"),
])
def test_english_cleaners(text, cleaned):
    assert english_cleaners(text) == cleaned


def test_cleaning_order_expands_numbers_before_abbreviations():
    # "1st." would read as "1saint" if abbreviations ran first.
    assert english_cleaners("on the 1st. of May") == "on the first. of may"


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_text_to_sequence_uses_published_ids(normalization):
    assert text_to_sequence("Hi, Bob!", normalization) == published_ids(list("hi, bob!"))


def test_text_to_sequence_reads_numbers_and_drops_unknown_characters():
    assert text_to_sequence("  2 \u2713 cats # ", "extended") == published_ids(list("two cats"))
    # DLE keeps the spaces either side: whitespace is collapsed (not trimmed) before "#" is dropped
    assert text_to_sequence("  2 \u2713 cats # ", "dle") == published_ids(list(" two cats  "))


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_curly_braces_are_arpabet(normalization):
    expected = published_ids(list("say ") + ["@HH", "@AH0", "@L", "@OW1"] + list(" now."))
    assert text_to_sequence("Say {HH AH0 L OW1} now.", normalization) == expected


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("text", ["", "   \n", "\u2713\u2713", "...?!", "\u4f60\u597d"])
def test_text_with_nothing_to_say_is_an_input_error(text, normalization):
    with pytest.raises(InputError, match="empty|no characters"):
        text_to_sequence(text, normalization)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_unknown_arpabet_phone_is_an_input_error(normalization):
    with pytest.raises(InputError, match="XX"):
        text_to_sequence("{HH XX}", normalization)


# --- the two normalizations ----------------------------------------------------------------------------------

# Where the extended readings part from DLE's: hyphens and commas in numbers, signs DLE drops, accents, decimals.
EXTENDED_READINGS = [
    ("In 1984, he was 42.", "in nineteen eighty-four, he was forty-two.", "in nineteen eighty four, he was forty two."),
    ("the 21st century", "the twenty-first century", "the twenty first century"),
    ("50% off", "fifty off", "fifty percent off"),
    ("£5 each", "five each", "five pounds each"),
    ("1234567", "one million, two hundred thirty-four thousand, five hundred sixty-seven",
     "one million two hundred thirty four thousand five hundred sixty seven"),
    ("$2.5", "two dollars, five cents", "two dollars, fifty cents"),
    ("pi is 3.14", "pi is three point fourteen", "pi is three point one four"),
    ("Über", "ueber", "uber"),
]


@pytest.mark.parametrize("text, dle, extended", EXTENDED_READINGS)
def test_dle_and_extended_readings(text, dle, extended):
    assert "".join(SYMBOLS[i] for i in text_to_sequence(text, "dle")) == dle
    assert "".join(SYMBOLS[i] for i in text_to_sequence(text, "extended")) == extended
    assert cleaners("extended") is english_cleaners


def test_dle_is_the_default_normalization():
    """A checkpoint that records none (NVIDIA's published ones) hears DLE's ids."""
    assert text_to_sequence("In 1984") == text_to_sequence("In 1984", "dle") != text_to_sequence("In 1984", "extended")


def test_an_unknown_normalization_is_refused():
    with pytest.raises(ValueError, match="dle, extended"):
        text_to_sequence("hello", "fancy")
    with pytest.raises(ValueError, match="dle, extended"):
        cleaners("fancy")


def test_an_export_serves_the_normalization_it_records():
    assert export_normalization({"text_normalization": "dle"}) == "dle"
    assert export_normalization({"text_normalization": "extended"}) == "extended"
    # exports made before they recorded one were served with the extended readings, the only ones there were
    assert export_normalization({}) == "extended"
    with pytest.raises(ValueError):
        export_normalization({"text_normalization": "other"})


def test_split_sentences_at_sentence_ends_not_abbreviations_or_initials():
    text = "Mr. Smith met J. R. R. Tolkien in St. Louis. Did he? Yes! It cost $3.50."
    assert split_sentences(text, max_chars=200) == [
        "Mr. Smith met J. R. R. Tolkien in St. Louis.", "Did he?", "Yes!", "It cost $3.50.",
    ]


def test_split_sentences_keeps_every_chunk_within_max_chars_and_loses_no_text():
    text = (
        "This opening sentence is short. But this one, which goes on and on, has several clauses; "
        "each of them is long enough: they must be packed into chunks that respect the limit. "
        "Supercalifragilisticexpialidocious is a word longer than the limit, {HH AH0 L OW1 W ER1 L D} too."
    )
    chunks = split_sentences(text, max_chars=30)
    assert all(0 < len(chunk) <= 30 for chunk in chunks)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")
    assert "This opening sentence is short." not in chunks  # longer than 30: split between words
    assert "{HH AH0 L OW1 W ER1 L D} too." in chunks  # a phone group is never cut apart
    assert any(chunk.endswith(",") or chunk.endswith(";") for chunk in chunks)  # clause breaks are used


def test_split_sentences_errors():
    with pytest.raises(InputError):
        split_sentences("  \n ", max_chars=100)
    with pytest.raises(ValueError, match="max_chars"):
        split_sentences("Hello.", max_chars=0)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_every_symbol_but_pad_round_trips(normalization):
    # Every letter, punctuation mark and phone is reachable from text; "_" never is.
    letters_and_punctuation = [s for s in SYMBOLS if len(s) == 1 and s not in "_ " and not s.isupper()]
    ids = text_to_sequence("a" + "".join(letters_and_punctuation), normalization)
    assert set(published_ids(letters_and_punctuation)) <= set(ids)
    phones = [s[1:] for s in SYMBOLS if s.startswith("@")]
    assert text_to_sequence("{" + " ".join(phones) + "}", normalization) == published_ids(["@" + p for p in phones])
    assert re.fullmatch(r"[a-z]+", "".join(SYMBOLS[i] for i in text_to_sequence("_a_b_", normalization)))


# --- the SYMBOL_IDS / SENTENCE_LENGTHS wire format between text_normalizer and tacotron2 ---------------------

# --- properties on arbitrary text (hypothesis) -------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=400), max_chars=st.integers(10, 250))
def test_sentence_splitting_loses_no_text_and_keeps_the_limit_on_any_text(text, max_chars):
    try:
        chunks = split_sentences(text, max_chars)
    except InputError:
        assert not text.strip()
        return
    # A word longer than the limit is cut inside: what is kept is every non-space character, in order.
    assert "".join("".join(chunks).split()) == "".join(text.split())
    assert all(len(chunk) <= max_chars for chunk in chunks)

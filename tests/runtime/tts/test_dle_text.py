"""DLE's text front-end (dle_text): the ids NVIDIA DeepLearningExamples' own code gives, text for text.

tests/data/tacotron2_dle_ids.json was written by tools/dle_text_table.py running DLE's code (its ``source`` and
``made_with`` say which and how): none of its ids come from this project's code.
"""

import json

import pytest

from tests.support.paths import DATA
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.tts import dle_text
from triton_speech.runtime.tts.text import SYMBOLS

TABLE = json.loads((DATA / "tacotron2_dle_ids.json").read_text(encoding="utf-8"))
PUBLISHED = json.loads((DATA / "tacotron2_text.json").read_text())


def spoken(ids: list[int]) -> bool:
    """Whether DLE's ids hold a letter or a phone (by the published symbol list)."""
    return any(PUBLISHED["symbols"][i].isalpha() or PUBLISHED["symbols"][i].startswith("@") for i in ids)


def test_the_table_is_large_and_varied():
    texts = [entry["text"] for entry in TABLE["entries"][: TABLE["texts"]]]
    assert len(texts) >= 200 and TABLE["characters"] >= 1000
    for needle in ("$", "£", "€", "%", "1st", "19", ".5", "Mr.", "Dr.", "{", "ü", "\u2014", "\n"):
        assert any(needle in text for text in texts), needle


def test_every_text_of_the_table_gets_dles_ids():
    mismatches = []
    for entry in TABLE["entries"]:
        if not spoken(entry["ids"]):
            continue
        try:
            ours = dle_text.text_to_sequence(entry["text"])
        except InputError as error:
            ours = str(error)
        if ours != entry["ids"]:
            mismatches.append((entry["text"], entry["cleaned"], ours))
    assert not mismatches, f"{len(mismatches)} of {len(TABLE['entries'])} differ from DLE: {mismatches[:10]}"


def test_every_cleaned_text_of_the_table_is_dles():
    differ = [(e["text"], e["cleaned"]) for e in TABLE["entries"][: TABLE["texts"]]
              if dle_text.english_cleaners(e["text"]) != e["cleaned"]]
    assert not differ, differ[:10]


def test_text_dle_gives_nothing_to_say_is_refused():
    """Where DLE's ids hold no letter or phone (it would synthesize from punctuation or nothing), an InputError."""
    silent = [entry["text"] for entry in TABLE["entries"] if not spoken(entry["ids"])]
    assert silent, "the table should hold some"
    for text in silent:
        with pytest.raises(InputError):
            dle_text.text_to_sequence(text)


def test_the_hyphens_and_dropped_signs_that_tell_dle_apart():
    said = {text: "".join(SYMBOLS[i] for i in dle_text.text_to_sequence(text))
            for text in ("In 1984, he was 42.", "the 21st century", "£5 and 50% off", "1234567")}
    assert said == {"In 1984, he was 42.": "in nineteen eighty-four, he was forty-two.",
                    "the 21st century": "the twenty-first century", "£5 and 50% off": "five and fifty off",
                    "1234567": "one million, two hundred thirty-four thousand, five hundred sixty-seven"}


def test_an_unknown_phone_and_a_number_beyond_inflect_are_input_errors():
    with pytest.raises(InputError, match="XX"):
        dle_text.text_to_sequence("{HH XX}")
    with pytest.raises(InputError, match="too long"):
        dle_text.text_to_sequence("1" * 40)


def test_a_dollar_amount_dle_cannot_parse_is_read_as_written():
    assert dle_text.english_cleaners("$1,.5") == "one,.five dollars"

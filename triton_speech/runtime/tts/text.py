"""Text front-ends of the Tacotron2 checkpoints (text -> symbol ids), and sentence splitting.

Two normalizations share DLE's symbol table and ``{ARPAbet}`` spans:

* ``dle``: DeepLearningExamples' own ``english_cleaners`` and ``text_to_sequence`` (``dle_text``), the ids NVIDIA's
  published checkpoints were trained on. What a checkpoint that records no normalization is served with.
* ``extended``: the same cleaning steps, order, abbreviations and symbols with other readings, chosen for clearer
  speech (and what the small default Tacotron2 of this project was trained on, which records it):

  * ASCII transliteration uses ``unicodedata`` plus a small table instead of DLE's own table (accents dropped,
    "u" for "ü"), and keeps the currency signs "£" and "€" so amounts in them are read out.
  * Numbers are read without inflect's punctuation: "1995" -> "nineteen ninety five" (DLE: "nineteen
    ninety-five"), "1234567" -> "one million two hundred thirty four thousand five hundred sixty seven" (DLE
    separates groups with commas, which the model speaks as pauses).
  * Digits after a decimal point are read one by one ("3.14" -> "three point one four"); a currency fraction is
    read as cents ("$3.5" -> "three dollars, fifty cents"); "%" and a leading minus are read.
  * Spaces left at either end of the id sequence (after dropping unsupported characters) are removed.
"""

from __future__ import annotations

import re
import unicodedata

from triton_speech.defaults import TEXT_NORMALIZATION
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.tts import dle_text
from triton_speech.runtime.tts.dle_text import (  # noqa: F401  (the symbol table, here for the extended readings)
    ABBREVIATIONS,
    ARPABET_PHONES,
    SYMBOL_TO_ID,
    SYMBOLS,
    expand_abbreviations,
    phone_ids,
    require_speech,
    symbol_ids,
)

NORMALIZATIONS = ("dle", "extended")
# What an export made before exports recorded their normalization is served with: the only one there was.
UNRECORDED_EXPORT_NORMALIZATION = "extended"


def check_normalization(normalization: str) -> str:
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"text normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}")
    return normalization


def export_normalization(export_info: dict) -> str:
    """The normalization a Tacotron2 export's checkpoint was trained with (its ``export.json``)."""
    return check_normalization(export_info.get("text_normalization", UNRECORDED_EXPORT_NORMALIZATION))


# Characters NFKD does not decompose to ASCII but that have an obvious ASCII spelling.
_TRANSLITERATION = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe",
    "\u0152": "OE", "\u00f8": "o", "\u00d8": "O", "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D",
    "\u00f0": "d", "\u00d0": "D", "\u00fe": "th", "\u00de": "Th",
})
# Currency signs kept through transliteration: (singular, plural, fraction singular, fraction plural).
CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
}

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = (
    "_ thousand million billion trillion quadrillion quintillion sextillion septillion octillion "
    "nonillion decillion"
).split()
_ORDINAL_WORDS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}

_COMMA_NUMBER = re.compile(r"[0-9][0-9,]+[0-9]")
_CURRENCY = re.compile(
    r"([$£€])\s?([0-9]+(?:\.[0-9]+)?|\.[0-9]+)(\s+(?:thousand|million|billion|trillion)\b)?", re.IGNORECASE
)
_DECIMAL = re.compile(r"([0-9]+)\.([0-9]+)")
_PERCENT = re.compile(r"([0-9])\s?%")
_NEGATIVE = re.compile(r"(?<![\w.])-(?=[0-9])")
_ORDINAL = re.compile(r"([0-9]+)(st|nd|rd|th)\b")
_NUMBER = re.compile(r"[0-9]+")
_WHITESPACE = re.compile(r"\s+")
_CURLY = re.compile(r"(.*?)\{(.+?)\}(.*)", re.DOTALL)


def _below_thousand(n: int) -> list[str]:
    hundreds, rest = divmod(n, 100)
    words = [_ONES[hundreds], "hundred"] if hundreds else []
    if rest >= 20:
        words.append(_TENS[rest // 10])
        if rest % 10:
            words.append(_ONES[rest % 10])
    elif rest:
        words.append(_ONES[rest])
    return words


def number_to_words(n: int) -> str:
    """Cardinal in words, without "and", hyphens or commas: 1234 -> "one thousand two hundred thirty four"."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n == 0:
        return "zero"
    if n >= 1000 ** len(_SCALES):
        return " ".join(_ONES[int(d)] for d in str(n))
    words: list[str] = []
    for scale in reversed(range(len(_SCALES))):
        group, n = divmod(n, 1000**scale)
        if group:
            words += _below_thousand(group) + ([_SCALES[scale]] if scale else [])
    return " ".join(words)


def ordinal_to_words(n: int) -> str:
    """1 -> "first", 22 -> "twenty second", 40 -> "fortieth", 100 -> "one hundredth"."""
    *head, last = number_to_words(n).split()
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def year_to_words(n: int) -> str:
    """Numbers 1001..2999 read as years (DLE's rule): 1995 -> "nineteen ninety five", 2005 -> "two thousand five"."""
    if n == 2000:
        return "two thousand"
    if 2000 < n < 2010:
        return "two thousand " + _ONES[n % 100]
    century, rest = divmod(n, 100)
    if rest == 0:
        return number_to_words(century) + " hundred"
    rest_words = "oh " + _ONES[rest] if rest < 10 else number_to_words(rest)
    return f"{number_to_words(century)} {rest_words}"


def _digits_to_words(digits: str) -> str:
    return " ".join(_ONES[int(d)] for d in digits)


def _expand_currency(match: re.Match) -> str:
    sign, amount, scale = match.group(1), match.group(2), match.group(3)
    singular, plural, fraction_singular, fraction_plural = CURRENCIES[sign]
    if scale:  # "$2.5 million" -> "2.5 million dollars": the decimal is read by the later steps
        return f"{amount}{scale.lower()} {plural}"
    whole, _, fraction = amount.partition(".")
    units = int(whole or 0)
    if len(fraction) > 2:  # not an amount of cents: read the number, then the unit
        return f"{amount} {plural}"
    cents = int(fraction.ljust(2, "0")) if fraction else 0
    parts = []
    if units or not cents:
        parts.append(f"{units} {singular if units == 1 else plural}")
    if cents:
        parts.append(f"{cents} {fraction_singular if cents == 1 else fraction_plural}")
    return ", ".join(parts)


def _expand_number(match: re.Match) -> str:
    n = int(match.group(0))
    return year_to_words(n) if 1000 < n < 3000 else number_to_words(n)


def expand_numbers(text: str) -> str:
    """Numbers, amounts, ordinals, decimals and percentages in words (lower-case text expected)."""
    text = _COMMA_NUMBER.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _CURRENCY.sub(_expand_currency, text)
    text = _PERCENT.sub(r"\1 percent", text)
    text = _NEGATIVE.sub("minus ", text)
    text = _DECIMAL.sub(lambda m: f"{number_to_words(int(m.group(1)))} point {_digits_to_words(m.group(2))}", text)
    text = _ORDINAL.sub(lambda m: ordinal_to_words(int(m.group(1))), text)
    return _NUMBER.sub(_expand_number, text)


def to_ascii(text: str) -> str:
    """Transliterate to ASCII (accents dropped, typographic quotes and dashes mapped), keeping "£" and "€"."""
    text = unicodedata.normalize("NFKD", text.translate(_TRANSLITERATION))
    return "".join(c for c in text if c.isascii() or c in CURRENCIES)


def english_cleaners(text: str) -> str:
    """``english_cleaners`` with the extended readings: ASCII, lower case, numbers and abbreviations in words,
    whitespace collapsed."""
    text = to_ascii(text).lower()
    text = expand_abbreviations(expand_numbers(text))
    return _WHITESPACE.sub(" ", text)


def cleaners(normalization: str = TEXT_NORMALIZATION):
    """The ``english_cleaners`` of a normalization (text -> cleaned text)."""
    return dle_text.english_cleaners if check_normalization(normalization) == "dle" else english_cleaners


def text_to_sequence(text: str, normalization: str = TEXT_NORMALIZATION) -> list[int]:
    """Token ids of ``text`` after the normalization's ``english_cleaners``; ``{HH AH0 L OW1}`` spans are ARPAbet
    phones.

    Raises ``InputError`` for empty text, for text with nothing speakable (no letters, digits or phones) and for an
    unknown phone.
    """
    if not text.strip():
        raise InputError("text is empty: send at least one word")
    if check_normalization(normalization) == "dle":
        return dle_text.text_to_sequence(text)
    remaining = text.strip()
    sequence: list[int] = []
    while remaining:
        match = _CURLY.match(remaining)
        if match is None:
            sequence += symbol_ids(english_cleaners(remaining))
            break
        sequence += symbol_ids(english_cleaners(match.group(1)))
        sequence += phone_ids(match.group(2))
        remaining = match.group(3)
    # Characters dropped at either end (quotes, symbols) can leave a space behind: no token to say.
    space = SYMBOL_TO_ID[" "]
    while sequence and sequence[-1] == space:
        sequence.pop()
    while sequence and sequence[0] == space:
        sequence.pop(0)
    return require_speech(sequence, text)


# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by whitespace.
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+")
_CLAUSE_BREAK = re.compile(r"(?<=[,;:])\s+")
# Whitespace outside {ARPAbet} spans, so a phone group is never cut apart.
_WORD_BREAK = re.compile(r"\s+(?![^{]*\})")
_NOT_SENTENCE_END_WORDS = {short for short, _ in ABBREVIATIONS}
_LAST_WORD = re.compile(r"\w*$")


def _ends_sentence(text: str, match: re.Match) -> bool:
    if not match.group(0).startswith(".") or match.group(0).startswith(".."):
        return True
    word = _LAST_WORD.search(text, 0, match.start()).group(0).lower()
    # "Mr. Smith", "J. R. R. Tolkien": the period belongs to an abbreviation or an initial.
    return word not in _NOT_SENTENCE_END_WORDS and not (len(word) == 1 and word.isalpha())


def _split_long(text: str, max_chars: int, separators: tuple[re.Pattern, ...]) -> list[str]:
    """Greedily pack the pieces between ``separators[0]`` into chunks of at most ``max_chars``."""
    if len(text) <= max_chars:
        return [text]
    if not separators:
        return [text[i : i + max_chars] for i in range(0, len(text), max_chars)]
    chunks: list[str] = []
    current = ""
    for piece in separators[0].split(text):
        for part in _split_long(piece, max_chars, separators[1:]):
            candidate = f"{current} {part}" if current else part
            if len(candidate) <= max_chars:
                current = candidate
            else:
                if current:
                    chunks.append(current)
                current = part
    if current:
        chunks.append(current)
    return chunks


def split_sentences(text: str, max_chars: int) -> list[str]:
    """Split long text into sentences, each at most ``max_chars`` characters (of ``text``, before cleaning).

    Sentences longer than ``max_chars`` are split at clause punctuation (, ; :), then between words, and a
    single word longer than ``max_chars`` is cut. Periods after abbreviations and initials do not end a sentence.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars}")
    text = _WHITESPACE.sub(" ", text).strip()
    if not text:
        raise InputError("text is empty: send at least one word")
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if _ends_sentence(text, match):
            sentences.append(text[start : match.end()].strip())
            start = match.end()
    sentences.append(text[start:].strip())
    chunks = []
    for sentence in filter(None, sentences):
        chunks += _split_long(sentence, max_chars, (_CLAUSE_BREAK, _WORD_BREAK))
    return chunks

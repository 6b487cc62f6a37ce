"""DeepLearningExamples' Tacotron2 text front-end: its symbol table, ``english_cleaners`` and ``text_to_sequence``.

NVIDIA's published Tacotron2 checkpoints were trained on these ids; a checkpoint hears text best through them. The
behaviour is DLE's (``PyTorch/SpeechSynthesis/Tacotron2/tacotron2/text``), step for step:

1. ``convert_to_ascii``: ASCII stays; other characters go through DLE's own transliteration table, which spells
   German umlauts out ("ü" -> "ue"), strips most other accents, maps typographic quotes and hyphens, and drops
   what it does not know, including "£", "—", "…", "%"-like signs outside ASCII, superscripts and fractions.
2. lower case;
3. ``normalize_numbers``, regular expressions in this order: commas inside numbers removed ("1,000" -> "1000");
   dollar amounts ("$3.50" -> "3 dollars, 50 cents"; the part after the point is read as a whole number of cents,
   so "$2.5" is "2 dollars, 5 cents"); decimals ("3.14" -> "3 point 14"); ordinals through inflect ("21st" ->
   "twenty-first"); numbers through inflect with hyphens and commas ("1234567" -> "one million, two hundred
   thirty-four thousand, five hundred sixty-seven"), those between 1000 and 3000 read as years ("1984" ->
   "nineteen eighty-four", "2005" -> "two thousand five", "1900" -> "nineteen hundred");
4. the 18 abbreviations ("mr." -> "mister", ...), each a case-insensitive ``\\bmr\\.``;
5. whitespace runs collapsed to one space (not trimmed).

``text_to_sequence`` takes ``{HH AH0 L OW1}`` spans as ARPAbet phones (the pattern does not cross a line break, as
DLE's does not) and drops every character that is not a symbol, and "_", the padding symbol.

Where DLE fails or says nothing, this module raises ``InputError`` instead: an unknown ARPAbet phone (DLE drops it
silently), a number beyond inflect's range (above 10^36; DLE raises), and text with nothing speakable. A malformed
dollar amount that DLE cannot parse ("$1,.5") is read as written, followed by "dollars".

Transliteration is DLE's table for Latin-1, Latin Extended-A, Greek, Cyrillic, General Punctuation, super- and
subscripts, currency signs, letter-like symbols, number forms, arrows and mathematical operators. Characters of
other scripts and symbol blocks, which DLE's table partly spells (mostly as look-alike letters) and partly drops,
are dropped here. The published checkpoints were trained on LJSpeech's English text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from triton_speech.runtime.errors import InputError

# Symbol table of the checkpoints; a token id is the index in SYMBOLS.
_PAD = "_"
_SPECIAL = "-"
_PUNCTUATION = "!'(),.:;? "
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ARPABET_PHONES = (
    "AA AA0 AA1 AA2 AE AE0 AE1 AE2 AH AH0 AH1 AH2 AO AO0 AO1 AO2 AW AW0 AW1 AW2 AY AY0 AY1 AY2 B CH D DH "
    "EH EH0 EH1 EH2 ER ER0 ER1 ER2 EY EY0 EY1 EY2 F G HH IH IH0 IH1 IH2 IY IY0 IY1 IY2 JH K L M N NG "
    "OW OW0 OW1 OW2 OY OY0 OY1 OY2 P R S SH T TH UH UH0 UH1 UH2 UW UW0 UW1 UW2 V W Y Z ZH"
).split()
SYMBOLS: list[str] = [_PAD, *_SPECIAL, *_PUNCTUATION, *_LETTERS, *("@" + phone for phone in ARPABET_PHONES)]
SYMBOL_TO_ID: dict[str, int] = {symbol: index for index, symbol in enumerate(SYMBOLS)}
# Ids that carry sound; a sequence of only punctuation and spaces has nothing to say.
SPOKEN_IDS = frozenset(SYMBOL_TO_ID[s] for s in SYMBOLS if s.isalpha() or s.startswith("@"))
# DLE never emits these even though "_" has an id.
_NEVER_EMITTED = {"_", "~"}

ABBREVIATIONS: list[tuple[str, str]] = [
    ("mrs", "misess"), ("mr", "mister"), ("dr", "doctor"), ("st", "saint"), ("co", "company"),
    ("jr", "junior"), ("maj", "major"), ("gen", "general"), ("drs", "doctors"), ("rev", "reverend"),
    ("lt", "lieutenant"), ("hon", "honorable"), ("sgt", "sergeant"), ("capt", "captain"),
    ("esq", "esquire"), ("ltd", "limited"), ("col", "colonel"), ("ft", "fort"),
]
_ABBREVIATION_PATTERNS = [(re.compile(rf"\b{short}\.", re.IGNORECASE), long) for short, long in ABBREVIATIONS]

# --- transliteration --------------------------------------------------------------------------------------------

# Latin letters (U+00C0-U+017F) lose their accents (the ASCII part of their compatibility decomposition), except
# these, which DLE spells otherwise,
_SPELLED = {
    "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Æ": "AE", "æ": "ae",
    "Ð": "D", "ð": "d", "Ø": "O", "ø": "o", "Þ": "TH", "þ": "th", "Đ": "D", "đ": "d", "ı": "i", "Ł": "L",
    "ł": "l", "ſ": "f",
}
# ... and these, which it drops (as it drops Œ, Ħ, Ŋ and Ŧ, which have no ASCII decomposition).
_DROPPED_LETTERS = frozenset("ĈĉĊċĔĕĜĝĠġĤĥĬĭĴĵĹĺĽľĿŀŉŌōŎŏŔŕŖŗŜŝŬŭŴŵŶŷŸ")
_LATIN_LETTERS = range(0xC0, 0x180)
# Signs and spaces DLE maps to ASCII (every other character outside ASCII and the Latin letters is dropped).
_SIGNS = {
    "\u00a0": " ", "¢": "c", "¥": "Y", "¨": '"', "´": "'", "¸": ",", "×": "x",
    **dict.fromkeys("\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f",
                    " "),
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "⁃": "-", "‘": "'", "’": "'", "‛": "'", "′": "'", "‵": "'",
    "‚": ",", "“": '"', "”": '"', "‟": '"', "․": ".", "‹": "<", "›": ">", "‽": "?!", "⁁": "/", "⁄": "/",
    "⁎": "*", "⁓": "~", "⁚": ":",
    "₠": "CE", "₡": "C", "₢": "Cr", "₣": "F", "₥": "m", "₦": "N", "₧": "Pt", "₨": "Rs", "₩": "W", "₫": "s",
    "€": "E", "₭": "K", "₮": "T", "₯": "Dp", "₰": "S", "₱": "P", "₲": "G", "₳": "A", "₴": "S", "₵": "C",
    "₶": "tt", "₷": "S", "₸": "T", "₹": "R", "₺": "L", "₽": "P", "₿": "B",
}

# Greek and Cyrillic letters, transliterated (as DLE's table does: modern Greek, "β" -> "v", but "Β" -> "B").
_SCRIPTS = {
    **dict(zip("ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΆΈΉΊΌΎΏΪΫ",
               "A B G D E Z I TH I K L M N KS O P R S T Y F X PS O A E I I O Y O I Y".split())),
    **dict(zip("αβγδεζηθικλμνξοπρσςτυφχψωάέήίόύώϊϋΐΰ",
               "a v g d e z i th i k l m n ks o p r s s t y f x ps o a e i i o y o i y i y".split())),
    "\u0374": "'", "\u0384": "'", "\u037a": "i", "\u037e": ";", "Ϳ": "J", "ϒ": "Y", "Ϝ": "F", "ϝ": "f", "Ϩ": "2",
    "ϱ": "p", "ϲ": "c", "ϳ": "j", "Ϲ": "C", "Ϻ": "M",
    **dict(zip("АБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЫЭЮЯЁЄЅІЇЈЉЊЌҐҮ",
               "A B V G D E Zh Z I Y K L M N O P R S T U F Kh Ts Ch Sh Sch Y E Yu Ya Yo Ye S I Yi J Lj Nj Kj G Y"
               .split())),
    **dict(zip("абвгдежзийклмнопрстуфхцчшщыэюяёєѕіїјљњќґү",
               "a b v g d e zh z i y k l m n o p r s t u f kh ts ch sh sch y e yu ya yo ye s i yi j lj nj kj g y"
               .split())),
    "ѡ": "w", "Ѵ": "V", "ѵ": "v", "һ": "h", "ҽ": "e", "Ӏ": "l", "ӏ": "i", "Ӡ": "3",
}

# Letter-like symbols, Roman numerals and mathematical operators DLE reads as the ASCII they look like (the rest of
# U+2100-U+22FF it drops): "ℂ" -> "C", "Ⅰ" -> "l", "−" -> "-".
_LOOK_ALIKES = {pair[0]: pair[1:] for pair in (
    "ℂC ℊg ℋH ℌH ℍH ℎh ℐl ℑl ℒL ℓl ℕN ℙP ℚQ ℛR ℜR ℝR ℤZ ℨZ \u212aK ℬB ℭC ℮e ℯe ℰE ℱF ℳM ℴo ℹi ℽy ⅅD ⅆd ⅇe ⅈi "
    "ⅉj Ⅰl ⅤV ⅩX ⅬL ⅭC ⅮD ⅯM ⅰi ⅴv ⅹx ⅼl ⅽc ⅾd −- ∕/ ∖\\ ∗* ∣l ∨v ∪U ∶: ∼~ ⊂C ⊤T ⋁v ⋃U ⋿E"
).split()}


@lru_cache(maxsize=4096)
def _ascii_of(character: str) -> str:
    if character in _SPELLED:
        return _SPELLED[character]
    if character in _SIGNS:
        return _SIGNS[character]
    if character in _SCRIPTS:
        return _SCRIPTS[character]
    if character in _LOOK_ALIKES:
        return _LOOK_ALIKES[character]
    if ord(character) in _LATIN_LETTERS and character not in _DROPPED_LETTERS and character.isalpha():
        return "".join(c for c in unicodedata.normalize("NFKD", character) if c.isascii())
    return ""


def convert_to_ascii(text: str) -> str:
    """DLE's transliteration (its ``unidecoder``): ASCII kept (but DEL), the rest spelled or dropped."""
    if text.isascii() and "\x7f" not in text:
        return text
    return "".join(c if ord(c) < 127 else _ascii_of(c) for c in text)


# --- numbers ------------------------------------------------------------------------------------------------------

_COMMA_NUMBER = re.compile(r"[0-9][0-9,]+[0-9]")
_DOLLARS = re.compile(r"\$([0-9.,]*[0-9]+)")
_DECIMAL = re.compile(r"[0-9]+\.[0-9]+")
_ORDINAL = re.compile(r"[0-9]+(st|nd|rd|th)")
_NUMBER = re.compile(r"[0-9]+")


@lru_cache(maxsize=1)
def _inflect():
    import inflect

    return inflect.engine()


def _words(number: int | str, **options) -> str:
    import inflect

    try:
        return _inflect().number_to_words(number, **options)
    except inflect.NumOutOfRangeError:
        raise InputError(f"the number {str(number)[:40]} is too long to read") from None


def _dollars(match: re.Match) -> str:
    amount = match.group(1)
    parts = amount.split(".")
    if len(parts) > 2 or not all(part.isdigit() for part in parts if part):
        return f"{amount} dollars"
    dollars = int(parts[0] or 0)
    cents = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    said = []
    if dollars:
        said.append(f"{dollars} {'dollar' if dollars == 1 else 'dollars'}")
    if cents:
        said.append(f"{cents} {'cent' if cents == 1 else 'cents'}")
    return ", ".join(said) or "zero dollars"


def _number(match: re.Match) -> str:
    number = int(match.group(0))
    if not 1000 < number < 3000:
        return _words(number, andword="")
    if number == 2000:
        return "two thousand"
    if 2000 < number < 2010:
        return "two thousand " + _words(number % 100)
    if number % 100 == 0:
        return _words(number // 100) + " hundred"
    return _words(number, andword="", zero="oh", group=2).replace(", ", " ")


def normalize_numbers(text: str) -> str:
    """DLE's number reading (see the module's docstring); expects lower-case ASCII. DLE's rule for "£" amounts is
    left out: its transliteration has removed every "£" before this runs."""
    text = _COMMA_NUMBER.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _DOLLARS.sub(_dollars, text)
    text = _DECIMAL.sub(lambda m: m.group(0).replace(".", " point "), text)
    text = _ORDINAL.sub(lambda m: _words(m.group(0)), text)
    return _NUMBER.sub(_number, text)


# --- cleaners and ids ----------------------------------------------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")
# DLE's pattern: "." does not match a line break, so neither a span before a "{" nor the text after a "}" reaches
# past one.
_CURLY = re.compile(r"(.*?)\{(.+?)\}(.*)")


def expand_abbreviations(text: str) -> str:
    for pattern, replacement in _ABBREVIATION_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def english_cleaners(text: str) -> str:
    """DLE's ``english_cleaners``: ASCII, lower case, numbers, abbreviations, whitespace runs as one space."""
    text = normalize_numbers(convert_to_ascii(text).lower())
    return _WHITESPACE.sub(" ", expand_abbreviations(text))


def symbol_ids(text: str) -> list[int]:
    """Ids of the symbols of cleaned ``text``; other characters, and the padding symbol, are dropped."""
    return [SYMBOL_TO_ID[c] for c in text if c in SYMBOL_TO_ID and c not in _NEVER_EMITTED]


def phone_ids(phones: str) -> list[int]:
    """Ids of space-separated ARPAbet phones; an unknown phone is an InputError."""
    ids = []
    for phone in phones.split():
        if "@" + phone not in SYMBOL_TO_ID:
            raise InputError(f"unknown ARPAbet phone {phone!r} in {{{phones}}}; known: {' '.join(ARPABET_PHONES)}")
        ids.append(SYMBOL_TO_ID["@" + phone])
    return ids


def require_speech(sequence: list[int], text: str) -> list[int]:
    """``sequence``, or an InputError when it has no letter or phone to say."""
    if not SPOKEN_IDS.intersection(sequence):
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise InputError(
            f"text {shown!r} has no characters the model can speak (English letters, digits or {{ARPAbet}} phones)"
        )
    return sequence


def text_to_sequence(text: str) -> list[int]:
    """DLE's ids of ``text``: ``english_cleaners`` between ``{ARPAbet}`` spans, phones within them."""
    sequence: list[int] = []
    remaining = text
    while remaining:
        match = _CURLY.match(remaining)
        if match is None:
            sequence += symbol_ids(english_cleaners(remaining))
            break
        sequence += symbol_ids(english_cleaners(match.group(1))) + phone_ids(match.group(2))
        remaining = match.group(3)
    return require_speech(sequence, text)

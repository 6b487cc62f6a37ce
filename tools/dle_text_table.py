"""Write the table of symbol ids that NVIDIA DeepLearningExamples' own Tacotron2 text code gives to a list of texts.

    python tools/dle_text_table.py --dle DLE/PyTorch/SpeechSynthesis/Tacotron2 [--output tests/data/...json]

``--dle`` is the Tacotron2 folder of a checkout of github.com/NVIDIA/DeepLearningExamples (its ``tacotron2/text``
package is imported from there and stays there: only the table is written), with ``inflect`` installed as DLE's
requirements ask, under Python 3.10 or older: DLE drops the padding symbol "_" by identity (``s is not '_'``),
which holds for a "_" taken from a string only up to Python 3.10 (DLE's containers ran 3.6-3.8; 3.11 keeps it).
The test of ``triton_speech.runtime.tts.dle_text`` (tests/runtime/tts/test_dle_text.py) checks the project's own
implementation against this table. Each entry: the text, DLE's ``english_cleaners`` of it and DLE's
``text_to_sequence(text, ["english_cleaners"])``. Besides the texts below, one entry per character of the blocks
whose transliteration the project reproduces, said between two digits ("1<c>2") so that what the character becomes
(nothing, a letter, a sign) shows in the ids.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import warnings
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "tacotron2_dle_ids.json"
# Latin-1 Supplement and Latin Extended-A, Greek and Cyrillic, General Punctuation to Currency Symbols, Letterlike
# Symbols to Mathematical Operators.
CHARACTER_RANGES = [(0x80, 0x180), (0x370, 0x500), (0x2000, 0x20D0), (0x2100, 0x2300)]

TEXTS = [
    # cardinal numbers
    "0", "7", "13", "20", "21", "42", "99", "100", "101", "110", "115", "999", "1000", "1001", "1010", "1100",
    "1234", "1999", "2000", "2001", "2009", "2010", "2019", "2099", "2999", "3000", "3001", "10000", "12345",
    "100000", "999999", "1000000", "1234567", "1000000000", "9876543210", "007", "0042",
    "I have 3 cats and 12 dogs.", "He was 42.", "Room 101 is on floor 7.", "-5 degrees", "5-10 people",
    "3/4 cup", "24/7", "10:30 am", "at 9:05, not 9:50", "the 1990s", "the 80s", "4x4", "A4 paper", "mp3 files",
    "R2D2", "1e5", "#1 hit", "No. 5", "It's 2 a.m.", "3 + 4 = 7", "2^10", "5 < 6 > 4", "100 km/h",
    "123456789012345678901234567890",
    # numbers with commas
    "1,000", "10,500 km", "1,234,567", "12,34", "1,2,3", "a 1,000,000 dollar idea", "1,000th", "1,5", "1,,000",
    # ordinals
    "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "100th", "101st", "111th",
    "1000th", "2000th", "the 1st. of May", "the 4TH time", "21St", "May 23rd, 1984", "the 20th century",
    "3rds", "1stop", "on the 2nd and 3rd floor",
    # years
    "in 1066", "in 1492", "in 1776", "in 1800", "in 1801", "in 1905", "in 1984", "in 2000", "in 2005",
    "in 2015", "in 2024", "in 2100", "in 2525", "from 1939 to 1945", "in 999", "in 3000", "1900s",
    # decimals
    "3.14", "0.5", ".5", "1.0", "10.05", "3.14159", "1.2.3", "version 2.0.1", "99.9 percent", "2.5 million",
    "0.001", "1,234.56", "pi is 3.14.",
    # currencies
    "$1", "$0.01", "$0.99", "$1.00", "$3.50", "$2.5", "$1,200", "$1,200.50", "$.50", "$5.", "$1.2.3",
    "$100 million", "$0", "$ 5", "5$", "US$5", "$3.14159", "It cost $20, not $25.", "£5", "£3.50", "£1,000",
    "costs $20 and £15", "€10", "¥100", "50¢", "the 50% discount", "₹500",
    # abbreviations
    "Mr. Smith", "Mrs. Jones", "Dr. Who", "St. Louis", "Smith & Co.", "John Smith Jr.", "Maj. Gen. Jones",
    "Drs. Smith and Jones", "Rev. King", "Lt. Dan", "Hon. Judge Brown", "Sgt. Pepper", "Capt. Hook",
    "John Smith, Esq.", "Acme Ltd.", "Col. Mustard", "Ft. Worth", "MR. BIG", "mr smith", "Dr.Who",
    "etc., e.g. and i.e.", "vs. them", "U.S.A.", "Prof. X", "Jan. 5th", "Mister. Smith", "misters.",
    "1st. St. 2nd. Ave.", "co-op", "The Co. and the co.",
    # punctuation
    'He said "hello" and left.', "It's John's book.", "(in brackets)", "[square] brackets", "a - b", "a--b",
    "wait... what?", "Really?!", "one; two: three", "a/b", "a\\b", "you & me", "me@example.com",
    "#hashtag", "*stars*", "x + y = z", "a|b", "~tilde~", "_under_score_", "`backtick`", "caret^", "Hi!!!",
    "!!!", "...", "   ", "", "?!", "tab\tseparated", "line\nbreak", "  spaces  around  ", "MiXeD CaSe",
    "ALL CAPS SHOUTING", "semi;colon", "comma,no,space", "end.", "'quoted'",
    # ARPAbet
    "{HH AH0 L OW1}", "Say {HH AH0 L OW1} now.", "{HH AH0 L OW1} {W ER1 L D}", "{HH AH0 L OW1} 2nd",
    "in {N UW1} york", "open {brace", "close} brace", "{}", "a {HH AH0}\nb", "a\n{HH AH0} b", "{HH AH0} b\nc",
    "Dr. {D AA1 K T ER0} Smith, $5", "{HH  AH0   L OW1}",
    # unicode
    "café", "naïve Zoë", "Über alles", "Straße", "Ångström", "Øresund", "façade", "jalapeño", "Ærø",
    "œuvre", "São Paulo", "Kraków", "Dvořák", "Łódź", "İstanbul", "Ĉu vi?", "Mötley Crüe",
    "\u201cQuoted\u201d \u2014 it\u2019s", "en\u2013dash", "wait\u2026", "\u00abguillemets\u00bb",
    "\u201egerman\u201c", "non\u00a0breaking", "zero\u200bwidth", "\u00a9 2020", "Brand\u00ae", "Name\u2122",
    "20\u00b0C", "\u00bd cup", "x\u00b2", "10\u00b5m", "3\u00d74", "8\u00f74", "Привет мир", "α-helix",
    "β-blocker", "\u03c0r\u00b2", "你好", "smile \U0001f642", "\ufb01ne", "\u2212 5", "5\u20ac", "H\u2082O",
    "bullet \u2022 point", "\u2018single\u2019", "caf\u0065\u0301",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dle", type=Path, required=True,
                        help="the Tacotron2 folder of a DeepLearningExamples checkout")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--commit", default="", help="the checkout's commit (default: git rev-parse in --dle)")
    args = parser.parse_args(argv)
    if sys.version_info >= (3, 11):
        parser.error("run this under Python 3.10 or older (see the module's docstring)")
    sys.path.insert(0, str(args.dle.resolve()))
    from importlib.metadata import version

    from tacotron2.text import cleaners, text_to_sequence

    commit = args.commit or subprocess.run(["git", "-C", str(args.dle), "rev-parse", "HEAD"], capture_output=True,
                                           text=True).stdout.strip()
    characters = [chr(c) for start, stop in CHARACTER_RANGES for c in range(start, stop)]
    texts = TEXTS + [f"1{c}2" for c in characters]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DLE warns once per text about characters it does not know
        entries = [{"text": text, "cleaned": cleaners.english_cleaners(text),
                    "ids": text_to_sequence(text, ["english_cleaners"])} for text in texts]
    table = {
        "source": f"NVIDIA/DeepLearningExamples@{commit or 'unknown'}:PyTorch/SpeechSynthesis/Tacotron2/tacotron2/"
                  "text (text_to_sequence, english_cleaners)",
        "made_with": f"python tools/dle_text_table.py --dle <checkout>/PyTorch/SpeechSynthesis/Tacotron2 "
                     f"(inflect {version('inflect')}, Python {platform.python_version()})",
        "texts": len(TEXTS),
        "characters": len(characters),
        "entries": entries,
    }
    lines = ",\n".join("  " + json.dumps(entry, ensure_ascii=False) for entry in entries)
    header = json.dumps({key: value for key, value in table.items() if key != "entries"}, ensure_ascii=False)[:-1]
    args.output.write_text(f"{header}, \"entries\": [\n{lines}\n]}}\n", encoding="utf-8")
    print(f"{len(entries)} entries -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""General English sentences for the default models, from text that installs from Debian with a license that
allows it, normalized the way the models read and write text.

    python -m triton_speech.training.text_corpus --output build/text

Sources (Debian packages; ``make setup`` installs them when root):

* ``wordnet-base`` (Princeton WordNet 3.0, WordNet 3.0 license: use, copy, modify and distribute for any
  purpose, keeping the copyright notice): the example sentences quoted in the glosses ("coffee and tea
  stimulate me") and the glosses' definitions ("cause to be alert and energetic").
* ``fortunes-min`` / ``fortunes`` (fortune-mod's quotation files, BSD-licensed collection): quotations, split
  into sentences; the attribution lines are dropped, and so are the art, code and foreign-language files.

Every sentence goes through the project's ``english_cleaners`` (ASCII, lower case, numbers and abbreviations
in words), then hyphens and dashes become spaces and other punctuation is removed; a sentence is kept when
only letters, apostrophes inside words and spaces are left and it has 3 to 30 words. Sentences are
deduplicated, shuffled with a seed and split into train and held-out by sentence (no held-out sentence
is in train). Deterministic: the same sources and seed give the same files.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

from triton_speech.runtime.tts.text import english_cleaners

WORDNET_DIR = Path("/usr/share/wordnet")
FORTUNES_DIR = Path("/usr/share/games/fortunes")
# Fortune files that are not prose sentences (pictures, program code, other languages, word play on
# symbols) or that are mostly names and jargon.
FORTUNE_SKIP = {"art", "ascii-art", "perl", "translate-me", "zippy", "debian", "linux", "linuxcookie",
                "computers", "startrek", "knghtbrd", "definitions", "paradoxum"}
MIN_WORDS, MAX_WORDS = 3, 30

_QUOTED = re.compile(r'"([^"]+)"')
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z0-9])")
_DASHES = re.compile(r"[-_/]+")
_DROP = re.compile(r"[!\"(),.:;?\[\]`{}*]")
_SPEAKABLE = re.compile(r"[a-z' ]+")


def normalize(text: str) -> str | None:
    """``text`` as the ASR writes it (lower-case words of ``a-z`` and ``'``), or None when it is not speakable
    that way (symbols left after cleaning) or has fewer than 3 or more than 30 words."""
    text = english_cleaners(text.strip())
    text = _DROP.sub(" ", _DASHES.sub(" ", text))
    words = [word.strip("'") for word in text.split()]
    words = [word for word in words if word]
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return None
    sentence = " ".join(words)
    return sentence if _SPEAKABLE.fullmatch(sentence) else None


def wordnet_texts(folder: Path = WORDNET_DIR) -> dict[str, list[str]]:
    """WordNet's gloss example sentences (quoted) and definitions (the rest of each gloss), raw."""
    examples, definitions = [], []
    for part in ("noun", "verb", "adj", "adv"):
        for line in (Path(folder) / f"data.{part}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or " | " not in line:  # the license header
                continue
            gloss = line.split(" | ", 1)[1]
            examples += _QUOTED.findall(gloss)
            for piece in _QUOTED.sub("", gloss).split(";"):
                if piece.strip(" ;"):
                    definitions.append(piece.strip(" ;"))
    return {"wordnet_examples": examples, "wordnet_definitions": definitions}


def fortune_texts(folder: Path = FORTUNES_DIR) -> dict[str, list[str]]:
    """Sentences of the fortune files (one quotation may give several), attributions dropped, raw."""
    sentences = []
    for path in sorted(Path(folder).iterdir()):
        if path.suffix or path.name in FORTUNE_SKIP or not path.is_file():
            continue
        for quote in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            lines = [line for line in quote.splitlines() if not line.strip().startswith(("--", "-- "))]
            prose = " ".join(line.strip() for line in lines if line.strip())
            sentences += [s for s in _SENTENCE_END.split(prose) if s]
    return {"fortunes": sentences}


def collect(wordnet_dir: Path = WORDNET_DIR, fortunes_dir: Path = FORTUNES_DIR) -> tuple[dict[str, list[str]], dict]:
    """Normalized, deduplicated sentences per source (a sentence counts for the first source that has it),
    and counts of what was read and kept."""
    raw = {}
    if Path(wordnet_dir).exists():
        raw.update(wordnet_texts(wordnet_dir))
    if Path(fortunes_dir).exists():
        raw.update(fortune_texts(fortunes_dir))
    if not raw:
        raise RuntimeError("no text source found: apt-get install wordnet-base fortunes-min (make setup does)")
    seen: set[str] = set()
    kept: dict[str, list[str]] = {}
    counts = {}
    for source, texts in raw.items():
        kept[source] = []
        for text in texts:
            sentence = normalize(text)
            if sentence and sentence not in seen:
                seen.add(sentence)
                kept[source].append(sentence)
        counts[source] = {"read": len(texts), "kept": len(kept[source]),
                          "words": sum(len(s.split()) for s in kept[source])}
    return kept, counts


def split(sentences: list[str], heldout: int, seed: int) -> tuple[list[str], list[str]]:
    """Shuffle (seeded) and split by sentence: ``heldout`` sentences held out, the rest for training."""
    order = sorted(set(sentences))
    random.Random(seed).shuffle(order)
    return order[heldout:], order[:heldout]


def build(output: Path, heldout: int = 2000, seed: int = 0, wordnet_dir: Path = WORDNET_DIR,
          fortunes_dir: Path = FORTUNES_DIR) -> dict:
    """Write ``train.txt``, ``heldout.txt`` (one sentence a line) and ``sources.json`` into ``output``."""
    kept, counts = collect(wordnet_dir, fortunes_dir)
    everything = [sentence for sentences in kept.values() for sentence in sentences]
    train, held = split(everything, heldout, seed)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "train.txt").write_text("".join(s + "\n" for s in train))
    (output / "heldout.txt").write_text("".join(s + "\n" for s in held))
    vocabulary = Counter(word for sentence in train for word in sentence.split())
    summary = {
        "sources": {
            "wordnet-base": "Princeton WordNet 3.0 (Debian wordnet-base), WordNet 3.0 license",
            "fortunes-min, fortunes": "fortune-mod quotation files (Debian), BSD-licensed collection",
        },
        "normalization": "english_cleaners, dashes to spaces, punctuation removed; kept: [a-z' ] only, "
                         f"{MIN_WORDS}-{MAX_WORDS} words; deduplicated",
        "per_source": counts, "seed": seed,
        "train": {"sentences": len(train), "words": sum(vocabulary.values()), "distinct_words": len(vocabulary)},
        "heldout": {"sentences": len(held), "words": sum(len(s.split()) for s in held)},
    }
    (output / "sources.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_speech.training.text_corpus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("build/text"))
    parser.add_argument("--heldout", type=int, default=2000, help="held-out sentences")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(build(args.output, args.heldout, args.seed), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

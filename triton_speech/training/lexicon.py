"""The word list (lexicon) of NeMo manifests: every word their transcripts contain, one per line, sorted.

    python -m export.lexicon build/data/train.json --output defaults/quartznet_small.lexicon.txt

A model trained on a closed domain (the default QuartzNet's template sentences) is decoded over the words it
was trained on: ``python -m ensembles --lexicon FILE`` (``make repository`` does this for the default model).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from triton_speech.corpus.manifest import read_manifest


def manifest_words(manifests: Iterable[Path]) -> list[str]:
    return sorted({word for manifest in manifests for item in read_manifest(manifest) for word in item["text"].split()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.lexicon", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifests", type=Path, nargs="+", metavar="MANIFEST")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    words = manifest_words(args.manifests)
    args.output.write_text("".join(word + "\n" for word in words))
    print(f"{len(words)} words from {len(args.manifests)} manifests -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

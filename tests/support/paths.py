"""Where the tests find the checkout, the shipped defaults and their own data."""

from __future__ import annotations

from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = REPOSITORY_ROOT / "defaults"

# The words of the default QuartzNet's training transcripts (python -m export.lexicon): `make repository` decodes
# the default model over them.
DEFAULT_LEXICON = DEFAULTS / "quartznet_small.lexicon.txt"
DATA = REPOSITORY_ROOT / "tests" / "data"

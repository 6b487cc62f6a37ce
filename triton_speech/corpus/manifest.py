"""NeMo manifests: one JSON object per line with ``audio_filepath``, ``duration`` and ``text``."""

from __future__ import annotations

import json
from pathlib import Path


def read_manifest(manifest: Path) -> list[dict]:
    """A NeMo manifest's lines; a relative audio path that does not exist from here is relative to the manifest."""
    manifest = Path(manifest)
    items = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    for item in items:
        path = Path(item["audio_filepath"])
        if not path.is_absolute() and not path.exists():
            item["audio_filepath"] = str(manifest.parent / path)
    return items


def write_manifest(manifest: Path, items: list[dict]) -> Path:
    """Write ``items`` as a NeMo manifest (one JSON object a line); returns its path."""
    manifest = Path(manifest)
    manifest.write_text("".join(json.dumps(item) + "\n" for item in items))
    return manifest

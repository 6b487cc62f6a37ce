"""Word error rate of an exported QuartzNet on a NeMo manifest, overall and per voice, in-process.

    python -m export.evaluate_asr --export build/export/quartznet --manifest tests/data/asr_heldout/manifest.json
    python -m export.evaluate_asr --demo-voice 120 --exclude build/data/train.json --lexicon words.txt

Runs the code the served ``asr`` ensemble runs (front-end, ONNX Runtime, CTC decoding), without a server, so it
can watch a training run; the shipped number is measured through the server (tests/integration/test_default_asr.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import jiwer
from tqdm import tqdm

from triton_speech.client.audio import load_audio
from triton_speech.corpus.manifest import read_manifest, write_manifest
from triton_speech.corpus.templates import DEMO_ASR_TEXT, sentences
from triton_speech.corpus.voices import DEMO_VOICE, speak
from triton_speech.defaults import ASR_SAMPLE_RATE
from triton_speech.runtime.asr.pipeline import ASRPipeline


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
        hypotheses += pipeline.transcribe([load_audio(item["audio_filepath"], ASR_SAMPLE_RATE) for item in batch])
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


def demo_voice_set(output: Path, count: int, seed: int, exclude: list[Path]) -> Path:
    """``count`` template sentences outside the ``exclude`` manifests (and the demo's), spoken as `make demo`
    speaks its sample; a NeMo manifest in ``output``. Measures the conditions a newcomer sees."""
    import soundfile

    excluded = {item["text"] for manifest in exclude for item in read_manifest(manifest)} | {DEMO_ASR_TEXT}
    output.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, text in enumerate(tqdm(sentences(count, seed, exclude=excluded), desc="speak", unit="sentence")):
        path = output / f"{index:04d}.wav"
        soundfile.write(path, speak(text, DEMO_VOICE, ASR_SAMPLE_RATE), ASR_SAMPLE_RATE)
        lines.append({"audio_filepath": path.name, "text": text, "voice": "en-us"})
    return write_manifest(output / "manifest.json", lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.evaluate_asr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, default=Path("build/export/quartznet"))
    parser.add_argument("--manifest", type=Path, default=Path("tests/data/asr_heldout/manifest.json"))
    parser.add_argument("--limit", type=int, default=None, help="first N utterances only")
    parser.add_argument("--lexicon", type=Path, default=None, help="decode over this word list (else greedy)")
    parser.add_argument("--demo-voice", type=int, metavar="N",
                        help="instead of --manifest: N unseen sentences spoken as make demo speaks (en-us, 150 wpm)")
    parser.add_argument("--seed", type=int, default=777, help="sentence seed of --demo-voice")
    parser.add_argument("--exclude", type=Path, action="append", default=[], metavar="MANIFEST",
                        help="with --demo-voice: training manifests whose sentences are not used (repeatable)")
    parser.add_argument("--output", type=Path, default=Path("build/demo_voice"), help="where --demo-voice speaks")
    args = parser.parse_args(argv)
    if args.demo_voice:
        args.manifest = demo_voice_set(args.output, args.demo_voice, args.seed, args.exclude)
    print(json.dumps(evaluate(args.export, args.manifest, args.limit, lexicon=args.lexicon), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

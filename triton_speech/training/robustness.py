"""The template ASR's robustness set and its evaluation: what recordings of the model's domain hold beyond one clean
sentence, in voices and sentence patterns no training run uses.

    python -m triton_speech.training.robustness build --output tests/data/asr_robustness
    python -m triton_speech.training.robustness evaluate --nemo defaults/quartznet_small.nemo --output result.json

Kinds of clip (``kind`` in the manifest), all 16 kHz mono PCM16:

- ``heldout_templates``: one sentence of a template no training corpus uses (``templates.HELD_OUT_TEMPLATES``);
- ``new_combinations``: the templates' words in orders no template makes: hand-written sentences
  (``templates.NEW_COMBINATIONS``) and random word sequences;
- ``multi_sentence``: 2 or 3 sentences with 0.2-2 s of pause between them in one clip;
- ``silence``: one sentence with 1-3 s of near silence (a -70 to -50 dBFS noise floor) before and after it;
- ``noise``: 3 s of white, pink or brown noise at -50 to -30 dBFS and no speech (the truth is no word at all);
- ``word_boundaries``: a sentence spoken word by word, each word alone, trimmed to its speech (from its first to its
  last 10 ms frame within ``asr_data.TRIM_DB`` = 40 dB of its loudest frame) and joined with known pauses of
  0.05-0.5 s after 0.5-1.5 s of near silence: each word's true start and end come from how the clip was made.

The sentences of the several-sentence, silence and word-boundary clips are held-out template sentences and the
sentences of tests/data/asr_heldout (template sentences every training corpus excludes). Voices: espeak-ng's voices
with the held-out accent (en-029) or a held-out variant (f4, m6) for every kind; the one-sentence kinds also in the
held-out voices of other synthesizers (flite slt, festival ked_diphone and cmu_us_slt_arctic_hts), scored apart.
Seeded: the same arguments give the same set.

``evaluate`` exports a ``.nemo`` (``python -m export quartznet``) and scores it in-process with the served code
(``ASRPipeline``), greedy and over the lexicon, against the targets in ``TARGETS`` (JSON out).
"""

from __future__ import annotations

import argparse
import difflib
import random
import sys
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import jiwer
import numpy as np
import soundfile
from tqdm import tqdm

from triton_speech.corpus.manifest import read_manifest, write_manifest
from triton_speech.corpus.templates import HELD_OUT_TEMPLATES, NEW_COMBINATIONS, random_words, sentences, vocabulary
from triton_speech.corpus.voices import Voice, speak_to_file
from triton_speech.training.asr_data import (
    ACCENTS,
    HELD_OUT_ACCENTS,
    HELD_OUT_VARIANTS,
    HELDOUT_VOICES,
    SAMPLE_RATE,
    TRIM_DB,
    noise_signal,
    speak_parts,
)
from triton_speech.training.evaluate_general import export_nemo, report

DEFAULT_SET = Path("tests/data/asr_robustness")
DEFAULT_LEXICON = Path("defaults/quartznet_small.lexicon.txt")
TEMPLATE_HELDOUT = Path("tests/data/asr_heldout/manifest.json")
SPEECH_KINDS = ("heldout_templates", "new_combinations", "multi_sentence", "silence", "word_boundaries")
KINDS = (*SPEECH_KINDS[:4], "noise", SPEECH_KINDS[4])
# (what is measured, bound, "max" or "min"): the WERs on espeak-ng's held-out voices over the lexicon (as served)
TARGETS = {
    "heldout_templates_wer": (0.04, "max"),
    "new_combinations_wer": (0.10, "max"),
    "multi_sentence_wer": (0.06, "max"),
    "silence_wer": (0.06, "max"),
    "noise_clips_without_words": (9, "min"),
    "word_boundary_median_s": (0.100, "max"),
    "word_boundary_p95_s": (0.250, "max"),
}
# Clips per kind (espeak-ng voices; the other synthesizers' voices add OTHER_PER_VOICE each to the one-sentence kinds)
COUNTS = {"heldout_templates": 20, "new_combinations": 21, "multi_sentence": 8, "silence": 8, "noise": 10,
          "word_boundaries": 8}
OTHER_PER_VOICE = 2
NOISE_COLORS = ("white", "pink", "brown")


def espeak_heldout_voices() -> list[str]:
    """espeak-ng voices no training corpus uses: every accent with a held-out variant, the held-out accent alone."""
    return [f"{accent}+{variant}" for accent in HELD_OUT_ACCENTS + ACCENTS for variant in HELD_OUT_VARIANTS] + \
        HELD_OUT_ACCENTS


def _espeak_voice(rng: random.Random) -> Voice:
    return Voice.espeak(rng.choice(espeak_heldout_voices()), rng.randint(140, 185), pitch=rng.randint(30, 70))


def _other_voices(rng: random.Random) -> list[Voice]:
    return [Voice(family, name, speed=round(rng.uniform(0.9, 1.1), 2))
            for family, names in HELDOUT_VOICES.items() if family != "espeak-ng" for name in names]


def _floor(seconds: float, rng: np.random.Generator, low: float = -70, high: float = -50) -> tuple[np.ndarray, dict]:
    color, level = str(rng.choice(NOISE_COLORS)), round(float(rng.uniform(low, high)), 1)
    return noise_signal(color, seconds + 1 / SAMPLE_RATE, rng, level)[: int(round(seconds * SAMPLE_RATE))], \
        {"floor": color, "floor_db": level}


def _spoken(parts: Sequence[str], gaps: Sequence[float], voice: Voice, trim: bool = True) -> tuple[np.ndarray, list]:
    """``parts`` spoken one by one, trimmed and joined with ``gaps`` (``trim`` False: one part as the synthesizer
    speaks it), at 16 kHz; each part's (start, end) in seconds."""
    from triton_speech.client.audio import load_audio

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "spoken.wav"
        if not trim:
            speak_to_file(" ".join(parts), voice, wav)
            return load_audio(wav, SAMPLE_RATE), []
        spans = speak_parts(tuple(parts), tuple(gaps), voice, wav)
        return load_audio(wav, SAMPLE_RATE), spans


def _with_floor(speech: np.ndarray, before: float, after: float, rng: np.random.Generator,
                low: float = -70, high: float = -50) -> tuple[np.ndarray, dict]:
    """``speech`` with ``before``/``after`` seconds of pause, all of it over one noise floor."""
    audio = np.concatenate([np.zeros(int(round(before * SAMPLE_RATE))), speech,
                            np.zeros(int(round(after * SAMPLE_RATE)))])
    floor, info = _floor(len(audio) / SAMPLE_RATE, rng, low, high)
    return audio + np.pad(floor, (0, len(audio) - len(floor))), info


def plan(seed: int = 0) -> list[dict]:
    """What each clip says and how it is made (no audio): the manifest lines without paths and durations."""
    rng = random.Random(f"robustness {seed}")
    heldout_template = sentences(200, seed, templates=HELD_OUT_TEMPLATES)
    template_heldout = [item["text"] for item in read_manifest(TEMPLATE_HELDOUT)]
    rng.shuffle(template_heldout)
    hand_written = list(NEW_COMBINATIONS)
    rng.shuffle(hand_written)
    others = _other_voices(rng)
    words = vocabulary()
    clips = []

    def add(kind: str, text: str, voice: Voice | None, **how) -> None:
        clips.append({"kind": kind, "text": text, "voice": voice.label if voice else "", "family":
                      voice.family if voice else "", "speed": voice.speed if voice else 1.0,
                      "pitch": voice.pitch if voice else None, **how})

    single = iter(heldout_template)
    for _ in range(COUNTS["heldout_templates"]):
        add("heldout_templates", next(single), _espeak_voice(rng), source="held-out template")
    for voice in others:
        for _ in range(OTHER_PER_VOICE):
            add("heldout_templates", next(single), voice, source="held-out template")
    written = iter(hand_written)
    for index in range(COUNTS["new_combinations"]):
        random_sequence = index % 3 == 2  # a third random word sequences, the rest hand-written
        text = random_words(rng, words, 4, 8) if random_sequence else next(written)
        add("new_combinations", text, _espeak_voice(rng), source="random words" if random_sequence else "hand-written")
    for voice in others:
        for _ in range(OTHER_PER_VOICE):
            add("new_combinations", next(written), voice, source="hand-written")
    # Held-out template sentences and tests/data/asr_heldout's, alternately
    mixed_sources = iter(s for pair in zip(single, template_heldout) for s in pair)
    for _ in range(COUNTS["multi_sentence"]):
        parts = [next(mixed_sources) for _ in range(rng.choice([2, 3]))]
        add("multi_sentence", " ".join(parts), _espeak_voice(rng), sentences=parts,
            pauses_s=[round(rng.uniform(0.2, 2.0), 2) for _ in parts[1:]],
            before_s=round(rng.uniform(0.1, 0.4), 2), after_s=round(rng.uniform(0.1, 0.4), 2))
    for _ in range(COUNTS["silence"]):
        text = next(mixed_sources)
        add("silence", text, _espeak_voice(rng), sentences=[text], before_s=round(rng.uniform(1.0, 3.0), 2),
            after_s=round(rng.uniform(1.0, 3.0), 2))
    for index in range(COUNTS["noise"]):
        add("noise", "", None, noise=NOISE_COLORS[index % len(NOISE_COLORS)],
            level_db=round(rng.uniform(-50, -30), 1), seconds=3.0)
    for _ in range(COUNTS["word_boundaries"]):
        text = next(mixed_sources)
        add("word_boundaries", text, _espeak_voice(rng), sentences=[text],
            pauses_s=[round(rng.uniform(0.05, 0.5), 2) for _ in text.split()[1:]],
            before_s=round(rng.uniform(0.5, 1.5), 2), after_s=round(rng.uniform(0.5, 1.5), 2))
    return clips


def _voice(clip: dict) -> Voice:
    family, _, name = clip["voice"].partition(":")
    return Voice(family, name, speed=clip["speed"], pitch=clip["pitch"])


def render(clip: dict, index: int, seed: int) -> tuple[np.ndarray, dict]:
    """A planned clip's 16 kHz audio and what its manifest line adds (the noise floor, the words' times)."""
    rng = np.random.default_rng(zlib.crc32(f"{seed}|{index}|{clip['kind']}|{clip['text']}".encode()))
    kind = clip["kind"]
    if kind == "noise":
        return noise_signal(clip["noise"], clip["seconds"], rng, clip["level_db"]), {}
    if kind in ("heldout_templates", "new_combinations"):
        return _spoken([clip["text"]], [], _voice(clip), trim=False)[0], {}
    parts = clip["text"].split() if kind == "word_boundaries" else clip["sentences"]
    speech, spans = _spoken(parts, clip.get("pauses_s", []), _voice(clip))
    audio, extra = _with_floor(speech, clip["before_s"], clip["after_s"], rng)
    if kind == "word_boundaries":
        extra["words"] = [[word, round(clip["before_s"] + start, 4), round(clip["before_s"] + end, 4)]
                          for word, (start, end) in zip(parts, spans)]
        extra["trim_db"] = TRIM_DB
    return audio, extra


def build(output: Path, seed: int = 0) -> Path:
    """Write the set (FLAC PCM16 files and ``manifest.json``) into ``output``."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    lines = []
    for index, clip in enumerate(tqdm(plan(seed), desc="robustness set", unit="clip")):
        audio, extra = render(clip, index, seed)
        name = f"{clip['kind']}_{index:03d}.flac"
        soundfile.write(output / name, np.clip(audio, -1, 1).astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
        lines.append({"audio_filepath": name, "duration": round(len(audio) / SAMPLE_RATE, 3), **clip, **extra})
    return write_manifest(output / "manifest.json", lines)


def _wer(references: list[str], hypotheses: list[str]) -> float | None:
    if not references:
        return None
    return round(jiwer.process_words(references, [h if h else "" for h in hypotheses]).wer, 4)


def boundary_errors(truth: Sequence[Sequence], heard: Sequence) -> list[tuple[float, float]]:
    """(start error, end error) in seconds of each heard word matched to a true word ``(text, start_s, end_s)``
    (the longest matching runs of equal words, in order)."""
    matcher = difflib.SequenceMatcher(None, [w[0] for w in truth], [w.text for w in heard], autojunk=False)
    return [(abs(heard[b + k].start_s - truth[a + k][1]), abs(heard[b + k].end_s - truth[a + k][2]))
            for a, b, size in matcher.get_matching_blocks() for k in range(size)]


def score(items: Sequence[dict], transcripts: Sequence) -> dict:
    """Each kind's numbers for the robustness set's ``items`` (manifest lines) and what a recognizer made of them
    (``Transcript``s with word times; ``raw`` is scored). WERs are espeak-ng's held-out voices' unless named."""
    if len(items) != len(transcripts):
        raise ValueError(f"{len(items)} clips but {len(transcripts)} transcripts")
    groups: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(items):
        groups[item["kind"]].append(index)
    result = {}

    def wer_of(indices: list[int]) -> float | None:
        return _wer([items[i]["text"] for i in indices], [transcripts[i].raw for i in indices])

    for kind in SPEECH_KINDS:
        indices = groups.get(kind, [])
        espeak = [i for i in indices if items[i]["family"] == "espeak-ng"]
        other = [i for i in indices if items[i]["family"] != "espeak-ng"]
        numbers = {"clips": len(espeak), "wer": wer_of(espeak)}
        for source in sorted({items[i].get("source") for i in espeak} - {None}):
            numbers[f"wer {source}"] = wer_of([i for i in espeak if items[i].get("source") == source])
        if other:
            numbers["other_synthesizers"] = {"clips": len(other), "wer": wer_of(other), **{
                family: wer_of([i for i in other if items[i]["family"] == family])
                for family in sorted({items[i]["family"] for i in other})}}
        numbers["errors"] = [[items[i]["text"], transcripts[i].raw] for i in indices
                             if transcripts[i].raw != items[i]["text"]]
        result[kind] = numbers
    noise = groups.get("noise", [])
    result["noise"] = {"clips": len(noise),
                       "clips_without_words": sum(not transcripts[i].raw.split() for i in noise),
                       "words": sum(len(transcripts[i].raw.split()) for i in noise),
                       "heard": [transcripts[i].raw for i in noise if transcripts[i].raw]}
    errors = [pair for i in groups.get("word_boundaries", []) if transcripts[i].words is not None
              for pair in boundary_errors(items[i]["words"], transcripts[i].words)]
    truth_words = sum(len(items[i]["words"]) for i in groups.get("word_boundaries", []))
    both = [e for pair in errors for e in pair]
    result["word_boundaries"].update({
        "words": truth_words, "matched": len(errors),
        "median_s": round(float(np.median(both)), 4) if both else None,
        "p95_s": round(float(np.percentile(both, 95)), 4) if both else None,
        "start_median_s": round(float(np.median([s for s, _ in errors])), 4) if errors else None,
        "end_median_s": round(float(np.median([e for _, e in errors])), 4) if errors else None,
    })
    return result


def targets(scored: dict) -> dict:
    """Each target of ``TARGETS`` with the measured value and whether it is met (a missing value is not)."""
    values = {
        "heldout_templates_wer": scored["heldout_templates"]["wer"],
        "new_combinations_wer": scored["new_combinations"]["wer"],
        "multi_sentence_wer": scored["multi_sentence"]["wer"],
        "silence_wer": scored["silence"]["wer"],
        "noise_clips_without_words": scored["noise"]["clips_without_words"],
        "word_boundary_median_s": scored["word_boundaries"]["median_s"],
        "word_boundary_p95_s": scored["word_boundaries"]["p95_s"],
    }
    return {name: {"value": values[name], "bound": bound, "met": values[name] is not None and (
        values[name] <= bound if kind == "max" else values[name] >= bound)} for name, (bound, kind) in TARGETS.items()}


def load_set(data: Path = DEFAULT_SET) -> tuple[list[dict], list[np.ndarray]]:
    from triton_speech.client.audio import load_audio

    items = read_manifest(Path(data) / "manifest.json")
    return items, [load_audio(item["audio_filepath"], SAMPLE_RATE) for item in items]


def recognize_all(pipeline, audio: Sequence[np.ndarray], batch: int = 8) -> list:
    """``pipeline.recognize`` with word times over all clips, ``batch`` clips of similar length at a time."""
    order = sorted(range(len(audio)), key=lambda i: len(audio[i]))
    results = [None] * len(audio)
    for first in tqdm(range(0, len(order), batch), desc="recognize", unit="batch"):
        chunk = order[first : first + batch]
        for index, transcript in zip(chunk, pipeline.recognize([audio[i] for i in chunk], words=True)):
            results[index] = transcript
    return results


def evaluate(export_dir: Path, data: Path = DEFAULT_SET, lexicon: Path | None = DEFAULT_LEXICON) -> dict:
    """An exported QuartzNet's numbers on the set: greedy and (as served) over ``lexicon``; targets on the latter."""
    from triton_speech.runtime.asr.pipeline import ASRPipeline

    items, audio = load_set(data)
    result = {"set": str(data), "clips": len(items), "lexicon": str(lexicon) if lexicon else None}
    for name, words in (("greedy", None), ("lexicon", lexicon)):
        if name == "lexicon" and words is None:
            continue
        result[name] = score(items, recognize_all(ASRPipeline.from_export(export_dir, lexicon=words), audio))
    decoded = result["lexicon"] if lexicon else result["greedy"]
    result["targets"] = targets(decoded)
    result["targets_met"] = f"{sum(t['met'] for t in result['targets'].values())}/{len(TARGETS)}"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_speech.training.robustness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="speak the set")
    make.add_argument("--output", type=Path, default=DEFAULT_SET)
    make.add_argument("--seed", type=int, default=0)
    judge = commands.add_parser("evaluate", help="score a model on the set (JSON)")
    model = judge.add_mutually_exclusive_group(required=True)
    model.add_argument("--nemo", type=Path, help="a QuartzNet .nemo (exported into --work first)")
    model.add_argument("--export", type=Path, help="an export directory (python -m export quartznet --output)")
    judge.add_argument("--data", type=Path, default=DEFAULT_SET)
    judge.add_argument("--lexicon", type=Path, default=DEFAULT_LEXICON, help="word list of lexicon decoding")
    judge.add_argument("--work", type=Path, default=Path("build/robustness"), help="where --nemo is exported")
    judge.add_argument("--output", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.command == "build":
        manifest = build(args.output, args.seed)
        size = sum(path.stat().st_size for path in args.output.iterdir()) / 2**20
        print(f"{len(read_manifest(manifest))} clips, {size:.1f} MiB -> {manifest}", file=sys.stderr)
        return 0
    export_dir = args.export
    if args.nemo is not None:
        export_dir = export_nemo(args.nemo, args.work / args.nemo.with_suffix("").name)
    result = {"model": str(args.nemo or args.export), **evaluate(export_dir, args.data, args.lexicon)}
    report(result, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""perf_analyzer ``--input-data`` JSON: spoken audio files in length buckets, and sentences.

    python -m benchmarks.inputs --output build/bench/inputs [--seconds 2 5 10 20] [--clips 4] [--audio a.wav ...]

writes the clips as WAV files (``audio/<L>s_<i>.wav``, the files every ASR benchmark reads) and, read back
from those files, ``asr_<L>s.json`` per length bucket, ``punctuator.json`` and ``tts.json`` (and
``asr_files.json`` from ``--audio`` files). One ``data`` entry per request: perf_analyzer cycles through
them. Variable dims need a ``shape`` per input; FP32 audio is base64 of little-endian floats (``b64``),
exact and half the size of a JSON list; BYTES tensors are lists of strings.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triton_speech.benchmarks import audio
from triton_speech.benchmarks.punctuation import TEXTS
from triton_speech.client.audio import load_audio

SAMPLE_RATE = 16000
# TTS requests: one sentence each (no sentence splitting), so each decodes exactly the frames it is given.
TTS_SENTENCES = [sentence.capitalize() + "." for sentence in audio.SENTENCES]


def audio_entry(samples: np.ndarray) -> dict:
    """One ``asr`` request: ``AUDIO`` FP32 ``[N]`` (batch 1 is perf_analyzer's own dimension)."""
    samples = np.asarray(samples, dtype="<f4")
    return {"AUDIO": {"b64": base64.b64encode(samples.tobytes()).decode("ascii"), "shape": [int(samples.shape[0])]}}


def features_entry(features: np.ndarray) -> dict:
    """One ``quartznet`` request: ``FEATURES`` FP32 ``[n_mels, T]`` and ``FEATURES_LENGTH`` INT64 ``[1]``."""
    features = np.asarray(features, dtype="<f4")
    return {"FEATURES": {"b64": base64.b64encode(features.tobytes()).decode("ascii"), "shape": list(features.shape)},
            "FEATURES_LENGTH": {"content": [int(features.shape[1])], "shape": [1]}}


def features_input_data(paths: Sequence[Path], export_dir: Path, output: Path) -> Path:
    """``--input-data`` JSON of the features of audio files by an export's front-end: the acoustic model alone."""
    from triton_speech.runtime.asr.features import OnnxMelFrontend

    features = OnnxMelFrontend.load(export_dir)([load_audio(path, SAMPLE_RATE) for path in paths])
    return write_json([features_entry(item) for item in features], output)


def text_entry(text: str) -> dict:
    """One ``punctuator`` or ``tts`` request: ``TEXT`` BYTES ``[1]``."""
    return {"TEXT": {"content": [text], "shape": [1]}}


def decode(entry: Mapping) -> np.ndarray:
    """The tensor of one input of an entry (inverse of ``audio_entry``/``text_entry``), shaped as declared."""
    if "b64" in entry:
        values = np.frombuffer(base64.b64decode(entry["b64"]), dtype="<f4")
    else:
        values = np.array(entry["content"], dtype=object)
    return values.reshape(entry["shape"])


def write_json(entries: Sequence[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"data": list(entries)}))
    return path


def audio_input_data(paths: Sequence[Path], output: Path) -> Path:
    """``--input-data`` JSON of audio files (any format and rate ``load_audio`` reads), one request each."""
    return write_json([audio_entry(load_audio(path, SAMPLE_RATE)) for path in paths], output)


def write_clips(seconds: Sequence[float], per_bucket: int, folder: Path) -> dict[float, list[Path]]:
    """WAV files (float32, 16 kHz, so reading them back gives the exact samples) of spoken clips per length."""
    import soundfile

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for length, clips in audio.buckets(tuple(seconds), per_bucket, SAMPLE_RATE).items():
        paths[length] = [folder / f"{length:g}s_{i}.wav" for i in range(len(clips))]
        for path, clip in zip(paths[length], clips):
            soundfile.write(path, clip, SAMPLE_RATE, subtype="FLOAT")
    return paths


@dataclass(frozen=True)
class InputData:
    """What ``write_all`` wrote: WAV files and ``--input-data`` JSON per clip length, and the text inputs."""

    audio: dict[float, list[Path]]
    asr: dict[float, Path]
    punctuator: Path
    tts: Path
    files: Path | None = None  # asr_files.json of the --audio files


def write_all(output: Path, seconds: Sequence[float], per_bucket: int, audio_files: Sequence[Path] = ()) -> InputData:
    """All input-data files in ``output``: ``audio/<L>s_<i>.wav``, ``asr_<L>s.json``, ``punctuator.json``,
    ``tts.json`` (and ``asr_files.json`` of ``audio_files``)."""
    clips = write_clips(seconds, per_bucket, output / "audio")
    return InputData(
        audio=clips,
        asr={length: audio_input_data(paths, output / f"asr_{length:g}s.json") for length, paths in clips.items()},
        punctuator=write_json([text_entry(t) for t in TEXTS], output / "punctuator.json"),
        tts=write_json([text_entry(t) for t in TTS_SENTENCES], output / "tts.json"),
        files=audio_input_data(audio_files, output / "asr_files.json") if audio_files else None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inputs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("build/bench/inputs"))
    parser.add_argument("--seconds", type=float, nargs="+", default=[2.0, 5.0, 10.0, 20.0])
    parser.add_argument("--clips", type=int, default=4, help="different clips per length")
    parser.add_argument("--audio", type=Path, nargs="*", default=[], help="audio files for asr_files.json")
    args = parser.parse_args(argv)
    written = write_all(args.output, args.seconds, args.clips, args.audio)
    for path in [*written.asr.values(), written.punctuator, written.tts, written.files]:
        if path is not None:
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

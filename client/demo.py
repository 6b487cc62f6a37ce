"""``make demo``: start Triton on the built repository, transcribe a synthesized sample, stop.

The sample is spoken by espeak-ng when it is installed (``make setup`` installs it), else a
speech-like test signal is used and the demo says so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile

from client.asr import ASRClient
from triton_speech.audio import load_audio
from triton_speech.server import TritonServer

SAMPLE_TEXT = "the quick brown fox jumps over the lazy dog"


def make_sample(path: Path) -> str:
    """Write a 16 kHz sample to ``path``; returns what it says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    espeak = shutil.which("espeak-ng")
    if espeak:
        spoken = path.with_suffix(".espeak.wav")  # espeak-ng writes 22050 Hz
        subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", str(spoken), SAMPLE_TEXT], check=True)
        soundfile.write(path, load_audio(spoken, 16000), 16000)
        spoken.unlink()
        return SAMPLE_TEXT
    print("espeak-ng is not installed: using a synthetic test signal instead of speech", file=sys.stderr)
    t = np.arange(32000) / 16000
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 2 * t) ** 2).astype(np.float32), 16000)
    return "(a test tone)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--sample", type=Path, default=Path("samples/demo.wav"))
    args = parser.parse_args(argv)

    said = make_sample(args.sample)
    print(f"Starting Triton on {args.model_repository} ...", flush=True)
    started = time.perf_counter()
    with TritonServer(args.model_repository) as server:
        print(f"Ready in {time.perf_counter() - started:.1f} s (gRPC {server.grpc_url}, HTTP {server.http_url})")
        client = ASRClient(server.grpc_url)
        started = time.perf_counter()
        transcript = client.transcribe_file(args.sample)
        elapsed = time.perf_counter() - started
        print(f"\nASR  {args.sample} says: {said!r}")
        print(f"     transcript: {transcript!r}  ({elapsed * 1000:.0f} ms over gRPC)")
        info_path = args.model_repository / "quartznet" / "1" / "export.json"
        if info_path.exists() and json.loads(info_path.read_text()).get("random_weights"):
            print("     (QuartzNet has RANDOM weights: the transcript is noise. Export a real .nemo:"
                  " make export QUARTZNET_NEMO=path/to/QuartzNet15x5Base-En.nemo)")
    print("Triton stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``make demo``: start Triton on the built repository, transcribe a spoken sample, synthesize speech, stop.

The sample is spoken by espeak-ng when it is installed (``make setup`` installs it), else a
speech-like test signal is used and the demo says so.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import soundfile

from triton_speech.benchmarks.warmup import steady_ms
from triton_speech.client.asr import ASRClient
from triton_speech.client.audio import load_audio
from triton_speech.client.tts import TTSClient
from triton_speech.corpus import voices
from triton_speech.corpus.templates import DEMO_ASR_TEXT, DEMO_TTS_TEXT
from triton_speech.corpus.voices import DEMO_VOICE
from triton_speech.defaults import ASR_SAMPLE_RATE
from triton_speech.server import TritonServer

# Requests after the first whose median the demo prints as the steady state.
STEADY_REPEATS = 3


def speak(text: str, path: Path) -> None:
    """``text`` spoken as the demo speaks it, 16 kHz, to ``path``."""
    soundfile.write(path, voices.speak(text, DEMO_VOICE, ASR_SAMPLE_RATE), ASR_SAMPLE_RATE)


def make_sample(path: Path) -> str:
    """Write a 16 kHz sample to ``path``; returns what it says."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("espeak-ng"):
        speak(DEMO_ASR_TEXT, path)
        return DEMO_ASR_TEXT
    print("espeak-ng is not installed: using a synthetic test signal instead of speech", file=sys.stderr)
    t = np.arange(32000) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) * np.sin(2 * np.pi * 2 * t) ** 2
    soundfile.write(path, tone.astype(np.float32), 16000)
    return "(a test tone)"


def round_trip(text: str, asr: ASRClient, tts: TTSClient, wav: Path) -> dict[str, str]:
    """``text`` said by the served tts (written to ``wav``) and by espeak-ng, each transcribed by the served asr and,
    with the judge extra, by Whisper (an ear this project did not train); prints and returns the transcripts."""
    from triton_speech.training.judge import score

    speech = tts.synthesize(text, seed=0)
    soundfile.write(wav, speech.audio, speech.sample_rate, subtype="PCM_16")
    clips = {"served tts": load_audio(wav, ASR_SAMPLE_RATE),
             "espeak-ng": voices.speak(text, DEMO_VOICE, ASR_SAMPLE_RATE)}
    try:
        from triton_speech.training.judge import Judge

        judge = Judge("base")
    except ImportError:
        judge = None
        print("     (Whisper judge not installed: make judge)")
    heard = {}
    print(f"\nTEXT {text!r} -> {wav}")
    for voice, audio in clips.items():
        for ear, transcribe in (("our asr", lambda a: asr.recognize(a).raw),
                                ("whisper base", judge.transcribe if judge else None)):
            if transcribe is None:
                continue
            heard[f"{voice} / {ear}"] = said = transcribe(audio)
            print(f"     {voice:10} heard by {ear:12}: {said!r}  (CER {score([text], [said])['cer']:.1%})")
    return heard


def _random_weights(export_info: Path) -> bool:
    return export_info.exists() and json.loads(export_info.read_text()).get("random_weights", False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--sample", type=Path, default=Path("samples/demo.wav"))
    parser.add_argument("--speech", type=Path, default=Path("samples/demo_tts.wav"))
    parser.add_argument("--text", default="", help="also say this text with the served tts and transcribe it back "
                        "(and espeak-ng's reading of it), judged by Whisper when the judge extra is installed")
    args = parser.parse_args(argv)

    said = make_sample(args.sample)
    print(f"Starting Triton on {args.model_repository} ...", flush=True)
    started = time.perf_counter()
    with TritonServer(args.model_repository) as server:
        print(f"Ready in {time.perf_counter() - started:.1f} s, every model warmed up (gRPC {server.grpc_url}, "
              f"HTTP {server.http_url})")
        client = ASRClient(server.grpc_url)
        audio = load_audio(args.sample, ASR_SAMPLE_RATE)
        client.outputs(), client.max_audio_seconds  # the client reads these once: time the request, not them
        started = time.perf_counter()
        transcript = client.recognize(audio)
        first_ms = (time.perf_counter() - started) * 1000
        print(f"\nASR  {args.sample} says: {said!r}")
        print(f"     transcript: {transcript.text!r}  ({first_ms:.0f} ms over gRPC, the first request; "
              f"then {steady_ms(lambda: client.recognize(audio), STEADY_REPEATS):.0f} ms, the median of the next "
              f"{STEADY_REPEATS})")
        print(f"     raw (before punctuation): {transcript.raw!r}")

        speaker = TTSClient(server.grpc_url)
        started = time.perf_counter()
        speech = speaker.synthesize(DEMO_TTS_TEXT, seed=0)
        elapsed = time.perf_counter() - started
        soundfile.write(args.speech, speech.audio, speech.sample_rate, subtype="PCM_16")
        seconds = speech.audio.shape[0] / speech.sample_rate
        limit = " (decoder step limit reached)" if speech.step_limit_reached else ""
        steady = steady_ms(lambda: speaker.synthesize(DEMO_TTS_TEXT, seed=0), STEADY_REPEATS) / 1000
        print(f"\nTTS  {DEMO_TTS_TEXT!r} -> {args.speech}: {seconds:.2f} s of audio at {speech.sample_rate} Hz"
              f" in {elapsed:.2f} s, the first request{limit}; then {steady:.2f} s, the median of the next "
              f"{STEADY_REPEATS}")
        if "tts_streaming" in server.models():
            started, first = time.perf_counter(), None
            for _ in speaker.stream(DEMO_TTS_TEXT, seed=0):
                first = first if first is not None else time.perf_counter() - started
            print(f"     streamed (tts_streaming): first audio after {first * 1000:.0f} ms, all of it after "
                  f"{time.perf_counter() - started:.2f} s")
        served = server.models()
        if "griffin_lim" in served:
            print("     vocoder: Griffin-Lim (no WaveGlow checkpoint given; see docs/default-models.md)")
        random = [name for name in ("quartznet", "punctuator", "tacotron2", "waveglow") if name in served and
                  _random_weights(args.model_repository / name / "1" / "export.json")]
        if not random:
            # The round trip: what the served ASR hears in the served TTS's speech.
            heard = client.recognize(load_audio(args.speech, ASR_SAMPLE_RATE))
            print(f"     heard back by the asr ensemble: {heard.text!r}")
        else:
            print(f"\nRANDOM WEIGHTS in {', '.join(random)}: their output is noise. Real checkpoints:"
                  " make repository QUARTZNET_NEMO=... PUNCTUATOR_NEMO=... TACOTRON2_CHECKPOINT=..."
                  " WAVEGLOW_CHECKPOINT=... (see README)")
        if args.text.strip():
            round_trip(args.text, client, speaker, args.speech.with_name("demo_text_tts.wav"))
    print("Triton stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

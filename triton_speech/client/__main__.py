"""python -m client asr FILE [FILE ...] [--raw] [--timestamps] | asr --stream FILE [--chunk-ms 320] [--realtime]
| tts [--stream] "TEXT" -o OUT.wav | punctuate "TEXT" ... [--url HOST:PORT] [--protocol grpc|http]"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from triton_speech.client.asr import ASRClient, chunked
from triton_speech.client.audio import load_audio
from triton_speech.client.connection import PROTOCOLS, InferenceError, ServerUnreachable
from triton_speech.client.punctuate import PunctuatorClient
from triton_speech.client.tts import TTSClient
from triton_speech.defaults import ASR_SAMPLE_RATE, SIGMA, STREAM_CHUNK_MS
from triton_speech.runtime.errors import InputError


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="HOST:PORT (default 127.0.0.1 and the protocol's port)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="grpc")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client", description="Clients of the speech models on Triton.")
    commands = parser.add_subparsers(dest="command", required=True)
    asr = commands.add_parser("asr", help="transcribe audio files (WAV, FLAC, OGG; any rate, mono or stereo)")
    asr.add_argument("files", nargs="+")
    asr.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
    asr.add_argument("--raw", action="store_true", help="also print the unpunctuated CTC transcript")
    asr.add_argument("--timestamps", action="store_true",
                     help="also print each word's start and end (seconds) and confidence (0-1)")
    asr.add_argument("--stream", action="store_true",
                     help="send the one FILE as a live stream (gRPC) and print the partial transcripts as they change")
    asr.add_argument("--chunk-ms", type=float, default=STREAM_CHUNK_MS, help="--stream: audio per chunk (ms)")
    asr.add_argument("--realtime", action="store_true", help="--stream: send chunks at the pace of the audio")
    _connection_arguments(asr)
    tts = commands.add_parser("tts", help="synthesize speech to a WAV file (22050 Hz)")
    tts.add_argument("text")
    tts.add_argument("-o", "--output", required=True, help="WAV file to write")
    tts.add_argument("--seed", type=int, default=None, help="noise seed: the same seed gives the same audio")
    tts.add_argument("--sigma", type=float, default=None, help=f"WaveGlow noise scale (server default {SIGMA})")
    tts.add_argument("--denoiser-strength", type=float, default=None, help="WaveGlow denoiser (e.g. 0.01)")
    tts.add_argument("--stream", action="store_true",
                     help="receive the audio in chunks as it is made (tts_streaming); prints the time to the first")
    _connection_arguments(tts)
    punctuate = commands.add_parser("punctuate", help="restore punctuation and capitalization of texts")
    punctuate.add_argument("texts", nargs="+")
    _connection_arguments(punctuate)
    args = parser.parse_args(argv)

    try:
        if args.command == "asr":
            return _asr(args)
        if args.command == "punctuate":
            for text in PunctuatorClient(args.url, args.protocol).punctuate(args.texts):
                print(text)
            return 0
        return _tts(args)
    except ServerUnreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except InferenceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _asr(args) -> int:
    client = ASRClient(args.url, args.protocol)
    if args.stream:
        return _stream(client, args)
    progress = len(args.files) > 1 or any(_seconds(path) > client.max_audio_seconds for path in args.files)
    results = client.recognize_files(args.files, args.concurrency, progress=progress, timestamps=args.timestamps)
    failed = 0
    for path, result in zip(args.files, results):
        if isinstance(result, Exception):
            failed += 1
            print(f"{path}: error: {result}", file=sys.stderr)
            continue
        print(result.text if len(args.files) == 1 else f"{path}: {result.text}")
        if args.raw:
            print(f"  raw: {result.raw}")
        if args.timestamps:
            _print_words(result.words)
    return 1 if failed else 0


def _seconds(path: str) -> float:
    """The file's duration, 0 when it cannot be read (reading it later reports why)."""
    import soundfile

    try:
        info = soundfile.info(path)
    except (soundfile.LibsndfileError, RuntimeError):
        return 0.0
    return info.frames / info.samplerate


def _print_words(words) -> None:
    for word in words or []:
        print(f"  {word.start_s:8.2f} {word.end_s:8.2f}  {word.confidence:.2f}  {word.text}")


def _stream(client: ASRClient, args) -> int:
    if len(args.files) != 1:
        print("error: --stream sends one file", file=sys.stderr)
        return 2
    if args.chunk_ms <= 0:
        print("error: --chunk-ms must be positive", file=sys.stderr)
        return 2
    try:
        audio = load_audio(args.files[0], ASR_SAMPLE_RATE)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    shown = None
    for result in client.stream(chunked(audio, args.chunk_ms), realtime=args.realtime, timestamps=args.timestamps):
        if result.final:
            print(f"final: {result.text}")
            if args.timestamps:
                _print_words(result.words)
        elif result.text != shown:
            print(f"partial: {result.text}", flush=True)
            shown = result.text
    return 0


def _tts(args) -> int:
    import soundfile

    client = TTSClient(args.url, args.protocol)
    if args.stream:
        started, chunks = time.perf_counter(), []
        for chunk in client.stream(args.text, args.seed, args.sigma, args.denoiser_strength):
            if not chunks:
                print(f"first audio after {(time.perf_counter() - started) * 1000:.0f} ms", flush=True)
            chunks.append(chunk)
        print(f"all audio after {(time.perf_counter() - started) * 1000:.0f} ms, in {len(chunks)} chunks")
        result = chunks[-1]
        audio = np.concatenate([chunk.audio for chunk in chunks])
    else:
        result = client.synthesize(args.text, args.seed, args.sigma, args.denoiser_strength)
        audio = result.audio
    soundfile.write(args.output, audio, result.sample_rate, subtype="PCM_16")
    seconds = audio.shape[0] / result.sample_rate
    print(f"{args.output}: {seconds:.2f} s at {result.sample_rate} Hz")
    if result.step_limit_reached:
        print("warning: the decoder hit its step limit: the speech is cut short (raise max_decoder_steps)",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m client asr FILE [FILE ...] [--url HOST:PORT] [--protocol grpc|http]"""

from __future__ import annotations

import argparse
import sys

from client.asr import ASRClient
from client.connection import PROTOCOLS, ServerUnreachable


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="HOST:PORT (default 127.0.0.1 and the protocol's port)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="grpc")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client", description="Clients of the speech models on Triton.")
    commands = parser.add_subparsers(dest="command", required=True)
    asr = commands.add_parser("asr", help="transcribe audio files (WAV, FLAC, OGG; any rate, mono or stereo)")
    asr.add_argument("files", nargs="+")
    asr.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
    _connection_arguments(asr)
    args = parser.parse_args(argv)

    try:
        if args.command == "asr":
            return _asr(args)
    except ServerUnreachable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _asr(args) -> int:
    client = ASRClient(args.url, args.protocol)
    results = client.transcribe_files(args.files, args.concurrency, progress=len(args.files) > 1)
    failed = 0
    for path, result in zip(args.files, results):
        if isinstance(result, Exception):
            failed += 1
            print(f"{path}: error: {result}", file=sys.stderr)
        elif len(args.files) == 1:
            print(result)
        else:
            print(f"{path}: {result}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

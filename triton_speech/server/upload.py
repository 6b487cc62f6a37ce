"""python -m triton_speech.server.upload model_repository s3://[host:port/]bucket/path

Copies a built model repository into a bucket (credentials and region from the AWS_* environment variables), for
``python -m triton_speech.server --model-repository s3://...`` (``make repository REPOSITORY_BUCKET=s3://...``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from triton_speech.server.errors import ServerError
from triton_speech.server.repository import upload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_speech.server.upload", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repository", type=Path, help="the built repository folder (make repository)")
    parser.add_argument("url", help="s3://[host:port/]bucket/path")
    args = parser.parse_args(argv)
    try:
        count = upload(args.repository, args.url)
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{count} files of {args.repository} are in {args.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m triton_speech.server --model-repository model_repository: Triton until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from triton_speech.server import __doc__ as package_doc
from triton_speech.server.admin import ADMIN_HEADER, GRPC_ADMIN_HEADER, write_private
from triton_speech.server.errors import ServerError
from triton_speech.server.process import TritonServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_speech.server", description=package_doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-repository", default="model_repository",
                        help="the built repository: a folder, or s3://[host:port/]bucket/path (credentials from the "
                             "AWS_* environment variables)")
    parser.add_argument("--log", type=Path, default=None, help="server log file (default: a temporary file)")
    parser.add_argument("--admin-key-file", type=Path, default=None,
                        help="where to write a generated admin key (default: a new private temporary directory); "
                             "with TRITON_ADMIN_KEY set, that key is used and nothing is written")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)

    server = TritonServer(args.model_repository, log_path=args.log)
    if os.environ.get("TRITON_ADMIN_KEY"):
        key_source = "TRITON_ADMIN_KEY"
    else:
        key_file = args.admin_key_file or Path(tempfile.mkdtemp(prefix="triton_speech_")) / "admin-key"
        write_private(key_file, server.admin_key + "\n")
        key_source = str(key_file)
    stopping = False

    def request_stop(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        server.start()
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"Triton is ready: HTTP {server.http_url}, gRPC {server.grpc_url}, metrics {server.metrics_url}"
        f" (log: {server.log_path}). Ctrl-C stops it.\n"
        f"Model control, shared memory, trace and log settings need the admin key "
        f"(HTTP header '{ADMIN_HEADER}', gRPC metadata '{GRPC_ADMIN_HEADER}'): {key_source}",
        flush=True,
    )
    while not stopping and server.process.poll() is None:
        time.sleep(0.2)
    exited_by_itself = server.process.poll() is not None
    server.stop()
    if exited_by_itself:
        print("tritonserver exited unexpectedly:\n" + server.log_tail(), file=sys.stderr)
        return 1
    print("Triton stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

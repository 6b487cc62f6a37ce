"""The Riva endpoint alone, before a Triton that is already serving (``make app`` runs it inside the gateway):

    python -m triton_speech.riva --triton-url 127.0.0.1:8001 [--port 50051]

Listens on APP_HOST (127.0.0.1) at RIVA_PORT (50051); Ctrl-C stops it. Every call is let in (no API keys).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import replace

from triton_speech.riva.server import RivaServer, RivaStartError
from triton_speech.riva.settings import RivaSettings


def main(argv: list[str] | None = None) -> int:
    defaults = RivaSettings()
    parser = argparse.ArgumentParser(prog="python -m triton_speech.riva", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--triton-url", default=defaults.triton_url, help="Triton's gRPC HOST:PORT")
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        server = RivaServer(replace(defaults, triton_url=args.triton_url, host=args.host, port=args.port)).start()
    except RivaStartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Riva API: {server.address} (Riva clients: --server {server.address}); Ctrl-C stops it.", flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``make app``: Triton and the gateway together; Ctrl-C or SIGTERM stops both.

    python -m triton_speech.gateway --model-repository model_repository [--port 8080]
    python -m triton_speech.gateway --triton-url HOST:PORT       # the gateway alone, before a running Triton
    python -m triton_speech.gateway keys create NAME | list | revoke NAME|ID    # API keys

Triton listens where ``make serve`` puts it (TRITON_HTTP_PORT, TRITON_GRPC_PORT, TRITON_METRICS_PORT); the gateway
on 127.0.0.1 (APP_HOST) at APP_PORT (8080). Stored results: DATABASE_URL (a SQLite file under build/app/ by
default) and APP_MEDIA_DIR (or a bucket: APP_MEDIA_URL); limits: APP_MAX_UPLOAD_BYTES, APP_MAX_AUDIO_SECONDS,
APP_RATE_LIMIT, APP_MAX_CONCURRENT_INFERENCE; access: APP_ANONYMOUS, APP_ALLOWED_HOSTS, APP_ALLOWED_ORIGINS. On
loopback it prints the page's address with a local API key (kept in APP_LOCAL_KEY_FILE), as Jupyter prints its
token.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path

import uvicorn

from triton_speech import defaults
from triton_speech.gateway.cli import keys_main, page_address, riva_endpoint, serving_settings
from triton_speech.gateway.middleware import install_log_record_factory
from triton_speech.gateway.serving import LOG_FORMAT, uvicorn_config
from triton_speech.gateway.settings import GatewaySettings
from triton_speech.server import ServerError, TritonServer


class _Server(uvicorn.Server):
    """uvicorn, with the signals left to this launcher (which stops Triton after it)."""

    def capture_signals(self):
        return contextlib.nullcontext()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["keys"]:
        return keys_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m triton_speech.gateway", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model-repository", type=Path, default=Path("model_repository"),
                        help="start Triton on this repository (default)")
    source.add_argument("--triton-url", default=None, help="use the Triton already serving at HOST:GRPC_PORT")
    parser.add_argument("--host", default=os.environ.get("APP_HOST") or defaults.APP_HOST)
    parser.add_argument("--port", type=int, default=int(os.environ.get("APP_PORT") or defaults.APP_PORT))
    args = parser.parse_args(argv)
    install_log_record_factory()
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)

    stopping = threading.Event()
    server: _Server | None = None

    def request_stop(signum, _frame):
        stopping.set()
        if server is not None:
            server.should_exit = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    if _port_taken(args.host, args.port):
        print(f"error: port {args.port} on {args.host} is already in use: set APP_PORT to a free port", file=sys.stderr)
        return 1
    triton = None
    if args.triton_url is None:
        triton = TritonServer(args.model_repository)
        try:
            triton.start()
        except ServerError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(f"Triton is ready: HTTP {triton.http_url}, gRPC {triton.grpc_url} (log: {triton.log_path})", flush=True)
    settings = serving_settings(GatewaySettings(triton_url=args.triton_url or triton.grpc_url), args.host)
    crashed = threading.Event()
    try:
        if stopping.is_set():
            return 0
        address = page_address(settings, args.host, args.port)
        server = _Server(uvicorn_config(settings, args.host, args.port))
        if triton is not None:
            threading.Thread(target=_stop_when_gone, args=(triton, server, stopping, crashed), daemon=True).start()
        print(f"Open {address} (API: /docs). Results are stored in {settings.database_url} and "
              f"{settings.media_url or str(settings.media_dir) + '/'}. "
              f"Ctrl-C stops {'both' if triton else 'it'}.", flush=True)
        with riva_endpoint(settings, args.host):  # the Riva gRPC API on RIVA_PORT, beside the REST API
            server.run()
    finally:
        if triton is not None:
            triton.stop()
            if crashed.is_set():
                print("tritonserver exited unexpectedly:\n" + triton.log_tail(), file=sys.stderr)
    print("Stopped.")
    return 1 if crashed.is_set() or not server.started else 0


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _stop_when_gone(triton: TritonServer, server: uvicorn.Server, stopping: threading.Event,
                    crashed: threading.Event) -> None:
    """Triton exiting by itself ends the gateway too: a gateway without models only answers 503. (Ctrl-C reaches
    Triton as well, being in the same process group: that exit is no crash.)"""
    process = triton.process
    process.wait()
    if not stopping.is_set():
        crashed.set()
    server.should_exit = True


if __name__ == "__main__":
    sys.exit(main())

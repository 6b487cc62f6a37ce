"""Running the gateway with uvicorn: in a thread (tests, benchmarks) or as ``make app`` does, beside Triton."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from triton_speech.gateway.app import create_app
from triton_speech.gateway.settings import GatewaySettings

LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
# A WebSocket message the gateway takes: a live stream's frame (at most 1 s of 192 kHz float32) or a control message
WS_MAX_MESSAGE_BYTES = 1024 * 1024


def uvicorn_config(settings: GatewaySettings, host: str, port: int, log_level: str = "info",
                   app=None) -> uvicorn.Config:
    # uvicorn's access log is off: the gateway logs each request itself, with its request id.
    return uvicorn.Config(app or create_app(settings), host=host, port=port, log_level=log_level, access_log=False,
                          log_config=None, server_header=False, ws_max_size=WS_MAX_MESSAGE_BYTES)


def wait_live(url: str, timeout_s: float = 30.0, thread: threading.Thread | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if thread is not None and not thread.is_alive():
            raise RuntimeError("the gateway stopped while starting (see its log)")
        try:
            with urllib.request.urlopen(f"{url}/health/live", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise TimeoutError(f"the gateway at {url} did not start within {timeout_s:.0f} s")


@contextmanager
def gateway_in_thread(settings: GatewaySettings, port: int, host: str = "127.0.0.1", app=None) -> Iterator[str]:
    """Serve the gateway (or ``app``, one ``create_app`` made) from a thread of this process; yields its base URL,
    stops it on exit."""
    server = uvicorn.Server(uvicorn_config(settings, host, port, log_level="warning", app=app))
    thread = threading.Thread(target=server.run, name="gateway", daemon=True)
    thread.start()
    url = f"http://{host}:{port}"
    try:
        wait_live(url, thread=thread)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)

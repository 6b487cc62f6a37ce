"""The endpoint's gRPC server (grpc.aio): the three Riva services on RIVA_PORT, run in a thread of its own with its
own event loop, so that it starts and stops beside the gateway's uvicorn whatever that does with its loop."""

from __future__ import annotations

import asyncio
import logging
import threading

import grpc
from riva.client.proto.riva_asr_pb2_grpc import add_RivaSpeechRecognitionServicer_to_server
from riva.client.proto.riva_nlp_pb2_grpc import add_RivaLanguageUnderstandingServicer_to_server

from triton_speech.riva import tts
from triton_speech.riva.asr import RecognitionServicer
from triton_speech.riva.auth import Authenticator, anonymous
from triton_speech.riva.nlp import LanguageServicer
from triton_speech.riva.settings import RivaSettings
from triton_speech.riva.triton import Triton

log = logging.getLogger("triton_speech.riva")


class RivaStartError(RuntimeError):
    """The endpoint could not start (its port taken, most often); the message says what to do."""


async def start_server(settings: RivaSettings, triton: Triton, authenticate: Authenticator) -> grpc.aio.Server:
    """The gRPC server of the three services, listening; raises RivaStartError when the port cannot be bound."""
    limit = settings.max_message_bytes
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", limit),
                                      ("grpc.so_reuseport", 0)])  # a taken port is an error, never shared
    services = (settings, triton, authenticate)
    add_RivaSpeechRecognitionServicer_to_server(RecognitionServicer(*services), server)
    tts.add_to_server(tts.SynthesisServicer(*services), server)
    add_RivaLanguageUnderstandingServicer_to_server(LanguageServicer(*services), server)
    address = f"{settings.host}:{settings.port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise RivaStartError(f"port {settings.port} on {settings.host} is already in use (or cannot be bound): "
                             "set RIVA_PORT to a free port")
    await server.start()
    return server


class RivaServer:
    """``start()`` serves from a thread until ``stop()``; ``address`` is HOST:PORT, as Riva clients' --server."""

    def __init__(self, settings: RivaSettings, authenticate: Authenticator = anonymous, grace_s: float = 2.0):
        self.settings = settings
        self.authenticate = authenticate
        self.grace_s = grace_s
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), name="riva", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def start(self, timeout_s: float = 30.0) -> RivaServer:
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise RivaStartError(f"the Riva endpoint did not start within {timeout_s:g} s")
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=self.grace_s + 10)

    def __enter__(self) -> RivaServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        triton = Triton(self.settings.triton_url, self.settings.triton_retries)
        await triton.open()
        try:
            server = await start_server(self.settings, triton, self.authenticate)
        except BaseException as error:  # noqa: BLE001 (raised by start() in the caller's thread)
            self._failure = error
            self._started.set()
            await triton.close()
            return
        log.info("Riva API on %s (Triton at %s)", self.address, self.settings.triton_url)
        self._started.set()
        try:
            await self._stopping.wait()
        finally:
            await server.stop(self.grace_s)  # calls in flight may finish; new ones are refused
            await triton.close()

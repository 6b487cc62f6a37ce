"""A Riva-compatible gRPC endpoint: NVIDIA Riva's clients (``nvidia-riva-client``, the python-clients scripts and
any client generated from Riva's protos) talk to the Triton models as they talk to Riva. Served by the gateway
process (``make app``) on RIVA_PORT (50051) of APP_HOST; it maps each call onto the Triton models and runs none
itself (docs/riva-api.md).

    asr.py   RivaSpeechRecognition: Recognize, StreamingRecognize, GetRivaSpeechRecognitionConfig
    tts.py   RivaSpeechSynthesis: Synthesize, SynthesizeOnline, GetRivaSynthesisConfig
    nlp.py   RivaLanguageUnderstanding: PunctuateText
    audio.py request audio to the models' 16 kHz, synthesized audio to the asked encoding and rate
    auth.py  API keys from the ``authorization`` metadata; calls.py: status codes; triton.py: the way to Triton
    server.py the grpc.aio server in a thread of its own
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace


@contextmanager
def serve_riva(triton_url: str, host: str, authenticate=None) -> Iterator[object | None]:
    """The endpoint beside a launcher's own server, for as long as the block runs (the gateway's ``make app``).

    ``authenticate``: the API-key check (``auth.bearer(check_key)``); None lets every call in. A taken RIVA_PORT
    exits with a message saying so; without nvidia-riva-client installed (the ``riva`` extra) the endpoint stays
    off and a note says why."""
    try:
        from triton_speech.riva.auth import anonymous
        from triton_speech.riva.server import RivaServer, RivaStartError
        from triton_speech.riva.settings import RivaSettings
    except ImportError as error:
        print(f"note: the Riva API is off ({error}): pip install -e '.[riva]'", file=sys.stderr, flush=True)
        yield None
        return
    settings = replace(RivaSettings(), triton_url=triton_url, host=host)
    server = RivaServer(settings, authenticate or anonymous)
    try:
        server.start()
    except RivaStartError as error:
        raise SystemExit(f"error: {error}") from None
    print(f"Riva API: {server.address} (Riva clients: --server {server.address})", flush=True)
    try:
        yield server
    finally:
        server.stop()

"""The Riva endpoint before the real Triton of the trained defaults (``default_speech_server``), and riva.client's
connection to it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.support.ports import free_port


@dataclass(frozen=True)
class RunningRiva:
    address: str  # HOST:PORT, as Riva clients' --server
    triton: object  # the TritonServer behind it (grpc_url, admin_headers)


@pytest.fixture(scope="session")
def riva_endpoint(default_speech_server):
    from triton_speech.riva.server import RivaServer
    from triton_speech.riva.settings import RivaSettings

    settings = RivaSettings(triton_url=default_speech_server.grpc_url, host="127.0.0.1", port=free_port())
    with RivaServer(settings) as server:
        yield RunningRiva(server.address, default_speech_server)


@pytest.fixture(scope="session")
def riva_auth(riva_endpoint):
    from riva.client import Auth

    return Auth(uri=riva_endpoint.address)

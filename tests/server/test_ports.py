"""The server's ports: from the environment, and which ones another process listens on."""

from __future__ import annotations

import socket

from tests.support.ports import free_port
from triton_speech import defaults
from triton_speech.server import Ports


def test_defaults_and_environment(monkeypatch):
    assert tuple(Ports()) == (defaults.TRITON_HTTP_PORT, defaults.TRITON_GRPC_PORT, defaults.TRITON_METRICS_PORT)
    monkeypatch.setenv("TRITON_HTTP_PORT", "18000")
    monkeypatch.setenv("TRITON_GRPC_PORT", "18001")
    monkeypatch.setenv("TRITON_METRICS_PORT", "18002")
    assert Ports.from_env() == Ports(http=18000, grpc=18001, metrics=18002)


def test_only_a_port_someone_listens_on_is_taken():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        held = listener.getsockname()[1]
        ports = Ports(http=free_port(), grpc=held, metrics=free_port())
        assert ports.taken() == [held]
    assert ports.taken() == []

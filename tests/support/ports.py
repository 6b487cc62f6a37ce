"""Free local ports for the servers the tests start."""

from __future__ import annotations

import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports():
    from triton_speech.server import Ports

    return Ports(http=free_port(), grpc=free_port(), metrics=free_port())

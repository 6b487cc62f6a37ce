"""Where the server listens: its three ports, and which of them another process already holds."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from triton_speech import defaults


@dataclass(frozen=True)
class Ports:
    http: int = defaults.TRITON_HTTP_PORT
    grpc: int = defaults.TRITON_GRPC_PORT
    metrics: int = defaults.TRITON_METRICS_PORT

    @classmethod
    def from_env(cls) -> "Ports":
        """TRITON_HTTP_PORT, TRITON_GRPC_PORT, TRITON_METRICS_PORT."""
        return cls(http=defaults.from_env("TRITON_HTTP_PORT", int), grpc=defaults.from_env("TRITON_GRPC_PORT", int),
                   metrics=defaults.from_env("TRITON_METRICS_PORT", int))

    def __iter__(self):
        return iter((self.http, self.grpc, self.metrics))

    def taken(self, address: str = "127.0.0.1") -> list[int]:
        """The ports another process already listens on (checked by binding, as the server will)."""
        busy = []
        for port in self:
            with socket.socket() as probe:
                # SO_REUSEADDR as servers set it: a port in TIME_WAIT is free, one someone listens on is not.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((address, port))
                except OSError as error:
                    if error.errno != errno.EADDRINUSE:
                        raise
                    busy.append(port)
        return busy

"""python -m triton_speech.riva: the endpoint alone before a Triton elsewhere; SIGTERM stops it."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import grpc
from riva.client.proto import riva_nlp_pb2, riva_nlp_pb2_grpc

from tests.support.paths import REPOSITORY_ROOT
from tests.support.ports import free_port


def test_serves_until_sigterm():
    port, away = free_port(), free_port()
    process = subprocess.Popen([sys.executable, "-m", "triton_speech.riva", "--triton-url", f"127.0.0.1:{away}",
                                "--port", str(port)], cwd=REPOSITORY_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(2)]  # its log's line, then the one for the user
        assert f"Riva API: 127.0.0.1:{port} (Riva clients: --server 127.0.0.1:{port})" in lines[1], lines
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:  # it answers (Triton is away: UNAVAILABLE)
            stub = riva_nlp_pb2_grpc.RivaLanguageUnderstandingStub(channel)
            try:
                stub.PunctuateText(riva_nlp_pb2.TextTransformRequest(text=["hi"]), timeout=60)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error.details()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_a_taken_port_exits_with_a_message():
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "triton_speech.riva", "--port", str(port)], cwd=REPOSITORY_ROOT,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and f"port {port} on 127.0.0.1 is already in use" in done.stderr

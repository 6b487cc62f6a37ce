"""HAProxy in front of two real Triton replicas (the tone repository), as the fleet configures it: requests spread
over both, a replica that is not ready gets none, one that answers "has no available versions" has its HTTP requests
retried on the other and its gRPC answers turned into UNAVAILABLE, and a replica killed under load costs a plain
client (no retries of its own) nothing: HAProxy sends the requests in flight again."""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from tests.support.ports import free_port, free_ports
from tests.support.tones import tone_clip
from triton_speech.client import ASRClient
from triton_speech.fleet.balancer import GatewayPorts, Listen, Replica, balancer, haproxy, render, server_stats
from triton_speech.server import TritonServer

LISTEN = Listen("127.0.0.1", 18001, 18000, 18080, 18051)


def test_the_rendered_configuration_is_valid_and_names_every_server(tmp_path):
    replicas = [Replica(http=9000 + i, grpc=9100 + i) for i in range(3)]
    config = render(LISTEN, replicas, [GatewayPorts(9200, 9300), GatewayPorts(9201, 9301)], tmp_path / "stats.sock")
    (tmp_path / "haproxy.cfg").write_text(config)
    check = subprocess.run([haproxy(), "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    for i, replica in enumerate(replicas):
        assert f"server triton-{i} 127.0.0.1:{replica.grpc} proto h2 check port {replica.http}" in config
        assert f"server triton-{i} 127.0.0.1:{replica.http} check" in config
    assert "server gateway-1 127.0.0.1:9201 check" in config
    assert "server gateway-1 127.0.0.1:9301 proto h2 check port 9201" in config  # Riva, checked on /health
    for port in (18001, 18000, 18080, 18051):
        assert f"bind 127.0.0.1:{port}" in config
    assert config.count("uri /v2/health/ready") == 2 and "uri /health " in config


def infer(protocol: str, url: str, audio: np.ndarray):
    """One asr request with tritonclient itself: no retries of the project's clients."""
    module = grpcclient if protocol == "grpc" else httpclient
    client = module.InferenceServerClient(url)
    tensor = module.InferInput("AUDIO", [1, audio.shape[0]], "FP32")
    if protocol == "grpc":
        tensor.set_data_from_numpy(audio[None])
    else:
        tensor.set_data_from_numpy(audio[None], binary_data=audio.shape[0] < 16000 * 8)
    try:
        return client.infer("asr", [tensor]).as_numpy("TRANSCRIPT").reshape(-1)[0].decode()
    finally:
        client.close()


@pytest.fixture(scope="module")
def balanced(tone_repository, tmp_path_factory):
    """Two replicas of the tone repository behind HAProxy (no gateways: their backend stays down)."""
    folder = tmp_path_factory.mktemp("balancer")
    servers = [TritonServer(tone_repository, ports=free_ports(), log_path=folder / f"triton-{i}.log") for i in (0, 1)]
    for server in servers:
        server.start()
    listen = Listen("127.0.0.1", free_port(), free_port(), free_port(), free_port())
    config, stats = folder / "haproxy.cfg", folder / "haproxy.sock"
    config.write_text(render(listen, [Replica(s.ports.http, s.ports.grpc) for s in servers],
                             [GatewayPorts(free_port(), free_port())], stats))
    proxy = balancer(config, listen, folder / "haproxy.log").start()
    try:
        proxy.wait_ready(30, threading.Event())
        wait_for(lambda: up(stats) == {"triton-0", "triton-1"})
        yield servers, listen, stats
    finally:
        assert proxy.stop() == []
        for server in servers:
            server.stop()


def up(stats: Path) -> set[str]:
    """The replicas the balancer sends to over both gRPC and HTTP."""
    rows = server_stats(stats)
    return {server for server in ("triton-0", "triton-1")
            if all(rows[(backend, server)]["status"] == "UP" for backend in ("triton_grpc", "triton_http"))}


def down(stats: Path) -> set[str]:
    """The replicas the balancer sends nothing to, over either protocol."""
    rows = server_stats(stats)
    return {server for server in ("triton-0", "triton-1")
            if all(rows[(backend, server)]["status"].startswith("DOWN") for backend in ("triton_grpc", "triton_http"))}


def sent(stats: Path) -> collections.Counter:
    return collections.Counter({key: int(row["stot"]) for key, row in server_stats(stats).items()})


def wait_for(condition, timeout_s: float = 30.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout_s, "timed out"
        time.sleep(0.05)
    return time.monotonic() - started


def unload_quartznet(server: TritonServer) -> None:
    """As the launcher's watchdog does when quartznet's stub dies: asr and the ensembles over it have no available
    version, and the server is not ready."""
    client = server.repository_client()
    client.unload_model("quartznet", headers=server.admin_headers())
    client.close()


def load_everything(server: TritonServer) -> None:
    client = server.repository_client()
    for name in server.models():  # quartznet first (sorted), then the ensembles over it
        states = {entry["name"]: entry.get("state") for entry in
                  client.get_model_repository_index(headers=server.admin_headers())}
        if states.get(name) != "READY":
            client.load_model(name, headers=server.admin_headers())
    client.close()


def admin(stats: Path, command: str) -> str:
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(str(stats))
        connection.sendall(command.encode() + b"\n")
        return connection.recv(4096).decode()


@pytest.mark.server
def test_requests_spread_and_a_replica_not_ready_gets_none(balanced):
    servers, listen, stats = balanced
    audio, _ = tone_clip(3, seed=5)
    expected = ASRClient(servers[0].grpc_url).transcribe(audio)
    before = sent(stats)
    for protocol, port in (("grpc", listen.triton_grpc), ("http", listen.triton_http)):
        assert [infer(protocol, f"127.0.0.1:{port}", audio) for _ in range(6)] == [expected] * 6
    spread = sent(stats) - before
    assert all(spread[(backend, f"triton-{i}")] >= 2 for backend in ("triton_grpc", "triton_http") for i in (0, 1))
    # replica 0 reloading quartznet: Triton is not ready, and the balancer stops sending to it
    unload_quartznet(servers[0])
    try:
        down_s = wait_for(lambda: down(stats) == {"triton-0"})
        print(f"replica not ready: out of the balancer in {down_s:.2f} s")
        before = sent(stats)
        for protocol, port in (("grpc", listen.triton_grpc), ("http", listen.triton_http)):
            assert [infer(protocol, f"127.0.0.1:{port}", audio) for _ in range(4)] == [expected] * 4
        spread = sent(stats) - before
        assert spread[("triton_grpc", "triton-0")] == spread[("triton_http", "triton-0")] == 0
    finally:
        load_everything(servers[0])
    wait_for(lambda: up(stats) == {"triton-0", "triton-1"})


@pytest.mark.server
def test_a_reloading_model_is_retried_over_http_and_unavailable_over_grpc(balanced):
    """Replica 0 answers 'has no available versions' for asr (quartznet unloaded) while the balancer still sends to
    it (its health checks off): as while a stub's model reloads, before the next check sees it."""
    servers, listen, stats = balanced
    audio, _ = tone_clip(3, seed=6)
    expected = ASRClient(servers[1].grpc_url).transcribe(audio)
    long_audio = np.resize(audio, 16000 * 9)  # JSON of 9 s of audio: larger than the balancer's buffer
    for backend in ("triton_grpc", "triton_http"):
        admin(stats, f"disable health {backend}/triton-0")
    unload_quartznet(servers[0])
    try:
        http = [infer("http", f"127.0.0.1:{listen.triton_http}", audio) for _ in range(6)]
        assert http == [expected] * 6  # those sent to replica 0 were retried on replica 1
        statuses = collections.Counter()
        for _ in range(4):
            try:
                infer("http", f"127.0.0.1:{listen.triton_http}", long_audio)
                statuses["200"] += 1
            except Exception as error:  # noqa: BLE001 - the status is what is checked
                statuses[f"{error.status()} {error.message()}"] += 1
        reloading = "503 Request for unknown model: 'asr' has no available versions"
        assert set(statuses) <= {"200", reloading} and statuses[reloading] >= 1, statuses  # never 404
        codes = collections.Counter()
        for _ in range(6):
            try:
                infer("grpc", f"127.0.0.1:{listen.triton_grpc}", audio)
                codes["OK"] += 1
            except Exception as error:  # noqa: BLE001
                codes[error.status()] += 1
        assert set(codes) == {"OK", "StatusCode.UNAVAILABLE"}, codes  # never NOT_FOUND
        # the project's client retries UNAVAILABLE on its channel: every answer arrives
        assert [ASRClient(f"127.0.0.1:{listen.triton_grpc}").transcribe(audio) for _ in range(6)] == [expected] * 6
    finally:
        load_everything(servers[0])
        for backend in ("triton_grpc", "triton_http"):
            admin(stats, f"enable health {backend}/triton-0")
    wait_for(lambda: up(stats) == {"triton-0", "triton-1"})


@pytest.mark.server
def test_a_replica_killed_under_load_costs_a_plain_client_nothing(balanced):
    """The last test: it kills replica 0. Four plain tritonclient clients (gRPC and HTTP) send asr requests; the
    replica's tritonserver is SIGKILLed midway: HAProxy sends the requests that were in flight on it again."""
    servers, listen, stats = balanced
    audio, _ = tone_clip(3, seed=7)
    expected = ASRClient(servers[1].grpc_url).transcribe(audio)
    answers, stop = collections.Counter(), threading.Event()

    def load(protocol: str, port: int) -> None:
        while not stop.is_set():
            try:
                answers[infer(protocol, f"127.0.0.1:{port}", audio) == expected] += 1
            except Exception as error:  # noqa: BLE001 - counted as a failure
                answers[f"{protocol}: {error}"] += 1

    clients = [threading.Thread(target=load, args=args) for args in
               [("grpc", listen.triton_grpc), ("http", listen.triton_http)] * 2]
    for client in clients:
        client.start()
    wait_for(lambda: answers[True] >= 20)
    os.kill(servers[0].process.pid, signal.SIGKILL)
    wait_for(lambda: down(stats) == {"triton-0"})
    answered = answers[True]
    wait_for(lambda: answers[True] >= answered + 20)
    stop.set()
    for client in clients:
        client.join()
    print(f"replica killed under plain-client load: {dict(answers)}")
    assert set(answers) == {True}, answers

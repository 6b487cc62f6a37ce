"""The load balancer in front of the Triton replicas (gRPC and HTTP) and of the gateways: HAProxy (Debian's), its
configuration rendered from the fleet's ports, and what it says about its servers (its stats socket).

HAProxy rather than nginx: its open-source version checks each server actively (``/v2/health/ready`` every half
second, so a replica that is loading or reloading a model gets no new requests before a client finds out) and
retries a failed request on another server (``retry-on``); nginx's open-source version only notices a bad server
from failed requests (passive checks), and its ``grpc_next_upstream`` cannot retry UNAVAILABLE.

What is retried where:
- a server that refuses the connection (stopped, killed): any request, on another server (``conn-failure``);
- a server that dies with a request in flight (empty response): requests that are safe to send again, on another
  server: every Triton request (inference changes nothing), the gateways' GET and HEAD (a POST may have stored its
  result before the gateway died);
- Triton over HTTP answering 404 "has no available versions" (a model reloading after its python stub died): on
  another server (``retry-on 404``: any 404, since HAProxy decides on the status alone; a model that exists nowhere
  is answered 404 after the retries).
- Triton over gRPC: the status is not an HTTP status (every answer is HTTP 200, the gRPC status follows in trailers),
  so HAProxy cannot retry on it. An error answered at once comes as headers only (gRPC's trailers-only answer),
  which HAProxy can rewrite: NOT_FOUND "... has no available versions" becomes UNAVAILABLE (14), the status gRPC
  clients retry (the project's clients' channel retry policy does, at once).
Requests larger than HAProxy's buffer (``BUFFER_BYTES``) are never retried by it: it keeps no copy to send again.
"""

from __future__ import annotations

import csv
import io
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from triton_speech.fleet.children import Child, listening

# HAProxy keeps a request to send again only if it fits in one buffer: 1 MiB holds 16 s of 16 kHz float32 audio.
BUFFER_BYTES = 1 << 20
# Active health checks: every CHECK_INTERVAL, a server down after FALL failures and up again after RISE successes.
CHECK_INTERVAL_MS = 500
FALL = 1
RISE = 2
GATEWAY_CHECK_INTERVAL_MS = 2000
RETRIES = 3
# Triton's answers while a model's python stub is being replaced (the launcher's watchdog reloads it within seconds):
# INTERNAL / 500 "Stub process ... is not healthy" until the reload starts, then NOT_FOUND / 404 "Request for unknown
# model: ... has no available versions" until it is ready again. The balancer answers both as UNAVAILABLE / 503.
STUB_DIED = "is not healthy"
RELOADING = "has no available versions"
# gRPC's status codes (grpc/status.h)
GRPC_NOT_FOUND, GRPC_INTERNAL, GRPC_UNAVAILABLE = 5, 13, 14


@dataclass(frozen=True)
class Replica:
    """A Triton replica's ports on loopback."""

    http: int
    grpc: int


@dataclass(frozen=True)
class Listen:
    """Where the balancer answers: Triton's gRPC and HTTP (as one server), the gateways, and their Riva API."""

    host: str
    triton_grpc: int
    triton_http: int
    gateway: int
    riva: int


@dataclass(frozen=True)
class GatewayPorts:
    """A gateway's ports on loopback: its REST API (and health) and its Riva API."""

    http: int
    riva: int


def render(listen: Listen, replicas: list[Replica], gateways: list[GatewayPorts], stats_socket: Path,
           host: str = "127.0.0.1") -> str:
    """The HAProxy configuration (see the module's description)."""
    gateway_check = (f"option httpchk\n    http-check send meth GET uri /health ver HTTP/1.1 hdr Host {host}\n"
                     "    http-check expect status 200")
    triton_check = (f"option httpchk\n    http-check send meth GET uri /v2/health/ready ver HTTP/1.1 hdr Host {host}\n"
                    "    http-check expect status 200")
    lines = f"""# Rendered by triton_speech.fleet.balancer: the local fleet's load balancer
global
    maxconn 4096
    tune.bufsize {BUFFER_BYTES}
    stats socket {stats_socket} mode 600 level admin
    log stdout format raw local0 info

defaults
    mode http
    log global
    option httplog
    option dontlog-normal
    timeout connect 2s
    timeout client 10m
    timeout server 10m
    timeout check 2s
    timeout client-fin 30s
    timeout tunnel 1h
    retries {RETRIES}
    option redispatch 1
    default-server inter {CHECK_INTERVAL_MS}ms fall {FALL} rise {RISE}

frontend triton_grpc
    bind {listen.host}:{listen.triton_grpc} proto h2
    default_backend triton_grpc

backend triton_grpc
    balance roundrobin
    {triton_check}
    http-request wait-for-body time 1s if {{ path /inference.GRPCInferenceService/ModelInfer }}
    retry-on conn-failure empty-response
    acl not_found res.hdr(grpc-status) -m str {GRPC_NOT_FOUND}
    acl internal res.hdr(grpc-status) -m str {GRPC_INTERNAL}
    acl reloading res.hdr(grpc-message) -m sub "{RELOADING}"
    acl stub_died res.hdr(grpc-message) -m sub "{STUB_DIED}"
    http-response set-header grpc-status {GRPC_UNAVAILABLE} if not_found reloading || internal stub_died
"""
    lines += "".join(f"    server triton-{i} {host}:{r.grpc} proto h2 check port {r.http} check-proto h1\n"
                     for i, r in enumerate(replicas))
    lines += f"""
frontend triton_http
    bind {listen.host}:{listen.triton_http}
    default_backend triton_http

backend triton_http
    balance roundrobin
    {triton_check}
    option http-buffer-request
    retry-on conn-failure empty-response 404
    http-response wait-for-body time 1s if {{ status 404 }} || {{ status 500 }}
    http-response set-status 503 if {{ status 404 }} {{ res.body -m sub "{RELOADING}" }}
    http-response set-status 503 if {{ status 500 }} {{ res.body -m sub "{STUB_DIED}" }}
"""
    lines += "".join(f"    server triton-{i} {host}:{r.http} check\n" for i, r in enumerate(replicas))
    lines += f"""
frontend gateway
    bind {listen.host}:{listen.gateway}
    default_backend gateways

backend gateways
    balance roundrobin
    {gateway_check}
    retry-on conn-failure empty-response
    http-request disable-l7-retry unless METH_GET
"""
    # the gateways log every request: checked less often than Triton
    lines += "".join(f"    server gateway-{i} {host}:{g.http} check inter {GATEWAY_CHECK_INTERVAL_MS}ms\n"
                     for i, g in enumerate(gateways))
    # The Riva API (gRPC): a call is retried elsewhere only if its gateway refused the connection (a streamed
    # recognition cannot be sent again); a gateway is up when its REST side's /health says so.
    lines += f"""
frontend riva
    bind {listen.host}:{listen.riva} proto h2
    default_backend riva

backend riva
    balance roundrobin
    {gateway_check}
    retry-on conn-failure
"""
    lines += "".join(f"    server gateway-{i} {host}:{g.riva} proto h2 check port {g.http} check-proto h1 "
                     f"inter {GATEWAY_CHECK_INTERVAL_MS}ms\n" for i, g in enumerate(gateways))
    return lines


def haproxy() -> str:
    found = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise FileNotFoundError("haproxy is not installed (make setup installs it: apt-get install haproxy)")
    return found


def balancer(config: Path, listen: Listen, log_path: Path) -> Child:
    """HAProxy in the foreground (``-db``) on ``config``; ready once it listens on every frontend."""
    return Child("balancer", [haproxy(), "-db", "-f", str(config)], {}, log_path,
                 listening(listen.host, listen.triton_grpc, listen.triton_http, listen.gateway, listen.riva))


def server_stats(stats_socket: Path) -> dict[tuple[str, str], dict[str, str]]:
    """(backend, server) -> HAProxy's statistics of it (``show stat`` on its stats socket): ``status`` ("UP", "DOWN",
    "UP 1/2", ...), ``stot`` (requests or sessions sent to it so far), ``wretr`` and ``wredis`` (retries,
    redispatches), ..."""
    with socket.socket(socket.AF_UNIX) as connection:
        connection.settimeout(5)
        connection.connect(str(stats_socket))
        connection.sendall(b"show stat\n")
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    rows = csv.DictReader(io.StringIO(answer.decode().lstrip("# ")))
    return {(row["pxname"], row["svname"]): row for row in rows if row["svname"] not in ("FRONTEND", "BACKEND")}

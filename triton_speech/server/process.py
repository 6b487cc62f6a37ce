"""The ``tritonserver`` process: its command line, start, readiness, model-repository calls and stop."""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from triton_speech import defaults
from triton_speech.server import drain, procfs, state
from triton_speech.server.admin import ADMIN_HEADER, RESTRICTED_APIS, admin_headers, admin_key_from_env
from triton_speech.server.bundled import find_server, server_environment
from triton_speech.server.engines import prepare_engine_caches
from triton_speech.server.errors import ServerError
from triton_speech.server.launch import SECRET_PLACEHOLDER, launch
from triton_speech.server.ports import Ports
from triton_speech.server.repository import built_models, is_remote
from triton_speech.server.watchdog import StubWatchdog

log = logging.getLogger("triton_speech.server")


@dataclass
class TritonServer:
    """A ``tritonserver`` process. Use as a context manager or call start()/stop()."""

    model_repository: Path | str  # a folder, or an S3 URL (s3://...: server.repository)
    ports: Ports = field(default_factory=Ports.from_env)
    log_path: Path | None = None
    ready_timeout_s: float = 120.0
    extra_args: tuple[str, ...] = ()
    # Loopback unless asked: anyone who reaches the ports can send inference requests.
    address: str = field(default_factory=lambda: defaults.from_env("TRITON_ADDRESS"))
    admin_key: str = field(default_factory=admin_key_from_env, repr=False)
    # How long SIGTERM waits for accepted requests to finish (Triton's --exit-timeout-secs) before a kill.
    grace_s: float = field(default_factory=lambda: defaults.from_env("TRITON_GRACE_SECONDS", float))
    watchdog: bool = True
    process: subprocess.Popen | None = field(default=None, init=False)
    # Each server gets its own /dev/shm prefix so that stopping it removes only its own regions.
    shm_prefix: str = field(default_factory=lambda: f"triton_speech_{uuid.uuid4().hex[:12]}_", init=False)
    stub_watchdog: StubWatchdog | None = field(default=None, init=False)
    _record: Path | None = field(default=None, init=False, repr=False)  # where the next launcher finds this one

    @property
    def http_url(self) -> str:
        return f"{self._client_host}:{self.ports.http}"

    @property
    def grpc_url(self) -> str:
        return f"{self._client_host}:{self.ports.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self._client_host}:{self.ports.metrics}/metrics"

    @property
    def _client_host(self) -> str:
        return "127.0.0.1" if self.address in ("0.0.0.0", "") else self.address

    def admin_headers(self, protocol: str = "http") -> dict[str, str]:
        """Headers that unlock the restricted APIs: ``client.load_model(name, headers=...)``."""
        return admin_headers(self.admin_key, protocol)

    def repository_client(self) -> httpclient.InferenceServerClient:
        """An HTTP client for the model-repository calls (pass ``headers=admin_headers()``); a load may take as long
        as the server's start."""
        return httpclient.InferenceServerClient(self.http_url, network_timeout=self.ready_timeout_s)

    def models(self) -> list[str]:
        """The repository's models: its directories with a config.pbtxt. A directory with only a model.py is
        the source of a model this build left out (model_repository/ holds every model.py, built or not)."""
        return built_models(self.model_repository)

    @property
    def _repository_argument(self) -> str:
        location = self.model_repository
        return str(location) if is_remote(location) else str(Path(location).resolve())

    def command(self) -> list[str]:
        binary, backend_dir = find_server()
        models = self.models()
        if not models:
            raise ServerError(f"model repository {self.model_repository} has no config.pbtxt: run `make repository`")
        # The key itself never is an argument (any local user reads those): the launch puts it in place.
        restricted = ",".join(RESTRICTED_APIS) + f":{ADMIN_HEADER}={SECRET_PLACEHOLDER}"
        args = [
            str(binary),
            f"--model-repository={self._repository_argument}",
            # Explicit control loads exactly the built models; loading and unloading later need the admin key.
            "--model-control-mode=explicit",
            *(f"--load-model={name}" for name in models),
            f"--http-restricted-api={restricted}",
            f"--grpc-restricted-protocol={restricted}",
            f"--http-address={self.address}",
            f"--grpc-address={self.address}",
            f"--metrics-address={self.address}",
            f"--http-port={self.ports.http}",
            f"--grpc-port={self.ports.grpc}",
            f"--metrics-port={self.ports.metrics}",
            f"--exit-timeout-secs={max(1, int(self.grace_s))}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
        ]
        if backend_dir is not None:
            # The pip build runs on machines without a GPU: no GPU metrics, no pinned host memory (both only log
            # errors there). A tritonserver on PATH (the NGC container) keeps them, for its GPUs.
            args += [f"--backend-directory={backend_dir}", "--allow-gpu-metrics=false",
                     "--pinned-memory-pool-byte-size=0"]
        return args + list(self.extra_args)

    def start(self) -> "TritonServer":
        if self.process is not None:
            raise ServerError("server already started")
        self.models()  # the repository exists, and its bucket answers
        prepare_engine_caches(self.model_repository)
        state.clean_up_after_dead_launchers(self.address, tuple(self.ports))
        taken = self.ports.taken(self.address)
        if taken:
            raise ServerError(f"port{'s' if len(taken) > 1 else ''} {', '.join(map(str, taken))} on {self.address} "
                              "already in use (another server?): set TRITON_HTTP_PORT, TRITON_GRPC_PORT and "
                              "TRITON_METRICS_PORT to free ports")
        if self.log_path is None:
            self.log_path = Path(tempfile.mkdtemp(prefix="triton_speech_")) / "tritonserver.log"
        self._log_file = open(self.log_path, "wb")
        try:
            launched = launch(self.command(), server_environment(), self.admin_key, self._log_file)
        except BaseException:
            self._log_file.close()
            raise
        self.process, self._lifeline = launched.process, launched.lifeline
        self._record = state.Record(os.getpid(), procfs.start_time(os.getpid()), self.process.pid, self.address,
                                    tuple(self.ports), self.shm_prefix).write()
        try:
            self.wait_ready()
            self._check_admin_key()
        except BaseException:
            self.stop()
            raise
        if self.watchdog:
            self.stub_watchdog = StubWatchdog(self)
            self.stub_watchdog.start()
        return self

    def _listening(self) -> bool:
        """This process has bound its own ports: Triton logs each service it started, with its address."""
        text = Path(self.log_path).read_text(errors="replace")
        return all(f"{service} at {self.address}:{port}" in text for service, port in
                   (("Started GRPCInferenceService", self.ports.grpc), ("Started HTTPService", self.ports.http)))

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"tritonserver exited with code {self.process.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            # Ready only once our own process listens: a health answer alone could come from another server.
            if self._listening() and self.is_ready():
                return
            time.sleep(0.2)
        raise ServerError(f"tritonserver not ready after {self.ready_timeout_s:.0f} s:\n" + self.log_tail())

    def _check_admin_key(self) -> None:
        """The key unlocks the restricted APIs: it reached the server (through the launch's pipe)."""
        client = self.repository_client()
        try:
            client.get_model_repository_index(headers=self.admin_headers("http"))
        except InferenceServerException as error:
            raise ServerError(f"the admin key does not unlock tritonserver's restricted APIs ({error})") from None
        finally:
            client.close()

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not Path(self.log_path).exists():
            return ""
        return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float | None = None) -> None:
        """SIGTERM: Triton refuses new connections, finishes the accepted requests and unloads; after the grace
        period (``timeout_s``, default ``grace_s`` plus a margin) it is killed. Then whatever is left of its python
        stubs is killed, and their shared memory removed."""
        if self.stub_watchdog is not None:
            self.stub_watchdog.stop()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                self._drain(time.monotonic() + (self.grace_s + 5.0 if timeout_s is None else timeout_s))
                if self.process.poll() is None:
                    self.process.kill()
                self.process.wait()
            self.end_leftovers()
            self.process = None
            os.close(self._lifeline)
            self._log_file.close()
            if self._record is not None:
                self._record.unlink(missing_ok=True)
        self.remove_shm_regions()

    def _drain(self, deadline: float) -> None:
        """Wait for the server to exit after SIGTERM, ending waits that have nothing left to wait for."""
        quietness = drain.Quietness(self.process.pid, self.metrics_url)
        while self.process.poll() is None and time.monotonic() < deadline:
            if self._only_orphans_left():
                return
            held = drain.http_connections_held(self.log_tail(3))
            if quietness.sample() and held:
                closed = drain.close_idle_connections(self.process.pid, self.ports.http)
                if closed is None:  # unreachable: everything is done, the rest of the stop is unloading
                    log.warning("cannot close the idle HTTP connections holding the stop: killing the drained server")
                    return
                if closed:
                    log.info("closed %d idle HTTP connection(s) holding the stop", closed)
            time.sleep(0.1)

    def end_leftovers(self) -> list[int]:
        """Kill what is left of an exited server: its python stubs (they outlive a killed server)."""
        return state.end_processes(self.shm_prefix)

    def _only_orphans_left(self) -> bool:
        """After a stub died, Triton keeps the dead instance's model 'live' until its exit timeout: once it is
        waiting for nothing else (no other model, no request), there is nothing left to drain."""
        orphans = self.stub_watchdog.orphans if self.stub_watchdog is not None else 0
        if not orphans:
            return False
        counts = re.findall(r"Found (\d+) live models and (\d+) in-flight", self.log_tail(5))
        return bool(counts) and int(counts[-1][0]) <= orphans and int(counts[-1][1]) == 0

    def remove_shm_regions(self) -> list[str]:
        """Remove this server's python-backend shared-memory regions (a crashed stub can leak them)."""
        return state.remove_shm_regions(self.shm_prefix)

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

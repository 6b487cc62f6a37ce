"""Start, watch and stop a real ``tritonserver`` serving a model repository.

Two server builds are supported:

* a ``tritonserver`` already on ``PATH`` (the NGC container), used with its own backends;
* the build bundled in the ``nvidia-pytriton`` wheel (Triton 2.51, python backend only), which needs a
  backend directory laid out the way the server expects and a few library paths (see README).

Locked down by default: the served repository is the one built (explicit model control, only models with a
config.pbtxt), and the APIs that change the server or reach its memory and files (model repository control,
shared memory, statistics, trace and log settings) need an admin key: ``TRITON_ADMIN_KEY`` or a generated one,
written to a file only its owner can read. A watchdog reloads a model whose python stub died, and SIGTERM
lets accepted requests finish (Triton drains them) within ``TRITON_GRACE_SECONDS``.

``python -m triton_speech.server --model-repository model_repository`` runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import errno
import glob
import importlib.util
import logging
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

SHM_DIR = Path("/dev/shm")
log = logging.getLogger("triton_speech.server")

# API categories a client needs the admin key for: everything that changes what is served (load, unload,
# config overrides), maps memory (shared-memory registration) or changes files and logs (trace, logging), and
# the statistics. Health, metadata, model config and inference stay open.
RESTRICTED_APIS = ("model-repository", "shared-memory", "statistics", "trace", "logging")
# The header HTTP clients send; gRPC clients send it with Triton's prefix (as metadata).
ADMIN_HEADER = "admin-key"
GRPC_ADMIN_HEADER = f"triton-grpc-protocol-{ADMIN_HEADER}"
DEFAULT_GRACE_S = 30.0


class ServerError(RuntimeError):
    """The server could not be started or did not become ready."""


@dataclass(frozen=True)
class Ports:
    http: int = 8000
    grpc: int = 8001
    metrics: int = 8002

    @classmethod
    def from_env(cls) -> "Ports":
        return cls(
            http=int(os.environ.get("TRITON_HTTP_PORT", 8000)),
            grpc=int(os.environ.get("TRITON_GRPC_PORT", 8001)),
            metrics=int(os.environ.get("TRITON_METRICS_PORT", 8002)),
        )

    def taken(self, address: str = "127.0.0.1") -> list[int]:
        """The ports another process already listens on (checked by binding, as the server will)."""
        busy = []
        for port in (self.http, self.grpc, self.metrics):
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


def _pytriton_root() -> Path | None:
    # Located, not imported: the wheel is installed without its Python-API dependencies.
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(spec.submodule_search_locations[0]) / "tritonserver"
    return root if (root / "bin" / "tritonserver").exists() else None


def _pytriton_libs() -> Path | None:
    root = _pytriton_root()
    if root is None:
        return None
    libs = root.parent.parent / "nvidia_pytriton.libs"
    return libs if libs.is_dir() else None


def bundled_library_dir() -> Path:
    """A directory of plain-named links to the hashed libraries in ``nvidia_pytriton.libs``.

    ``perf_analyzer`` (tritonclient 2.51 wheel) looks for ``libb64.so.0d`` and ``libcudart.so.12``;
    the wheel ships them only under hashed names.
    """
    libs = _pytriton_libs()
    if libs is None:
        raise ServerError("nvidia-pytriton is not installed: run `make setup`")
    target = Path(sys.prefix) / "lib" / "triton-speech-libs"
    target.mkdir(parents=True, exist_ok=True)
    for plain, pattern in (("libb64.so.0d", "libb64-*.so.0d"), ("libcudart.so.12", "libcudart-*.so.12*")):
        found = sorted(libs.glob(pattern))
        link = target / plain
        if found and not link.exists():
            link.symlink_to(found[0])
    return target


def find_server() -> tuple[Path, Path | None]:
    """Return (tritonserver binary, backend directory to pass or None for the server's default)."""
    on_path = shutil.which("tritonserver")
    if on_path and os.environ.get("TRITON_SPEECH_USE_BUNDLED") != "1":
        return Path(on_path), None
    root = _pytriton_root()
    if root is None:
        raise ServerError(
            "no tritonserver found: neither on PATH nor bundled in nvidia-pytriton (run `make setup`)"
        )
    return root / "bin" / "tritonserver", _bundled_backend_dir(root)


def _bundled_backend_dir(root: Path) -> Path:
    """Lay out ``<dir>/python/`` the way the bundled server looks for the python backend.

    The server only finds the stub next to ``libtriton_python.so`` under the plain name
    ``triton_python_backend_stub``; the wheel keeps one stub per Python minor version.
    """
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.exists():
        raise ServerError(f"the bundled Triton has no python backend stub for Python {version}")
    backend = Path(sys.prefix) / "lib" / "triton-speech-backends"
    python_dir = backend / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    for name, source in (
        ("libtriton_python.so", root / "backends" / "python" / "libtriton_python.so"),
        ("triton_python_backend_utils.py", root / "backends" / "python" / "triton_python_backend_utils.py"),
        ("triton_python_backend_stub", stub),
    ):
        link = python_dir / name
        if link.is_symlink() and link.resolve() != source.resolve():
            link.unlink()
        if not link.exists():
            link.symlink_to(source)
    return backend


def _server_environment() -> dict[str, str]:
    env = dict(os.environ)
    # The stub starts Python isolated (PYTHONPATH is ignored); it finds this environment, and so the
    # installed triton_speech package, through the first python3 on PATH and its pyvenv.cfg.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    library_dirs = [sysconfig.get_config_var("LIBDIR") or ""]
    libs = _pytriton_libs()
    if libs is not None:
        library_dirs.append(str(libs))
    # pip's CUDA, cuDNN and TensorRT wheels (make gpu-setup), where ONNX Runtime's GPU providers look by name
    from triton_speech.runtime.onnx import library_directories

    library_dirs += library_directories()
    library_dirs.append(env.get("LD_LIBRARY_PATH", ""))
    env["LD_LIBRARY_PATH"] = os.pathsep.join(d for d in library_dirs if d)
    return env


def engine_cache_dirs(model_repository: Path) -> list[Path]:
    """The TensorRT engine caches the repository's configs name: the ``trt_engine_cache_path`` of native models'
    TensorRT accelerator, the ``engine_cache`` parameter of python models."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as pb

    found = []
    for path in sorted(Path(model_repository).glob("*/config.pbtxt")):
        config = text_format.Parse(path.read_text(), pb.ModelConfig())
        for accelerator in config.optimization.execution_accelerators.gpu_execution_accelerator:
            if accelerator.parameters.get("trt_engine_cache_path"):
                found.append(Path(accelerator.parameters["trt_engine_cache_path"]))
        if config.parameters["engine_cache"].string_value:
            found.append(Path(config.parameters["engine_cache"].string_value))
    return found


def prepare_engine_caches(model_repository: Path) -> list[Path]:
    """Create the engine cache folders before Triton loads the models: TensorRT creates only the last folder of
    its cache path and the model fails to load when the one above is missing (a fresh volume mounted there)."""
    caches = engine_cache_dirs(model_repository)
    for cache in caches:
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ServerError(f"cannot create the TensorRT engine cache {cache} ({error.strerror}): mount a writable "
                              "volume there, or build the repository with another --engine-cache-dir") from error
        if not os.access(cache, os.W_OK):
            raise ServerError(f"the TensorRT engine cache {cache} is not writable by this user")
    return caches


def admin_key_from_env() -> str:
    """``TRITON_ADMIN_KEY``, or a new random key (32 bytes of entropy) for this server."""
    return os.environ.get("TRITON_ADMIN_KEY") or secrets.token_urlsafe(32)


@dataclass
class TritonServer:
    """A ``tritonserver`` process. Use as a context manager or call start()/stop()."""

    model_repository: Path
    ports: Ports = field(default_factory=Ports.from_env)
    log_path: Path | None = None
    ready_timeout_s: float = 120.0
    extra_args: tuple[str, ...] = ()
    # Loopback unless asked: anyone who reaches the ports can send inference requests.
    address: str = field(default_factory=lambda: os.environ.get("TRITON_ADDRESS", "127.0.0.1"))
    admin_key: str = field(default_factory=admin_key_from_env, repr=False)
    # How long SIGTERM waits for accepted requests to finish (Triton's --exit-timeout-secs) before a kill.
    grace_s: float = field(default_factory=lambda: float(os.environ.get("TRITON_GRACE_SECONDS", DEFAULT_GRACE_S)))
    watchdog: bool = True
    process: subprocess.Popen | None = field(default=None, init=False)
    # Each server gets its own /dev/shm prefix so that stopping it removes only its own regions.
    shm_prefix: str = field(default_factory=lambda: f"triton_speech_{uuid.uuid4().hex[:12]}_", init=False)
    stub_watchdog: "StubWatchdog | None" = field(default=None, init=False)

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
        return {GRPC_ADMIN_HEADER if protocol == "grpc" else ADMIN_HEADER: self.admin_key}

    def models(self) -> list[str]:
        """The repository's models: its directories with a config.pbtxt. A directory with only a model.py is
        the source of a model this build left out (model_repository/ holds every model.py, built or not)."""
        return sorted(d.name for d in Path(self.model_repository).iterdir() if (d / "config.pbtxt").is_file())

    def command(self) -> list[str]:
        binary, backend_dir = find_server()
        models = self.models()
        if not models:
            raise ServerError(f"model repository {self.model_repository} has no config.pbtxt: run `make repository`")
        restricted = ",".join(RESTRICTED_APIS) + f":{ADMIN_HEADER}={self.admin_key}"
        args = [
            str(binary),
            f"--model-repository={Path(self.model_repository).resolve()}",
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
        if not Path(self.model_repository).is_dir():
            raise ServerError(f"model repository {self.model_repository} does not exist: run `make repository`")
        taken = self.ports.taken(self.address)
        if taken:
            raise ServerError(f"port{'s' if len(taken) > 1 else ''} {', '.join(map(str, taken))} on {self.address} "
                              "already in use (another server?): set TRITON_HTTP_PORT, TRITON_GRPC_PORT and "
                              "TRITON_METRICS_PORT to free ports")
        prepare_engine_caches(Path(self.model_repository))
        if self.log_path is None:
            self.log_path = Path(tempfile.mkdtemp(prefix="triton_speech_")) / "tritonserver.log"
        self._log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.command(), stdout=self._log_file, stderr=subprocess.STDOUT, env=_server_environment()
        )
        try:
            self.wait_ready()
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
        url = f"http://{self.http_url}/v2/health/ready"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"tritonserver exited with code {self.process.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            try:
                # Ready only once our own process listens: a health answer alone could come from another server.
                if self._listening():
                    with urllib.request.urlopen(url, timeout=1) as response:
                        if response.status == 200:
                            return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise ServerError(f"tritonserver not ready after {self.ready_timeout_s:.0f} s:\n" + self.log_tail())

    def is_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http_url}/v2/health/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def repository_request(self, action: str, model: str | None = None, timeout_s: float = 120.0) -> bytes:
        """POST a model-repository API call (``index``, ``load``, ``unload``) with the admin key."""
        path = "/v2/repository/index" if action == "index" else f"/v2/repository/models/{model}/{action}"
        request = urllib.request.Request(f"http://{self.http_url}{path}", data=b"{}", method="POST",
                                         headers=self.admin_headers("http"))
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.read()

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not Path(self.log_path).exists():
            return ""
        return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float | None = None) -> None:
        """SIGTERM: Triton refuses new requests (UNAVAILABLE), finishes the accepted ones and unloads; after the
        grace period (``timeout_s``, default ``grace_s`` plus a margin) it is killed."""
        if self.stub_watchdog is not None:
            self.stub_watchdog.stop()
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + (self.grace_s + 5.0 if timeout_s is None else timeout_s)
                while self.process.poll() is None and time.monotonic() < deadline:
                    if self._only_orphans_left():
                        break
                    time.sleep(0.1)
                if self.process.poll() is None:
                    self.process.kill()
                self.process.wait()
            self.process = None
            self._log_file.close()
        self.remove_shm_regions()

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
        leftovers = glob.glob(str(SHM_DIR / f"{self.shm_prefix}*"))
        for path in leftovers:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return leftovers

    def __enter__(self) -> "TritonServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class StubEvent:
    model: str
    pid: int
    died_at: float  # time.monotonic()
    ready_at: float | None = None  # when the reloaded model (and its ensembles) answered ready again
    error: str = ""


def python_stubs(server_pid: int) -> dict[int, tuple[str, str]]:
    """The server's python-backend stub processes: pid -> (model, instance), from the stub's arguments (the
    model.py path it runs, and the instance name such as ``quartznet_0_0``)."""
    stubs = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != server_pid:  # fields: state, ppid, ...
                continue
            argv = Path(stat).with_name("cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if argv and argv[0].endswith(b"triton_python_backend_stub") and len(argv) > 8:
            stubs[int(Path(stat).parent.name)] = (Path(argv[1].decode()).parent.parent.name, argv[8].decode())
    return stubs


class StubWatchdog(threading.Thread):
    """Reloads a model whose python stub process died.

    Triton 2.51 keeps such a model READY and answers every request to it with INTERNAL "Stub process ... is not
    healthy" until it is reloaded. The watchdog holds a pidfd per stub, so it hears of a death at once; it unloads
    the model (the server reports not ready, and its ensembles are unavailable meanwhile) and loads it and the
    ensembles again. Stubs that exit because Triton unloaded their model, or replaced the instance by reloading
    the model (the new stub starts before the old one exits), are left alone.
    """

    def __init__(self, server: TritonServer, rescan_s: float = 1.0):
        super().__init__(name="stub-watchdog", daemon=True)
        self.server = server
        self.rescan_s = rescan_s
        self.events: list[StubEvent] = []
        self.orphans = 0  # dead instances Triton still counts as live (they never finish unloading)
        self._stopping = threading.Event()
        self._watched: dict[int, tuple[int, str, str]] = {}  # pidfd -> (pid, model, instance)
        self._loaded = server.models()

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=10)

    def run(self) -> None:
        poller = select.poll()
        try:
            while not self._stopping.is_set() and self.server.process is not None:
                self._watch_new_stubs(poller)
                for fd, _ in poller.poll(self.rescan_s * 1000):
                    pid, model, instance = self._watched.pop(fd)
                    poller.unregister(fd)
                    os.close(fd)
                    if not self._stopping.is_set():
                        self._heal(model, instance, pid)
        finally:
            for fd in self._watched:
                os.close(fd)

    def _watch_new_stubs(self, poller) -> None:
        known = {pid for pid, _, _ in self._watched.values()}
        for pid, (model, instance) in python_stubs(self.server.process.pid).items():
            # A stub named after the model itself serves the model's own set-up while it loads, then exits.
            if pid in known or instance == model:
                continue
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                continue
            self._watched[fd] = (pid, model, instance)
            poller.register(fd, select.POLLIN)

    def _model_state(self, model: str) -> str:
        import json

        index = json.loads(self.server.repository_request("index"))
        return next((entry.get("state", "") for entry in index if entry["name"] == model), "")

    def _heal(self, model: str, instance: str, pid: int) -> None:
        event = StubEvent(model, pid, time.monotonic())
        try:
            if instance in (name for _, name in python_stubs(self.server.process.pid).values()):
                return  # a reload replaced this instance
            if self._model_state(model) != "READY":
                return  # Triton unloaded it on purpose (shutdown, an admin's unload): not a failure
            self.events.append(event)
            log.warning("the python stub of model %r (pid %d) died; reloading the model", model, pid)
            self.server.repository_request("unload", model)
            self.orphans += 1
            self.server.repository_request("load", model)
            for name in self._loaded:  # the ensembles that use it were unloaded with it
                if self._model_state(name) != "READY":
                    self.server.repository_request("load", name)
            event.ready_at = time.monotonic()
            log.warning("model %r is ready again %.1f s after its stub died", model, event.ready_at - event.died_at)
        except (OSError, urllib.error.URLError) as error:
            event.error = str(error)
            log.error("could not reload model %r after its stub died: %s", model, error)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read (created with mode 0600, never widened)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(descriptor, 0o600)
        handle.write(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--log", type=Path, default=None, help="server log file (default: a temporary file)")
    parser.add_argument("--admin-key-file", type=Path, default=None,
                        help="where to write a generated admin key (default: a new private temporary directory); "
                             "with TRITON_ADMIN_KEY set, that key is used and nothing is written")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)

    server = TritonServer(args.model_repository, log_path=args.log)
    if os.environ.get("TRITON_ADMIN_KEY"):
        key_source = "TRITON_ADMIN_KEY"
    else:
        key_file = args.admin_key_file or Path(tempfile.mkdtemp(prefix="triton_speech_")) / "admin-key"
        write_private(key_file, server.admin_key + "\n")
        key_source = str(key_file)
    stopping = False

    def request_stop(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        server.start()
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"Triton is ready: HTTP {server.http_url}, gRPC {server.grpc_url}, metrics {server.metrics_url}"
        f" (log: {server.log_path}). Ctrl-C stops it.\n"
        f"Model control, shared memory, statistics, trace and log settings need the admin key "
        f"(HTTP header '{ADMIN_HEADER}', gRPC metadata '{GRPC_ADMIN_HEADER}'): {key_source}",
        flush=True,
    )
    while not stopping and server.process.poll() is None:
        time.sleep(0.2)
    exited_by_itself = server.process.poll() is not None
    server.stop()
    if exited_by_itself:
        print("tritonserver exited unexpectedly:\n" + server.log_tail(), file=sys.stderr)
        return 1
    print("Triton stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start, wait for and stop a real ``tritonserver`` serving a model repository.

Two server builds are supported:

* a ``tritonserver`` already on ``PATH`` (the NGC container), used with its own backends;
* the build bundled in the ``nvidia-pytriton`` wheel (Triton 2.51, python backend only), which needs a
  backend directory laid out the way the server expects and a few library paths (see README).

``python -m triton_speech.server --model-repository model_repository`` runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

SHM_DIR = Path("/dev/shm")


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
    library_dirs.append(env.get("LD_LIBRARY_PATH", ""))
    env["LD_LIBRARY_PATH"] = os.pathsep.join(d for d in library_dirs if d)
    return env


@dataclass
class TritonServer:
    """A ``tritonserver`` process on 127.0.0.1. Use as a context manager or call start()/stop()."""

    model_repository: Path
    ports: Ports = field(default_factory=Ports.from_env)
    log_path: Path | None = None
    ready_timeout_s: float = 120.0
    extra_args: tuple[str, ...] = ()
    process: subprocess.Popen | None = field(default=None, init=False)
    # Each server gets its own /dev/shm prefix so that stopping it removes only its own regions.
    shm_prefix: str = field(default_factory=lambda: f"triton_speech_{uuid.uuid4().hex[:12]}_", init=False)

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.ports.http}"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.ports.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.metrics}/metrics"

    def models(self) -> list[str]:
        """The repository's models: its directories with a config.pbtxt. A directory with only a model.py is
        the source of a model this build left out (model_repository/ holds every model.py, built or not)."""
        return sorted(d.name for d in Path(self.model_repository).iterdir() if (d / "config.pbtxt").is_file())

    def command(self) -> list[str]:
        binary, backend_dir = find_server()
        models = self.models()
        if not models:
            raise ServerError(f"model repository {self.model_repository} has no config.pbtxt: run `make repository`")
        args = [
            str(binary),
            f"--model-repository={Path(self.model_repository).resolve()}",
            "--model-control-mode=explicit",
            *(f"--load-model={name}" for name in models),
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            f"--http-port={self.ports.http}",
            f"--grpc-port={self.ports.grpc}",
            f"--metrics-port={self.ports.metrics}",
            "--allow-gpu-metrics=false",
            "--pinned-memory-pool-byte-size=0",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
        ]
        if backend_dir is not None:
            args.append(f"--backend-directory={backend_dir}")
        return args + list(self.extra_args)

    def start(self) -> "TritonServer":
        if self.process is not None:
            raise ServerError("server already started")
        if not Path(self.model_repository).is_dir():
            raise ServerError(f"model repository {self.model_repository} does not exist: run `make repository`")
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
        return self

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
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise ServerError(f"tritonserver not ready after {self.ready_timeout_s:.0f} s:\n" + self.log_tail())

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not Path(self.log_path).exists():
            return ""
        return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
            self._log_file.close()
        self.remove_shm_regions()

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--log", type=Path, default=None, help="server log file (default: a temporary file)")
    args = parser.parse_args(argv)

    server = TritonServer(args.model_repository, log_path=args.log)
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
        f" (log: {server.log_path}). Ctrl-C stops it.",
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

"""Which ``tritonserver`` runs, and the environment it needs.

Two builds are supported: a ``tritonserver`` already on ``PATH`` (the NGC container), used with its own backends; and
the build bundled in the ``nvidia-pytriton`` wheel (Triton 2.51, python backend only), which needs a backend
directory laid out the way the server expects and a few library paths.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from triton_speech.runtime.onnx import library_directories
from triton_speech.server.errors import ServerError


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


def server_environment() -> dict[str, str]:
    """The launcher's environment, with what the server and its python stubs need to find this one."""
    env = dict(os.environ)
    # Neither the server nor the models' code has any use for the key (the launch hands it over another way).
    env.pop("TRITON_ADMIN_KEY", None)
    # The stub starts Python isolated (PYTHONPATH is ignored); it finds this environment, and so the
    # installed triton_speech package, through the first python3 on PATH and its pyvenv.cfg.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    library_dirs = [sysconfig.get_config_var("LIBDIR") or ""]
    libs = _pytriton_libs()
    if libs is not None:
        library_dirs.append(str(libs))
    # pip's CUDA, cuDNN and TensorRT wheels (make gpu-setup), where ONNX Runtime's GPU providers look by name
    library_dirs += library_directories()
    library_dirs.append(env.get("LD_LIBRARY_PATH", ""))
    env["LD_LIBRARY_PATH"] = os.pathsep.join(d for d in library_dirs if d)
    return env

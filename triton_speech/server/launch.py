"""How ``tritonserver`` is started: its admin key through a pipe instead of its command line, its life tied to the
launcher's, in a process group of its own (with its python stubs).

Both are the work of a small library preloaded into tritonserver (``launch_shim.c``, built with the C compiler on
first use and cached beside this environment's other links).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from triton_speech.server.errors import ServerError

SHIM_SOURCE = Path(__file__).with_name("launch_shim.c")
# What the command line carries where the key goes (the shim puts the key in its place). No HTTP header or gRPC
# metadata can hold a newline: should the shim ever not run, no client could match this "key".
SECRET_PLACEHOLDER = "\nTRITON_SPEECH_SECRET\n"


def _cache_dirs() -> list[Path]:
    return [Path(sys.prefix) / "lib" / "triton-speech-libs",
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "triton-speech"]


def shim_library() -> Path:
    """The built shim (built now if this source has not been: ``cc``, a few seconds)."""
    source = SHIM_SOURCE.read_bytes()
    name = f"launch_shim-{hashlib.sha256(source).hexdigest()[:16]}.so"
    for folder in _cache_dirs():
        if (folder / name).is_file():
            return folder / name
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise ServerError("no C compiler to build the launcher's shim (it keeps the admin key off tritonserver's "
                          "command line): install one, e.g. `apt-get install gcc`")
    errors = []
    for folder in _cache_dirs():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=folder) as scratch:
                built = Path(scratch) / name
                result = subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-pthread", "-o", str(built),
                                         str(SHIM_SOURCE)], capture_output=True, text=True)
                if result.returncode != 0:
                    raise ServerError(f"building the launcher's shim failed:\n{result.stderr}")
                os.replace(built, folder / name)  # atomic: a concurrent start sees the whole file or none
            return folder / name
        except OSError as error:  # not writable: the next place
            errors.append(f"{folder}: {error}")
    raise ServerError("cannot write the launcher's shim: " + "; ".join(errors))


@dataclass
class Launched:
    process: subprocess.Popen
    lifeline: int  # the write end: tritonserver's process group is killed once no process holds it


def launch(command: list[str], env: dict[str, str], secret: str, output) -> Launched:
    """Start ``command`` (whose arguments carry SECRET_PLACEHOLDER where ``secret`` goes) with its output to
    ``output``, as the leader of a new process group."""
    preload = os.pathsep.join(p for p in (str(shim_library()), env.get("LD_PRELOAD")) if p)
    secret_read, secret_write = os.pipe()
    try:
        os.write(secret_write, secret.encode())  # far below a pipe's buffer: never blocks
    finally:
        os.close(secret_write)
    lifeline_read, lifeline_write = os.pipe()
    try:
        env = dict(env, LD_PRELOAD=preload, TRITON_SPEECH_SECRET_FD=str(secret_read),
                   TRITON_SPEECH_LIFELINE_FD=str(lifeline_read))
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env,
                                   pass_fds=(secret_read, lifeline_read), start_new_session=True)
    except BaseException:
        os.close(lifeline_write)
        raise
    finally:
        os.close(secret_read)
        os.close(lifeline_read)
    return Launched(process, lifeline_write)

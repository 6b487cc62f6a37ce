"""Start, watch and stop a real ``tritonserver`` serving a model repository.

Locked down by default: the served repository is the one built (explicit model control, only models with a
config.pbtxt), and the APIs that change the server or reach its memory and files (model repository control,
shared memory, trace and log settings) need an admin key: ``TRITON_ADMIN_KEY`` or a generated one, written to a file
only its owner can read, and handed to tritonserver without appearing in its command line. A watchdog reloads a model
whose python stub died; tritonserver and its stubs never outlive the launcher; SIGTERM lets accepted requests finish
(Triton drains them) within ``TRITON_GRACE_SECONDS``.

``python -m triton_speech.server --model-repository model_repository`` runs until Ctrl-C or SIGTERM.

Modules: ``ports`` (where it listens), ``bundled`` (which tritonserver, and its environment), ``admin`` (the admin
key), ``engines`` (TensorRT engine caches made before the models load), ``launch`` (starting tritonserver: the key's
handover, its life tied to the launcher's), ``process`` (the server process), ``drain`` (idle connections at a
stop), ``watchdog`` (reloading a model whose stub died), ``state`` (records for cleaning up after a launcher that
died), ``procfs`` (what /proc says about the processes), ``__main__`` (the command).
"""

from triton_speech.server.admin import (
    ADMIN_HEADER,
    GRPC_ADMIN_HEADER,
    RESTRICTED_APIS,
    admin_key_from_env,
    write_private,
)
from triton_speech.server.bundled import bundled_library_dir, find_server, server_environment
from triton_speech.server.engines import engine_cache_dirs, prepare_engine_caches
from triton_speech.server.errors import ServerError
from triton_speech.server.ports import Ports
from triton_speech.server.process import TritonServer
from triton_speech.server.procfs import python_stubs
from triton_speech.server.state import SHM_DIR
from triton_speech.server.watchdog import StubEvent, StubWatchdog

__all__ = [
    "ADMIN_HEADER", "GRPC_ADMIN_HEADER", "RESTRICTED_APIS", "SHM_DIR", "Ports", "ServerError", "StubEvent",
    "StubWatchdog", "TritonServer", "admin_key_from_env", "bundled_library_dir", "engine_cache_dirs", "find_server",
    "prepare_engine_caches", "python_stubs", "server_environment", "write_private",
]

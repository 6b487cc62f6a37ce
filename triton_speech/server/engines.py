"""TensorRT engine caches: the folders the repository's configs name, created before Triton loads the models.

TensorRT (ONNX Runtime's TensorRT provider, and Triton's TensorRT accelerator) creates only the last folder of its
cache path, and a model whose cache cannot be made fails to load: a fresh volume mounted above the caches must still
work, and a cache that cannot be written stops the start with its name instead of a model that never loads.
"""

from __future__ import annotations

import os
from pathlib import Path

from triton_speech.server.errors import ServerError
from triton_speech.server.repository import config_texts


def engine_cache_dirs(model_repository: str | Path) -> list[Path]:
    """The engine caches the repository's configs name: the ``trt_engine_cache_path`` of native models' TensorRT
    accelerator, the ``engine_cache`` parameter of python models."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as pb

    found = []
    for text in config_texts(model_repository).values():
        config = text_format.Parse(text, pb.ModelConfig())
        for accelerator in config.optimization.execution_accelerators.gpu_execution_accelerator:
            if accelerator.parameters.get("trt_engine_cache_path"):
                found.append(Path(accelerator.parameters["trt_engine_cache_path"]))
        if config.parameters["engine_cache"].string_value:
            found.append(Path(config.parameters["engine_cache"].string_value))
    return found


def prepare_engine_caches(model_repository: str | Path) -> list[Path]:
    """Create the engine cache folders (they are on this machine, wherever the repository is)."""
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

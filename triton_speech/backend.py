"""Request plumbing shared by the python-backend ``model.py`` files.

Triton hands a python model a list of requests (the dynamic batcher's batch). Each request carries
one or more rows. ``serve`` parses every request on its own, so one bad request gets its own error
response while the rest are computed together in one batch and answered.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from triton_speech.batching import pad_batch, unpad_batch
from triton_speech.errors import InputError
from triton_speech.text_input import decode_utf8


class ModelArgs:
    """The ``args`` Triton passes to ``initialize``: parameters and the version directory."""

    def __init__(self, args: dict):
        self.config = json.loads(args["model_config"])
        self.name = self.config["name"]
        self.directory = Path(args["model_repository"]) / args["model_version"]
        self.parameters = {k: v["string_value"] for k, v in self.config.get("parameters", {}).items()}

    def parameter(self, key: str, default: str | None = None) -> str:
        if key in self.parameters:
            return self.parameters[key]
        if default is None:
            raise KeyError(f"model {self.name}: parameter {key} missing from config.pbtxt")
        return default

    def path(self, key: str) -> Path:
        """A file named by a parameter, inside the version directory."""
        return self.directory / self.parameter(key)


def input_array(pb_utils, request, name: str) -> np.ndarray | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy()


def serve(
    pb_utils,
    requests: Sequence[Any],
    parse: Callable[[Any], list],
    compute: Callable[[list], list],
    pack: Callable[[list], list],
) -> list:
    """Answer ``requests``: ``parse`` one request into rows (raising InputError for bad input),
    ``compute`` all good rows at once, ``pack`` one request's results into output tensors."""
    responses: list = [None] * len(requests)
    parsed: list[tuple[int, list]] = []
    for index, request in enumerate(requests):
        try:
            parsed.append((index, parse(request)))
        except InputError as error:
            # INVALID_ARG: clients see HTTP 400 / gRPC INVALID_ARGUMENT, not a server fault.
            responses[index] = pb_utils.InferenceResponse(
                error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG)
            )
    rows = [row for _, request_rows in parsed for row in request_rows]
    try:
        results = compute(rows) if rows else []
    except Exception as error:  # keep serving: every request of this batch gets the error
        traceback.print_exc()
        message = f"internal error: {type(error).__name__}: {error}"
        for index, _ in parsed:
            responses[index] = pb_utils.InferenceResponse(error=pb_utils.TritonError(message))
        return responses
    offset = 0
    for index, request_rows in parsed:
        mine = results[offset : offset + len(request_rows)]
        offset += len(request_rows)
        responses[index] = pb_utils.InferenceResponse(output_tensors=pack(mine))
    return responses


def optional_scalars(pb_utils, request, name: str, rows: int, default, kind=float) -> list:
    """A per-row scalar input ``[B, 1]`` as ``rows`` Python values, or ``default`` for each when absent."""
    values = input_array(pb_utils, request, name)
    if values is None:
        return [default] * rows
    values = values.reshape(-1)
    if values.shape[0] != rows:
        raise InputError(f"{name} has {values.shape[0]} rows, expected {rows}")
    return [kind(v) for v in values]


def seed_inputs(pb_utils, request, rows: int) -> list[int]:
    """The optional ``SEED`` ``[B, 1]`` (0 when absent): non-negative, as numpy's generators require."""
    seeds = optional_scalars(pb_utils, request, "SEED", rows, 0, int)
    if any(seed < 0 for seed in seeds):
        raise InputError(f"SEED must be non-negative, got {seeds}")
    return seeds


def text_inputs(pb_utils, request, name: str, max_chars: int) -> list[str]:
    """A BYTES input ``[B, 1]`` decoded as UTF-8, each row within ``max_chars``."""
    return [decode_utf8(raw, max_chars, name) for raw in input_array(pb_utils, request, name).reshape(-1)]


def ragged_input(pb_utils, request, name: str, length_name: str, axis: int) -> list[np.ndarray]:
    """A padded input and its ``[B, 1]`` lengths, as rows cut to their lengths along ``axis``."""
    return unpad_batch(input_array(pb_utils, request, name), input_array(pb_utils, request, length_name), axis, name)


def ragged_output(pb_utils, name: str, length_name: str, rows: Sequence[np.ndarray], axis: int) -> list:
    """Rows padded into one output tensor plus their ``[B, 1]`` INT64 lengths."""
    batch, lengths = pad_batch(rows, axis=axis)
    return [pb_utils.Tensor(name, batch), pb_utils.Tensor(length_name, lengths.reshape(-1, 1))]


def bytes_column(texts: Sequence[str]) -> np.ndarray:
    """Strings as the ``[B, 1]`` BYTES tensor the configs declare."""
    return np.array([text.encode("utf-8") for text in texts], dtype=np.object_).reshape(-1, 1)

"""Request plumbing shared by the python-backend ``model.py`` files.

Triton hands a python model a list of requests (the dynamic batcher's batch). Each request carries
one or more rows. ``serve`` parses every request on its own, so one bad request gets its own error
response while the rest are computed together in one batch and answered. Should the batch's computation
fail anyway, each request is computed again on its own: only the request that fails alone gets an error.

Every model checks its own inputs, whether an ensemble or a client sends them (an ensemble's internal steps
can be called directly): finite values, lengths within the limits, ids within the vocabulary.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from triton_speech.runtime.batching import pad_batch, unpad_batch
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.inputs import decode_utf8, split_rows
from triton_speech.runtime.model_settings import AudioLimits, T


class ModelArgs:
    """The ``args`` Triton passes to ``initialize``: parameters and the version directory."""

    def __init__(self, args: dict):
        self.config = json.loads(args["model_config"])
        self.name = self.config["name"]
        self.directory = Path(args["model_repository"]) / args["model_version"]
        # an empty string value may be left out of the JSON altogether
        self.parameters = {k: v.get("string_value", "") for k, v in self.config.get("parameters", {}).items()}
        # The GPU Triton placed this instance on (instance groups on several GPUs get one instance per GPU)
        self.device_id = int(args.get("model_instance_device_id") or 0)

    def settings(self, kind: type[T]) -> T:
        """The model's settings (a ``runtime.model_settings`` dataclass), as the builder wrote them."""
        return kind.from_parameters(self.parameters, self.name)

    def placement(self):
        """Where this instance's ONNX Runtime sessions run: the ``device`` parameter, the GPU Triton gave the
        instance, the TensorRT engine cache and each graph's GPU options (``gpu_graphs``), as the builder wrote them."""
        from triton_speech.runtime.onnx import Placement

        return Placement.from_parameters(self.parameters, self.device_id)


def input_array(pb_utils, request, name: str) -> np.ndarray | None:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return None if tensor is None else tensor.as_numpy()


def error_response(pb_utils, error: Exception):
    """An error response: INVALID_ARG (HTTP 400, gRPC INVALID_ARGUMENT) for an InputError, which names the
    problem; INTERNAL for anything else, a fault of the server, whose traceback goes to the log."""
    if isinstance(error, InputError):
        return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG))
    traceback.print_exception(error)
    return pb_utils.InferenceResponse(
        error=pb_utils.TritonError(f"internal error: {type(error).__name__}: {error}", pb_utils.TritonError.INTERNAL)
    )


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
    parsed = _parse_all(pb_utils, requests, parse, responses)
    try:
        _answer(pb_utils, parsed, compute, pack, responses)
    except Exception as error:
        if len(parsed) == 1:
            responses[parsed[0][0]] = error_response(pb_utils, error)
        else:  # one request must not fail the others: each alone, so only the one at fault gets the error
            for one in parsed:
                try:
                    _answer(pb_utils, [one], compute, pack, responses)
                except Exception as error:
                    responses[one[0]] = error_response(pb_utils, error)
    return responses


def _parse_all(pb_utils, requests: Sequence[Any], parse, responses: list) -> list[tuple[int, list]]:
    """(index, rows) of every request ``parse`` accepts; the others get their error response."""
    parsed = []
    for index, request in enumerate(requests):
        try:
            parsed.append((index, parse(request)))
        except Exception as error:
            responses[index] = error_response(pb_utils, error)
    return parsed


async def serve_async(
    pb_utils,
    requests: Sequence[Any],
    parse: Callable[[Any], list],
    compute: Callable[[list], Awaitable[list]],
    pack: Callable[[list], list],
) -> list:
    """``serve`` for a model whose ``compute`` is a coroutine (it calls other models through BLS): the requests
    are computed concurrently, each on its own, so a request that fails fails alone."""
    responses: list = [None] * len(requests)

    async def answer(index: int, rows: list) -> None:
        try:
            responses[index] = pb_utils.InferenceResponse(output_tensors=pack(await compute(rows)))
        except Exception as error:
            responses[index] = error_response(pb_utils, error)

    await asyncio.gather(*(answer(index, rows) for index, rows in _parse_all(pb_utils, requests, parse, responses)))
    return responses


def _answer(pb_utils, parsed: list[tuple[int, list]], compute, pack, responses: list) -> None:
    rows = [row for _, request_rows in parsed for row in request_rows]
    results = compute(rows) if rows else []
    if len(results) != len(rows):
        raise RuntimeError(f"computed {len(results)} results for {len(rows)} rows")
    answers, offset = [], 0
    for index, request_rows in parsed:
        answers.append((index, pack(results[offset : offset + len(request_rows)])))
        offset += len(request_rows)
    for index, tensors in answers:
        responses[index] = pb_utils.InferenceResponse(output_tensors=tensors)


class Responder:
    """Where one request of a decoupled model sends its responses: any number, the last one marked final."""

    def __init__(self, pb_utils, request):
        self.pb_utils = pb_utils
        self.request = request
        self.sender = request.get_response_sender()

    def send(self, tensors: list, final: bool = False) -> None:
        flags = self.pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL if final else 0
        self.sender.send(self.pb_utils.InferenceResponse(output_tensors=tensors), flags=flags)

    def fail(self, error: Exception) -> None:
        """The error as the request's last response (INVALID_ARG for an InputError)."""
        self.sender.send(error_response(self.pb_utils, error), flags=self.pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)

    def cancelled(self) -> bool:
        """The client cancelled the request or went away: nothing more needs computing."""
        return self.request.is_cancelled()


def serve_decoupled(pb_utils, requests: Sequence[Any], start: Callable[[Any, Responder], None]) -> None:
    """Decoupled models: ``start`` each request with its own ``Responder`` (it answers later, from another thread);
    a request ``start`` refuses (InputError for bad input) gets the error as its only response."""
    for request in requests:
        responder = Responder(pb_utils, request)
        try:
            start(request, responder)
        except Exception as error:
            responder.fail(error)


def optional_scalars(pb_utils, request, name: str, rows: int, default, kind=float) -> list:
    """A per-row scalar input ``[B, 1]`` as ``rows`` Python values, or ``default`` for each when absent."""
    values = input_array(pb_utils, request, name)
    if values is None:
        return [default] * rows
    values = values.reshape(-1)
    if values.shape[0] != rows:
        raise InputError(f"{name} has {values.shape[0]} rows, expected {rows}")
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise InputError(f"{name} must be finite, got {values.tolist()}")
    return [kind(v) for v in values]


def waveglow_inputs(pb_utils, request, rows: int, sigma: float, denoiser_strength: float) -> tuple[list, list]:
    """The optional ``SIGMA`` and ``DENOISER_STRENGTH`` ``[B, 1]`` (``sigma``, ``denoiser_strength`` when absent):
    finite and non-negative."""
    sigmas = optional_scalars(pb_utils, request, "SIGMA", rows, sigma)
    strengths = optional_scalars(pb_utils, request, "DENOISER_STRENGTH", rows, denoiser_strength)
    for name, values in (("SIGMA", sigmas), ("DENOISER_STRENGTH", strengths)):
        if any(not 0.0 <= v < float("inf") for v in values):
            raise InputError(f"{name} must be a finite non-negative number, got {values}")
    return sigmas, strengths


def seed_inputs(pb_utils, request, rows: int) -> list[int]:
    """The optional ``SEED`` ``[B, 1]`` (0 when absent): non-negative, as numpy's generators require."""
    seeds = optional_scalars(pb_utils, request, "SEED", rows, 0, int)
    if any(seed < 0 for seed in seeds):
        raise InputError(f"SEED must be non-negative, got {seeds}")
    return seeds


def text_inputs(pb_utils, request, name: str, max_chars: int) -> list[str]:
    """A BYTES input ``[B, 1]`` decoded as UTF-8, each row within ``max_chars``; errors name the row."""
    return [decode_utf8(raw, max_chars, f"{name} row {row}")
            for row, raw in enumerate(input_array(pb_utils, request, name).reshape(-1))]


def audio_rows(pb_utils, request, limits: AudioLimits) -> list[np.ndarray]:
    """A request's ``AUDIO`` [B, N] (and optional ``AUDIO_LENGTH``) as checked rows, within the model's limits (the
    asr ensemble's first step does this)."""
    return split_rows(input_array(pb_utils, request, "AUDIO"), input_array(pb_utils, request, "AUDIO_LENGTH"),
                      min_samples=limits.min_samples, max_samples=limits.max_samples, sample_rate=limits.sample_rate)


def ragged_input(pb_utils, request, name: str, length_name: str, axis: int,
                 max_length: int | None = None) -> list[np.ndarray]:
    """A padded float input and its ``[B, 1]`` lengths, as rows cut to their lengths along ``axis``: each
    at most ``max_length`` long and all finite (NaN or Inf would poison whatever shares a batch with it)."""
    rows = unpad_batch(input_array(pb_utils, request, name), input_array(pb_utils, request, length_name), axis, name)
    for row, values in enumerate(rows):
        if max_length is not None and values.shape[axis] > max_length:
            raise InputError(f"{name} row {row} has length {values.shape[axis]}; the limit is {max_length}")
        if not np.isfinite(values).all():
            raise InputError(f"{name} row {row} contains {int(np.count_nonzero(~np.isfinite(values)))} NaN or Inf "
                             "values")
    return rows


def ragged_output(pb_utils, name: str, length_name: str, rows: Sequence[np.ndarray], axis: int) -> list:
    """Rows padded into one output tensor plus their ``[B, 1]`` INT64 lengths."""
    batch, lengths = pad_batch(rows, axis=axis)
    return [pb_utils.Tensor(name, batch), pb_utils.Tensor(length_name, lengths.reshape(-1, 1))]


def bytes_column(texts: Sequence[str]) -> np.ndarray:
    """Strings as the ``[B, 1]`` BYTES tensor the configs declare."""
    return np.array([text.encode("utf-8") for text in texts], dtype=np.object_).reshape(-1, 1)


def served_model(pb_utils, model: str, input_names: Sequence[str], output_names: Sequence[str]) -> Callable:
    """A function that runs another served model through Triton's BLS API, its outputs asked for in CPU memory: how
    a python model (tokenization, labelling) uses a network the native ONNX Runtime backend serves on the GPU."""

    def run(*arrays: np.ndarray) -> list[np.ndarray]:
        request = pb_utils.InferenceRequest(
            model_name=model, requested_output_names=list(output_names),
            inputs=[pb_utils.Tensor(name, array) for name, array in zip(input_names, arrays)],
            preferred_memory=pb_utils.PreferredMemory(pb_utils.TRITONSERVER_MEMORY_CPU, 0))
        response = request.exec()
        if response.has_error():
            raise RuntimeError(f"{model}: {response.error().message()}")
        return [pb_utils.get_output_tensor_by_name(response, name).as_numpy() for name in output_names]

    return run

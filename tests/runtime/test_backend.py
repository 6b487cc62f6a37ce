"""backend.serve with a fake pb_utils: one bad request among good ones gets its own error, the others are answered."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from triton_speech.runtime.backend import ragged_input, serve, text_inputs
from triton_speech.runtime.errors import InputError


class FakeError:
    INVALID_ARG, INTERNAL = "INVALID_ARG", "INTERNAL"

    def __init__(self, message, code=INTERNAL):
        self.message, self.code = message, code


class FakeResponse:
    def __init__(self, output_tensors=None, error=None):
        self.outputs, self.error = output_tensors, error


class FakeTensor:
    def __init__(self, name, array):
        self.name, self.array = name, array

    def as_numpy(self):
        return self.array


def fake_pb_utils():
    return SimpleNamespace(
        InferenceResponse=FakeResponse, TritonError=FakeError, Tensor=FakeTensor,
        get_input_tensor_by_name=lambda request, name: (
            FakeTensor(name, request[name]) if name in request else None),
    )


def parse(request):
    values = request["X"].reshape(-1).tolist()
    if any(v < 0 for v in values):
        raise InputError(f"X must be non-negative, got {values}")
    return values


def double(rows):
    if 13 in rows:  # a value parse accepts but the computation cannot take (a fault, not bad input)
        raise ZeroDivisionError("13 is unlucky")
    return [2 * v for v in rows]


def pack(results):
    return [FakeTensor("Y", np.array(results).reshape(-1, 1))]


def answer(requests, compute=double):
    return serve(fake_pb_utils(), [{"X": np.array(r).reshape(-1, 1)} for r in requests], parse, compute, pack)


def outputs(response):
    assert response.error is None, response.error.message
    return response.outputs[0].array.reshape(-1).tolist()


def test_every_request_gets_its_own_rows_back_in_order():
    responses = answer([[1, 2], [3], [4, 5, 6]])
    assert [outputs(r) for r in responses] == [[2, 4], [6], [8, 10, 12]]


def test_a_request_refused_by_parse_gets_invalid_arg_and_the_others_are_answered():
    responses = answer([[1], [-1, 2], [3]])
    assert outputs(responses[0]) == [2] and outputs(responses[2]) == [6]
    assert responses[1].error.code == FakeError.INVALID_ARG
    assert "X must be non-negative, got [-1, 2]" == responses[1].error.message


def test_a_request_that_breaks_the_batch_computation_fails_alone(capsys):
    responses = answer([[1], [2, 13], [3]])
    assert outputs(responses[0]) == [2] and outputs(responses[2]) == [6]
    assert responses[1].error.code == FakeError.INTERNAL
    assert responses[1].error.message == "internal error: ZeroDivisionError: 13 is unlucky"
    assert "Traceback" in capsys.readouterr().err  # a fault of the server is logged with its traceback


def test_input_errors_found_while_computing_are_invalid_arg_without_a_traceback(capsys):
    def compute(rows):
        if 7 in rows:
            raise InputError("7 cannot be doubled")
        return double(rows)

    responses = answer([[7], [1]], compute)
    assert outputs(responses[1]) == [2]
    assert (responses[0].error.code, responses[0].error.message) == (FakeError.INVALID_ARG, "7 cannot be doubled")
    assert "Traceback" not in capsys.readouterr().err


def test_a_compute_that_loses_rows_is_an_internal_error_not_a_misaligned_answer():
    responses = answer([[1, 2]], lambda rows: rows[:1])
    assert responses[0].error.code == FakeError.INTERNAL
    assert "1 results for 2 rows" in responses[0].error.message


def ragged(batch, lengths, **limits):
    request = {"V": np.asarray(batch, dtype=np.float32), "V_LENGTH": np.asarray(lengths).reshape(-1, 1)}
    return ragged_input(fake_pb_utils(), request, "V", "V_LENGTH", axis=-1, **limits)


def test_ragged_input_cuts_rows_to_their_lengths():
    rows = ragged([[1, 2, 3], [4, 5, 0]], [3, 2])
    assert [r.tolist() for r in rows] == [[1, 2, 3], [4, 5]]


@pytest.mark.parametrize("batch, lengths, limits, message", [
    ([[1, np.nan, 3]], [3], {}, r"^V row 0 contains 1 NaN or Inf values$"),
    ([[1, 2, 3], [np.inf, 1, 1]], [3, 1], {}, r"^V row 1 contains 1 NaN or Inf values$"),
    ([[1, 2, 3]], [3], {"max_length": 2}, r"^V row 0 has length 3; the limit is 2$"),
    ([[1, 2, 3]], [0], {}, r"length 0 of row 0 is outside 1..3"),
    ([[1, 2, 3]], [4], {}, r"length 4 of row 0 is outside 1..3"),
])
def test_ragged_input_refuses_what_could_poison_a_batch(batch, lengths, limits, message):
    with pytest.raises(InputError, match=message):
        ragged(batch, lengths, **limits)


def test_nan_beyond_a_rows_length_is_padding_and_allowed():
    assert ragged([[1, 2, np.nan]], [2])[0].tolist() == [1, 2]


def test_text_inputs_name_the_row():
    request = {"TEXT": np.array([[b"fine"], [b"\xff bad"]], dtype=object)}
    with pytest.raises(InputError, match=r"^TEXT row 1 is not valid UTF-8: byte 0xff at offset 0"):
        text_inputs(fake_pb_utils(), request, "TEXT", 100)


def test_serve_async_answers_each_request_on_its_own_concurrently():
    """A coroutine compute (a model calling others through BLS): the requests run together, and a bad request or
    one whose computation fails gets its own error while the others are answered."""
    import asyncio

    from triton_speech.runtime.backend import serve_async

    running, most = 0, 0

    async def double_later(rows):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return double(rows)

    requests = [{"X": np.array(r).reshape(-1, 1)} for r in ([1, 2], [-1], [13], [4])]
    responses = asyncio.run(serve_async(fake_pb_utils(), requests, parse, double_later, pack))
    assert responses[0].outputs[0].array.reshape(-1).tolist() == [2, 4]
    assert responses[1].error.code == "INVALID_ARG" and "X must be non-negative" in responses[1].error.message
    assert responses[2].error.code == "INTERNAL" and "13 is unlucky" in responses[2].error.message
    assert responses[3].outputs[0].array.reshape(-1).tolist() == [8]
    assert most == 3  # the three good requests were computed at the same time

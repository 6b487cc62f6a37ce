"""Triton's answers as the gRPC status codes a Riva client gets."""

from __future__ import annotations

import grpc
import pytest
from tritonclient.utils import InferenceServerException

from triton_speech.client.connection import InferenceError, ServerUnavailable, ServerUnreachable
from triton_speech.riva.auth import Unauthenticated
from triton_speech.riva.calls import from_triton, status_of
from triton_speech.runtime.errors import InputError

URL = "127.0.0.1:8001"


@pytest.mark.parametrize("error, code, message", [
    (InferenceError("TEXT row 0 is empty", "StatusCode.INVALID_ARGUMENT"), "INVALID_ARGUMENT", "TEXT row 0 is empty"),
    (InferenceError("boom", "StatusCode.INTERNAL"), "INTERNAL", "the speech models failed: boom"),
    (ServerUnavailable("Server is stopping", "StatusCode.UNAVAILABLE"), "UNAVAILABLE",
     f"not available (Triton at {URL}: Server is stopping)"),
    (ServerUnreachable("cannot reach"), "UNAVAILABLE", "cannot reach"),
    # streamed answers carry a message only: refusals, the models' faults, a model reloading
    (InferenceServerException("AUDIO of sequence 5 contains 1 NaN"), "INVALID_ARGUMENT", "AUDIO of sequence 5"),
    (InferenceServerException("internal error: ValueError: x"), "INTERNAL", "internal error: ValueError"),
    (InferenceServerException("Stub process 'tts_0' is not healthy."), "UNAVAILABLE", "is not healthy"),
    (InferenceServerException("failed to connect", status="StatusCode.UNAVAILABLE"), "UNAVAILABLE", "failed"),
    (InferenceServerException("bad", status="StatusCode.INVALID_ARGUMENT"), "INVALID_ARGUMENT", "bad"),
])
def test_triton_errors(error, code, message):
    status = from_triton(error, URL)
    assert status.code == getattr(grpc.StatusCode, code) and message in status.message


def test_other_failures():
    assert status_of(Unauthenticated("no key")).code == grpc.StatusCode.UNAUTHENTICATED
    assert status_of(InputError("the audio is empty")).code == grpc.StatusCode.INVALID_ARGUMENT
    internal = status_of(KeyError("x"))
    assert internal.code == grpc.StatusCode.INTERNAL and "KeyError" in internal.message

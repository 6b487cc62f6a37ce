"""The connection's retries, against small fake servers that fail on purpose: what is retried (UNAVAILABLE, a load
balancer's 502/503/504, a reloading model's answers) and what is not (bad input), how often at most, and gRPC's own
retry policy in the channel (a call the server refused twice succeeds with no retry of the client's)."""

from __future__ import annotations

import http.server
import json
import threading
from concurrent import futures

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

from tests.support.ports import free_port
from triton_speech.client.connection import (
    GRPC_RETRY_ATTEMPTS,
    InferenceError,
    ServerUnavailable,
    StreamLost,
    TritonConnection,
    classify,
    grpc_channel_args,
    retry_policy,
    stream_lost,
)

TENSORS = {"X": np.array([[1.0, 2.0]], dtype=np.float32)}


@pytest.mark.parametrize("status, message, transient", [
    ("StatusCode.UNAVAILABLE", "Server is stopping", True),
    ("503", "Service Unavailable", True),
    ("502", "Bad Gateway", True),  # a balancer whose replica went away
    ("504", "Gateway Timeout", True),
    ("StatusCode.INTERNAL", "Stub process 'asr_0_0' is not healthy.", True),  # a model reloading after its stub died
    ("400", "Request for unknown model: 'asr' has no available versions", True),
    ("StatusCode.INVALID_ARGUMENT", "AUDIO row 0 is empty", False),
    ("400", "AUDIO row 0 is empty", False),
    ("StatusCode.INTERNAL", "division by zero", False),
])
def test_what_is_worth_retrying(status, message, transient):
    error = classify(InferenceServerException(message, status=status))
    assert isinstance(error, ServerUnavailable) is transient
    assert (str(error), error.status) == (message, status)


def failing(times: int, error: Exception):
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "answer"
    return call, calls


def test_the_retry_policy_retries_the_transient_and_is_bounded():
    call, calls = failing(2, ServerUnavailable("Server is stopping", "StatusCode.UNAVAILABLE"))
    assert retry_policy(2)(call) == "answer" and len(calls) == 3
    call, calls = failing(5, ServerUnavailable("Server is stopping", "StatusCode.UNAVAILABLE"))
    with pytest.raises(ServerUnavailable):
        retry_policy(2)(call)
    assert len(calls) == 3  # the first try and two retries, no more


def test_bad_input_is_never_retried():
    call, calls = failing(1, InferenceError("AUDIO row 0 is empty", "400"))
    with pytest.raises(InferenceError, match="row 0 is empty"):
        retry_policy(6)(call)
    assert len(calls) == 1




@pytest.fixture
def grpc_server():
    """A gRPC server of Triton's ModelInfer that refuses the first ``refusals`` calls with UNAVAILABLE."""
    state = {"refusals": 0, "calls": 0}

    def model_infer(request, context):
        state["calls"] += 1
        if state["calls"] <= state["refusals"]:
            context.abort(grpc.StatusCode.UNAVAILABLE, "Server is stopping")
        response = service_pb2.ModelInferResponse(model_name=request.model_name, id=request.id)
        response.outputs.add(name="Y", datatype="FP32", shape=[1, 2])
        response.raw_output_contents.append(np.array([3.0, 4.0], dtype=np.float32).tobytes())
        return response

    def unary(function, request_type):
        return grpc.unary_unary_rpc_method_handler(function, request_deserializer=request_type.FromString,
                                                   response_serializer=lambda message: message.SerializeToString())

    handler = grpc.method_handlers_generic_handler("inference.GRPCInferenceService", {
        "ModelInfer": unary(model_infer, service_pb2.ModelInferRequest),
        "ServerLive": unary(lambda r, c: service_pb2.ServerLiveResponse(live=True), service_pb2.ServerLiveRequest),
    })
    server = grpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", state
    server.stop(None)


def test_grpc_channel_retries_unavailable_by_itself(grpc_server):
    url, state = grpc_server
    state["refusals"] = GRPC_RETRY_ATTEMPTS - 1
    connection = TritonConnection(url, "grpc", retries=0)  # no retry of the client's: only the channel's
    result = connection.infer("m", TENSORS, ["Y"])
    np.testing.assert_array_equal(result["Y"], [[3.0, 4.0]])
    assert state["calls"] == GRPC_RETRY_ATTEMPTS


def test_grpc_channel_gives_up_after_its_attempts_and_the_client_retries_on(grpc_server):
    url, state = grpc_server
    state["refusals"] = GRPC_RETRY_ATTEMPTS
    with pytest.raises(ServerUnavailable, match="Server is stopping"):
        TritonConnection(url, "grpc", retries=0).infer("m", TENSORS, ["Y"])
    assert state["calls"] == GRPC_RETRY_ATTEMPTS
    state.update(calls=0, refusals=GRPC_RETRY_ATTEMPTS)
    assert TritonConnection(url, "grpc", retries=1).infer("m", TENSORS, ["Y"])["Y"].shape == (1, 2)
    assert state["calls"] == GRPC_RETRY_ATTEMPTS + 1


def test_the_channel_args_carry_the_retry_policy():
    args = dict(grpc_channel_args())
    assert args["grpc.enable_retries"] == 1
    policy = json.loads(args["grpc.service_config"])["methodConfig"][0]
    assert policy["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    methods = {name["method"] for name in policy["name"]}
    assert "ModelInfer" in methods and not methods & {"ModelStreamInfer", "RepositoryModelLoad",
                                                      "RepositoryModelUnload"}


@pytest.fixture
def http_server():
    """An HTTP server of Triton's /infer answering the first ``failures`` requests with ``status``."""
    state = {"failures": 0, "status": 502, "calls": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # health
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            state["calls"] += 1
            failing_now = state["calls"] <= state["failures"]
            body = json.dumps({"error": "upstream went away"} if failing_now else {
                "model_name": "m", "outputs": [{"name": "Y", "datatype": "FP32", "shape": [1, 2],
                                                "data": [3.0, 4.0]}]}).encode()
            self.send_response(state["status"] if failing_now else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}", state
    server.shutdown()


@pytest.mark.parametrize("status", [502, 503, 504])
def test_http_requests_are_retried_through_a_balancers_errors(http_server, status):
    url, state = http_server
    state.update(failures=2, status=status)
    result = TritonConnection(url, "http", retries=2).infer("m", TENSORS, ["Y"])
    np.testing.assert_array_equal(result["Y"], [[3.0, 4.0]])
    assert state["calls"] == 3


def test_http_bad_input_is_not_retried(http_server):
    url, state = http_server
    state.update(failures=5, status=400)
    with pytest.raises(InferenceError, match="upstream went away") as raised:
        TritonConnection(url, "http", retries=3).infer("m", TENSORS, ["Y"])
    assert not isinstance(raised.value, ServerUnavailable) and state["calls"] == 1


@pytest.mark.parametrize("error, lost", [
    (ServerUnavailable("Stream removed (Socket closed)", "StatusCode.UNAVAILABLE"), True),
    (InferenceError("Locally cancelled", "StatusCode.CANCELLED"), True),
    (InferenceError("inference request for sequence 7 to model 'asr_streaming' must specify the START flag on the "
                    "first request of the sequence", "StatusCode.INVALID_ARGUMENT"), True),  # the server forgot it
    (InferenceError("AUDIO of sequence 7 contains 3 NaN or Inf samples", "StatusCode.INVALID_ARGUMENT"), False),
])
def test_what_ends_a_stream_as_lost(error, lost):
    result = stream_lost(error, "the stream to asr_streaming at h:1", 3)
    assert isinstance(result, StreamLost) is lost
    if lost:
        assert str(result).startswith("the stream to asr_streaming at h:1 was cut after 3 answer(s)")
    else:
        assert result is error

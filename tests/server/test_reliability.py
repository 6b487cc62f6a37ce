"""Reliability through the real server: every model's bad input gets INVALID_ARG naming the input and row (gRPC and
HTTP), bad requests mixed into good traffic change no good result, a killed python stub comes back, and SIGTERM
drains accepted requests."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests.support.audio import speechlike
from tests.support.bad_inputs import BAD_INPUTS, CASES
from tests.support.ports import free_ports
from tests.support.triton import outputs_of
from triton_speech.client import ASRClient, InferenceError, ServerUnavailable, TritonConnection, TTSClient

pytestmark = pytest.mark.server
STATUS = {"grpc": "StatusCode.INVALID_ARGUMENT", "http": "400"}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("model, case", CASES)
def test_bad_input_to_any_served_model_is_invalid_arg_naming_the_problem(triton, protocol, model, case):
    tensors, message = BAD_INPUTS[model][case]
    connection = TritonConnection(triton.grpc_url if protocol == "grpc" else triton.http_url, protocol)
    with pytest.raises(InferenceError, match=message) as raised:
        connection.infer(model, tensors, outputs_of(connection, model))
    assert raised.value.status == STATUS[protocol]
    assert not isinstance(raised.value, ServerUnavailable)


def test_no_client_input_writes_a_traceback_to_the_log(triton):
    # Runs after the bad-input cases above (same module, file order): none of them was a fault of the server.
    assert "Traceback" not in triton.log_path.read_text(errors="replace")


def _bad_request(connection: TritonConnection, model: str, case: str) -> str:
    tensors, _ = BAD_INPUTS[model][case]
    try:
        connection.infer(model, tensors, outputs_of(connection, model))
    except InferenceError as error:
        return error.status
    return "accepted"


def test_bad_requests_mixed_into_good_traffic_change_no_good_result(triton, pipeline, tts_pipeline):
    """Good asr and tts requests run concurrently with bad requests to the steps they use (which the dynamic
    batcher puts into the same batches): every good result equals the result alone, every bad one is refused."""
    utterances = [speechlike(0.5 + 0.3 * i, 300 + i) for i in range(8)]
    expected_text = [pipeline.transcribe([audio])[0] for audio in utterances]
    texts = ["Hello there.", "How are you?", "Fine, thanks."]
    expected_audio = [tts_pipeline(t, seed=i).audio for i, t in enumerate(texts)]
    bad = [("ctc_decoder", "nan"), ("quartznet", "nan"), ("feature_extractor", "zero length"),
           ("tacotron2", "symbol out of range"), ("waveglow", "nan mel"),
           ("text_normalizer", "nothing to say in row 1")]
    asr, tts, raw = ASRClient(triton.grpc_url), TTSClient(triton.grpc_url), TritonConnection(triton.grpc_url)

    with ThreadPoolExecutor(12) as pool:
        good_asr = [pool.submit(asr.transcribe, utterances[i % 8]) for i in range(48)]
        good_tts = [pool.submit(tts.synthesize, texts[i % 3], i % 3) for i in range(6)]
        refused = [pool.submit(_bad_request, raw, *bad[i % len(bad)]) for i in range(36)]
        asr_results = [f.result() for f in good_asr]
        tts_results = [f.result() for f in good_tts]
        statuses = [f.result() for f in refused]
    assert asr_results == [expected_text[i % 8] for i in range(48)]
    for i, result in enumerate(tts_results):
        np.testing.assert_allclose(result.audio, expected_audio[i % 3], atol=1e-4, rtol=0)
    assert statuses == ["StatusCode.INVALID_ARGUMENT"] * len(statuses)


@pytest.fixture
def own_server(repository, tmp_path):
    """A server of the test repository for tests that kill or stop it."""
    from triton_speech.server import TritonServer

    server = TritonServer(repository, ports=free_ports(), log_path=tmp_path / "tritonserver.log")
    with server:
        yield server
    assert server.remove_shm_regions() == []


def test_a_killed_stub_is_reloaded_and_clients_retry_through_it(own_server):
    from triton_speech.server import python_stubs

    audio = speechlike(1.0, 7)
    retrying, single_try = ASRClient(own_server.grpc_url), ASRClient(own_server.grpc_url)
    single_try.connection.retries = 0
    expected = retrying.transcribe(audio)
    outcomes, readiness, stop = [], [], threading.Event()

    def load():
        while not stop.is_set():
            try:
                outcomes.append(("ok", single_try.transcribe(audio) == expected))
            except InferenceError as error:
                outcomes.append((type(error).__name__, error.status))
                time.sleep(0.05)  # as a polling client would, before its next try

    def watch_readiness():
        while not stop.is_set():
            readiness.append(own_server.is_ready())
            time.sleep(0.02)

    threads = [threading.Thread(target=load), threading.Thread(target=watch_readiness)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        stub = next(pid for pid, (model, _) in python_stubs(own_server.process.pid).items() if model == "quartznet")
        killed = time.monotonic()
        os.kill(stub, signal.SIGKILL)
        # A client with retries rides through the reload: its requests succeed.
        assert [retrying.transcribe(audio) for _ in range(5)] == [expected] * 5
        deadline = killed + 30
        while time.monotonic() < deadline and not (own_server.stub_watchdog.events and
                                                    own_server.stub_watchdog.events[-1].ready_at):
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    (event,) = own_server.stub_watchdog.events
    assert (event.model, event.pid, event.error) == ("quartznet", stub, "")
    assert event.ready_at is not None and event.ready_at - killed < 30
    assert False in readiness and readiness[-1] is True  # not ready while reloading, ready after
    failures = [o for o in outcomes if o[0] != "ok"]
    assert ("ok", True) == outcomes[-1]
    # Every failure in between is one a client may retry, never a bad-input or unexplained error.
    assert {kind for kind, _ in failures} <= {"ServerUnavailable"}, failures
    assert all(o == ("ok", True) for o in outcomes if o[0] == "ok")
    print(f"stub kill: {len(failures)} of {len(outcomes)} single-try requests failed (all retryable); "
          f"model ready again {event.ready_at - killed:.1f} s after the kill")


def test_sigterm_lets_accepted_requests_finish_and_refuses_new_ones(own_server, tts_pipeline):
    text = "Hello there, how are you? " * 3
    expected = tts_pipeline(text, seed=3).audio
    client, late = TTSClient(own_server.grpc_url), TTSClient(own_server.grpc_url)
    late.connection.retries = 0
    assert late.connection.client.is_server_live()  # connected before the stop, as a running client is
    with ThreadPoolExecutor(4) as pool:
        accepted = [pool.submit(client.synthesize, text, 3) for _ in range(4)]
        time.sleep(0.3)
        own_server.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(ServerUnavailable, match="Server is stopping|has no available versions"):
            late.synthesize("Too late.", 0)
        for future in accepted:
            np.testing.assert_allclose(future.result().audio, expected, atol=1e-4, rtol=0)
    own_server.process.wait(timeout=own_server.grace_s + 5)


def test_sigterm_finishes_http_requests_in_flight_and_idle_connections_do_not_hold_it(own_server, tts_pipeline):
    """Over HTTP keep-alive connections: the accepted requests finish, and then the connections left idle (theirs
    and one that only asked for readiness) are closed, so that Triton stops cleanly, unloading every model, instead
    of waiting for them until its exit timeout."""
    text = "Hello there, how are you? " * 3
    expected = tts_pipeline(text, seed=5).audio
    clients = [TTSClient(own_server.http_url, "http") for _ in range(2)]  # one each: an HTTP client is not shared
    idle = socket.create_connection(("127.0.0.1", own_server.ports.http))
    idle.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: triton\r\n\r\n")
    assert idle.recv(1024).startswith(b"HTTP/1.1 200")
    process = own_server.process
    with ThreadPoolExecutor(2) as pool:
        accepted = [pool.submit(client.synthesize, text, 5) for client in clients]
        time.sleep(0.5)
        own_server.stop()
        for future in accepted:
            np.testing.assert_allclose(future.result().audio, expected, atol=1e-4, rtol=0)
    log = own_server.log_path.read_text()
    assert "HTTP service connections" in log  # Triton waited for the connections
    assert process.returncode == 0 and "failed to stop server" not in log
    assert idle.recv(1024) == b""


def test_a_second_server_on_taken_ports_refuses_to_start(triton):
    from triton_speech.server import ServerError, TritonServer

    with pytest.raises(ServerError, match=rf"ports? {triton.ports.http}, {triton.ports.grpc}, "
                                          rf"{triton.ports.metrics} on 127.0.0.1 already in use"):
        TritonServer(triton.model_repository, ports=triton.ports).start()

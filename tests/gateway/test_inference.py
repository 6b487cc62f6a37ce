"""Word timestamps: taken from the served asr model's outputs when it has them, absent when it has not; requests
Triton cannot take for now (a model reloading, the server away) retried, within bounds, and bad input never."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile

from tests.support.gateway import gateway_settings
from tests.support.ports import free_port, free_ports
from tests.support.tones import tone_clip
from triton_speech.gateway.inference import Inference, words_of

OUTPUTS = {"TRANSCRIPT": np.array([[b"Hello there."]], dtype=object),
           "WORDS": np.array([[b"hello", b"there"]], dtype=object),
           "WORD_START_S": np.array([[0.12, 0.61]], np.float32), "WORD_END_S": np.array([[0.5, 1.04]], np.float32),
           "WORD_CONFIDENCE": np.array([[0.98, 0.7]], np.float32)}


def test_words_with_times_moved_by_the_trimmed_start():
    assert words_of(OUTPUTS, offset_s=0.25) == [
        {"word": "hello", "start": 0.37, "end": 0.75, "confidence": 0.98},
        {"word": "there", "start": 0.86, "end": 1.29, "confidence": 0.7}]
    without_confidence = {k: v for k, v in OUTPUTS.items() if k != "WORD_CONFIDENCE"}
    assert words_of(without_confidence) == [{"word": "hello", "start": 0.12, "end": 0.5},
                                            {"word": "there", "start": 0.61, "end": 1.04}]
    assert words_of({"TRANSCRIPT": OUTPUTS["TRANSCRIPT"]}) is None


class FakeClient:
    """The one call the output choice makes: the model's metadata, as tritonclient's aio gRPC client gives it."""

    def __init__(self, outputs):
        self.outputs = outputs

    async def get_model_metadata(self, model, as_json=False):
        return {"name": model, "outputs": [{"name": name} for name in self.outputs]}


@pytest.mark.parametrize("served, asked", [
    (["TRANSCRIPT", "RAW_TRANSCRIPT"], ["TRANSCRIPT", "RAW_TRANSCRIPT"]),
    (["TRANSCRIPT"], ["TRANSCRIPT"]),
    (["RAW_TRANSCRIPT", "TRANSCRIPT", "WORDS", "WORD_START_S", "WORD_END_S", "WORD_CONFIDENCE"],
     ["TRANSCRIPT", "RAW_TRANSCRIPT", "WORDS", "WORD_START_S", "WORD_END_S", "WORD_CONFIDENCE"]),
    (["TRANSCRIPT", "WORDS", "WORD_START_S", "WORD_END_S"], ["TRANSCRIPT", "WORDS", "WORD_START_S", "WORD_END_S"]),
    (["TRANSCRIPT", "WORDS", "WORD_START_S"], ["TRANSCRIPT"]),  # no end times: segment-level output only
])
def test_word_outputs_are_asked_for_when_the_model_serves_them(served, asked):
    inference = Inference("127.0.0.1:1", retries=0)
    inference.client = FakeClient(served)
    assert asyncio.run(inference.asr_outputs()) == asked


class Answer:
    """What tritonclient's infer returns: outputs by name."""

    def __init__(self, outputs: dict):
        self.outputs = outputs

    def as_numpy(self, name):
        return self.outputs[name]


class FlakyClient(FakeClient):
    """Fails its first inference requests with the given (status, message) errors, then answers."""

    def __init__(self, failures: list[tuple[str, str]]):
        super().__init__(["TRANSCRIPT", "RAW_TRANSCRIPT"])
        self.failures, self.calls = list(failures), 0

    async def infer(self, model, inputs, outputs=None, request_id=""):
        from tritonclient.utils import InferenceServerException

        self.calls += 1
        if self.failures:
            status, message = self.failures.pop(0)
            raise InferenceServerException(message, status=status)
        return Answer({"TRANSCRIPT": np.array([[b"Hello."]], dtype=object),
                       "RAW_TRANSCRIPT": np.array([[b"hello"]], dtype=object)})


RELOADING = ("StatusCode.NOT_FOUND", "Request for unknown model: 'asr' has no available versions")
STUB_DIED = ("StatusCode.INTERNAL", "in ensemble 'asr', Stub process 'quartznet_0_0' is not healthy.")
AWAY = ("StatusCode.UNAVAILABLE", "failed to connect to all addresses")
BAD = ("StatusCode.INVALID_ARGUMENT", "in ensemble 'asr', AUDIO row 0 is empty")


@pytest.mark.parametrize("failures", [[RELOADING], [STUB_DIED, RELOADING, RELOADING], [AWAY, RELOADING, AWAY, AWAY]])
def test_a_reloading_model_and_a_server_away_are_retried(failures):
    from triton_speech import defaults

    inference = Inference("127.0.0.1:1", retries=defaults.GATEWAY_TRITON_RETRIES)
    inference.client = FlakyClient(failures)
    recognition = asyncio.run(inference.recognize(np.zeros(1600, np.float32)))
    assert recognition.transcript.text == "Hello." and inference.client.calls == len(failures) + 1


def test_retries_are_bounded_and_bad_input_is_never_retried():
    from triton_speech.client.connection import InferenceError, ServerUnavailable

    inference = Inference("127.0.0.1:1", retries=2)
    inference.client = FlakyClient([RELOADING] * 5)
    with pytest.raises(ServerUnavailable, match="has no available versions"):
        asyncio.run(inference.recognize(np.zeros(1600, np.float32)))
    assert inference.client.calls == 3
    inference.client = FlakyClient([BAD])
    with pytest.raises(InferenceError, match="row 0 is empty") as error:
        asyncio.run(inference.recognize(np.zeros(1600, np.float32)))
    assert error.value.bad_input and inference.client.calls == 1


@pytest.mark.server
def test_requests_through_a_model_reload_all_succeed(tone_repository, tmp_path):
    """A python stub of asr's pipeline is killed under a stream of gateway transcriptions: the launcher's watchdog
    reloads the model (Triton answers "not healthy", then "has no available versions" meanwhile) and the gateway's
    retries carry every request through it, each answered with the transcript it has alone."""
    from triton_speech.gateway.serving import gateway_in_thread
    from triton_speech.server import TritonServer, python_stubs

    audio, _ = tone_clip(4, seed=3)
    recording = io.BytesIO()
    soundfile.write(recording, audio, 16000, format="WAV", subtype="FLOAT")
    with TritonServer(tone_repository, ports=free_ports(), log_path=tmp_path / "tritonserver.log") as triton:
        settings = gateway_settings(f"sqlite:///{tmp_path / 'db'}", tmp_path, triton_url=triton.grpc_url,
                                    anonymous=True, trim_silence=False, rate_limit="100000/minute")
        with gateway_in_thread(settings, free_port()) as url:
            def transcribe() -> httpx.Response:
                return httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", recording.getvalue())},
                                  data={"model": "asr"}, timeout=60)

            alone = transcribe()
            assert alone.status_code == 200 and alone.json()["text"], alone.text
            answers, stop = [], threading.Event()

            def load() -> None:
                while not stop.is_set():
                    answers.append(transcribe())

            clients = [threading.Thread(target=load) for _ in range(3)]
            for client in clients:
                client.start()
            stub = next(pid for pid, (model, _) in python_stubs(triton.process.pid).items() if model == "quartznet")
            os.kill(stub, signal.SIGKILL)
            deadline = time.monotonic() + 60
            events = triton.stub_watchdog.events
            while not (events and events[0].ready_at) and time.monotonic() < deadline:
                time.sleep(0.1)
            answered = len(answers)
            while len(answers) < answered + 3 and time.monotonic() < deadline:  # and requests after it
                time.sleep(0.1)
            stop.set()
            for client in clients:
                client.join()
    assert events and events[0].ready_at, "the model was not reloaded"
    assert len(answers) >= answered + 3
    assert [(a.status_code, a.json()) for a in answers if a.status_code != 200] == []
    assert {a.json()["text"] for a in answers} == {alone.json()["text"]}

"""Live captions' WebSocket (``/api/transcriptions/live``) in-process before a fake inference service whose streams
answer the first n words of a sentence after n chunks: the messages (ready, partials only when they change, the
final with the stored row), the stored row and WAV owned by the key, who may open it (keys as a header or a
subprotocol, anonymous, origins), the limits per key, bad messages and frames (an error message and a close code,
nothing stored, the gateway serving on), the length limit, a pause, a closed socket, Triton away. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from tests.support.gateway import AWAY, FAKE_RAW, FAKE_TEXT, FAKE_WORDS, bearer, error_of, running_api
from tests.support.ports import free_port
from triton_speech.client.connection import InferenceError

PATH = "/api/transcriptions/live"
PROTOCOL = "triton-speech.live.v1"  # the page's subprotocol: any name the client offers is chosen back
CHUNK = 5120  # samples of 320 ms at 16 kHz: what reaches the stream


def tone(seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.round(0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)


def connect(api, protocols=(PROTOCOL,), **kwargs):
    return api.client.websocket_connect(f"ws://localhost{PATH}", subprotocols=list(protocols), **kwargs)


def start(socket, rate: int = 16000, encoding: str = "s16le", **fields) -> dict:
    socket.send_json({"type": "start", "sample_rate": rate, "format": encoding, **fields})
    ready = socket.receive_json()
    assert ready["type"] == "ready", ready
    return ready


def send_audio(socket, pcm: np.ndarray, frame: int = 800) -> None:
    for begin in range(0, pcm.shape[0], frame):
        socket.send_bytes(pcm[begin : begin + frame].tobytes())


def until_closed(socket) -> tuple[list[dict], int, str]:
    """The messages until the server closes, the close code and reason."""
    messages = []
    while True:
        try:
            messages.append(socket.receive_json())
        except WebSocketDisconnect as closed:
            return messages, closed.code, closed.reason


def refusal(socket) -> tuple[int, str, int]:
    """An error message's status and message, and the close code that follows it."""
    messages, code, reason = until_closed(socket)
    (message,) = [m for m in messages if m["type"] == "error"]
    assert set(message["error"]) == {"message", "type", "param", "code"}, message
    assert message["error"]["message"].encode()[:123].decode("utf-8", "ignore") == reason
    return message["error"]["code"], message["error"]["message"], code


def serves_on(api) -> None:
    """The gateway still serves: an upload is stored."""
    assert api.upload().status_code == 201


def test_partials_as_they_change_then_the_final_stored_as_an_upload_would_be(api):
    pcm = tone(1.0)
    with connect(api) as socket:
        assert socket.accepted_subprotocol == PROTOCOL
        ready = start(socket, name="kitchen")
        assert ready == {"type": "ready", "sample_rate": 16000, "chunk_ms": 320, "max_seconds": 600.0}
        send_audio(socket, pcm)
        partials = [socket.receive_json() for _ in range(2)]
        socket.send_json({"type": "stop"})
        messages, code, _ = until_closed(socket)
    # three chunks reached the stream; the third answer was the second's again: two partials
    assert partials == [{"type": "partial", "text": "hello", "seconds": 0.32},
                        {"type": "partial", "text": "hello there", "seconds": 0.64}]
    (final,) = messages
    assert code == 1000 and final["type"] == "final" and final["ended"] == "stop"
    stored = final["transcription"]
    assert (stored["text"], stored["raw_text"], stored["words"]) == (FAKE_TEXT, FAKE_RAW, FAKE_WORDS)
    assert (stored["name"], stored["duration_s"], stored["media_type"]) == ("kitchen", 1.0, "audio/wav")
    # the chunks the stream got are the audio sent; the stream was ended (END) after the final
    (stream,) = api.inference.streams
    assert [c.shape[0] for c in stream.chunks] == [CHUNK] * 3 and stream.ended
    assert np.array_equal(np.concatenate(stream.chunks), pcm[: 3 * CHUNK] / 32768)
    assert [a[0] for a in api.inference.asked] == ["recognize"]
    # the row is alice's, the file the recording as a 16-bit WAV; bob cannot see it
    (row,) = api.rows("transcriptions")
    assert (row["id"], row["key_id"], row["text"]) == (stored["id"], 1, FAKE_TEXT)
    wav = api.client.get(stored["audio_url"])
    assert wav.headers["content-type"] == "audio/wav"
    import io

    import soundfile

    samples, rate = soundfile.read(io.BytesIO(wav.content), dtype="int16")
    assert rate == 16000 and np.array_equal(samples, pcm)
    assert api.client.get(f"/api/transcriptions/{stored['id']}").json() == stored
    assert api.client.get(f"/api/transcriptions/{stored['id']}", headers=bearer(api.keys["bob"])).status_code == 404


def test_48_khz_float_frames_are_stored_at_16_khz(api):
    rate = 48000
    audio = (tone(1.0, rate) / 32768).astype("<f4")
    with connect(api) as socket:
        start(socket, rate=rate, encoding="f32le")
        send_audio(socket, audio, frame=rate // 20)
        socket.send_json({"type": "stop"})
        messages, code, _ = until_closed(socket)
    assert code == 1000 and messages[-1]["transcription"]["duration_s"] == 1.0
    assert messages[-1]["transcription"]["name"] == "live recording"
    import io

    import soundfile

    stored, stored_rate = soundfile.read(io.BytesIO(api.client.get(messages[-1]["transcription"]["audio_url"]).content))
    # a 440 Hz tone still: its spectrum peaks there
    spectrum = np.abs(np.fft.rfft(stored))
    assert stored_rate == 16000 and abs(np.argmax(spectrum) * 16000 / stored.shape[0] - 440) <= 1


def test_the_key_as_a_subprotocol_is_never_chosen_back(api):
    del api.client.headers["Authorization"]
    with connect(api, protocols=(PROTOCOL, f"bearer.{api.keys['bob']}")) as socket:
        assert socket.accepted_subprotocol == PROTOCOL
        start(socket)
        send_audio(socket, tone(0.5))
        socket.send_json({"type": "stop"})
        messages, code, _ = until_closed(socket)
    assert code == 1000
    (row,) = api.rows("transcriptions")
    assert row["key_id"] == 2 and row["id"] == messages[-1]["transcription"]["id"]  # bob's


@pytest.mark.parametrize("protocols, authorization, message", [
    ((PROTOCOL,), None, "an API key is required: send it as 'Authorization: Bearer KEY' or as the WebSocket "
                        "subprotocol 'bearer.KEY'"),
    ((PROTOCOL, "bearer.tsk_" + "A" * 43), None, "the API key is not valid (unknown or revoked)"),
    ((PROTOCOL, "bearer."), None, "the API key is not valid (unknown or revoked)"),
    ((PROTOCOL,), "Bearer tsk_" + "A" * 43, "the API key is not valid (unknown or revoked)"),
    ((PROTOCOL,), "Basic dXNlcjpwYXNz", "the Authorization header must be 'Bearer KEY'"),
])
def test_without_a_valid_key_the_socket_is_told_and_closed_4401(api, protocols, authorization, message):
    del api.client.headers["Authorization"]
    headers = {"Authorization": authorization} if authorization else {}
    with connect(api, protocols=protocols, headers=headers) as socket:
        assert socket.accepted_subprotocol == PROTOCOL  # so that a browser reads the message
        status, told, code = refusal(socket)
    assert (status, code) == (401, 4401) and told.startswith(message)
    assert api.inference.streams == [] and api.rows("transcriptions") == []


def test_anonymous_streams_only_when_the_settings_say_so(database_url, tmp_path):
    with running_api(database_url, tmp_path, anonymous=True) as api:
        del api.client.headers["Authorization"]
        with connect(api) as socket:
            start(socket)
            send_audio(socket, tone(0.4))
            socket.send_json({"type": "stop"})
            assert until_closed(socket)[1] == 1000
        (row,) = api.rows("transcriptions")
        assert row["key_id"] is None


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:8081", "null"])
def test_a_socket_from_another_origin_is_refused_at_the_handshake(api, origin):
    with pytest.raises(WebSocketDenialResponse) as refused:
        with connect(api, headers={"Origin": origin}):
            pass
    assert error_of(refused.value, 403).startswith(f"requests from the origin {origin!r} are not allowed")
    assert api.inference.streams == []


def test_the_pages_own_origin_and_allowed_origins_may_open_it(database_url, tmp_path):
    with running_api(database_url, tmp_path, allowed_origins=("https://app.example.com",)) as api:
        for origin in ("http://localhost", "https://app.example.com"):
            with connect(api, headers={"Origin": origin}) as socket:
                start(socket)
                socket.close()
        with pytest.raises(WebSocketDenialResponse) as refused:
            with connect(api, headers={"Host": "attacker.example"}):
                pass
        assert error_of(refused.value, 400).startswith("this gateway does not serve the host")


def test_the_rate_limit_counts_sockets_with_4429(database_url, tmp_path):
    with running_api(database_url, tmp_path, rate_limit="2/minute") as api:
        for _ in range(2):
            with connect(api) as socket:
                start(socket)
        with connect(api) as socket:
            status, message, code = refusal(socket)
        assert (status, code) == (429, 4429) and message.startswith("too many requests for this key (at most 2 per")


def test_a_stream_holds_one_of_the_keys_inference_slots(database_url, tmp_path):
    with running_api(database_url, tmp_path, max_concurrent_inference=1) as api:
        with connect(api) as first:
            start(first)
            with connect(api) as second:
                status, message, code = refusal(second)
            assert (status, code) == (429, 4429) and "1 requests in progress" in message
            assert error_of(api.upload(), 429)  # an upload waits for the stream too
            assert api.upload(headers=bearer(api.keys["bob"])).status_code == 201  # other keys are not held
            send_audio(first, tone(0.1))
            first.send_json({"type": "stop"})
            assert until_closed(first)[1] == 1000
        serves_on(api)  # the slot is given back with the stream


BAD_MESSAGES = [
    ([b"\x00\x00"], "the first message must be the start message"),
    ([{"type": "begin"}], "the start message is not valid: type: Input should be 'start'"),
    ([{"type": "start"}], "the start message is not valid: sample_rate: Field required"),
    ([{"type": "start", "sample_rate": 16000, "format": "mp3"}], "format: Input should be 's16le' or 'f32le'"),
    ([{"type": "start", "sample_rate": 16000, "token": "x"}], "token: Extra inputs are not permitted"),
    ([{"type": "start", "sample_rate": 16000, "name": "a\nb"}], "name: must not contain control characters"),
    ([{"type": "start", "sample_rate": 1000}], "sample_rate 1000 Hz is not supported (8000..192000 Hz)"),
    (["not json"], "the start message is not valid"),
    ([{"type": "start", "sample_rate": 16000}, b"\x00"], "a frame holds whole int16 samples"),
    ([{"type": "start", "sample_rate": 16000}, b"\x00\x00" * 16001], "a frame holds at most 1 s of audio"),
    ([{"type": "start", "sample_rate": 16000, "format": "f32le"}, np.array([np.nan], "<f4").tobytes()],
     "the frame holds NaN or infinite samples"),
    ([{"type": "start", "sample_rate": 16000}, {"type": "pause"}], "only audio frames (binary) and the stop message"),
    ([{"type": "start", "sample_rate": 16000}, {"type": "stop"}], "no audio was received"),
]


@pytest.mark.parametrize("messages, problem", BAD_MESSAGES)
def test_bad_messages_and_frames_are_told_closed_4400_and_nothing_stored(api, messages, problem):
    with connect(api) as socket:
        for message in messages:
            if isinstance(message, bytes):
                socket.send_bytes(message)
            elif isinstance(message, str):
                socket.send_text(message)
            else:
                socket.send_json(message)
        status, told, code = refusal(socket)
    assert (status, code) == (400, 4400) and problem in told, told
    assert api.rows("transcriptions") == [] and api.files("transcriptions") == []
    assert [a for a in api.inference.asked if a[0].startswith("recognize")] == []
    serves_on(api)


def test_audio_faster_than_real_time_is_refused(database_url, tmp_path):
    with running_api(database_url, tmp_path, live_ahead_seconds=1.0) as api:
        with connect(api) as socket:
            start(socket)
            send_audio(socket, tone(3.0), frame=8000)
            status, told, code = refusal(socket)
        assert (status, code) == (400, 4400) and "faster than it is spoken" in told
        assert api.rows("transcriptions") == []
        (stream,) = api.inference.streams
        assert stream.ended and len(stream.chunks) <= 4  # no more than the allowance reached the stream
        serves_on(api)


def test_a_stream_ends_at_its_length_limit_and_is_kept(database_url, tmp_path):
    with running_api(database_url, tmp_path, max_live_seconds=1.0) as api:
        with connect(api) as socket:
            start(socket)
            send_audio(socket, tone(1.5))
            messages, code, _ = until_closed(socket)
        final = messages[-1]
        assert code == 1000 and final["type"] == "final" and final["ended"] == "limit"
        assert final["message"] == "the recording reached the limit of 1 s and ended there"
        assert final["transcription"]["duration_s"] == 1.0 and len(api.rows("transcriptions")) == 1


def test_a_stream_that_pauses_too_long_ends_and_is_kept(database_url, tmp_path):
    with running_api(database_url, tmp_path, live_idle_seconds=0.3) as api:
        with connect(api) as socket:
            start(socket)
            send_audio(socket, tone(0.5))
            messages, code, _ = until_closed(socket)
        assert code == 1000 and messages[-1]["ended"] == "idle"
        assert messages[-1]["transcription"]["duration_s"] == 0.5
        with connect(api) as socket:  # and one that never starts
            status, told, code = refusal(socket)
        assert (status, code) == (408, 4408) and told == "no start message within 0.3 s"


def test_a_recording_whose_socket_closes_is_still_stored(database_url, tmp_path):
    # served by uvicorn (the test client cancels the application when its socket closes; a server does not)
    from websockets.sync.client import connect as ws_connect

    from triton_speech.gateway.serving import gateway_in_thread

    with running_api(database_url, tmp_path) as api, gateway_in_thread(api.settings, free_port(), app=api.app) as url:
        with ws_connect(f"ws://127.0.0.1:{url.rsplit(':', 1)[1]}{PATH}", subprotocols=[PROTOCOL],
                        additional_headers=bearer(api.keys["alice"])) as socket:
            socket.send(json.dumps({"type": "start", "sample_rate": 16000}))
            assert json.loads(socket.recv())["type"] == "ready"
            pcm = tone(0.7)
            for begin in range(0, pcm.shape[0], 800):
                socket.send(pcm[begin : begin + 800].tobytes())
        deadline = time.monotonic() + 30
        while not api.rows("transcriptions"):
            assert time.monotonic() < deadline, "the recording was not stored"
            time.sleep(0.05)
        (row,) = api.rows("transcriptions")
        assert row["duration_s"] == 0.7 and row["key_id"] == 1 and len(api.files("transcriptions")) == 1


def test_recordings_longer_than_uploads_go_to_asr_long(database_url, tmp_path):
    with running_api(database_url, tmp_path, max_audio_seconds=0.5) as api:
        for seconds, model in ((0.5, "recognize"), (0.8, "recognize_long")):
            with connect(api) as socket:
                start(socket)
                send_audio(socket, tone(seconds))
                socket.send_json({"type": "stop"})
                assert until_closed(socket)[1] == 1000
            assert api.inference.asked[-1][:2] == (model, int(seconds * 16000))


def test_partials_that_fail_stop_but_the_final_is_made(api):
    api.inference.stream_fail = InferenceError("asr_streaming failed", None)
    with connect(api) as socket:
        start(socket)
        send_audio(socket, tone(1.0))
        socket.send_json({"type": "stop"})
        messages, code, _ = until_closed(socket)
    assert code == 1000 and [m["type"] for m in messages] == ["final"]
    assert messages[0]["transcription"]["text"] == FAKE_TEXT


def test_triton_away_at_the_end_is_4503_and_nothing_stored(api):
    with connect(api) as socket:
        start(socket)
        send_audio(socket, tone(0.5))
        api.inference.fail = AWAY
        socket.send_json({"type": "stop"})
        status, told, code = refusal(socket)
    assert (status, code) == (503, 4503) and told.startswith("the speech server cannot take requests now")
    assert api.rows("transcriptions") == [] and api.files("transcriptions") == []
    assert api.inference.streams[0].ended


def test_each_socket_is_logged_with_its_id_and_close(api, caplog):
    caplog.set_level("INFO", logger="triton_speech.gateway")
    with connect(api, headers={"X-Request-ID": "live-1"}) as socket:
        start(socket)
        send_audio(socket, tone(0.4))
        socket.send_json({"type": "stop"})
        until_closed(socket)
    lines = [(r.request_id, r.getMessage()) for r in caplog.records if r.getMessage().startswith("WEBSOCKET")]
    assert len(lines) == 1 and lines[0][0] == "live-1"
    assert lines[0][1].startswith(f"WEBSOCKET {PATH} -> closed 1000 in ")

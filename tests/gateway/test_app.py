"""The gateway before a real Triton serving the trained defaults, with a real SQLite file and a real PostgreSQL
database: the stored resources, the OpenAI-compatible endpoints, bad uploads, concurrency, health, request ids and
the OpenAPI page.

Expectations come from outside the gateway: the sentence espeak-ng was told to say, the rows and files read with
the database's driver and the file system, WAVs read by soundfile, speech judged by the served ASR.
"""

from __future__ import annotations

import io
import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import jiwer
import numpy as np
import pytest
import soundfile
import soxr

from tests.support.gateway import GATEWAY_LIMITS
from tests.support.paths import DATA
from tests.support.ports import free_port
from tests.support.speech import spoken_wav, words_of
from tests.support.waiting import wait_for
from triton_speech.client import ASRClient
from triton_speech.corpus.templates import DEMO_ASR_TEXT, DEMO_TTS_TEXT, TEMPLATES

pytestmark = pytest.mark.server
# The default models hear espeak-ng's template sentences nearly perfectly (make demo); a margin of a word or two.
MAX_WER = 0.15
# What stores nothing runs on one database; what stores runs on both (the gateway fixture's parameters)
ONE_DATABASE = pytest.mark.parametrize("gateway", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def demo_wav(tmp_path_factory) -> bytes:
    return spoken_wav(DEMO_ASR_TEXT, tmp_path_factory.mktemp("speech") / "demo.wav")


@pytest.fixture()
def http(gateway):
    with httpx.Client(base_url=gateway.url, headers=gateway.headers, timeout=120) as client:
        yield client


def check_words(words: list[dict], raw_text: str, duration_s: float, after_s: float = 0.0) -> None:
    """Word timestamps as asr gives them: the raw transcript's words in order, each inside the recording (and after
    ``after_s``), starts not going back, confidences 0-1."""
    assert " ".join(w["word"] for w in words) == raw_text
    assert all(after_s <= w["start"] < w["end"] <= duration_s + 0.05 and 0 <= w["confidence"] <= 1 for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)


def error_message(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["type"] == "invalid_request_error", body
    return body["error"]["message"]


# --- stored resources -------------------------------------------------------------------------------------------

def test_transcription_is_stored_read_listed_and_deleted(gateway, http, demo_wav):
    created = http.post("/api/transcriptions", files={"file": ("my clip.wav", demo_wav, "audio/wav")})
    assert created.status_code == 201, created.text
    item = created.json()
    assert jiwer.wer(DEMO_ASR_TEXT, " ".join(words_of(item["text"]))) <= MAX_WER, item["text"]
    assert item["raw_text"] == " ".join(words_of(item["raw_text"]))  # the CTC words, unpunctuated
    assert item["text"][0].isupper() and item["text"].endswith(".")  # punctuated
    assert item["name"] == "my clip.wav" and item["media_type"] == "audio/wav"
    assert item["duration_s"] == round(soundfile.info(io.BytesIO(demo_wav)).duration, 3)
    check_words(item["words"], item["raw_text"], item["duration_s"])
    assert 0 < item["inference_time_s"] < 30

    row = next(r for r in gateway.rows("transcriptions") if r["id"] == item["id"])  # read with sqlite3
    assert (row["text"], row["raw_text"], row["name"]) == (item["text"], item["raw_text"], "my clip.wav")
    stored = gateway.settings.media_dir / "transcriptions" / row["audio_file"]
    assert stored.read_bytes() == demo_wav
    assert http.get(f"/api/transcriptions/{item['id']}").json() == item
    audio = http.get(item["audio_url"])
    assert audio.content == demo_wav and audio.headers["content-type"] == "audio/wav"
    listed = http.get("/api/transcriptions", params={"limit": 100}).json()
    assert listed["total"] == len(gateway.rows("transcriptions")) and item in listed["items"]

    assert http.delete(f"/api/transcriptions/{item['id']}").status_code == 204
    assert item["id"] not in [r["id"] for r in gateway.rows("transcriptions")]
    assert not stored.exists()
    for answer in (http.get(f"/api/transcriptions/{item['id']}"), http.get(item["audio_url"]),
                   http.delete(f"/api/transcriptions/{item['id']}")):
        assert answer.status_code == 404 and error_message(answer) == f"no transcriptions entry {item['id']}"


def test_speech_is_stored_as_a_playable_wav_that_says_the_text(gateway, http, default_speech_server):
    created = http.post("/api/speech", json={"text": DEMO_TTS_TEXT, "seed": 3})
    assert created.status_code == 201, created.text
    item = created.json()
    wav = http.get(item["audio_url"])
    assert wav.headers["content-type"] == "audio/wav"
    audio, rate = soundfile.read(io.BytesIO(wav.content), dtype="float32")  # an independent WAV reader
    info = soundfile.info(io.BytesIO(wav.content))
    assert (rate, info.channels, info.subtype) == (22050, 1, "PCM_16") == (item["sample_rate"], 1, "PCM_16")
    assert item["duration_s"] == round(audio.shape[0] / rate, 3) and not item["step_limit_reached"]
    # Intelligible: the served ASR hears the text in it.
    heard = ASRClient(default_speech_server.grpc_url).transcribe(soxr.resample(audio, rate, 16000))
    assert jiwer.wer(" ".join(words_of(DEMO_TTS_TEXT)), " ".join(words_of(heard))) <= MAX_WER, heard
    row = next(r for r in gateway.rows("speech") if r["id"] == item["id"])
    assert (row["text"], row["seed"]) == (DEMO_TTS_TEXT, 3)
    assert (gateway.settings.media_dir / "speech" / row["audio_file"]).read_bytes() == wav.content

    assert http.delete(f"/api/speech/{item['id']}").status_code == 204
    assert item["id"] not in [r["id"] for r in gateway.rows("speech")]
    assert row["audio_file"] not in gateway.files("speech")
    assert http.get(f"/api/speech/{item['id']}").status_code == 404


# --- OpenAI-compatible ------------------------------------------------------------------------------------------

@ONE_DATABASE
def test_openai_transcription_formats_from_a_plain_multipart_request(gateway, demo_wav):
    before = gateway.stored()
    answers = {}
    for response_format in ("json", "text", "verbose_json"):
        # What an OpenAI-style client sends: multipart with file, model and response_format.
        response = httpx.post(f"{gateway.url}/v1/audio/transcriptions", headers=gateway.headers, timeout=60,
                              files={"file": ("speech.wav", demo_wav, "audio/wav")},
                              data={"model": "whisper-1", "response_format": response_format})
        assert response.status_code == 200, response.text
        answers[response_format] = response
    text = answers["json"].json()["text"]
    assert answers["json"].json() == {"text": text}
    assert jiwer.wer(DEMO_ASR_TEXT, " ".join(words_of(text))) <= MAX_WER
    assert answers["text"].headers["content-type"].startswith("text/plain") and answers["text"].text == text
    verbose = answers["verbose_json"].json()
    seconds = round(soundfile.info(io.BytesIO(demo_wav)).duration, 3)
    words = verbose.pop("words")  # the served asr gives word timestamps
    assert verbose == {"task": "transcribe", "language": "english", "duration": seconds, "text": text,
                       "segments": [{"id": 0, "seek": 0, "start": 0.0, "end": seconds, "text": text}]}
    check_words(words, " ".join(words_of(text)), seconds)
    assert gateway.stored() == before  # the OpenAI endpoints store nothing


@ONE_DATABASE
def test_silence_around_speech_is_trimmed_before_recognition(gateway, demo_wav):
    """A microphone recording: a second of a quiet room before the speech, a second and a half after. The default
    model mis-hears most words next to long silence (README); the gateway sends Triton the speech."""
    speech, rate = soundfile.read(io.BytesIO(demo_wav), dtype="float32")
    padded = np.concatenate([np.zeros(rate, np.float32), speech, np.zeros(rate * 3 // 2, np.float32)])
    padded += 0.0005 * np.random.default_rng(0).standard_normal(padded.shape[0]).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, padded, rate, format="WAV", subtype="PCM_16")
    response = httpx.post(f"{gateway.url}/v1/audio/transcriptions", headers=gateway.headers, timeout=60,
                          data={"response_format": "verbose_json"},
                          files={"file": ("room.wav", buffer.getvalue(), "audio/wav")})
    verbose = response.json()
    assert jiwer.wer(DEMO_ASR_TEXT, " ".join(words_of(verbose["text"]))) <= MAX_WER, verbose["text"]
    assert verbose["duration"] == round(padded.shape[0] / rate, 3)  # times are the recording's, silence included
    # the trimmed second is added back to the words' times: none starts in the silence before the speech
    check_words(verbose["words"], " ".join(words_of(verbose["text"])), verbose["duration"], after_s=0.9)


@ONE_DATABASE
def test_openai_speech_returns_wav_or_flac(gateway):
    before = gateway.stored()
    body = {"model": "tts-1", "input": "Good morning, how are you today?", "voice": "alloy", "seed": 1}
    wav = httpx.post(f"{gateway.url}/v1/audio/speech", headers=gateway.headers, json=body, timeout=120)
    flac = httpx.post(f"{gateway.url}/v1/audio/speech", headers=gateway.headers,
                      json={**body, "response_format": "flac"}, timeout=120)
    assert wav.headers["content-type"] == "audio/wav" and flac.headers["content-type"] == "audio/flac"
    from_wav, rate = soundfile.read(io.BytesIO(wav.content), dtype="int16")
    from_flac, flac_rate = soundfile.read(io.BytesIO(flac.content), dtype="int16")
    assert rate == flac_rate == 22050 and from_wav.shape[0] > rate // 2
    np.testing.assert_array_equal(from_wav, from_flac)  # same text and seed: the same speech, losslessly
    assert gateway.stored() == before


# --- bad requests -----------------------------------------------------------------------------------------------

def wav_of(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(buffer, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format="WAV")
    return buffer.getvalue()


LIMIT = GATEWAY_LIMITS["max_upload_bytes"]
BAD_UPLOADS = {
    "not audio": ({"file": ("notes.txt", b"remember the milk\n" * 50, "text/plain")}, {}, 400,
                  r"^not an audio file in a supported format \(WAV, FLAC, OGG, WebM, MP3, MP4/M4A, AAC\)"),
    "empty": ({"file": ("empty.wav", b"", "audio/wav")}, {}, 400, r"^the uploaded file is empty$"),
    "too large": ({"file": ("big.wav", b"\0" * (LIMIT + 1), "audio/wav")}, {}, 413,
                  rf"^the file is larger than the {LIMIT} bytes allowed$"),
    "far too large": ({"file": ("huge.wav", b"\0" * (3 * LIMIT), "audio/wav")}, {}, 413,
                      rf"^the request is larger than the {LIMIT} bytes allowed$"),
    "too long": ({"file": ("long.wav", wav_of(GATEWAY_LIMITS["max_audio_seconds"] + 0.5), "audio/wav")}, {}, 400,
                 r"^the recording is longer than 20 s, the limit: send a shorter one$"),
    # Shorter than one 10 ms feature frame: the gateway passes it on, Triton refuses it, by name.
    "too short for triton": ({"file": ("click.wav", wav_of(0.005), "audio/wav")}, {}, 400,
                             r"AUDIO row 0 has 80 samples; at least \d+ \(one feature frame\) are needed"),
    "wrong field": ({"audio": ("speech.wav", wav_of(1.0), "audio/wav")}, {}, 400,
                    r"^send the recording as the multipart form field 'file'$"),
    "a concat list": ({"file": ("list.txt", b"ffconcat version 1.0\nfile 'gateway.sqlite3'\n", "text/plain")}, {},
                      400, r"^not an audio file"),
}
OPENAI_ONLY = {
    "unsupported format": ({"file": ("speech.wav", wav_of(1.0), "audio/wav")}, {"response_format": "srt"}, 400,
                           r"^response_format: Input should be 'json', 'text' or 'verbose_json'$"),
    "another language": ({"file": ("speech.wav", wav_of(1.0), "audio/wav")}, {"language": "fr"}, 400,
                         r"^language 'fr' is not supported"),
}


@pytest.mark.parametrize("path, case", [("/api/transcriptions", case) for case in BAD_UPLOADS]
                         + [("/v1/audio/transcriptions", case) for case in [*BAD_UPLOADS, *OPENAI_ONLY]])
def test_bad_uploads_get_a_4xx_with_a_message_and_store_nothing(gateway, http, path, case):
    import re

    files, data, status, message = {**BAD_UPLOADS, **OPENAI_ONLY}[case]
    before = gateway.stored()
    response = http.post(path, files=files, data=data)
    assert response.status_code == status, response.text
    assert re.search(message, error_message(response)), error_message(response)
    assert gateway.stored() == before


def test_an_upload_streamed_past_the_limit_is_cut_off_with_413(gateway, http):
    """Without a Content-Length (chunked), the body is counted as it arrives and refused once over the limit."""
    boundary = "limit-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()

    def body():
        yield head
        for _ in range(3 * LIMIT // 65536):
            yield b"\0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    before = gateway.stored()
    response = http.post("/api/transcriptions", content=body(),
                         headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert "content-length" not in response.request.headers
    assert response.status_code == 413 and "larger than" in error_message(response)
    assert gateway.stored() == before


@pytest.mark.parametrize("path, body, message", [
    ("/api/speech", {"text": ""}, r"^text: String should have at least 1 character$"),
    ("/api/speech", {"text": "x" * 1001}, r"^text: String should have at most 1000 characters$"),
    ("/api/speech", {"seed": 1}, r"^text: Field required$"),
    ("/api/speech", {"text": "hello", "seed": -1}, r"^seed: Input should be greater than or equal to 0$"),
    ("/api/speech", {"text": "!!! ???"}, r"TEXT row 0 has no speakable characters"),  # Triton's own check
    ("/v1/audio/speech", {"input": "hello", "response_format": "mp3"}, r"^response_format: Input should be"),
    ("/v1/audio/speech", {"input": "hello", "speed": 1.5}, r"^only speed 1.0 is supported$"),
])
def test_bad_speech_requests_get_400_and_store_nothing(gateway, http, path, body, message):
    import re

    before = gateway.stored()
    response = http.post(path, json=body)
    assert response.status_code == 400, response.text
    assert re.search(message, error_message(response)), error_message(response)
    assert gateway.stored() == before


@pytest.mark.parametrize("path", ["/api/transcriptions/0", "/api/speech/999999", "/api/transcriptions/abc",
                                  "/api/transcriptions/1/../../../etc/passwd", "/media/../gateway.sqlite3",
                                  "/static/../app.py", "/static/..%2fapp.py"])
@ONE_DATABASE
def test_unknown_ids_and_paths_outside_are_4xx(http, path):
    response = http.get(path)
    assert response.status_code in (400, 404), (path, response.status_code)
    assert "sqlalchemy" not in response.text.lower() and "import" not in response.text


# --- concurrency ------------------------------------------------------------------------------------------------

def test_concurrent_uploads_are_all_stored_and_none_mixed_up(gateway, tmp_path):
    sentences = [TEMPLATES[i % len(TEMPLATES)](random.Random(i)) for i in range(6)]  # the models' domain
    recordings = [spoken_wav(text, tmp_path / f"{i}.wav") for i, text in enumerate(sentences)]

    def upload(index: int) -> dict:
        response = httpx.post(f"{gateway.url}/api/transcriptions", headers=gateway.headers, timeout=120,
                              files={"file": (f"phrase{index}.wav", recordings[index], "audio/wav")})
        assert response.status_code == 201, response.text
        return response.json()

    with ThreadPoolExecutor(len(sentences)) as pool:
        items = list(pool.map(upload, range(len(sentences))))
    rows = {row["id"]: row for row in gateway.rows("transcriptions")}
    assert len({item["id"] for item in items}) == len(sentences)
    for index, item in enumerate(items):
        row = rows[item["id"]]
        assert row["name"] == f"phrase{index}.wav" and row["text"] == item["text"]
        assert (gateway.settings.media_dir / "transcriptions" / row["audio_file"]).read_bytes() == recordings[index]
    heard = [" ".join(words_of(item["text"])) for item in items]
    for index, text in enumerate(heard):  # each answer is nearest to its own sentence, far from the others
        errors = [jiwer.wer(" ".join(words_of(s)), text) for s in sentences]
        assert errors.index(min(errors)) == index and sorted(errors)[1] > 0.6, (sentences[index], text)
    assert jiwer.wer([" ".join(words_of(s)) for s in sentences], heard) <= MAX_WER, heard


# --- health, request ids, docs ----------------------------------------------------------------------------------

@ONE_DATABASE
def test_health_follows_triton(gateway, http, tmp_path):
    from triton_speech.gateway.serving import gateway_in_thread
    from triton_speech.gateway.settings import GatewaySettings

    assert http.get("/health").json() == {"status": "ready"}
    # A gateway whose Triton is not there: live, not ready, and requests get 503 and store nothing.
    settings = GatewaySettings(triton_url=f"127.0.0.1:{free_port()}", database_url=f"sqlite:///{tmp_path / 'db'}",
                               media_dir=tmp_path / "media", triton_retries=0, anonymous=True)
    with gateway_in_thread(settings, free_port()) as url:
        assert httpx.get(f"{url}/health/live").status_code == 200
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503 and health.json()["status"] == "not ready"
        speech = httpx.post(f"{url}/api/speech", json={"text": "hello"}, timeout=30)
        assert speech.status_code == 503 and speech.json()["error"]["type"] == "server_error"
        assert "speech server" in speech.json()["error"]["message"]
    assert list((tmp_path / "media" / "speech").iterdir()) == []


@ONE_DATABASE
def test_request_ids_reach_the_answer_and_the_logs(http, caplog):
    caplog.set_level(logging.INFO, logger="triton_speech.gateway")
    given = http.get("/api/speech", headers={"X-Request-ID": "client-id.42"})
    assert given.headers["x-request-id"] == "client-id.42"
    made = http.get("/api/speech", headers={"X-Request-ID": "bad id\twith spaces"})
    assert made.headers["x-request-id"] != "bad id\twith spaces" and len(made.headers["x-request-id"]) == 32

    def logged() -> set:
        return {getattr(record, "request_id", None) for record in list(caplog.records)
                if "GET /api/speech" in record.getMessage()}

    # the access line is written after the answer is sent: wait for it (bounded), not for a while
    wait_for(lambda: {"client-id.42", made.headers["x-request-id"]} <= logged(), 30, "the access log lines")


@ONE_DATABASE
def test_openapi_page_is_served_without_a_cdn(http):
    page = http.get("/docs")
    assert page.status_code == 200 and "/docs-static/swagger-ui-bundle.js" in page.text and "cdn" not in page.text
    assert http.get("/docs-static/swagger-ui-bundle.js").status_code == 200
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/v1/audio/transcriptions", "/v1/audio/speech", "/api/transcriptions", "/api/transcriptions/{row_id}",
            "/api/speech", "/api/speech/{row_id}", "/health"} <= set(paths)
    assert set(paths["/api/transcriptions/{row_id}"]) == {"get", "delete"}


@ONE_DATABASE
def test_the_page_loads_only_its_own_scripts(http):
    page = http.get("/")
    assert page.status_code == 200 and "<title>triton-speech</title>" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert http.get("/static/app.js").status_code == 200


# --- live captions ----------------------------------------------------------------------------------------------

LIVE_RECORDING = DATA / "asr_heldout" / "018.flac"  # 5.4 s: longer than the 2 s of audio each partial hears
LIVE_FRAME_S = 0.04


def stream_live(gateway, pcm: np.ndarray, rate: int = 16000) -> tuple[list[tuple[float, dict]], float, float]:
    """``pcm`` (16-bit) sent over the live WebSocket in 40 ms frames at a microphone's pace, then stop. Returns the
    messages with their arrival times, the time the first frame and the last frame were sent (perf_counter)."""
    from websockets.sync.client import connect

    received: list[tuple[float, dict]] = []
    frame = int(LIVE_FRAME_S * rate)
    with connect(gateway.url.replace("http://", "ws://") + "/api/transcriptions/live", max_size=None,
                 subprotocols=["triton-speech.live.v1", f"bearer.{gateway.key}"]) as socket:
        assert socket.subprotocol == "triton-speech.live.v1"
        socket.send(json.dumps({"type": "start", "sample_rate": rate, "name": LIVE_RECORDING.name}))
        assert json.loads(socket.recv(timeout=30))["type"] == "ready"

        def listen():
            for message in socket:
                received.append((time.perf_counter(), json.loads(message)))

        listener = threading.Thread(target=listen)
        listener.start()
        first = time.perf_counter()
        for index, begin in enumerate(range(0, pcm.shape[0], frame)):
            time.sleep(max(0.0, first + index * LIVE_FRAME_S - time.perf_counter()))
            socket.send(pcm[begin : begin + frame].tobytes())
        last = time.perf_counter()
        socket.send(json.dumps({"type": "stop"}))
        listener.join(timeout=120)
        assert not listener.is_alive(), "no final within 120 s"
        assert socket.close_code == 1000
    return received, first, last


@ONE_DATABASE
def test_live_captions_show_partials_while_streaming_and_end_as_an_upload_of_the_recording(gateway, http):
    data = LIVE_RECORDING.read_bytes()
    pcm, rate = soundfile.read(io.BytesIO(data), dtype="int16")
    upload = http.post("/api/transcriptions", files={"file": (LIVE_RECORDING.name, data, "audio/flac")}).json()

    received, first, last = stream_live(gateway, pcm, rate)
    partials = [(at, message["text"]) for at, message in received if message["type"] == "partial"]
    (final,) = [message for _, message in received if message["type"] == "final"]
    assert received[-1][1] is final and final["ended"] == "stop"
    heard = [(at, text) for at, text in partials if text]
    assert heard and heard[0][0] < last, "no partial transcript before the recording ended"
    assert all(text == " ".join(words_of(text)) for _, text in partials)  # raw words
    assert all(a != b for (_, a), (_, b) in zip(partials, partials[1:]))  # sent only when it changed

    stored = final["transcription"]
    for field in ("text", "raw_text", "words", "duration_s"):
        assert stored[field] == upload[field], field
    row = next(r for r in gateway.rows("transcriptions") if r["id"] == stored["id"])
    assert (row["text"], row["key_id"], row["name"]) == (upload["text"], 1, LIVE_RECORDING.name)
    kept, kept_rate = soundfile.read(io.BytesIO(http.get(stored["audio_url"]).content), dtype="int16")
    assert kept_rate == 16000 and np.array_equal(kept, pcm)  # what was sent, sample for sample
    print(f"\nlive captions over Python ({LIVE_RECORDING.name}, {pcm.shape[0] / rate:.1f} s, 40 ms frames in real "
          f"time): first partial {partials[0][0] - first:.2f} s after the first frame, first words "
          f"{heard[0][0] - first:.2f} s; final {received[-1][0] - last:.2f} s after the last frame; "
          f"{len(partials)} partials")

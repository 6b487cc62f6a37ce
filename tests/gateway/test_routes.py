"""The gateway's routes in-process, before a fake inference service (no Triton), on SQLite and on PostgreSQL:
validation, status codes, pagination, errors, what is stored, whose it is. The same routes before a real Triton:
test_app.py.

Expectations come from outside the routes: rows read back with the database's own driver, files from the media
directory, WAVs read by soundfile, OpenAI's documented limits and error shape."""

from __future__ import annotations

import io
import logging
import re

import numpy as np
import pytest
import soundfile

from tests.support.gateway import (
    AWAY,
    BAD_INPUT,
    FAKE_RAW,
    FAKE_TEXT,
    FAKE_WORDS,
    TTS_RATE,
    bearer,
    error_of,
    running_api,
    wav,
)

# OpenAI's /v1/audio/transcriptions takes files up to 25 MB (its documentation); the gateway allows the same.
OPENAI_UPLOAD_LIMIT = 25 * 1024 * 1024


def test_a_transcription_is_stored_read_listed_fetched_and_deleted(api):
    recording = wav(1.5)
    created = api.upload(recording, name="my clip.wav")
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["text"], item["raw_text"], item["words"]) == (FAKE_TEXT, FAKE_RAW, FAKE_WORDS)
    assert (item["name"], item["media_type"], item["duration_s"]) == ("my clip.wav", "audio/wav", 1.5)
    assert item["audio_url"] == f"/api/transcriptions/{item['id']}/audio"
    (row,) = api.rows("transcriptions")
    assert (row["id"], row["text"]) == (item["id"], FAKE_TEXT) and api.files("transcriptions") == [row["audio_file"]]
    assert api.client.get(f"/api/transcriptions/{item['id']}").json() == item
    assert api.client.get(item["audio_url"]).content == recording
    assert api.client.get("/api/transcriptions").json() == {"items": [item], "total": 1}
    assert api.inference.asked[0][0] == "recognize"

    assert api.client.delete(f"/api/transcriptions/{item['id']}").status_code == 204
    assert api.rows("transcriptions") == [] and api.files("transcriptions") == []
    for answer in (api.client.get(f"/api/transcriptions/{item['id']}"), api.client.get(item["audio_url"]),
                   api.client.delete(f"/api/transcriptions/{item['id']}")):
        assert error_of(answer, 404) == f"no transcriptions entry {item['id']}"


def test_speech_is_stored_as_a_16_bit_wav(api):
    created = api.client.post("/api/speech", json={"text": "Good morning.", "seed": 7})
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["text"], item["seed"], item["sample_rate"]) == ("Good morning.", 7, TTS_RATE)
    wav_bytes = api.client.get(item["audio_url"]).content
    info = soundfile.info(io.BytesIO(wav_bytes))
    assert (info.samplerate, info.subtype, info.frames) == (TTS_RATE, "PCM_16", TTS_RATE // 2)
    assert item["duration_s"] == 0.5 and api.inference.asked == [("synthesize", "Good morning.", 7)]
    assert [row["seed"] for row in api.rows("speech")] == [7]


def test_lists_are_newest_first_and_offset_counts_from_zero(api):
    ids = [api.client.post("/api/speech", json={"text": f"number {i}"}).json()["id"] for i in range(5)]
    newest_first = ids[::-1]

    def page(**params) -> list[int]:
        answer = api.client.get("/api/speech", params=params).json()
        assert answer["total"] == 5
        return [item["id"] for item in answer["items"]]

    assert page() == newest_first  # default limit 20, offset 0
    assert page(offset=0, limit=2) == newest_first[:2]
    assert page(offset=1, limit=2) == newest_first[1:3]  # offset 1 skips exactly one
    assert page(offset=4) == newest_first[4:]
    assert page(offset=5) == []


@pytest.mark.parametrize("params, message", [
    ({"limit": 0}, r"^limit: Input should be greater than or equal to 1$"),
    ({"limit": 101}, r"^limit: Input should be less than or equal to 100$"),
    ({"offset": -1}, r"^offset: Input should be greater than or equal to 0$"),
    ({"offset": "two"}, r"^offset: Input should be a valid integer"),
])
def test_bad_paging_is_400_with_the_parameter_named(api, params, message):
    answer = api.client.get("/api/transcriptions", params=params)
    assert re.search(message, error_of(answer, 400))
    assert answer.json()["error"]["param"] == next(iter(params))


@pytest.mark.parametrize("path", ["/api/transcriptions/abc", "/api/speech/1.5", "/api/speech/0"])
def test_ids_that_are_not_positive_integers_are_400(api, path):
    assert error_of(api.client.get(path), 400).startswith("row_id: ")


def test_bad_input_triton_refuses_is_400_with_its_message_and_nothing_stored(api):
    api.inference.fail = BAD_INPUT
    assert error_of(api.client.post("/api/speech", json={"text": "!!!"}), 400) == str(BAD_INPUT)
    assert error_of(api.upload(), 400) == str(BAD_INPUT)
    assert api.rows("speech") == api.rows("transcriptions") == [] and api.files("transcriptions") == []


def test_triton_away_is_503_and_nothing_stored(api):
    api.inference.fail = AWAY
    for answer in (api.client.post("/api/speech", json={"text": "hello"}), api.upload(),
                   api.client.post("/v1/audio/speech", json={"input": "hello"})):
        assert "speech server cannot take requests now" in error_of(answer, 503, "server_error")
    assert api.rows("speech") == [] and api.files("speech") == api.files("transcriptions") == []


def test_a_row_that_cannot_be_written_takes_its_file_with_it(api, monkeypatch):
    from triton_speech.gateway.database import Database

    def broken_add(self, row):
        raise RuntimeError("disk I/O error")

    monkeypatch.setattr(Database, "add", broken_add)
    answer = api.upload()
    assert error_of(answer, 500, "server_error").startswith("the gateway failed to answer this request")
    assert api.files("transcriptions") == []  # the media file written before the row is gone again
    assert api.client.post("/api/speech", json={"text": "hello"}).status_code == 500
    assert api.files("speech") == []


def test_the_default_upload_limit_is_openais(tmp_path):
    """With the settings nobody overrides: a large recording within OpenAI's 25 MB is taken, one byte more is 413."""
    big = wav(50.0, rate=48000, channels=2)  # 9.6 MB of 16-bit stereo, within 60 s
    assert len(big) > 8 * 1024 * 1024
    with running_api(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path) as api:  # no max_upload_bytes: the default
        taken = api.client.post("/v1/audio/transcriptions", files={"file": ("big.wav", big, "audio/wav")})
        assert taken.status_code == 200, taken.text
        over = api.client.post("/v1/audio/transcriptions",
                               files={"file": ("over.wav", b"\0" * (OPENAI_UPLOAD_LIMIT + 1), "audio/wav")})
    assert error_of(over, 413) == f"the file is larger than the {OPENAI_UPLOAD_LIMIT} bytes allowed"


def test_openai_transcription_formats(api):
    answers = {fmt: api.client.post("/v1/audio/transcriptions", data={"response_format": fmt, "model": "whisper-1"},
                                    files={"file": ("a.wav", wav(2.0), "audio/wav")}) for fmt in
               ("json", "text", "verbose_json")}
    assert answers["json"].json() == {"text": FAKE_TEXT}
    assert answers["text"].text == FAKE_TEXT and answers["text"].headers["content-type"].startswith("text/plain")
    verbose = answers["verbose_json"].json()
    assert verbose["duration"] == 2.0 and verbose["words"] == FAKE_WORDS and verbose["text"] == FAKE_TEXT
    assert api.rows("transcriptions") == [] and api.files("transcriptions") == []  # nothing stored


def test_openai_speech_formats_hold_the_same_samples(api):
    wav_answer = api.client.post("/v1/audio/speech", json={"input": "hi"})
    flac_answer = api.client.post("/v1/audio/speech", json={"input": "hi", "response_format": "flac"})
    assert wav_answer.headers["content-type"] == "audio/wav" and flac_answer.headers["content-type"] == "audio/flac"
    from_wav, _ = soundfile.read(io.BytesIO(wav_answer.content), dtype="int16")
    from_flac, _ = soundfile.read(io.BytesIO(flac_answer.content), dtype="int16")
    np.testing.assert_array_equal(from_wav, from_flac)
    assert error_of(api.client.post("/v1/audio/speech", json={"input": "hi", "speed": 2}), 400) == \
        "only speed 1.0 is supported"


def test_health_follows_the_inference_service(api):
    assert api.client.get("/health").json() == {"status": "ready"}
    api.inference.ready_ = False
    assert api.client.get("/health").status_code == 503
    assert api.client.get("/health/live").json() == {"status": "live"}


def test_an_unexpected_error_is_a_logged_500_in_the_error_shape(api, caplog):
    api.inference.fail = ZeroDivisionError("a bug")
    caplog.set_level(logging.INFO, logger="triton_speech.gateway")
    answer = api.client.post("/api/speech", json={"text": "hello"}, headers={"X-Request-ID": "bug-hunt"})
    assert error_of(answer, 500, "server_error").startswith("the gateway failed to answer this request")
    mine = [(record.levelname, record.getMessage()) for record in caplog.records if record.request_id == "bug-hunt"]
    assert ("ERROR", "unexpected error") in mine
    assert ("INFO", next(m for _, m in mine if m.startswith("POST /api/speech -> 500"))) in mine


# --- whose rows ---------------------------------------------------------------------------------------------------

def test_another_keys_rows_do_not_exist_for_a_caller(api):
    mine = [api.upload().json(), api.client.post("/api/speech", json={"text": "mine"}).json()]
    bob = bearer(api.keys["bob"])
    for kind, item in zip(("transcriptions", "speech"), mine):
        for answer in (api.client.get(f"/api/{kind}/{item['id']}", headers=bob),
                       api.client.get(item["audio_url"], headers=bob),
                       api.client.delete(f"/api/{kind}/{item['id']}", headers=bob)):
            assert error_of(answer, 404) == f"no {kind} entry {item['id']}"  # as for a row that does not exist
        assert api.client.get(f"/api/{kind}", headers=bob).json() == {"items": [], "total": 0}
        assert api.client.get(f"/api/{kind}").json() == {"items": [item], "total": 1}  # still alice's
        assert len(api.files(kind)) == 1
    bobs = api.client.post("/api/speech", json={"text": "bob's"}, headers=bob).json()
    assert [item["id"] for item in api.client.get("/api/speech", headers=bob).json()["items"]] == [bobs["id"]]
    key_ids = {row["text"]: row["key_id"] for row in api.rows("speech")}
    assert key_ids["mine"] != key_ids["bob's"] and None not in key_ids.values()


# --- input the database could not hold ----------------------------------------------------------------------------

BIG = {"2^31": 2**31, "2^63": 2**63, "2^64": 2**64}


@pytest.mark.parametrize("method, path, param", [
    *[("GET", f"/api/speech/{n}", "row_id") for n in BIG.values()],
    *[("GET", f"/api/transcriptions/{n}/audio", "row_id") for n in BIG.values()],
    *[("DELETE", f"/api/transcriptions/{n}", "row_id") for n in BIG.values()],
    *[("GET", f"/api/speech?offset={n}", "offset") for n in BIG.values()],
    ("GET", "/api/transcriptions?offset=99999999999999999999999", "offset"),
])
def test_ids_and_offsets_beyond_the_databases_integers_are_400(api, method, path, param):
    answer = api.client.request(method, path)
    assert "less than or equal to 2147483647" in error_of(answer, 400)
    assert answer.json()["error"]["param"] == param


@pytest.mark.parametrize("path, body", [
    *[("/api/speech", {"text": "hello", "seed": n}) for n in BIG.values()],
    *[("/v1/audio/speech", {"input": "hello", "seed": n}) for n in BIG.values()],
])
def test_seeds_beyond_32_bits_are_400_before_inference(api, path, body):
    assert "seed: Input should be less than or equal to 2147483647" == error_of(api.client.post(path, json=body), 400)
    assert api.inference.asked == [] and api.rows("speech") == []


def test_the_largest_id_and_offset_are_answered(api):
    assert error_of(api.client.get(f"/api/speech/{2**31 - 1}"), 404) == f"no speech entry {2**31 - 1}"
    assert api.client.get("/api/speech", params={"offset": 2**31 - 1}).json() == {"items": [], "total": 0}
    created = api.client.post("/api/speech", json={"text": "hello", "seed": 2**31 - 1})
    assert created.status_code == 201 and api.rows("speech")[0]["seed"] == 2**31 - 1


@pytest.mark.parametrize("path, body, param", [
    ("/api/speech", {"text": "a\u0000b"}, "text"),
    ("/v1/audio/speech", {"input": "a\u0000b"}, "input"),
])
def test_nul_in_a_text_is_400(api, path, body, param):
    answer = api.client.post(path, json=body)
    assert error_of(answer, 400) == f"{param}: must not contain NUL characters"
    assert api.inference.asked == []


def raw_multipart(name: str | None, filename: str, data: bytes) -> tuple[bytes, dict]:
    """A multipart body written byte by byte (HTTP clients escape a NUL in a field; a hostile client need not)."""
    boundary = "raw-boundary-1234"
    parts = []
    if name is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 "Content-Type: audio/wav\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), {
        "content-type": f"multipart/form-data; boundary={boundary}"}


def test_nul_in_a_name_is_400_and_in_a_file_name_dropped(api):
    body, headers = raw_multipart("clip\0.wav", "clip.wav", wav())
    answer = api.client.post("/api/transcriptions", content=body, headers=headers)
    assert error_of(answer, 400) == "name: must not contain control characters"
    assert answer.json()["error"]["param"] == "name" and api.rows("transcriptions") == []
    body, headers = raw_multipart(None, "my\0clip.wav", wav())
    created = api.client.post("/api/transcriptions", content=body, headers=headers)
    assert created.status_code == 201 and created.json()["name"] == "myclip.wav"
    assert [row["name"] for row in api.rows("transcriptions")] == ["myclip.wav"]

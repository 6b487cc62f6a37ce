"""The media stores, a directory and a bucket of an S3 API: names made by the store, no way out of it through a
stored name, a file whole or absent, and a sweep that takes what a crash left but never another writer's file."""

from __future__ import annotations

import pytest

from triton_speech.gateway.storage import MediaDirectory


def test_saved_files_get_fresh_names_and_read_back(tmp_path):
    store = MediaDirectory(tmp_path / "media")
    names = [store.save("transcriptions", bytes([i]) * 10, ".webm") for i in range(3)]
    assert len(set(names)) == 3 and all(name.endswith(".webm") and len(name) == 37 for name in names)
    for i, name in enumerate(names):
        assert store.path("transcriptions", name).read_bytes() == bytes([i]) * 10
    assert store.files("transcriptions") == sorted(names)
    store.delete("transcriptions", names[1])
    assert store.files("transcriptions") == sorted([names[0], names[2]])
    store.delete("transcriptions", names[1])  # already gone: nothing to do


@pytest.mark.parametrize("kind, name", [
    ("transcriptions", "../../etc/passwd"), ("transcriptions", "/etc/passwd"), ("speech", "..%2f..%2fx.wav"),
    ("../speech", "0" * 32 + ".wav"), ("transcriptions", "0" * 32 + ".wav/../../x"), ("speech", "a" * 31 + ".wav"),
    ("speech", "0" * 32 + ".wav\n"), ("other", "0" * 32 + ".wav"),
])
def test_names_that_are_not_the_stores_own_are_refused(tmp_path, kind, name):
    store = MediaDirectory(tmp_path / "media")
    with pytest.raises(ValueError, match="not a stored media name"):
        store.path(kind, name)
    with pytest.raises(ValueError, match="not a stored media name"):
        store.delete(kind, name)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    store = MediaDirectory(tmp_path / "media")

    def broken_replace(*_args):
        raise OSError("disk full")

    monkeypatch.setattr("triton_speech.gateway.storage.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.save("speech", b"RIFF....", ".wav")
    assert list((tmp_path / "media" / "speech").iterdir()) == []


def test_a_failure_while_the_row_is_stored_removes_the_file(tmp_path):
    store = MediaDirectory(tmp_path / "media")
    with pytest.raises(RuntimeError, match="insert failed"):
        with store.saving("speech", b"RIFF....", ".wav") as name:
            assert store.files("speech") == [name]
            raise RuntimeError("insert failed")
    assert list((tmp_path / "media" / "speech").iterdir()) == []


def test_the_sweep_removes_files_no_row_names_and_leaves_files_being_written(tmp_path):
    import os
    import time
    from concurrent.futures import ThreadPoolExecutor

    store = MediaDirectory(tmp_path / "media")
    named = store.save("speech", b"named", ".wav")
    orphan = store.save("speech", b"orphan", ".wav")  # its row was never written (a crash)
    folder = tmp_path / "media" / "speech"
    (folder / ".partial-old").write_bytes(b"half")  # a write a crash cut short
    os.utime(folder / ".partial-old", (time.time() - 3600,) * 2)
    (folder / ".partial-young").write_bytes(b"half")  # maybe another process's write, a moment before its lock
    (folder / "notes.txt").write_text("not the store's")  # not a name the store makes: left alone
    rows = {named}
    with ThreadPoolExecutor(1) as pool:
        with store.saving("speech", b"in flight", ".wav") as in_flight:  # its row is not in yet
            removed = pool.submit(store.sweep, "speech", rows.__contains__).result()
            rows.add(in_flight)
    assert sorted(removed) == sorted([orphan, ".partial-old"])
    assert sorted(p.name for p in folder.iterdir()) == sorted([named, in_flight, ".partial-young", "notes.txt"])


def test_the_sweep_keeps_a_file_whose_row_arrived_after_the_first_look(tmp_path):
    store = MediaDirectory(tmp_path / "media")
    name = store.save("speech", b"x", ".wav")
    answers = iter([False, True])  # no row at the first look; the row committed before the lock was taken
    assert store.sweep("speech", lambda _name: next(answers)) == []
    assert store.files("speech") == [name]


# --- media in a bucket (an S3 API: moto's server) -----------------------------------------------------------------

@pytest.fixture(scope="module")
def object_store():
    from triton_speech.fleet.objectstore import ObjectStore

    with ObjectStore() as store:
        yield store


@pytest.fixture()
def bucket_url(object_store, monkeypatch) -> str:
    """A new empty bucket; the gateway finds the store through AWS_ENDPOINT_URL, as a deployment points it at one."""
    import uuid

    for name, value in object_store.environment().items():
        monkeypatch.setenv(name, value)
    name = f"media-{uuid.uuid4().hex[:12]}"
    object_store.create_bucket(name)
    return f"s3://{name}/speech/media"


def objects(object_store, url: str) -> list[str]:
    """Every key in the bucket of ``url``, read with the store's own client."""
    bucket = url.removeprefix("s3://").split("/")[0]
    return sorted(item["Key"] for item in object_store.client().list_objects_v2(Bucket=bucket).get("Contents", []))


def streamed(response) -> bytes:
    """The body of a StreamingResponse, as the server sends it."""
    import asyncio

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.body_iterator])

    return asyncio.run(read())


def test_objects_get_fresh_names_under_the_prefix_and_read_back(bucket_url, object_store):
    from triton_speech.gateway.storage import MediaBucket

    store = MediaBucket(bucket_url)
    names = [store.save("speech", bytes([i]) * 10, ".wav") for i in range(3)]
    assert len(set(names)) == 3 and all(name.endswith(".wav") and len(name) == 36 for name in names)
    assert objects(object_store, bucket_url) == sorted(f"speech/media/speech/{name}" for name in names)
    assert store.files("speech") == sorted(names) and store.files("transcriptions") == []
    for i, name in enumerate(names):
        response = store.response("speech", name, "audio/wav")
        assert response.media_type == "audio/wav" and response.headers["content-length"] == "10"
        assert streamed(response) == bytes([i]) * 10
    store.delete("speech", names[1])
    store.delete("speech", names[1])  # already gone: nothing to do
    assert store.files("speech") == sorted([names[0], names[2]])


@pytest.mark.parametrize("kind, name", [
    ("transcriptions", "../../etc/passwd"), ("speech", "..%2f..%2fx.wav"), ("../speech", "0" * 32 + ".wav"),
    ("transcriptions", "0" * 32 + ".wav/../../x"), ("speech", "a" * 31 + ".wav"), ("other", "0" * 32 + ".wav"),
])
def test_a_bucket_refuses_names_that_are_not_its_own(bucket_url, kind, name):
    from triton_speech.gateway.storage import MediaBucket

    store = MediaBucket(bucket_url)
    for use in (store.delete, store.key):
        with pytest.raises(ValueError, match="not a stored media name"):
            use(kind, name)


def test_a_failure_while_the_row_is_stored_removes_the_object(bucket_url, object_store):
    from triton_speech.gateway.storage import MediaBucket

    store = MediaBucket(bucket_url)
    with pytest.raises(RuntimeError, match="insert failed"):
        with store.saving("transcriptions", b"OggS....", ".ogg") as name:
            assert store.files("transcriptions") == [name]
            raise RuntimeError("insert failed")
    assert objects(object_store, bucket_url) == []


def test_the_sweep_leaves_young_objects_to_their_writers(bucket_url, object_store):
    """Gateway A sweeps while gateway B's upload is in flight (its object written, its row not yet): with A's grace
    period, B's object stays; an old orphan (a crash between an object and its row) goes, named objects and keys
    the store does not make stay."""
    from triton_speech.gateway.storage import MediaBucket

    writer = MediaBucket(bucket_url)
    named = writer.save("speech", b"named", ".wav")
    orphan = writer.save("speech", b"orphan", ".wav")
    bucket = bucket_url.removeprefix("s3://").split("/")[0]
    object_store.client().put_object(Bucket=bucket, Key="speech/media/speech/notes.txt", Body=b"not the store's")
    rows = {named}
    with writer.saving("speech", b"in flight", ".wav") as in_flight:  # B: its row is not in yet
        assert MediaBucket(bucket_url, grace_s=60).sweep("speech", rows.__contains__) == []  # A, at its start
        # the same sweep with no grace would have taken B's upload: the grace is what protects it
        assert MediaBucket(bucket_url, grace_s=0).sweep("speech", (rows | {in_flight}).__contains__) == [orphan]
        rows.add(in_flight)
    assert writer.files("speech") == sorted([named, in_flight])
    assert "speech/media/speech/notes.txt" in objects(object_store, bucket_url)


def test_a_missing_bucket_or_a_url_that_is_not_s3_is_a_clear_error(bucket_url):
    from triton_speech.gateway.storage import MediaBucket, MediaError

    with pytest.raises(MediaError, match=r"cannot use the media bucket s3://no-such-bucket/x: .*(NoSuchBucket|404)"):
        MediaBucket("s3://no-such-bucket/x")
    with pytest.raises(MediaError, match="must be an s3:// URL"):
        MediaBucket("/srv/media")


def test_the_gateway_stores_serves_and_deletes_media_in_a_bucket(database_url, bucket_url, object_store, tmp_path):
    """The application with APP_MEDIA_URL: every stored row's file is an object in the bucket (none on disk), its
    audio is served from there, a delete removes both, and the startup sweep removes an object a crash left."""
    from tests.support.gateway import read_rows, running_api, wav
    from triton_speech.gateway.storage import MediaBucket

    recording = wav(0.5)
    orphan = MediaBucket(bucket_url).save("transcriptions", b"left by a crash", ".wav")  # no row will name it
    with running_api(database_url, tmp_path, media_url=bucket_url, media_sweep_grace_s=0) as api:
        assert objects(object_store, bucket_url) == []  # the startup sweep took the orphan
        created = api.upload(recording)
        assert created.status_code == 201, created.text
        spoken = api.client.post("/api/speech", json={"text": "Hello there."})
        assert spoken.status_code == 201, spoken.text
        rows = {kind: read_rows(database_url, kind) for kind in ("transcriptions", "speech")}
        assert objects(object_store, bucket_url) == sorted(
            f"speech/media/{kind}/{row['audio_file']}" for kind in rows for row in rows[kind])
        audio = api.client.get(f"/api/transcriptions/{created.json()['id']}/audio")
        assert audio.status_code == 200 and audio.content == recording
        assert audio.headers["content-type"] == "audio/wav"
        assert api.client.get(f"/api/speech/{spoken.json()['id']}/audio").content[:4] == b"RIFF"
        assert api.client.delete(f"/api/transcriptions/{created.json()['id']}").status_code == 204
        assert [key.split("/")[2] for key in objects(object_store, bucket_url)] == ["speech"]
    assert orphan not in str(objects(object_store, bucket_url))
    assert not (tmp_path / "media").exists()  # nothing on the local disk

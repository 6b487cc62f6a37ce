"""The media directory: names made by the store, no way out of it through a stored name."""

from __future__ import annotations

import pytest

from triton_speech.gateway.storage import MediaStore


def test_saved_files_get_fresh_names_and_read_back(tmp_path):
    store = MediaStore(tmp_path / "media")
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
    store = MediaStore(tmp_path / "media")
    with pytest.raises(ValueError, match="not a stored media name"):
        store.path(kind, name)
    with pytest.raises(ValueError, match="not a stored media name"):
        store.delete(kind, name)


def test_a_failed_write_leaves_nothing(tmp_path, monkeypatch):
    store = MediaStore(tmp_path / "media")

    def broken_replace(*_args):
        raise OSError("disk full")

    monkeypatch.setattr("triton_speech.gateway.storage.os.replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.save("speech", b"RIFF....", ".wav")
    assert list((tmp_path / "media" / "speech").iterdir()) == []


def test_a_failure_while_the_row_is_stored_removes_the_file(tmp_path):
    store = MediaStore(tmp_path / "media")
    with pytest.raises(RuntimeError, match="insert failed"):
        with store.saving("speech", b"RIFF....", ".wav") as name:
            assert store.files("speech") == [name]
            raise RuntimeError("insert failed")
    assert list((tmp_path / "media" / "speech").iterdir()) == []


def test_the_sweep_removes_files_no_row_names_and_leaves_files_being_written(tmp_path):
    import os
    import time
    from concurrent.futures import ThreadPoolExecutor

    store = MediaStore(tmp_path / "media")
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
    store = MediaStore(tmp_path / "media")
    name = store.save("speech", b"x", ".wav")
    answers = iter([False, True])  # no row at the first look; the row committed before the lock was taken
    assert store.sweep("speech", lambda _name: next(answers)) == []
    assert store.files("speech") == [name]

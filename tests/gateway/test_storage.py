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

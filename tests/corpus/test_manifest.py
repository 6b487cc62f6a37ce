"""NeMo manifests: what is written reads back, one JSON object a line, audio paths found from the manifest's folder."""

import json

from triton_speech.corpus.manifest import read_manifest, write_manifest


def test_a_written_manifest_reads_back_with_paths_relative_to_it(tmp_path, monkeypatch):
    (tmp_path / "set").mkdir()
    items = [{"audio_filepath": "a.wav", "duration": 1.5, "text": "one"},
             {"audio_filepath": "/abs/b.wav", "duration": 2.0, "text": "two"}]
    manifest = write_manifest(tmp_path / "set" / "manifest.json", items)
    assert [json.loads(line) for line in manifest.read_text().splitlines()] == items
    monkeypatch.chdir(tmp_path)  # a.wav does not exist from here: it is the manifest's neighbour
    read = read_manifest(manifest)
    assert [item["audio_filepath"] for item in read] == [str(tmp_path / "set" / "a.wav"), "/abs/b.wav"]
    assert [item["text"] for item in read] == ["one", "two"]


def test_blank_lines_are_not_items(tmp_path):
    manifest = tmp_path / "m.json"
    manifest.write_text('{"audio_filepath": "/x.wav", "text": "x"}\n\n  \n')
    assert read_manifest(manifest) == [{"audio_filepath": "/x.wav", "text": "x"}]

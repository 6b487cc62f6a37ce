"""A few-second run of the benchmark entry points, so they cannot rot."""

import csv

import pytest

from benchmarks import asr, punctuation, report, tts
from benchmarks.__main__ import summary, write
from tests.conftest import speechlike

pytestmark = pytest.mark.server


def test_asr_sweep_and_report(triton, pipeline, tmp_path):
    clips = {1.0: [speechlike(1.0, s) for s in range(2)]}
    rows = asr.sweep(triton.grpc_url, pipeline, clips, concurrencies=(1, 2), batches=(2,), rounds=1)
    assert [(r["mode"], r["concurrency_or_batch"]) for r in rows] == [
        ("in-process onnxruntime", 2), ("served grpc", 1), ("served grpc", 2)]
    for row in rows:
        assert row["requests"] == 2 and row["rtfx"] > 0 and row["p50_ms"] <= row["p99_ms"]
    ratio = summary(rows)[0]
    assert ratio["served/in_process"] == round(ratio["served_rtfx"] / ratio["in_process_rtfx"], 2)
    report.write_csv(rows, tmp_path / "asr.csv")
    report.plot_throughput_latency(rows, tmp_path / "asr.png")
    with open(tmp_path / "asr.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 3
    assert (tmp_path / "asr.png").stat().st_size > 10_000
    assert report.markdown_table(rows).count("\n") == 4


def test_punctuation_benchmark(quartznet_export, punctuator_export):
    rows = punctuation.measure(quartznet_export, punctuator_export, [speechlike(1.0, 0)], repeats=1)
    assert [r["what"] for r in rows] == [
        "punctuator in-process (one text)", "punctuator served grpc (one text)",
        "asr ensemble with punctuator", "asr ensemble without punctuator", "added by the punctuation step"]
    assert all(r["p50_ms"] > 0 for r in rows[:4])
    assert rows[4]["p50_ms"] == round(rows[2]["p50_ms"] - rows[3]["p50_ms"], 2)


def test_tts_benchmark_and_report(tacotron2_export, waveglow_export, tmp_path):
    rows = tts.measure(tacotron2_export[0], waveglow_export[0], text="Hello there.", repeats=1)
    assert [r["mode"] for r in rows] == ["in-process onnxruntime", "served grpc"]
    expected_seconds = round(tts.frames_for("Hello there.") * 256 / 22050, 2)
    assert all(r["audio_s"] == expected_seconds and r["audio_s_per_s"] > 0 for r in rows)
    write(tmp_path, "tts", rows, "TTS")
    assert (tmp_path / "tts.md").read_text().startswith("# TTS\n\n| mode |")

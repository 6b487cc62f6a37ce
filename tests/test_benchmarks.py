"""A few-second run of the benchmark entry points, so they cannot rot."""

import csv

import pytest

from benchmarks import asr, report
from benchmarks.__main__ import summary
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

"""The perf section's ratios and per-step costs, on rows made by hand (the served rows come from perf_analyzer,
the in-process ones from benchmarks.asr): which rows each figure takes, and that a missing row leaves it blank."""

from __future__ import annotations

import pytest

from triton_speech.benchmarks import perf

SERVED = "served grpc (perf_analyzer)"


def row(model, mode, clip, concurrency, rtfx, p99=10.0, precision="fp32", mean=8.0):
    return {"model": model, "mode": mode, "clip_s": clip, "concurrency_or_batch": concurrency, "rtfx": rtfx,
            "p99_ms": p99, "mean_ms": mean, "precision": precision}


ROWS = [
    row("asr", SERVED, 2.0, 1, 100.0, p99=22.0), row("asr", SERVED, 2.0, 8, 180.0, p99=90.0),
    row("asr", perf.IN_PROCESS, 2.0, 1, 150.0, p99=20.0), row("asr", perf.IN_PROCESS, 2.0, 8, 200.0),
    row("asr", SERVED, 2.0, 1, 150.0, p99=24.0, precision="int8"), row("asr", SERVED, 2.0, 8, 360.0, precision="int8"),
    row("asr", perf.IN_PROCESS, 2.0, 1, 300.0, p99=12.0, precision="int8"),
    row("quartznet", SERVED, 2.0, 8, 1000.0), row("quartznet", SERVED, 2.0, 8, 3100.0, precision="int8"),
    row("asr", "served http (perf_analyzer)", 2.0, 1, 999.0),  # HTTP is not the served best
]


def test_ratios_take_the_best_of_each_side_per_precision_and_clip():
    fp32, int8 = perf.ratios(ROWS)
    assert (fp32["precision"], int8["precision"]) == ("fp32", "int8")
    assert fp32["served/in_process"] == pytest.approx(180 / 200, abs=0.005)
    assert fp32["p99 served/in_process"] == pytest.approx(22 / 20, abs=0.005)
    assert fp32["int8/fp32 served asr"] == "" and fp32["int8/fp32 served quartznet"] == ""
    assert int8["served/in_process"] == pytest.approx(360 / 300, abs=0.005)
    assert int8["p99 served/in_process"] == 2.0
    assert int8["int8/fp32 served asr"] == 2.0 and int8["int8/fp32 served quartznet"] == 3.1


def test_a_ratio_without_its_other_side_is_blank():
    (only,) = perf.ratios([row("asr", SERVED, 5.0, 4, 120.0)])
    assert only["served/in_process"] == "" and only["p99 served/in_process"] == ""


def test_step_costs_set_each_step_beside_its_in_process_stage():
    split = [{"precision": "fp32", "clip_s": 2.0, "mode": SERVED, "concurrency_or_batch": 1, "step": step,
              "queue_ms": 0.5, "compute_ms": compute} for step, compute in (("feature_extractor", 2.0),
                                                                            ("quartznet", 4.0))]
    stages = {("fp32", 2.0): {"feature_extractor": 1.5, "quartznet": 3.0}}
    costs = perf.step_costs(ROWS, split, stages)
    by_step = {c["step"]: c for c in costs if c["precision"] == "fp32"}
    assert by_step["feature_extractor"]["extra_ms"] == 1.0 and by_step["quartznet"]["extra_ms"] == 1.5
    rest = next(c for c in costs if c["step"].startswith("gRPC"))
    assert rest["extra_ms"] == pytest.approx(8.0 - 7.0)  # the client's mean minus the steps' queue and compute
    total = next(c for c in costs if c["step"].startswith("total"))
    assert total["in_process_ms"] == 4.5 and total["extra_ms"] == 3.5

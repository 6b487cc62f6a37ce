"""A few-second run of the benchmark entry points, so they cannot rot."""

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support.audio import speechlike
from tests.support.ports import free_ports
from triton_speech.benchmarks import asr, baseline, gateway, inputs, perf, punctuation, report, riva, tts, tuning
from triton_speech.benchmarks.__main__ import summary, write
from triton_speech.client.audio import load_audio
from triton_speech.ensembles.builder import Exports
from triton_speech.ensembles.settings import RepositorySettings

pytestmark = pytest.mark.server


def test_asr_sweep_and_report(triton, pipeline, tmp_path):
    clips = {1.0: [speechlike(1.0, s) for s in range(2)]}
    rows = asr.sweep(triton.grpc_url, pipeline, clips, concurrencies=(1, 2), batches=(2,), rounds=1)
    assert [(r["mode"], r["concurrency_or_batch"]) for r in rows] == [
        ("in-process onnxruntime", 2), ("served grpc", 1), ("served grpc", 2)]
    for row in rows:
        assert row["requests"] == 2 and row["rtfx"] > 0 and row["p50_ms"] <= row["p99_ms"]
    # One request at a time: throughput is one clip per latency, so RTFx and p50 must agree (a timing bug would not).
    alone = rows[1]
    assert 0.5 <= alone["rtfx"] * alone["p50_ms"] / 1000 <= 2.0
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


def test_tts_streaming_benchmark(triton):
    """Texts of 1 and 2 sentences, 1 and 2 clients: streamed and whole rows whose audio agrees, first audio no later
    than all of it, and the ratio column computed from the row's own numbers."""
    from triton_speech.benchmarks import tts_streaming

    rows = tts_streaming.measure(triton.grpc_url, sentence_counts=(1, 2), concurrency=(1, 2), rounds=1)
    assert [(r["sentences"], r["concurrency"], r["mode"]) for r in rows] == [
        (n, c, mode) for n in (1, 2) for c in (1, 2) for mode in ("streamed", "whole")]
    for streamed, whole in zip(rows[::2], rows[1::2]):
        assert streamed["audio_s"] == whole["audio_s"] > 0 and streamed["requests"] == streamed["concurrency"]
        assert streamed["first_audio_ms"] <= streamed["all_audio_ms"]
        assert whole["first_audio_ms"] == whole["all_audio_ms"]
        assert streamed["tts_ms / first_audio_ms"] == round(whole["all_audio_ms"] / streamed["first_audio_ms"], 1)


def test_first_and_steady_times_each_call():
    from triton_speech.benchmarks.warmup import first_and_steady

    delays = iter([0.05, 0.01, 0.03, 0.02])
    first, steady = first_and_steady(lambda: __import__("time").sleep(next(delays)), repeats=3)
    assert 50 <= first < 90 and 20 <= steady < 45  # the median of 10, 30, 20 ms


# perf_analyzer, baselines and tuning: a few seconds each against the session's server and exports.
QUICK = perf.PerfSettings(requests_per_window=3, stability_percent=50, max_trials=3, timeout_s=120)


def test_input_data_generator_writes_what_perf_analyzer_reads(tmp_path):
    data = inputs.write_all(tmp_path, seconds=(1.0, 2.5), per_bucket=2, audio_files=[])
    assert sorted(data.asr) == [1.0, 2.5] and data.files is None
    for length, path in data.asr.items():
        entries = json.loads(path.read_text())["data"]
        assert len(entries) == 2 == len(data.audio[length])
        for entry, wav in zip(entries, data.audio[length]):
            assert set(entry) == {"AUDIO"} and entry["AUDIO"]["shape"] == [int(length * 16000)]
            samples = inputs.decode(entry["AUDIO"])
            assert samples.dtype == np.float32 and samples.shape == (int(length * 16000),)
            np.testing.assert_array_equal(samples, load_audio(wav, 16000))  # exactly the file's samples
            assert np.abs(samples).max() > 0.01  # speech, not silence
    for path, texts in ((data.punctuator, inputs.TEXTS), (data.tts, inputs.TTS_SENTENCES)):
        entries = json.loads(path.read_text())["data"]
        assert [inputs.decode(e["TEXT"]).tolist() for e in entries] == [[t] for t in texts]
        assert all(e["TEXT"]["shape"] == [1] for e in entries)
    # audio files of any rate: one request each, resampled to 16 kHz
    import soundfile

    soundfile.write(tmp_path / "8k.wav", speechlike(0.5, 3, sample_rate=8000), 8000)
    entry = json.loads(inputs.audio_input_data([tmp_path / "8k.wav"], tmp_path / "files.json").read_text())["data"][0]
    assert entry["AUDIO"]["shape"] == [8000]


def test_perf_analyzer_against_the_test_server(triton, tmp_path):
    assert (Path(perf.environment()["LD_LIBRARY_PATH"].split(os.pathsep)[0]) / "libb64.so.0d").exists()
    clips = inputs.write_json([inputs.audio_entry(speechlike(1.0, s)) for s in range(2)], tmp_path / "asr.json")
    texts = inputs.write_json([inputs.text_entry(t) for t in inputs.TEXTS[:2]], tmp_path / "punctuator.json")
    points = [perf.Point("asr", clips, 2, "grpc", audio_seconds=1.0), perf.Point("punctuator", texts, 1, "http")]
    rows, split = perf.sweep(triton.grpc_url, triton.http_url, points, QUICK, admin_key=triton.admin_key)

    asr_row, punctuator_row = rows
    assert asr_row["mode"] == "served grpc (perf_analyzer)" and punctuator_row["mode"] == "served http (perf_analyzer)"
    for row in rows:
        assert row["throughput_rps"] > 0 and 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["server_compute_ms"] > 0 and row["server_queue_ms"] >= 0
    assert asr_row["rtfx"] == pytest.approx(asr_row["throughput_rps"] * 1.0, abs=0.01) and punctuator_row["rtfx"] == ""
    # the split covers every ensemble step, each seeing every request perf_analyzer sent
    asr_steps = [s for s in split if s["model"] == "asr"]
    assert [s["step"] for s in asr_steps] == ["feature_extractor", "quartznet", "ctc_decoder", "punctuator"]
    assert len({s["requests"] for s in asr_steps}) == 1 and asr_steps[0]["requests"] >= 3 * 3
    assert all(s["compute_ms"] > 0 and s["avg_batch"] >= 1 for s in split)
    assert asr_row["server_compute_ms"] == pytest.approx(sum(s["compute_ms"] for s in asr_steps), abs=0.02)


def test_perf_analyzer_unstable_point_is_measured_over_a_fixed_count(triton, tmp_path):
    texts = inputs.write_json([inputs.text_entry(t) for t in inputs.TEXTS], tmp_path / "punctuator.json")
    never_stable = perf.PerfSettings(requests_per_window=5, stability_percent=0.001, max_trials=3)
    point = perf.Point("punctuator", texts, 1)
    statistics = perf.ServerStatistics(triton.grpc_url, admin_key=triton.admin_key)
    try:
        row, split = perf.measure(triton.grpc_url, point, statistics, never_stable)
        assert row["stable"] is False and row["throughput_rps"] > 0
        assert split[0]["requests"] >= 3 * 5  # the windows tried, then the fixed count
        audio = inputs.write_json([inputs.audio_entry(speechlike(0.5, 0))], tmp_path / "asr.json")
        with pytest.raises(perf.PerfAnalyzerError, match="perf_analyzer failed"):  # audio for a text model
            perf.measure(triton.grpc_url, perf.Point("punctuator", audio, 1), statistics, QUICK)
    finally:
        statistics.close()


def test_nemo_transcribe_baseline_shares_the_served_weights(quartznet_model, quartznet_export, pipeline, tmp_path):
    import soundfile

    quartznet_model.save_to(str(tmp_path / "quartznet.nemo"))
    model, export_dir = baseline.shared_weights(quartznet_export, tmp_path / "quartznet.nemo", tmp_path)
    assert export_dir == quartznet_export  # matched: nothing re-exported

    clip = speechlike(1.5, 7)
    soundfile.write(tmp_path / "clip.wav", clip, 16000, subtype="FLOAT")
    row = baseline.nemo_transcribe(model, [tmp_path / "clip.wav"], 1.5, rounds=2).row()
    assert row["mode"] == baseline.NEMO_MODE and row["requests"] == 2 and row["concurrency_or_batch"] == 1
    assert row["rtfx"] == pytest.approx(1.5 * row["throughput_rps"], abs=0.01) and row["p50_ms"] > 0
    assert baseline.nemo_transcribe(model, [tmp_path / "clip.wav"], 1.5, rounds=3, max_seconds=0).requests == 1
    # the seed service and the served pipeline transcribe alike (same weights, same features)
    nemo_text = model.transcribe([str(tmp_path / "clip.wav")], batch_size=1, verbose=False)[0].text
    assert nemo_text == pipeline.recognize([clip])[0].raw != ""

    with torch.no_grad():  # other weights are told apart
        model.decoder.decoder_layers[0].weight.mul_(1.01)
    assert not baseline.weights_match(model, quartznet_export)


def test_served_vs_baseline_ratios():
    served = [{"model": "asr", "mode": "served grpc (perf_analyzer)", "clip_s": 5.0, "concurrency_or_batch": c,
               "rtfx": r, "p99_ms": p} for c, r, p in ((1, 40.0, 120.0), (8, 60.0, 700.0))]
    served.append({**served[0], "mode": "served http (perf_analyzer)", "rtfx": 99.0})  # not compared
    baselines = [{"mode": baseline.ONNX_MODE, "clip_s": 5.0, "concurrency_or_batch": b, "rtfx": r, "p99_ms": p}
                 for b, r, p in ((1, 50.0, 100.0), (8, 64.0, 650.0))]
    baselines.append({"mode": baseline.NEMO_MODE, "clip_s": 5.0, "concurrency_or_batch": 1, "rtfx": 12.0,
                      "p99_ms": 500.0})
    (row,) = baseline.comparison(served, baselines)
    assert row["served/onnx_best"] == round(60 / 64, 2) and row["B"] == 8
    assert row["served/onnx_at_B"] == round(60 / 64, 2) and row["served_at_B/nemo"] == 5.0
    assert row["p99 served/onnx"] == 1.2


def test_one_tuning_point(quartznet_export, punctuator_export, tmp_path):
    clips = inputs.write_json([inputs.audio_entry(speechlike(1.0, s)) for s in range(2)], tmp_path / "asr.json")
    grid = tuning.TuningGrid(max_batch_sizes=(4,), max_queue_delays_us=(500,), preferred_batch_sizes=((2,),),
                             instance_counts=(2,))
    rows = tuning.sweep(Exports(asr=quartznet_export, punctuator=punctuator_export), grid, clips, 1.0, (2,),
                        QUICK, ports=free_ports())
    (row,) = rows
    assert (row["max_batch_size"], row["max_queue_delay_us"], row["preferred_batch_sizes"], row["instances"]) == (
        4, 500, "2", "quartznet=2")
    assert row["concurrency_or_batch"] == 2 and row["throughput_rps"] > 0 and row["p50_ms"] <= row["p99_ms"]
    best, within_budget = tuning.best_settings(rows)
    assert best == row and within_budget
    assert tuning.settings_of(best) == RepositorySettings(max_batch_size=4, max_queue_delay_us=500,
                                                          preferred_batch_sizes=(2,), instances={"quartznet": 2})
    assert tuning.flags(tuning.settings_of(best)) == (
        "--max-batch-size 4 --max-queue-delay-us 500 --preferred-batch-sizes 2 --instances quartznet=2")


def test_tuning_grid_and_pick():
    grid = tuning.TuningGrid(max_batch_sizes=(4, 16), max_queue_delays_us=(0, 5000), preferred_batch_sizes=((), (8,)),
                             instance_counts=(1, 2))
    settings = grid.settings()
    assert len(settings) == 12  # preferred 8 > max batch 4 left out
    assert all(s.preferred_batch_sizes in ((), (8,)) and s.max_batch_size >= max(s.preferred_batch_sizes, default=0)
               for s in settings)

    def rows_of(delay, results):
        columns = tuning.describe(RepositorySettings(max_queue_delay_us=delay))
        return [{**columns, "concurrency_or_batch": c, "throughput_rps": t, "p50_ms": p / 2, "p99_ms": p}
                for c, t, p in results]

    rows = rows_of(0, [(1, 5, 100), (8, 10, 500)]) + rows_of(5000, [(1, 4, 110), (8, 14, 900)])
    assert tuning.best_settings(rows)[0]["max_queue_delay_us"] == 5000  # highest throughput at concurrency 8
    assert tuning.best_settings(rows, p99_budget_ms=600) == (rows[1], True)  # the faster one breaks the budget
    assert tuning.best_settings(rows, p99_budget_ms=50) == (rows[3], False)  # none meets it: best throughput
    # a lone request 1.3x slower than with the best setting: outside the default slack of 1.2
    slow_alone = rows_of(0, [(1, 5, 100), (8, 10, 500)]) + rows_of(5000, [(1, 4, 130), (8, 14, 900)])
    assert tuning.best_settings(slow_alone) == (slow_alone[1], True)
    assert tuning.best_settings(slow_alone, latency_slack=None) == (slow_alone[3], True)
    # an unstable measurement loses to a stable one
    unstable = [dict(row, stable=row["max_queue_delay_us"] == 0) for row in rows]
    assert tuning.best_settings(unstable)[0]["max_queue_delay_us"] == 0


def test_streaming_and_long_audio_benchmarks(tone_triton, tmp_path):
    from tests.support.tones import tone_speech, tone_words
    from triton_speech.benchmarks import streaming

    clip = tone_speech(tone_words(3, 1), [0.2, 0.2, 0.2, 0.2])[0]
    chunks = -(-clip.shape[0] // 4000)  # 250 ms chunks
    rounds = 2  # each stream sends the clip twice in a row
    rows, most = streaming.streaming(tone_triton.grpc_url, [clip], concurrencies=(1, 3), chunk_ms=250,
                                     search_steps=1, rounds=rounds)
    assert [r["streams"] for r in rows][:1] == [1] and rows[-1]["streams"] == 3
    for row in rows:
        # only chunks sent while every client streamed count (clients start staggered): all of them with one
        assert row["chunks"] == chunks * rounds if row["streams"] == 1 else 0 < row["chunks"] < 3 * chunks * rounds
        assert row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["keeps_up"] == (row["p99_ms"] <= 250)
    assert most in {r["streams"] for r in rows if r["keeps_up"]} | {0}
    pieces = [clip, clip[::-1].copy()]
    long_rows = streaming.long_audio(tone_triton.grpc_url, tone_triton.http_url, pieces, minutes=0.2, concurrency=2)
    assert len(long_rows) == 4 and all(r["audio_s"] >= 12 for r in long_rows)
    for row in long_rows:  # RTFx is audio over wall time, as reported
        assert row["rtfx"] == pytest.approx(row["audio_s"] / row["wall_s"], rel=0.02)
    write(tmp_path, "long_audio", long_rows, "Long audio")
    assert (tmp_path / "long_audio.csv").exists()
def test_gateway_overhead_section(triton):
    rows = gateway.measure(triton.grpc_url, seconds=1.0, clips=2, rounds=2, port=free_ports().http)
    assert [r["path"] for r in rows] == list(gateway.PATHS)
    assert all(r["requests"] == 4 and r["clip_s"] == 1.0 and 0 < r["p50_ms"] <= r["p90_ms"] for r in rows)
    direct = rows[0]["p50_ms"]
    assert rows[0]["overhead_p50_ms"] == 0.0
    assert all(abs(r["overhead_p50_ms"] - (r["p50_ms"] - direct)) <= 0.11 for r in rows)  # both rounded to 0.1


def test_riva_section(default_speech_server):
    recognize, streamed = riva.measure(default_speech_server.grpc_url, seconds=2.0, clips=2, rounds=1,
                                       port=free_ports().http)
    assert [r["path"] for r in recognize] == ["triton grpc asr (direct)", "riva Recognize"]
    assert all(r["requests"] == 2 and 0 < r["p50_ms"] <= r["p90_ms"] for r in recognize)
    assert recognize[1]["overhead_p50_ms"] == pytest.approx(recognize[1]["p50_ms"] - recognize[0]["p50_ms"], abs=0.11)
    assert [r["path"] for r in streamed] == ["riva StreamingRecognize, 3200-byte chunks in real time",
                                             "riva StreamingRecognize, 3200-byte chunks",
                                             "asr_streaming direct, 320 ms chunks in real time"]
    for row in streamed:
        assert row["streams"] == 2 and 0 < row["first_interim_p50_ms"] <= row["first_interim_p90_ms"]
    # in real time, the first interim result needs at least the endpoint's first 320 ms chunk of audio
    assert streamed[0]["first_interim_p50_ms"] >= 320 and streamed[0]["final_after_end_p50_ms"] > 0

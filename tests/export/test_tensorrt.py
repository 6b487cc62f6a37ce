"""TensorRT engines: one profile each, from the limits the served repository enforces; FP16 kernels never for the
front-end; without TensorRT and a GPU the command says so and exits 2."""

import subprocess
import sys

from tests.support.paths import REPOSITORY_ROOT
from triton_speech.export.tensorrt import FP16_ENGINES, engine_profiles
from triton_speech.runtime.asr.features import MelConfig


def test_the_audio_engines_span_one_hop_to_the_longest_audio_the_server_takes():
    profiles = engine_profiles(MelConfig(), max_batch_size=8, max_audio_seconds=20.0)
    # 160 samples: the shortest audio audio_input accepts (one hop of 10 ms at 16 kHz), not one 512-sample window
    assert profiles["feature_extractor"].shapes["audio"] == ((1, 160), (4, 80000), (8, 320000))
    assert profiles["feature_extractor"].shapes["audio_length"] == ((1,), (4,), (8,))


def test_quartznet_spans_one_frame_to_the_front_ends_output_for_the_longest_audio():
    profiles = engine_profiles(MelConfig(), max_batch_size=16, max_audio_seconds=60.0)
    # the centred STFT gives 6001 frames for 60 s (6000 valid): the engine must take what the front-end sends
    assert profiles["quartznet"].shapes["features"] == ((1, 64, 1), (8, 64, 501), (16, 64, 6001))
    assert "punctuator_network" not in profiles


def test_the_punctuator_spans_one_token_to_full_windows_of_a_batch():
    profile = engine_profiles(MelConfig(), max_batch_size=4, max_seq_length=64)["punctuator_network"]
    assert profile.shapes["input_ids"] == profile.shapes["attention_mask"] == ((1, 1), (2, 64), (4, 64))


def test_fp16_engines_are_the_graphs_the_fp16_precision_converts_never_the_front_end():
    assert set(FP16_ENGINES) == {"quartznet", "punctuator_network"}


def test_without_tensorrt_it_says_so_and_exits_2():
    result = subprocess.run([sys.executable, "-m", "export", "tensorrt", "--output", "build/plans_test"],
                            cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "TensorRT engines are built on the GPU that serves them" in result.stderr

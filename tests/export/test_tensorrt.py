"""TensorRT engines: the optimization profiles follow the repository's settings; without TensorRT and a GPU the
command says so and exits 2."""

import subprocess
import sys

from tests.helpers import REPOSITORY_ROOT
from triton_speech.export.tensorrt import acoustic_profile, frontend_profile, punctuator_profile
from triton_speech.runtime.asr.features import MelConfig


def test_frontend_profile_spans_one_window_to_the_longest_audio():
    profile = frontend_profile(MelConfig(), max_batch_size=8, max_audio_seconds=20.0)
    assert profile.shapes["audio"] == ((1, 512), (4, 80000), (8, 320000))
    assert profile.shapes["audio_length"] == ((1,), (4,), (8,))


def test_acoustic_profile_spans_one_frame_to_the_frames_of_the_longest_audio():
    profile = acoustic_profile(MelConfig(), max_batch_size=16, max_audio_seconds=60.0)
    assert profile.shapes["features"] == ((1, 64, 1), (8, 64, 500), (16, 64, 6000))
    assert profile.shapes["features_length"] == ((1,), (8,), (16,))


def test_punctuator_profile_spans_one_token_to_a_full_window():
    profile = punctuator_profile(max_seq_length=64, max_batch_size=4)
    assert profile.shapes["input_ids"] == profile.shapes["attention_mask"] == ((1, 1), (2, 64), (4, 64))


def test_without_tensorrt_it_says_so_and_exits_2():
    result = subprocess.run([sys.executable, "-m", "export", "tensorrt", "--output", "build/plans_test"],
                            cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "TensorRT engines are built on the GPU that serves them" in result.stderr

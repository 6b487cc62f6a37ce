"""TensorRT optimization profiles: ONNX Runtime's option strings, their parsing back, and what a profile admits."""

import pytest

from triton_speech.runtime.profiles import Profile, frontend_frames, waveglow_profile

PROFILE = Profile({"features": ((1, 64, 1), (8, 64, 501), (16, 64, 6001)), "features_length": ((1,), (8,), (16,))})


def test_ort_options_are_name_colon_dims_joined_by_x_per_input():
    assert PROFILE.ort_options() == {
        "trt_profile_min_shapes": "features:1x64x1,features_length:1",
        "trt_profile_opt_shapes": "features:8x64x501,features_length:8",
        "trt_profile_max_shapes": "features:16x64x6001,features_length:16"}
    assert Profile.from_ort_options(PROFILE.ort_options()) == PROFILE


def test_a_profile_admits_the_shapes_between_its_bounds_only():
    assert PROFILE.admits("features", (1, 64, 1)) and PROFILE.admits("features", (16, 64, 6001))
    assert not PROFILE.admits("features", (16, 64, 6002)) and not PROFILE.admits("features", (17, 64, 10))
    assert not PROFILE.admits("features", (1, 64))


@pytest.mark.parametrize("shapes", [((2,), (1,), (4,)), ((1,), (2,), (1,)), ((0,), (1,), (2,)), ((1,), (2, 2), (3,))])
def test_bounds_out_of_order_are_refused(shapes):
    with pytest.raises(ValueError, match="min <= opt <= max"):
        Profile({"x": shapes})


def test_the_front_end_gives_one_frame_per_hop_plus_one():
    assert frontend_frames(160, 160) == 2 and frontend_frames(960000, 160) == 6001 and frontend_frames(159, 160) == 1


def test_waveglow_noise_follows_the_mel_frames():
    profile = waveglow_profile(n_mels=80, n_group=8, hop=256, max_batch_size=16, max_mel_frames=12919,
                               optimum_frames=430)
    assert profile.shapes["mel"] == ((1, 80, 1), (8, 80, 430), (16, 80, 12919))
    assert profile.shapes["z"] == ((1, 8, 32), (8, 8, 430 * 32), (16, 8, 12919 * 32))

"""The numpy mel front-end against NeMo's AudioToMelSpectrogramPreprocessor."""

import numpy as np
import pytest
import torch

from tests.support.audio import speechlike
from triton_speech.runtime.asr.features import MelConfig, MelFrontend

TOLERANCE = 1e-4


def nemo_preprocessor(**overrides):
    from nemo.collections.asr.modules import AudioToMelSpectrogramPreprocessor

    config = {
        "normalize": "per_feature", "window_size": 0.02, "sample_rate": 16000, "window_stride": 0.01,
        "window": "hann", "features": 64, "n_fft": 512, "frame_splicing": 1, "dither": 0.00001,
    }
    config.update(overrides)
    return AudioToMelSpectrogramPreprocessor(**config).eval(), config


def ours_for(preprocessor, config):
    featurizer = preprocessor.featurizer
    return MelFrontend(MelConfig.from_nemo(config), featurizer.window.numpy(), featurizer.fb.numpy())


@pytest.mark.parametrize("overrides", [{}, {"features": 80, "window_size": 0.025}, {"normalize": "all_features"}])
def test_matches_nemo_on_a_ragged_batch(overrides):
    preprocessor, config = nemo_preprocessor(**overrides)
    frontend = ours_for(preprocessor, config)
    audio = [speechlike(s, seed) for seed, s in enumerate((1.0, 3.37, 0.5, 0.25))]
    lengths = torch.tensor([a.shape[0] for a in audio])
    padded = torch.zeros(len(audio), int(lengths.max()))
    for row, a in enumerate(audio):
        padded[row, : a.shape[0]] = torch.from_numpy(a)
    with torch.no_grad():
        reference, reference_lengths = preprocessor(input_signal=padded, length=lengths)
    for row, a in enumerate(audio):
        ours = frontend(a)
        assert ours.shape == (config["features"], int(reference_lengths[row]))
        np.testing.assert_allclose(ours, reference[row, :, : ours.shape[1]].numpy(), atol=TOLERANCE, rtol=0)


def test_two_frame_utterance_matches_within_float32_conditioning():
    """Normalizing 2 frames divides by |x1 - x2|: NeMo's float32 rounding is amplified (~1e-3)."""
    preprocessor, config = nemo_preprocessor()
    frontend = ours_for(preprocessor, config)
    audio = speechlike(0.02, 7)
    with torch.no_grad():
        reference, length = preprocessor(input_signal=torch.from_numpy(audio)[None], length=torch.tensor([320]))
    ours = frontend(audio)
    assert ours.shape == (64, int(length[0])) == (64, 2)
    np.testing.assert_allclose(ours, reference[0, :, :2].numpy(), atol=1e-3, rtol=0)


def test_frame_count_follows_nemo():
    preprocessor, config = nemo_preprocessor()
    frontend = ours_for(preprocessor, config)
    for samples in (160, 161, 319, 320, 16000, 16079):
        expected = int(preprocessor.featurizer.get_seq_len(torch.tensor([samples]))[0])
        assert frontend.num_frames(samples) == expected, samples


def test_save_and_load_round_trip(tmp_path):
    preprocessor, config = nemo_preprocessor()
    frontend = ours_for(preprocessor, config)
    frontend.save(tmp_path / "frontend.npz")
    loaded = MelFrontend.load(tmp_path / "frontend.npz")
    audio = speechlike(1.5, 3)
    assert loaded.config == frontend.config
    np.testing.assert_array_equal(loaded(audio), frontend(audio))


def test_rejects_configs_it_cannot_reproduce():
    with pytest.raises(ValueError, match="frame_splicing"):
        MelConfig.from_nemo({"frame_splicing": 3})
    with pytest.raises(ValueError, match="only AudioToMelSpectrogramPreprocessor"):
        MelConfig.from_nemo({"_target_": "nemo.collections.asr.modules.AudioToMFCCPreprocessor"})


# --- a stream's features, computed as its audio comes --------------------------------------------------------

# StreamingMelFrontend against MelFrontend over the whole audio so far: the same float64 arithmetic, frames summed
# into the normalization's statistics in another order
STREAMING_TOLERANCE = 1e-5


def random_frontend(**config) -> MelFrontend:
    rng = np.random.default_rng(3)
    mel = MelConfig(**config)
    window = np.hanning(mel.win_length)
    return MelFrontend(mel, window, rng.uniform(0, 0.05, (mel.n_mels, mel.n_fft // 2 + 1)))


@pytest.mark.parametrize("config", [{}, {"normalize": "all_features"}, {"normalize": None, "preemph": None},
                                    {"exact_pad": True, "log_zero_guard_type": "clamp"}])
@pytest.mark.parametrize("pieces", [[5120] * 8, [1, 2, 159, 161, 480, 3, 7000, 160, 20000], [160] * 30 + [17]])
def test_streaming_features_are_the_whole_audios_so_far(config, pieces):
    from triton_speech.runtime.asr.features import StreamingMelFrontend

    frontend = random_frontend(**config)
    audio = speechlike(sum(pieces) / 16000 + 0.01, 4)
    stream, received = StreamingMelFrontend(frontend), 0
    for piece in pieces:
        stream.append(audio[received : received + piece])
        received += piece
        assert stream.frames == frontend.num_frames(received)
        if stream.frames == 0:  # (MelFrontend needs a frame's worth of audio)
            continue
        whole = frontend(audio[:received])
        for first in sorted({0, max(0, stream.frames - 100), stream.frames}):
            window = stream.window(first)
            assert window.shape == whole[:, first:].shape
            assert np.abs(window - whole[:, first:]).max(initial=0) <= STREAMING_TOLERANCE


def test_released_frames_are_forgotten_and_later_ones_unchanged():
    from triton_speech.runtime.asr.features import StreamingMelFrontend

    frontend = random_frontend()
    audio = speechlike(3.0, 5)
    stream = StreamingMelFrontend(frontend)
    stream.append(audio[:32000])
    stream.release(150)
    stream.append(audio[32000:])
    assert np.abs(stream.window(150) - frontend(audio)[:, 150:]).max() <= STREAMING_TOLERANCE
    with pytest.raises(ValueError, match="frame 149 is no longer kept"):
        stream.window(149)

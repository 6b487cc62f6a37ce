"""The Tacotron2 and WaveGlow engines on tiny exported models: the same as PyTorch, each item of a batch as alone,
seeded dropout and noise, the denoiser."""


import numpy as np
import pytest
import torch

from tests.support.decoding import MAX_STEPS, TEXTS
from tests.support.models import tiny_waveglow
from triton_speech.models.tacotron2 import Tacotron2
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.tts.pipeline import TTSPipeline
from triton_speech.runtime.tts.stft import istft, stft
from triton_speech.runtime.tts.tacotron2 import (
    DecoderSettings,
    PrenetDropout,
    Tacotron2Engine,
)
from triton_speech.runtime.tts.waveglow import WaveGlowEngine

# --- layouts and checkpoints ----------------------------------------------------------------------


# --- ONNX export ------------------------------------------------------------------------------------


# --- engines ------------------------------------------------------------------------------------------


def reference_mels(model: Tacotron2, sequences, seeds, settings: DecoderSettings):
    """PyTorch's decoding loop on the padded batch, each item with its own dropout stream."""
    lengths = torch.tensor([len(s) for s in sequences])
    text = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.int64)
    for row, ids in enumerate(sequences):
        text[row, : len(ids)] = torch.tensor(ids)
    streams = [PrenetDropout(seed, model.prenet_shape, settings.prenet_dropout) for seed in seeds]
    steps = [np.stack([stream.next() for stream in streams]) for _ in range(settings.max_decoder_steps)]
    mel, mel_length, hit_limit = model.infer(text, lengths, torch.from_numpy(np.stack(steps)), settings.gate_threshold)
    return [(mel[row, :, : int(n)].numpy(), bool(hit_limit[row])) for row, n in enumerate(mel_length)]


def test_engine_matches_pytorch_decoding_and_stops_each_item_at_its_gate(tacotron2_export, decoding_case):
    model, sequences, seeds, settings, expected_stops = decoding_case
    engine = Tacotron2Engine.load(tacotron2_export[0], settings)
    spectrograms = engine(sequences, seeds)
    for spectrogram, (mel, hit_limit), stop, ids in zip(spectrograms, reference_mels(model, sequences, seeds, settings),
                                                        expected_stops, sequences):
        assert spectrogram.hit_step_limit == hit_limit == (stop is None)
        assert spectrogram.mel.shape == mel.shape == (16, stop or MAX_STEPS)
        assert spectrogram.alignment.shape == (mel.shape[1], len(ids))
        np.testing.assert_allclose(spectrogram.alignment.sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(spectrogram.mel, mel, atol=1e-4, rtol=0)


def test_engine_batch_gives_each_text_its_alone_mel(tacotron2_export, decoding_case):
    _, sequences, seeds, settings, _ = decoding_case
    engine = Tacotron2Engine.load(tacotron2_export[0], settings)
    batch = engine(sequences, seeds)
    for ids, seed, together in zip(sequences, seeds, batch):
        (alone,) = engine([ids], [seed])
        assert alone.hit_step_limit == together.hit_step_limit
        assert alone.mel.shape == together.mel.shape
        np.testing.assert_allclose(together.mel, alone.mel, atol=1e-5, rtol=0)


def test_prenet_dropout_follows_the_seed(tacotron2_export, decoding_case):
    _, sequences, _, settings, _ = decoding_case
    engine = Tacotron2Engine.load(tacotron2_export[0], DecoderSettings(gate_threshold=1.0, max_decoder_steps=6))
    first, again, other = engine([sequences[0]] * 3, seeds=[5, 5, 6])
    np.testing.assert_array_equal(first.mel, again.mel)
    assert np.abs(first.mel - other.mel).max() > 1e-3
    assert first.hit_step_limit and first.mel.shape[1] == 6


def test_engine_rejects_bad_symbol_ids(tacotron2_export):
    engine = Tacotron2Engine.load(tacotron2_export[0])
    with pytest.raises(InputError, match="outside 0..147"):
        engine([[5, 148]])
    with pytest.raises(InputError, match="no symbols"):
        engine([[]])


def test_waveglow_engine_matches_pytorch_for_each_item_of_a_batch(waveglow_export):
    model = tiny_waveglow()  # the exported weights, still weight-normed: the reference of the checkpoint
    engine = WaveGlowEngine.load(waveglow_export[0], sigma=0.5)
    mels = [np.random.default_rng(seed).normal(-5, 2, (16, frames)).astype(np.float32)
            for seed, frames in enumerate((7, 3, 5))]
    audio = engine(mels, seeds=[1, 2, 3])
    for mel, seed, ours in zip(mels, [1, 2, 3], audio):
        z = engine.noise(mel.shape[1], seed)
        with torch.no_grad():
            expected = model.infer(torch.from_numpy(mel)[None], torch.from_numpy(z)[None], 0.5)[0].numpy()
        assert ours.shape == (mel.shape[1] * 256,)
        np.testing.assert_allclose(ours, expected, atol=1e-5 * np.abs(expected).max(), rtol=0)
        (alone,) = engine([mel], seeds=[seed])
        np.testing.assert_allclose(ours, alone, atol=1e-5 * np.abs(alone).max(), rtol=0)


def test_waveglow_noise_is_explicit_and_scaled_by_sigma(waveglow_export):
    mel = np.random.default_rng(0).normal(-5, 2, (16, 4)).astype(np.float32)
    z = np.random.default_rng(1).standard_normal((8, 4 * 32)).astype(np.float32)
    quiet = WaveGlowEngine.load(waveglow_export[0], sigma=0.0)
    np.testing.assert_array_equal(quiet([mel], noise=[z])[0], quiet([mel], noise=[2 * z])[0])
    loud = WaveGlowEngine.load(waveglow_export[0], sigma=0.6)
    np.testing.assert_allclose(loud([mel], noise=[z])[0], WaveGlowEngine.load(waveglow_export[0], sigma=0.3)(
        [mel], noise=[2 * z])[0], rtol=1e-5, atol=1e-6)
    assert np.abs(loud([mel], seeds=1)[0] - loud([mel], seeds=2)[0]).max() > 1e-3
    with pytest.raises(InputError, match="noise 0 must have shape"):
        loud([mel], noise=[z[:, :-1]])
    with pytest.raises(InputError, match="mel 0 must be"):
        loud([mel[:8]])


def test_stft_round_trip_and_denoiser_removes_the_bias(waveglow_export):
    signal = np.random.default_rng(0).standard_normal(3000).astype(np.float32)
    np.testing.assert_allclose(istft(stft(signal), len(signal)), signal, atol=1e-5)
    plain = WaveGlowEngine.load(waveglow_export[0], denoiser_strength=0.0)
    denoised = WaveGlowEngine.load(waveglow_export[0], denoiser_strength=1.0)
    silence = np.zeros((16, 20), dtype=np.float32)
    bias_audio = plain([silence], noise=[np.zeros((8, 20 * 32), dtype=np.float32)])[0]
    cleaned = denoised([silence], noise=[np.zeros((8, 20 * 32), dtype=np.float32)])[0]
    assert np.abs(cleaned).mean() < 0.5 * np.abs(bias_audio).mean()
    mel = np.random.default_rng(2).normal(-5, 2, (16, 6)).astype(np.float32)
    np.testing.assert_allclose(plain.denoise(plain([mel], seeds=3)[0], strength=0.0), plain([mel], seeds=3)[0],
                               atol=1e-5)


def test_text_to_speech_batch_equals_alone(tacotron2_export, waveglow_export, decoding_case):
    settings = decoding_case[3]
    speech = TTSPipeline(Tacotron2Engine.load(tacotron2_export[0], settings), WaveGlowEngine.load(waveglow_export[0]),
                         max_sentence_chars=250)
    batch = speech.batch(TEXTS, seeds=[11, 12, 13])
    for text, seed, together in zip(TEXTS, [11, 12, 13], batch):
        (alone,) = speech.batch([text], seeds=[seed])
        assert together.hit_step_limit == alone.hit_step_limit
        np.testing.assert_allclose(together.audio, alone.audio, atol=1e-4 * np.abs(alone.audio).max(), rtol=0)
    with pytest.raises(InputError):
        speech.batch(["fine", "   "], seeds=[0, 0])

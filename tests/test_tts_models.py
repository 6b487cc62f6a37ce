"""Tacotron2 + WaveGlow: published layouts, DLE checkpoint loading, ONNX parity and batch-vs-alone synthesis.

Parity and engine tests use tiny models exported through the same ``export_*`` functions as the real
checkpoints, from files in DLE's wrapper format.
"""

import json

import numpy as np
import pytest
import torch

from export import tts
from export.tts_models import Tacotron2, WaveGlow, load_dle_checkpoint
from tests.conftest import DATA
from tests.tiny_models import (
    MAX_STEPS, TEXTS, dle_wrapped, layout, tiny_tacotron2, tiny_waveglow,
)
from triton_speech.errors import InputError
from triton_speech.tts import (
    DECODER_INPUTS, DECODER_OUTPUTS, ENCODER_INPUTS, ENCODER_OUTPUTS, POSTNET_INPUTS, POSTNET_OUTPUTS,
    WAVEGLOW_INPUTS, WAVEGLOW_OUTPUTS, DecoderSettings, PrenetDropout, Tacotron2Engine, TTSPipeline,
    WaveGlowEngine, istft, stft,
)



# --- layouts and checkpoints ----------------------------------------------------------------------


def test_tacotron2_has_the_published_layout():
    published = json.loads((DATA / "tacotron2_dle.json").read_text())
    with torch.device("meta"):
        default = Tacotron2()
        from_config = Tacotron2.from_config(published["hyperparameters"])
    assert layout(default) == published["params"]
    assert layout(from_config) == published["params"]
    assert sum(p.numel() for p in default.parameters()) == published["num_parameters"]


def test_waveglow_has_the_published_layout_before_and_after_folding_weight_norm():
    published = json.loads((DATA / "waveglow_dle.json").read_text())
    with torch.device("meta"):
        default = WaveGlow()
        from_config = WaveGlow(**published["hyperparameters"])
        assert layout(default) == published["params"]
        assert layout(from_config) == published["params"]
        assert sum(p.numel() for p in default.parameters()) == published["num_parameters"]
        assert layout(default.remove_weight_norm()) == published["params_after_remove_weightnorm_for_reference"]


@pytest.mark.parametrize("prefix", ["module.", "module.1.", ""])
@pytest.mark.parametrize("build", [tiny_tacotron2, tiny_waveglow], ids=["tacotron2", "waveglow"])
def test_dle_checkpoint_loads_strictly_with_its_prefixes(tmp_path, build, prefix):
    saved = build(seed=1)
    config = {"any": "setting"}
    torch.save(dle_wrapped(saved, config, prefix=prefix), tmp_path / "checkpoint.pt")
    fresh = build(seed=2)
    assert load_dle_checkpoint(tmp_path / "checkpoint.pt", fresh) == config
    for name, tensor in saved.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name


def test_fp16_checkpoint_loads_into_fp32_model(tmp_path):
    saved = tiny_tacotron2(seed=1)
    torch.save(dle_wrapped(saved, {}, dtype=torch.float16), tmp_path / "checkpoint.pt")
    fresh = tiny_tacotron2(seed=2)
    load_dle_checkpoint(tmp_path / "checkpoint.pt", fresh)
    weight = fresh.embedding.weight
    assert weight.dtype == torch.float32
    torch.testing.assert_close(weight, saved.embedding.weight.half().float(), rtol=0, atol=0)


def test_checkpoint_with_a_missing_or_foreign_key_is_refused(tmp_path):
    wrapped = dle_wrapped(tiny_tacotron2(), {})
    del wrapped["state_dict"]["module.postnet.convolutions.0.0.conv.bias"]
    wrapped["state_dict"]["module.decoder.extra.weight"] = torch.zeros(1)
    torch.save(wrapped, tmp_path / "checkpoint.pt")
    with pytest.raises(RuntimeError, match="Missing key.*postnet.convolutions.0.0.conv.bias"):
        load_dle_checkpoint(tmp_path / "checkpoint.pt", tiny_tacotron2())


def test_folding_weight_norm_keeps_the_audio():
    model = tiny_waveglow()
    mel, mel_length, z = tts.parity_mels(model, frames=(6, 4))
    with torch.no_grad():
        before = model.infer(mel, z, 0.666, mel_length)
        model.remove_weight_norm()
        after = model.infer(mel, z, 0.666, mel_length)
    assert not any(name.endswith(("weight_g", "weight_v")) for name in model.state_dict())
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)


def test_waveglow_mask_makes_a_padded_item_equal_its_alone_audio():
    model = tiny_waveglow()
    mel, mel_length, z = tts.parity_mels(model, frames=(9, 4))
    short = 1
    groups = 4 * 256 // model.n_group
    with torch.no_grad():
        alone = model.infer(mel[short : short + 1, :, :4], z[short : short + 1, :, :groups], 0.666)[0]
        masked = model.infer(mel, z, 0.666, mel_length)[short, : alone.numel()]
        unmasked = model.infer(mel, z, 0.666)[short, : alone.numel()]
    torch.testing.assert_close(masked, alone, rtol=1e-5, atol=1e-6)
    # Why the mask is there: without it the dilated convolutions read the padding.
    assert (unmasked - alone).abs().max() > 1e-3


# --- ONNX export ------------------------------------------------------------------------------------


def test_tacotron2_export_writes_three_graphs_within_tolerance(tacotron2_export):
    output, info = tacotron2_export
    errors = info["parity"]["max_abs"]
    assert set(errors) == {"encoder", "decoder_step", "postnet"}
    assert all(error <= tts.TACOTRON2_TOLERANCE for error in errors.values()), errors
    graphs = json.loads((output / "export.json").read_text())["graphs"]
    assert list(graphs["encoder"]["inputs"]) == list(ENCODER_INPUTS)
    assert list(graphs["encoder"]["outputs"]) == list(ENCODER_OUTPUTS)
    assert list(graphs["decoder_step"]["inputs"]) == list(DECODER_INPUTS)
    assert list(graphs["decoder_step"]["outputs"]) == list(DECODER_OUTPUTS)
    assert list(graphs["postnet"]["inputs"]) == list(POSTNET_INPUTS)
    assert list(graphs["postnet"]["outputs"]) == list(POSTNET_OUTPUTS)
    assert graphs["encoder"]["outputs"]["memory"] == ["batch", "text_time", 32]
    assert graphs["decoder_step"]["inputs"]["attention_weights"] == ["batch", "text_time"]
    assert graphs["postnet"]["inputs"]["mel"] == ["batch", 16, "frames"]
    assert info["n_symbols"] == 148 and not info["random_weights"]


def test_waveglow_export_within_tolerance(waveglow_export):
    output, info = waveglow_export
    parity = info["parity"]
    assert parity["onnx_max_rel"] <= tts.WAVEGLOW_TOLERANCE
    assert parity["weight_norm_folding_max_rel"] <= tts.WAVEGLOW_TOLERANCE
    signature = info["graphs"]["waveglow"]
    assert list(signature["inputs"]) == list(WAVEGLOW_INPUTS) and list(signature["outputs"]) == list(WAVEGLOW_OUTPUTS)
    assert signature["inputs"]["z"] == ["batch", 8, "groups"]
    assert (output / "waveglow.onnx").is_file()


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

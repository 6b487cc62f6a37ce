"""Tacotron2 and WaveGlow in PyTorch: the published layouts, DLE checkpoint loading, weight norm and masks."""

import json

import pytest
import torch

from tests.support.models import dle_wrapped, layout, tiny_tacotron2, tiny_waveglow
from tests.support.paths import DATA
from triton_speech.export import waveglow as waveglow_exporter
from triton_speech.models.dle import load_dle_checkpoint
from triton_speech.models.tacotron2 import Tacotron2
from triton_speech.models.waveglow import WaveGlow

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
    mel, mel_length, z = waveglow_exporter.parity_mels(model, frames=(6, 4))
    with torch.no_grad():
        before = model.infer(mel, z, 0.666, mel_length)
        model.remove_weight_norm()
        after = model.infer(mel, z, 0.666, mel_length)
    assert not any(name.endswith(("weight_g", "weight_v")) for name in model.state_dict())
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)


def test_waveglow_mask_makes_a_padded_item_equal_its_alone_audio():
    model = tiny_waveglow()
    mel, mel_length, z = waveglow_exporter.parity_mels(model, frames=(9, 4))
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


# --- engines ------------------------------------------------------------------------------------------



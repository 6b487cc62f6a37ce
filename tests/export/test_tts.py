"""The Tacotron2 and WaveGlow exports: graphs within tolerance of PyTorch, on tiny models saved as DLE files."""

import json

import pytest
import torch

from triton_speech.export import tacotron2 as tts
from triton_speech.export import waveglow as waveglow_exporter
from triton_speech.runtime.tts.tacotron2 import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    POSTNET_INPUTS,
    POSTNET_OUTPUTS,
)
from triton_speech.runtime.tts.waveglow import WAVEGLOW_INPUTS, WAVEGLOW_OUTPUTS

# --- layouts and checkpoints ----------------------------------------------------------------------


# --- ONNX export ------------------------------------------------------------------------------------


def within_bound(record: dict) -> bool:
    """A graph's parity record meets the float64 rule (export/parity.py) and compares something."""
    return (0 < record["onnx_vs_float64"] <= record["bound"]
            == pytest.approx(record["factor"] * max(record["float32_vs_float64"], record["floor"])))


def test_tacotron2_export_writes_three_graphs_within_tolerance(tacotron2_export):
    output, info = tacotron2_export
    parity = info["parity"]
    assert parity["decoder_steps_checked"] == tts.PARITY_DECODER_STEPS
    assert all(within_bound(parity[graph]) for graph in ("encoder", "decoder_step", "postnet")), parity
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


def test_the_export_records_the_text_normalization_of_the_checkpoint(tacotron2_export, tacotron2_checkpoint,
                                                                    tmp_path):
    """A checkpoint naming none (as NVIDIA's) is DLE's; one that names its own keeps it; the flag overrides both."""
    from triton_speech.export.__main__ import main

    assert tacotron2_export[1]["text_normalization"] == "dle"
    stored = torch.load(tacotron2_checkpoint, weights_only=True)
    stored["config"]["text_normalization"] = "extended"
    torch.save(stored, tmp_path / "extended.pt")
    assert tts.export_tacotron2(tmp_path / "extended.pt", tmp_path / "a", check=False)["text_normalization"] == \
        "extended"
    assert main(["tacotron2", "--checkpoint", str(tmp_path / "extended.pt"), "--text-normalization", "dle",
                 "--no-check", "--output", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "export.json").read_text())["text_normalization"] == "dle"


def test_waveglow_export_within_tolerance(waveglow_export):
    output, info = waveglow_export
    parity = info["parity"]
    assert within_bound(parity["onnx"]) and within_bound(parity["weight_norm_folding"]), parity
    signature = info["graphs"]["waveglow"]
    assert list(signature["inputs"]) == list(WAVEGLOW_INPUTS) and list(signature["outputs"]) == list(WAVEGLOW_OUTPUTS)
    assert signature["inputs"]["z"] == ["batch", 8, "groups"]
    assert (output / "waveglow.onnx").is_file()


def test_tacotron2_export_refuses_a_graph_that_differs_from_pytorch(tacotron2_checkpoint, tmp_path, monkeypatch):
    """The rule still fails a wrong graph: the postnet exported with one weight nudged by 1e-2 (of ~0.1)."""
    export_graphs = tts.export_tacotron2_graphs

    def export_a_perturbed_model(model, output):
        weight = model.postnet.convolutions[0][0].conv.weight
        with torch.no_grad():
            weight[0, 0, 0] += 1e-2
            export_graphs(model, output)
            weight[0, 0, 0] -= 1e-2

    monkeypatch.setattr(tts, "export_tacotron2_graphs", export_a_perturbed_model)
    with pytest.raises(AssertionError, match="postnet.onnx differs from the float64 reference"):
        tts.export_tacotron2(tacotron2_checkpoint, tmp_path / "out")


def test_waveglow_export_refuses_a_graph_that_differs_from_pytorch(tmp_path, monkeypatch):
    """... and WaveGlow exported with one coupling weight nudged by 1e-3."""
    from tests.support.models import TINY_WAVEGLOW, dle_wrapped, tiny_waveglow

    torch.save(dle_wrapped(tiny_waveglow(), TINY_WAVEGLOW), tmp_path / "waveglow.pt")
    export_graph = waveglow_exporter.export_graph

    def export_a_perturbed_model(module, *args, **kwargs):
        weight = module.model.WN[0].end.weight
        with torch.no_grad():
            weight[0, 0, 0] += 1e-3
            export_graph(module, *args, **kwargs)
            weight[0, 0, 0] -= 1e-3

    monkeypatch.setattr(waveglow_exporter, "export_graph", export_a_perturbed_model)
    with pytest.raises(AssertionError, match="waveglow.onnx differs from the float64 reference"):
        waveglow_exporter.export_waveglow(tmp_path / "waveglow.pt", tmp_path / "out")


# --- engines ------------------------------------------------------------------------------------------



"""The Tacotron2 and WaveGlow exports: graphs within tolerance of PyTorch, on tiny models saved as DLE files."""

import json

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
    assert parity["onnx_max_rel"] <= waveglow_exporter.WAVEGLOW_TOLERANCE
    assert parity["weight_norm_folding_max_rel"] <= waveglow_exporter.WAVEGLOW_TOLERANCE
    signature = info["graphs"]["waveglow"]
    assert list(signature["inputs"]) == list(WAVEGLOW_INPUTS) and list(signature["outputs"]) == list(WAVEGLOW_OUTPUTS)
    assert signature["inputs"]["z"] == ["batch", 8, "groups"]
    assert (output / "waveglow.onnx").is_file()


# --- engines ------------------------------------------------------------------------------------------



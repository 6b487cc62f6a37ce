"""Export a DeepLearningExamples WaveGlow checkpoint to ONNX for ``triton_speech.runtime.tts.waveglow``.

    waveglow.onnx      mel [B, 80, F], z [B, 8, G], sigma [1], mel_length int64 [B] -> audio [B, F * 256]

(G = F * 256 / n_group audio groups; weight norm folded; FP32.) The export checks the folded model and the graph
(in ONNX Runtime) against the PyTorch model run in float64, and raises when either is further from it than the
float32 model allows (parity.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from triton_speech.defaults import SIGMA
from triton_speech.export.graphs import MethodGraph, export_graph, graph_signature
from triton_speech.export.parity import Parity, float64, to_float64
from triton_speech.export.progress import Stages, provenance, random_weights_notice
from triton_speech.models.dle import checkpoint_config, dle_state_dict, read_checkpoint
from triton_speech.models.waveglow import WAVEGLOW_HOP, WaveGlow
from triton_speech.runtime.onnx import onnx_session
from triton_speech.runtime.tts.stft import SAMPLE_RATE
from triton_speech.runtime.tts.waveglow import WAVEGLOW_INPUTS, WAVEGLOW_OUTPUTS

METRIC = "max |audio error| / max |audio| per item"
# Random-weight WaveGlow: DLE zero-initialises each coupling's last layer, which makes every flow an
# identity; small random values exercise the whole graph while keeping exp(-log_scale) tame.
RANDOM_WAVEGLOW_END_STD = 0.02


def build_waveglow(checkpoint: Path | None, seed: int = 0) -> WaveGlow:
    """The checkpoint's model (with weight norm, as stored) or deterministic random weights."""
    if checkpoint is None:
        torch.manual_seed(seed)
        model = WaveGlow()
        with torch.no_grad():
            for wn in model.WN:
                torch.nn.init.normal_(wn.end.weight, std=RANDOM_WAVEGLOW_END_STD)
                torch.nn.init.normal_(wn.end.bias, std=RANDOM_WAVEGLOW_END_STD)
        return model.eval()
    stored = read_checkpoint(checkpoint)
    known = {"n_mel_channels", "n_flows", "n_group", "n_early_every", "n_early_size", "WN_config"}
    model = WaveGlow(**{k: v for k, v in checkpoint_config(stored).items() if k in known})
    model.load_state_dict(dle_state_dict(stored), strict=True)
    return model.eval()


def parity_mels(model: WaveGlow, frames=(12, 7), seed: int = 5):
    """Log-mel-like inputs (around -5, like speech) of ragged lengths, and standard normal z."""
    generator = torch.Generator().manual_seed(seed)
    n_mel = model.upsample.in_channels
    mel = -5.0 + 2.0 * torch.randn(len(frames), n_mel, max(frames), generator=generator)
    z = torch.randn(len(frames), model.n_group, max(frames) * WAVEGLOW_HOP // model.n_group, generator=generator)
    return mel, torch.tensor(frames, dtype=torch.int64), z


def relative_error(reference: torch.Tensor, ours: np.ndarray, mel_length: torch.Tensor) -> float:
    """Max |ours - reference| / max |reference| over each item's valid samples."""
    worst = 0.0
    for row, frames in enumerate(mel_length.tolist()):
        expected = reference[row, : frames * WAVEGLOW_HOP].double().numpy()
        difference = np.abs(ours[row, : frames * WAVEGLOW_HOP] - expected).max()
        worst = max(worst, float(difference / np.abs(expected).max()))
    return worst


def export_waveglow(checkpoint: Path | None, output: Path, sigma: float = SIGMA, check: bool = True) -> dict:
    """Export a DLE WaveGlow checkpoint (or random weights, seed 0) as ``waveglow.onnx``, weight norm folded."""
    output = Path(output)
    with Stages.of_export(output, ["load", "fold weight norm", "export", "parity", "write"], "waveglow") as stages:
        if checkpoint is None:
            random_weights_notice("WaveGlow", "--checkpoint", "nvidia_waveglow256pyt_fp16.pt")
        model = build_waveglow(checkpoint)
        mel, mel_length, z = parity_mels(model)
        sigma_input = torch.tensor([sigma], dtype=torch.float32)
        if check:
            with torch.no_grad():
                reference = model.infer(mel, z, sigma_input, mel_length).numpy()
                with float64(model):
                    exact = model.infer(*to_float64(mel, z, sigma_input), mel_length)
            float32_error = relative_error(exact, reference, mel_length)

        stages.next("fold weight norm")
        model.remove_weight_norm()
        if check:
            with torch.no_grad():
                folded = model.infer(mel, z, sigma_input, mel_length).numpy()
            folding = Parity(relative_error(exact, folded, mel_length), float32_error,
                             relative_error(torch.from_numpy(reference), folded, mel_length), METRIC)

        stages.next("export")
        path = output / "waveglow.onnx"
        export_graph(MethodGraph(model, "infer"), (mel, z, sigma_input, mel_length), path, WAVEGLOW_INPUTS,
                     WAVEGLOW_OUTPUTS,
                {"mel": {0: "batch", 2: "frames"}, "mel_length": {0: "batch"}, "z": {0: "batch", 2: "groups"},
                 "audio": {0: "batch", 1: "samples"}},
                metadata={"hop_length": WAVEGLOW_HOP, "sample_rate": SAMPLE_RATE, "default_sigma": sigma,
                          "context_samples": model.context_samples})

        stages.next("parity")
        parity = {}
        if check:
            (ours,) = onnx_session(path).run(list(WAVEGLOW_OUTPUTS), {
                "mel": mel.numpy(), "z": z.numpy(), "sigma": sigma_input.numpy(), "mel_length": mel_length.numpy(),
            })
            parity = {"weight_norm_folding": folding,
                      "onnx": Parity(relative_error(exact, ours, mel_length), float32_error,
                                     relative_error(torch.from_numpy(reference), ours, mel_length), METRIC)}
            folding.check("the weight-norm-folded model")
            parity["onnx"].check("waveglow.onnx")

        stages.next("write")
        info = {
            **provenance("waveglow", checkpoint),
            "sample_rate": SAMPLE_RATE,
            "hop_length": WAVEGLOW_HOP,
            "n_mel_channels": model.upsample.in_channels,
            "n_group": model.n_group,
            "context_samples": model.context_samples,
            "default_sigma": sigma,
            "parameters": sum(p.numel() for p in model.parameters()),
            "graphs": {"waveglow": graph_signature(path)},
            "parity": {name: judged.record() for name, judged in parity.items()},
        }
        (output / "export.json").write_text(json.dumps(info, indent=1))
    return info

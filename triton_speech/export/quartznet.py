"""Export a NeMo QuartzNet (``EncDecCTCModel``) to ONNX with lengths, plus its front-end and vocabulary.

NeMo's own ``export()`` turns the masked convolutions off and drops the length input, so a padded or
ragged batch changes every utterance's log-probs. Here the encoder runs with its masks, computed from a
length input, so each utterance in a batch gets what it gets alone.

Artifacts written to ``--output``:
    model.onnx     features [B, n_mels, T] FP32, features_length [B] INT64
                   -> logprobs [B, T', classes] FP32, logprobs_length [B] INT64
    frontend.onnx  audio [B, N] FP32, audio_length [B] INT64 -> features [B, n_mels, T] FP32, features_length [B]
                   INT64: the mel front-end as a graph (the served feature_extractor runs it, on every target)
    frontend.npz   the front-end's preprocessor config, window and filterbank of the checkpoint (the numpy
                   reference, ``MelFrontend``, and the configuration of the graph)
    labels.json    the checkpoint's vocabulary (blank is the class after the last label)
    export.json    shapes, the encoder's subsampling factor (log-prob frames per feature frame), source, parity
                   measured at export
"""

from __future__ import annotations

import json
import logging
import types
import warnings
from pathlib import Path

import numpy as np
import torch

from triton_speech.export.progress import Stages, provenance, random_weights_notice
from triton_speech.models.quartznet import load_nemo, quartznet_config, random_model, synthetic_audio
from triton_speech.runtime.asr.features import MelConfig, MelFrontend

# Parity bound of the exported graphs against NeMo: log-prob units for the acoustic model, feature units (normalized
# log-mel) for the front-end.
PARITY_TOLERANCE = 1e-4


class MaskedCTC(torch.nn.Module):
    """Encoder (masked convolutions driven by the length input) + CTC decoder, for export."""

    def __init__(self, model):
        super().__init__()
        self.blocks = model.encoder.encoder
        self.decoder = model.decoder
        from nemo.collections.asr.parts.submodules.jasper import MaskedConv1d

        for module in self.blocks.modules():
            if isinstance(module, MaskedConv1d) and module.use_mask:
                # NeMo slices a cached arange buffer of the longest input seen so far; an arange of the
                # current length keeps the time axis dynamic in the exported graph.
                module.max_len = 2**62
                module.mask_input = types.MethodType(_mask_from_lengths, module)

    def forward(self, features: torch.Tensor, features_length: torch.Tensor):
        encoded, encoded_length = self.blocks(([features], features_length))
        logprobs = torch.log_softmax(self.decoder.decoder_layers(encoded[-1]).transpose(1, 2), dim=-1)
        return logprobs, encoded_length


def subsampling_factor(encoder_cfg) -> int:
    """Feature frames per log-prob frame: the product of the encoder blocks' strides (2 for QuartzNet)."""
    return int(np.prod([int(stride) for block in encoder_cfg["jasper"] for stride in block.get("stride", [1])]))


def _mask_from_lengths(self, x: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    mask = torch.arange(x.size(2), device=x.device).unsqueeze(0) < lens.unsqueeze(1)
    return x * mask.unsqueeze(1).to(x.dtype)


def nemo_logprobs(model, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: NeMo's own masked forward pass from features."""
    with torch.no_grad():
        logprobs, encoded_length, _ = model.forward(processed_signal=features, processed_signal_length=lengths)
    return logprobs, encoded_length


def frontend_from_model(model) -> MelFrontend:
    from omegaconf import OmegaConf

    featurizer = model.preprocessor.featurizer
    config = MelConfig.from_nemo(OmegaConf.to_container(model.cfg.preprocessor, resolve=True))
    return MelFrontend(config, featurizer.window.detach().numpy(), featurizer.fb.detach().numpy())


def parity_audio(sample_rate: int, seconds: tuple[float, ...] = (1.3, 4.0, 2.2), seed: int = 1) -> list[np.ndarray]:
    generator = torch.Generator().manual_seed(seed)
    longest = synthetic_audio(generator, batch=len(seconds), seconds=max(seconds), sample_rate=sample_rate)
    return [longest[i, : int(s * sample_rate)].numpy() for i, s in enumerate(seconds)]


def check_frontend(model, frontend: MelFrontend, audio: list[np.ndarray]) -> float:
    """Max |ours - NeMo| over ragged utterances (NeMo run as one padded batch)."""
    lengths = torch.tensor([a.shape[0] for a in audio])
    padded = torch.zeros(len(audio), int(lengths.max()))
    for i, a in enumerate(audio):
        padded[i, : a.shape[0]] = torch.from_numpy(a)
    with torch.no_grad():
        reference, reference_length = model.preprocessor(input_signal=padded, length=lengths)
    worst = 0.0
    for i, a in enumerate(audio):
        ours = frontend(a)
        if ours.shape[1] != int(reference_length[i]):
            raise AssertionError(f"front-end gives {ours.shape[1]} frames, NeMo {int(reference_length[i])}")
        worst = max(worst, float(np.abs(ours - reference[i, :, : ours.shape[1]].numpy()).max()))
    return worst


def export_frontend(frontend: MelFrontend, path: Path, opset: int = 18) -> None:
    """``frontend.onnx``: dynamic batch and time (an example batch of 2 keeps the batch axis dynamic)."""
    from torch.export import Dim

    from triton_speech.models.frontend import MelGraph

    graph = MelGraph(frontend).eval()
    example = (torch.randn(2, 16000), torch.tensor([16000, 9000], dtype=torch.int64))
    batch, time = Dim("batch"), Dim("time", min=frontend.config.n_fft)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(graph, example, dynamo=True, opset_version=opset,
                                    input_names=["audio", "audio_length"],
                                    output_names=["features", "features_length"],
                                    dynamic_shapes={"audio": {0: batch, 1: time}, "audio_length": {0: batch}})
    program.save(str(path))


def check_frontend_onnx(model, path: Path, audio: list[np.ndarray]) -> float:
    """Max |frontend.onnx - NeMo alone| over ragged utterances run as one batch, and each alone."""
    from triton_speech.runtime.asr.features import MelConfig, OnnxMelFrontend
    from triton_speech.runtime.onnx import onnx_session

    graph = OnnxMelFrontend(onnx_session(path), MelConfig())
    worst = 0.0
    for ours_batch in (graph(audio), [graph([a])[0] for a in audio]):
        for a, ours in zip(audio, ours_batch):
            with torch.no_grad():
                reference, frames = model.preprocessor(input_signal=torch.from_numpy(a)[None],
                                                       length=torch.tensor([a.shape[0]]))
            expected = reference[0, :, : int(frames[0])].numpy()
            if ours.shape != expected.shape:
                raise AssertionError(f"frontend.onnx gives {ours.shape} features, NeMo {expected.shape}")
            worst = max(worst, float(np.abs(ours - expected).max(initial=0.0)))
    return worst


def check_onnx(model, onnx_path: Path, features: list[np.ndarray]) -> tuple[float, float]:
    """Max |ONNX ragged batch - NeMo alone| over the valid frames of each utterance, and the same scaled by
    max(1, |NeMo's log-prob|): float32 rounding grows with a log-prob's magnitude, and a trained model's unlikely
    classes sit at -30 or below (measured 1.2e-4 there after 15 convolution layers), where no decoder looks; the
    likely classes (log-probs near 0) keep the absolute bound."""
    from triton_speech.runtime.asr.acoustic import AcousticModel

    served = AcousticModel.load(onnx_path)(features)
    worst, scaled = 0.0, 0.0
    for item, ours in zip(features, served):
        reference, reference_length = nemo_logprobs(
            model, torch.from_numpy(item)[None], torch.tensor([item.shape[1]])
        )
        expected = reference[0, : int(reference_length[0])].numpy()
        if ours.shape != expected.shape:
            raise AssertionError(f"ONNX gives {ours.shape} log-probs, NeMo {expected.shape}")
        difference = np.abs(ours - expected)
        worst = max(worst, float(difference.max()))
        scaled = max(scaled, float((difference / np.maximum(1.0, np.abs(expected))).max()))
    return worst, scaled


def export_onnx(model, path: Path, opset: int = 17) -> None:
    wrapper = MaskedCTC(model).eval()
    n_mels = model.cfg.preprocessor.features
    example = (torch.randn(2, n_mels, 160), torch.tensor([160, 97], dtype=torch.int64))
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            example,
            str(path),
            input_names=["features", "features_length"],
            output_names=["logprobs", "logprobs_length"],
            dynamic_axes={
                "features": {0: "batch", 2: "frames"},
                "features_length": {0: "batch"},
                "logprobs": {0: "batch", 1: "encoded_frames"},
                "logprobs_length": {0: "batch"},
            },
            opset_version=opset,
            dynamo=False,
        )


def export(nemo: Path | None, output: Path, config: dict | None = None, check: bool = True) -> dict:
    """Export a ``.nemo`` checkpoint (or random weights of ``config``, QuartzNet 15x5 by default)."""
    logging.getLogger("nemo_logger").setLevel(logging.ERROR)
    output = Path(output)
    with Stages.of_export(output, ["load", "front-end", "export", "parity", "write"], "quartznet") as stages:
        if nemo is None:
            random_weights_notice("QuartzNet", "--nemo", "QuartzNet15x5Base-En.nemo")
            model = random_model(config or quartznet_config())
        else:
            model = load_nemo(nemo)
        labels = list(model.decoder.vocabulary)
        frontend = frontend_from_model(model)
        audio = parity_audio(frontend.config.sample_rate)

        stages.next("front-end")
        frontend_error = check_frontend(model, frontend, audio) if check else None
        frontend.save(output / "frontend.npz")
        export_frontend(frontend, output / "frontend.onnx")
        frontend_onnx_error = check_frontend_onnx(model, output / "frontend.onnx", audio) if check else None

        stages.next("export")
        export_onnx(model, output / "model.onnx")

        stages.next("parity")
        onnx_error, onnx_scaled = (check_onnx(model, output / "model.onnx", [frontend(a) for a in audio]) if check
                                   else (None, None))
        for what, error in (("front-end", frontend_error), ("frontend.onnx", frontend_onnx_error),
                            ("acoustic model (log-prob error / max(1, |log-prob|))", onnx_scaled)):
            if error is not None and error > PARITY_TOLERANCE:
                raise AssertionError(f"{what} differs from NeMo by {error:.2e} > {PARITY_TOLERANCE:g}")

        stages.next("write")
        (output / "labels.json").write_text(json.dumps({"labels": labels, "blank_id": len(labels)}, indent=1))
        info = {
            **provenance("quartznet", nemo),
            "sample_rate": frontend.config.sample_rate,
            "n_mels": frontend.config.n_mels,
            "num_classes": len(labels) + 1,
            "subsampling_factor": subsampling_factor(model.cfg.encoder),
            "parameters": sum(p.numel() for p in model.parameters()),
            "parity": {"frontend_max_abs": frontend_error, "frontend_onnx_max_abs": frontend_onnx_error,
                       "logprobs_max_abs": onnx_error, "logprobs_max_scaled": onnx_scaled,
                       "tolerance": PARITY_TOLERANCE},
        }
        (output / "export.json").write_text(json.dumps(info, indent=1))
    return info

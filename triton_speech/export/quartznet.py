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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from triton_speech.export.parity import Parity, float64
from triton_speech.export.progress import Stages, provenance, random_weights_notice
from triton_speech.models.quartznet import load_nemo, quartznet_config, random_model, synthetic_audio
from triton_speech.runtime.asr.features import MelConfig, MelFrontend

# Parity bound of the front-end (numpy reference and frontend.onnx) against NeMo's, in feature units (normalized
# log-mel): a few float32 operations deep, its rounding does not grow. The acoustic graph is judged against NeMo in
# float64 (parity.py).
PARITY_TOLERANCE = 1e-4


class MaskedCTC(torch.nn.Module):
    """Encoder (masked convolutions driven by the length input) + CTC decoder, for export (in ``length_masks``)."""

    def __init__(self, model):
        super().__init__()
        self.blocks = model.encoder.encoder
        self.decoder = model.decoder

    def forward(self, features: torch.Tensor, features_length: torch.Tensor):
        encoded, encoded_length = self.blocks(([features], features_length))
        logprobs = torch.log_softmax(self.decoder.decoder_layers(encoded[-1]).transpose(1, 2), dim=-1)
        return logprobs, encoded_length


@contextmanager
def length_masks(model) -> Iterator[None]:
    """The masked convolutions' masks as an arange of the current length, while exporting; NeMo's own after.

    NeMo slices a cached arange buffer of the longest input seen so far; an arange of the current length keeps the
    time axis dynamic in the exported graph. Restored after, so that the reference the graph is checked against is
    NeMo's own code.
    """
    from nemo.collections.asr.parts.submodules.jasper import MaskedConv1d

    patched = [m for m in model.encoder.encoder.modules() if isinstance(m, MaskedConv1d) and m.use_mask]
    saved = [m.max_len for m in patched]
    for module in patched:
        module.max_len = 2**62
        module.mask_input = types.MethodType(_mask_from_lengths, module)
    try:
        yield
    finally:
        for module, max_len in zip(patched, saved):
            module.max_len = max_len
            del module.mask_input


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


def nemo_alone(model, features: np.ndarray, dtype: torch.dtype = torch.float32) -> np.ndarray:
    """NeMo's valid log-probs of one utterance's features (in ``dtype``, the model's own)."""
    logprobs, length = nemo_logprobs(model, torch.from_numpy(features)[None].to(dtype),
                                     torch.tensor([features.shape[1]]))
    return logprobs[0, : int(length[0])].numpy()


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


@dataclass(frozen=True)
class LogprobParity:
    """The acoustic graph against NeMo: log-probs against the float64 run (the float64 rule, ``parity``), and the
    greedy (argmax) paths and transcripts against float64's."""

    parity: Parity
    frames: int
    frames_differing: int  # frames whose ONNX argmax is not float64's
    frames_beyond_ties: int  # ... where float64's best class leads ONNX's choice by more than the bound allows
    transcripts_equal: int  # clips whose greedy transcript equals float64's
    clips: int

    @property
    def passed(self) -> bool:
        return self.parity.passed and self.frames_beyond_ties == 0

    def check(self) -> None:
        self.parity.check("acoustic model log-probs")
        if self.frames_beyond_ties:
            raise AssertionError(
                f"acoustic model: the ONNX argmax differs from float64's on {self.frames_beyond_ties} frames where "
                "float64's best class leads by more than float32 rounding can turn over"
            )

    def record(self) -> dict:
        greedy = {"frames": self.frames, "frames_differing": self.frames_differing,
                  "frames_beyond_ties": self.frames_beyond_ties,
                  "transcripts_equal": f"{self.transcripts_equal}/{self.clips}"}
        return {**self.parity.record(), "greedy": greedy}


def check_onnx(model, onnx_path: Path, features: list[np.ndarray]) -> LogprobParity:
    """The ONNX graph on a ragged batch against NeMo alone on each utterance, in float64 and float32 (parity.py).

    Log-prob error is scaled by max(1, |float64 log-prob|): rounding grows with a log-prob's magnitude, and a trained
    model's unlikely classes sit at -30 or below, where no decoder looks; the likely classes keep the absolute error.
    A frame's argmax may differ only where float64's two candidates are within twice the bound (a near tie).
    """
    from triton_speech.runtime.asr.acoustic import AcousticModel
    from triton_speech.runtime.asr.ctc import GreedyCTCDecoder

    served = AcousticModel.load(onnx_path)(features)
    greedy = GreedyCTCDecoder(list(model.decoder.vocabulary))
    references = [nemo_alone(model, item) for item in features]
    with float64(model):
        exact = [nemo_alone(model, item, torch.float64) for item in features]
    onnx_error = float32_error = onnx_vs_float32 = 0.0
    for ours, reference, expected in zip(served, references, exact):
        if ours.shape != expected.shape:
            raise AssertionError(f"ONNX gives {ours.shape} log-probs, NeMo {expected.shape}")
        scale = np.maximum(1.0, np.abs(expected))
        onnx_error = max(onnx_error, float((np.abs(ours - expected) / scale).max()))
        float32_error = max(float32_error, float((np.abs(reference - expected) / scale).max()))
        onnx_vs_float32 = max(onnx_vs_float32, float((np.abs(ours - reference) / scale).max()))
    parity = Parity(onnx_error, float32_error, onnx_vs_float32, metric="max |log-prob error| / max(1, |log-prob|)")
    differing = beyond_ties = equal = 0
    for ours, expected in zip(served, exact):
        frames = np.arange(len(expected))
        best, chosen = expected.argmax(axis=1), ours.argmax(axis=1)
        lead = expected[frames, best] - expected[frames, chosen]
        ties = 2 * parity.bound * np.maximum(1.0, np.abs(expected[frames, best]))
        differing += int((best != chosen).sum())
        beyond_ties += int((lead > ties).sum())
        equal += greedy(ours) == greedy(expected)
    return LogprobParity(parity, sum(len(e) for e in exact), differing, beyond_ties, equal, len(features))


def export_onnx(model, path: Path, opset: int = 17) -> None:
    wrapper = MaskedCTC(model).eval()
    n_mels = model.cfg.preprocessor.features
    example = (torch.randn(2, n_mels, 160), torch.tensor([160, 97], dtype=torch.int64))
    with torch.no_grad(), length_masks(model):
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
        logprobs = check_onnx(model, output / "model.onnx", [frontend(a) for a in audio]) if check else None
        for what, error in (("front-end", frontend_error), ("frontend.onnx", frontend_onnx_error)):
            if error is not None and error > PARITY_TOLERANCE:
                raise AssertionError(f"{what} differs from NeMo by {error:.2e} > {PARITY_TOLERANCE:g}")
        if logprobs is not None:
            logprobs.check()

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
                       "frontend_tolerance": PARITY_TOLERANCE, "logprobs": logprobs.record() if logprobs else None},
        }
        (output / "export.json").write_text(json.dumps(info, indent=1))
    return info

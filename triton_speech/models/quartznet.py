"""QuartzNet as NeMo builds it (``EncDecCTCModel``): configs of the family, loading a ``.nemo``, and deterministic
random weights for tests and exports without a checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from triton_speech.defaults import ASR_SAMPLE_RATE

# A random model's residual branches are scaled down by this (see random_model).
RESIDUAL_BRANCH_SCALE = 0.1
# The 28 characters of NeMo's English QuartzNet checkpoints (used only for models built here).
ENGLISH_LABELS = [" "] + [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["'"]


def quartznet_config(
    repeat: int = 5,
    blocks_per_group: int = 3,
    group_filters: tuple[int, ...] = (256, 256, 512, 512, 512),
    group_kernels: tuple[int, ...] = (33, 39, 51, 63, 75),
    prologue: tuple[int, int] = (256, 33),
    epilogue: tuple[tuple[int, int, int, bool], ...] = ((512, 87, 2, True), (1024, 1, 1, False)),
    n_mels: int = 64,
    labels: list[str] | None = None,
    sample_rate: int = ASR_SAMPLE_RATE,
) -> dict:
    """An ``EncDecCTCModel`` config of the QuartzNet family; the defaults are QuartzNet 15x5.

    A BxR QuartzNet has a stride-2 prologue block, B = groups x blocks_per_group blocks of R separable
    sub-blocks, and epilogue blocks (filters, kernel, dilation, separable).
    """
    labels = list(labels or ENGLISH_LABELS)

    def block(filters, kernel, repeat, residual, stride=1, dilation=1, separable=True):
        return {
            "filters": filters, "repeat": repeat, "kernel": [kernel], "stride": [stride],
            "dilation": [dilation], "dropout": 0.0, "residual": residual, "separable": separable,
        }

    blocks = [block(prologue[0], prologue[1], 1, False, stride=2)]
    for filters, kernel in zip(group_filters, group_kernels):
        blocks += [block(filters, kernel, repeat, True) for _ in range(blocks_per_group)]
    blocks += [
        block(filters, kernel, 1, False, dilation=dilation, separable=separable)
        for filters, kernel, dilation, separable in epilogue
    ]
    return {
        "sample_rate": sample_rate,
        "labels": labels,
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "normalize": "per_feature", "window_size": 0.02, "sample_rate": sample_rate,
            "window_stride": 0.01, "window": "hann", "features": n_mels, "n_fft": 512,
            "frame_splicing": 1, "dither": 0.00001,
        },
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConvASREncoder",
            "feat_in": n_mels, "activation": "relu", "conv_mask": True, "jasper": blocks,
        },
        "decoder": {
            "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
            "feat_in": epilogue[-1][0], "num_classes": len(labels), "vocabulary": labels,
        },
    }


def load_nemo(path: Path):
    from nemo.collections.asr.models import EncDecCTCModel

    model = EncDecCTCModel.restore_from(str(path), map_location=torch.device("cpu"))
    return model.eval()


def random_model(config: dict, seed: int = 0, calibration_batches: int = 4,
                 residual_branch_scale: float = RESIDUAL_BRANCH_SCALE, calibration_audio: list | None = None):
    """Deterministic random weights, BatchNorm statistics calibrated on audio, as a trained model's are.

    With the initial statistics (mean 0, var 1) the deep stack saturates and every frame gets the same
    label; re-estimating them on real activations gives varied, meaningful-to-compare outputs. The audio is
    ``calibration_audio`` (1-d float32 arrays, forwarded 4 at a time) or ``calibration_batches`` batches of random
    speech-like audio.
    """
    from nemo.collections.asr.models import EncDecCTCModel
    from omegaconf import OmegaConf

    torch.manual_seed(seed)
    model = EncDecCTCModel(cfg=OmegaConf.create(config), trainer=None)
    model.eval()
    # Scale each residual block's branch down (its last BatchNorm gamma), as training leaves deep residual nets: at
    # full scale (1.0) the random 15x5 stack amplifies float32 rounding ~1e4-fold (float32 is 1e-2 from float64 in
    # log-prob); at 0.1, within 3e-5, so the default random export also agrees with NeMo's float32 run closely.
    for block in model.encoder.encoder:
        if block.res is not None and residual_branch_scale != 1.0:
            branch_norms = [m for m in block.mconv if isinstance(m, torch.nn.BatchNorm1d)]
            with torch.no_grad():
                branch_norms[-1].weight.mul_(residual_branch_scale)
    batch_norms = [m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    for bn in batch_norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
        bn.train()
    generator = torch.Generator().manual_seed(seed)
    if calibration_audio is None:
        batches = [synthetic_audio(generator, batch=4, seconds=3.0, sample_rate=config["sample_rate"])
                   for _ in range(calibration_batches)]
        lengths = [torch.full((4,), batch.shape[1]) for batch in batches]
    else:
        groups = [calibration_audio[i : i + 4] for i in range(0, len(calibration_audio), 4)]
        lengths = [torch.tensor([len(a) for a in group]) for group in groups]
        batches = [torch.zeros(len(group), int(n.max())) for group, n in zip(groups, lengths)]
        for batch, group in zip(batches, groups):
            for row, audio in enumerate(group):
                batch[row, : len(audio)] = torch.as_tensor(audio)
    with torch.no_grad():
        for audio, length in zip(batches, lengths):
            model.forward(input_signal=audio, input_signal_length=length)
    model.eval()
    return model


def synthetic_audio(generator: torch.Generator, batch: int, seconds: float, sample_rate: int) -> torch.Tensor:
    """Noise shaped by slow random envelopes and harmonics: varied spectra, not white noise."""
    n = int(seconds * sample_rate)
    t = torch.arange(n) / sample_rate
    pitch = 80 + 200 * torch.rand(batch, 1, generator=generator)
    harmonics = sum(torch.sin(2 * torch.pi * k * pitch * t) / k for k in range(1, 6))
    envelope = torch.sin(2 * torch.pi * torch.rand(batch, 1, generator=generator) * 3 * t) ** 2
    noise = 0.3 * torch.randn(batch, n, generator=generator)
    return (0.3 * envelope * harmonics + 0.05 * noise).float()

"""NeMo's log-mel front-end (``AudioToMelSpectrogramPreprocessor``) as a batched PyTorch graph for ONNX export.

``MelGraph(audio [B, N], audio_length [B]) -> features [B, n_mels, T], features_length [B]``: pre-emphasis, a
centred STFT (a convolution with the windowed DFT basis: it exports to plain ONNX and runs on every runtime), power,
the checkpoint's mel filterbank, the log guard and per-feature normalization over each utterance's own frames.
Everything beyond an utterance's length is zeroed before the STFT and after normalization, so padding never changes
a row's features: a row of a ragged batch gets what it gets alone (``MelFrontend``, the numpy reference, computes
one utterance at a time).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from triton_speech.runtime.asr.features import NORMALIZE_EPSILON, MelConfig, MelFrontend


class MelGraph(nn.Module):
    def __init__(self, frontend: MelFrontend):
        super().__init__()
        config: MelConfig = frontend.config
        if config.normalize not in ("per_feature", "all_features", None):
            raise ValueError(f"normalize={config.normalize!r} is not supported")
        self.config = config
        bins = config.n_fft // 2 + 1
        # Real and imaginary DFT rows, each multiplied by the window: one strided convolution computes the STFT.
        time = np.arange(config.n_fft)
        frequency = np.arange(bins)[:, None]
        angle = 2 * np.pi * frequency * time / config.n_fft
        window = frontend.padded_window
        basis = np.concatenate([np.cos(angle) * window, -np.sin(angle) * window])[:, None, :]
        self.register_buffer("basis", torch.from_numpy(basis.astype(np.float32)), persistent=False)
        self.register_buffer("filterbank", torch.from_numpy(frontend.filterbank.astype(np.float32)), persistent=False)
        self.bins = bins
        self.pad = (config.n_fft - config.hop_length) // 2 if config.exact_pad else config.n_fft // 2

    def forward(self, audio: torch.Tensor, audio_length: torch.Tensor):
        c = self.config
        samples = torch.arange(audio.shape[1], device=audio.device).unsqueeze(0)
        inside = (samples < audio_length.unsqueeze(1)).to(audio.dtype)
        x = audio * inside
        if c.preemph is not None:
            x = torch.cat([x[:, :1], x[:, 1:] - c.preemph * x[:, :-1]], dim=1) * inside
        x = nn.functional.pad(x, (self.pad, self.pad))
        spectrum = nn.functional.conv1d(x.unsqueeze(1), self.basis, stride=c.hop_length)
        power = spectrum[:, : self.bins] ** 2 + spectrum[:, self.bins :] ** 2
        if c.mag_power != 2.0:
            power = power ** (c.mag_power / 2.0)
        mel = torch.matmul(self.filterbank, power)
        if c.log:
            if c.log_zero_guard_type == "add":
                mel = torch.log(mel + c.log_zero_guard_value)
            else:
                mel = torch.log(torch.clamp(mel, min=c.log_zero_guard_value))
        frames = torch.clamp(torch.div(audio_length + 2 * self.pad - c.n_fft, c.hop_length, rounding_mode="floor"),
                             min=0)
        valid = (torch.arange(mel.shape[2], device=mel.device).unsqueeze(0) < frames.unsqueeze(1)).to(mel.dtype)
        valid = valid.unsqueeze(1)
        count = frames.to(mel.dtype).view(-1, 1, 1)
        if c.normalize == "per_feature":
            mean = (mel * valid).sum(dim=2, keepdim=True) / torch.clamp(count, min=1.0)
            # (valid - 1) as NeMo divides; with one frame the numerator is 0 anyway, so the clamp only avoids 0/0.
            variance = (((mel - mean) * valid) ** 2).sum(dim=2, keepdim=True) / torch.clamp(count - 1.0, min=1.0)
            mel = (mel - mean) / (torch.sqrt(variance) + NORMALIZE_EPSILON)
        elif c.normalize == "all_features":
            cells = count * mel.shape[1]
            mean = (mel * valid).sum(dim=(1, 2), keepdim=True) / torch.clamp(cells, min=1.0)
            variance = (((mel - mean) * valid) ** 2).sum(dim=(1, 2), keepdim=True) / torch.clamp(cells - 1.0, min=1.0)
            mel = (mel - mean) / (torch.sqrt(variance) + NORMALIZE_EPSILON)
        return mel * valid, frames

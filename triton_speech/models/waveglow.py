"""WaveGlow in PyTorch with the parameter layout of NVIDIA DeepLearningExamples' ``waveglow256pyt_fp16``
checkpoint (``strict=True``). As in DLE's inference path, except that the Gaussian noise ``z`` is an input, not
drawn inside, and the dilated layers see zeros beyond each item's length, so a padded batch gives every item what
it gets alone.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional as F

from triton_speech.models.dle import length_mask
from triton_speech.runtime.tts.stft import HOP

# WaveGlow's upsampling is fixed in DLE's code (not a hyperparameter): one mel frame = HOP (256) samples.
WAVEGLOW_HOP = HOP
WAVEGLOW_UPSAMPLE_KERNEL = 1024


class WN(nn.Module):
    """WaveGlow's coupling network: gated dilated convolutions conditioned on the upsampled mel."""

    def __init__(self, n_in_channels: int, n_cond_channels: int, n_layers: int, n_channels: int, kernel_size: int):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"WN kernel_size must be odd, got {kernel_size}")
        self.n_layers = n_layers
        self.n_channels = n_channels
        self.start = _legacy_weight_norm(nn.Conv1d(n_in_channels, n_channels, 1))
        # DLE zero-initialises the last layer so that every coupling starts as the identity.
        self.end = nn.Conv1d(n_channels, 2 * n_in_channels, 1)
        nn.init.zeros_(self.end.weight)
        nn.init.zeros_(self.end.bias)
        self.in_layers = nn.ModuleList()
        self.cond_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(n_layers):
            dilation = 2**i
            self.in_layers.append(_legacy_weight_norm(nn.Conv1d(
                n_channels, 2 * n_channels, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2
            )))
            self.cond_layers.append(_legacy_weight_norm(nn.Conv1d(n_cond_channels, 2 * n_channels, 1)))
            # The last layer has no residual half.
            res_skip_channels = 2 * n_channels if i < n_layers - 1 else n_channels
            self.res_skip_layers.append(_legacy_weight_norm(nn.Conv1d(n_channels, res_skip_channels, 1)))

    def forward(self, audio: torch.Tensor, spect: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``valid`` [B, 1, groups]: zero beyond each item, so the dilated convolutions never read padding."""
        audio = self.start(audio)
        output = None
        for i in range(self.n_layers):
            gates = self.in_layers[i](audio * valid) + self.cond_layers[i](spect)
            acts = torch.tanh(gates[:, : self.n_channels]) * torch.sigmoid(gates[:, self.n_channels :])
            res_skip = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                audio = audio + res_skip[:, : self.n_channels]
                skip = res_skip[:, self.n_channels :]
            else:
                skip = res_skip
            output = skip if output is None else output + skip
        return self.end(output)


def _legacy_weight_norm(conv: nn.Conv1d) -> nn.Conv1d:
    """``weight_g``/``weight_v`` parameters, the names stored in the checkpoints (the parametrize API renames them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(conv, name="weight")


class Invertible1x1Conv(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 1, bias=False)
        # A random rotation (determinant +1), as DLE initialises it; computed on the CPU even under a meta device.
        with torch.no_grad():
            rotation = torch.linalg.qr(torch.randn(channels, channels, device="cpu"))[0]
            if torch.det(rotation) < 0:
                rotation[:, 0] = -rotation[:, 0]
            self.conv.weight.copy_(rotation.unsqueeze(-1))
        self.inverse_weight: torch.Tensor | None = None

    def cache_inverse(self) -> None:
        """Invert once (float64 for accuracy); ONNX has no matrix inverse, so the export needs this cached."""
        self.inverse_weight = None
        self.inverse_weight = self.inverse().detach()

    def inverse(self) -> torch.Tensor:
        if self.inverse_weight is not None:
            return self.inverse_weight
        return torch.linalg.inv(self.conv.weight.squeeze(-1).double()).to(self.conv.weight.dtype).unsqueeze(-1)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training direction: W @ audio [B, C, G] and log|det W| summed over the batch and groups."""
        weight = self.conv.weight.squeeze(-1)
        log_det = audio.size(0) * audio.size(2) * torch.linalg.slogdet(weight.double())[1].to(weight.dtype)
        return self.conv(audio), log_det

    def reverse(self, z: torch.Tensor) -> torch.Tensor:
        # Cached only by cache_inverse: a cache taken before load_state_dict would keep the old weights.
        return F.conv1d(z, self.inverse())


class WaveGlow(nn.Module):
    """DLE WaveGlow; defaults are the published 256-channel checkpoint's hyperparameters."""

    def __init__(self, n_mel_channels: int = 80, n_flows: int = 12, n_group: int = 8, n_early_every: int = 4,
                 n_early_size: int = 2, WN_config: dict | None = None):  # noqa: N803 (the checkpoints' config key)
        super().__init__()
        if n_group % 2:
            raise ValueError(f"n_group must be even, got {n_group}")
        if WAVEGLOW_HOP % n_group:
            raise ValueError(f"n_group {n_group} must divide the hop of {WAVEGLOW_HOP} samples")
        wn_config = {"n_layers": 8, "n_channels": 256, "kernel_size": 3, **(WN_config or {})}
        self.n_flows = n_flows
        self.n_group = n_group
        self.n_early_every = n_early_every
        self.n_early_size = n_early_size
        self.upsample = nn.ConvTranspose1d(
            n_mel_channels, n_mel_channels, WAVEGLOW_UPSAMPLE_KERNEL, stride=WAVEGLOW_HOP
        )
        self.WN = nn.ModuleList()
        self.convinv = nn.ModuleList()
        n_remaining = n_group
        for k in range(n_flows):
            if self.emits_early(k):
                n_remaining -= n_early_size
            self.convinv.append(Invertible1x1Conv(n_remaining))
            self.WN.append(WN(n_remaining // 2, n_mel_channels * n_group, **wn_config))
        self.n_remaining_channels = n_remaining

    @property
    def context_samples(self) -> int:
        """How many samples on either side an output sample depends on: each flow's dilated convolutions reach
        (2^layers - 1) * (kernel - 1) / 2 groups of ``n_group`` samples, the flows stack, and the upsampler spreads a
        mel frame over ``WAVEGLOW_UPSAMPLE_KERNEL`` samples. Vocoding a window of frames with this much context gives
        the full mel's audio (streaming)."""
        reach = sum(wn.in_layers[i].dilation[0] * (wn.in_layers[i].kernel_size[0] - 1) // 2
                    for wn in self.WN for i in range(wn.n_layers))
        return reach * self.n_group + WAVEGLOW_UPSAMPLE_KERNEL

    def emits_early(self, flow: int) -> bool:
        """Whether ``flow`` hands ``n_early_size`` channels straight to the output (every ``n_early_every``-th)."""
        return flow > 0 and flow % self.n_early_every == 0

    def remove_weight_norm(self) -> "WaveGlow":
        """Fold ``weight_g``/``weight_v`` into plain weights (the inference layout) and cache the inverse 1x1 convs."""
        for wn in self.WN:
            for conv in [wn.start, *wn.in_layers, *wn.cond_layers, *wn.res_skip_layers]:
                nn.utils.remove_weight_norm(conv)
        for convinv in self.convinv:
            convinv.cache_inverse()
        return self

    def upsampled_mel(self, mel: torch.Tensor, samples: int) -> torch.Tensor:
        """mel [B, n_mel, F] -> [B, n_mel * n_group, samples / n_group], channel = mel * n_group + position."""
        batch, n_mel, _ = mel.shape
        spect = self.upsample(mel)[:, :, :samples]
        return spect.reshape(batch, n_mel, -1, self.n_group).transpose(2, 3).reshape(batch, n_mel * self.n_group, -1)

    def forward(self, mel: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training direction: audio [B, S] (S = F * 256, or fewer samples of those frames) -> z [B, n_group, S /
        n_group], and the sums of the couplings' log-scales and of the 1x1 convolutions' log-determinants, the
        terms of the flow's log-likelihood (``infer`` inverts this)."""
        batch, samples = audio.shape
        spect = self.upsampled_mel(mel, samples)
        valid = torch.ones(batch, 1, spect.size(2), dtype=audio.dtype, device=audio.device)
        audio = audio.reshape(batch, -1, self.n_group).transpose(1, 2)
        early, log_scale_sum, log_det_sum = [], audio.new_zeros(()), audio.new_zeros(())
        for k in range(self.n_flows):
            if self.emits_early(k):
                early.append(audio[:, : self.n_early_size])
                audio = audio[:, self.n_early_size :]
            audio, log_det = self.convinv[k](audio)
            n_half = audio.size(1) // 2
            audio_0, audio_1 = audio[:, :n_half], audio[:, n_half:]
            output = self.WN[k](audio_0, spect, valid)
            shift, log_scale = output[:, :n_half], output[:, n_half:]
            audio = torch.cat((audio_0, torch.exp(log_scale) * audio_1 + shift), dim=1)
            log_scale_sum = log_scale_sum + log_scale.sum()
            log_det_sum = log_det_sum + log_det
        return torch.cat((*early, audio), dim=1), log_scale_sum, log_det_sum

    def infer(self, mel: torch.Tensor, z: torch.Tensor, sigma: torch.Tensor | float,
              mel_length: torch.Tensor | None = None) -> torch.Tensor:
        """mel [B, n_mel, T], z [B, n_group, T * 256 / n_group] ~ N(0, 1), sigma -> audio [B, T * 256].

        Channels of ``z``: the last ``n_remaining_channels`` start the reverse flow; before them, each
        early-output flow takes the next ``n_early_size`` channels, from the back.
        """
        batch, _, frames = mel.shape
        spect = self.upsampled_mel(mel, frames * WAVEGLOW_HOP)
        if mel_length is None:
            mel_length = torch.full((batch,), frames, dtype=torch.int64, device=mel.device)
        valid = length_mask(mel_length * (WAVEGLOW_HOP // self.n_group), spect.size(2)).unsqueeze(1).to(mel.dtype)
        noise = z * sigma
        noise_end = self.n_group - self.n_remaining_channels
        audio = noise[:, noise_end:]
        for k in reversed(range(self.n_flows)):
            n_half = audio.size(1) // 2
            audio_0, audio_1 = audio[:, :n_half], audio[:, n_half:]
            output = self.WN[k](audio_0, spect, valid)
            shift, log_scale = output[:, :n_half], output[:, n_half:]
            audio = self.convinv[k].reverse(torch.cat((audio_0, (audio_1 - shift) * torch.exp(-log_scale)), dim=1))
            if self.emits_early(k):
                audio = torch.cat((noise[:, noise_end - self.n_early_size : noise_end], audio), dim=1)
                noise_end -= self.n_early_size
        return audio.transpose(1, 2).reshape(batch, -1)

"""What DLE's Tacotron2 and WaveGlow share: their checkpoint files, the length mask both pad with, and the mel
spectrogram both are trained on."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch
from torch import nn

from triton_speech.defaults import TTS_SAMPLE_RATE
from triton_speech.runtime.tts.stft import HOP, MEL_FMAX, STFT_SIZE


def length_mask(lengths: torch.Tensor, max_length: int | torch.Tensor) -> torch.Tensor:
    """[B, T] bool, True at the valid positions ``t < lengths[b]``."""
    return torch.arange(max_length, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


class MelSpectrogram(nn.Module):
    """The mel spectrogram DLE's Tacotron2 predicts and its WaveGlow is conditioned on (``TacotronSTFT``).

    22050 Hz audio in [-1, 1] -> log(max(mel, 1e-5)) [B, 80, 1 + samples // 256]: magnitude of a 1024-point
    Hann STFT with hop 256 (reflect-padded by half a window, so frame f is centred on sample 256 f), 80
    Slaney-normalised mel bands from 0 to 8 kHz (librosa's defaults, as DLE builds them).
    """

    def __init__(self, sample_rate: int = TTS_SAMPLE_RATE, fft_size: int = STFT_SIZE, n_mel_channels: int = 80,
                 fmin: float = 0.0, fmax: float = MEL_FMAX):
        super().__init__()
        import librosa

        basis = librosa.filters.mel(sr=sample_rate, n_fft=fft_size, n_mels=n_mel_channels, fmin=fmin, fmax=fmax)
        self.register_buffer("mel_basis", torch.from_numpy(basis).float(), persistent=False)
        self.register_buffer("window", torch.hann_window(fft_size), persistent=False)
        self.fft_size = fft_size

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        spectrum = torch.stft(audio, self.fft_size, hop_length=HOP, window=self.window, center=True,
                              pad_mode="reflect", return_complex=True).abs()
        return torch.log(torch.clamp(self.mel_basis @ spectrum, min=1e-5))


def load_dle_checkpoint(path: str | Path, model: nn.Module) -> dict:
    """Load a DLE checkpoint file into ``model`` with ``strict=True``; return the checkpoint's ``config`` (or {}).

    Accepts DLE's wrapper (a dict with ``state_dict`` and ``config``) or a bare state dict, and strips the
    ``module.1.`` / ``module.`` prefixes of DDP-trained files as DLE's loaders do. FP16 weights are cast.
    """
    checkpoint = read_checkpoint(path)
    model.load_state_dict(dle_state_dict(checkpoint), strict=True)
    return checkpoint_config(checkpoint)


def checkpoint_config(checkpoint: dict) -> dict:
    """The hyperparameters DLE stores next to the weights (``config``), or {} for a bare state dict."""
    return dict(checkpoint.get("config") or {}) if "state_dict" in checkpoint else {}


def read_checkpoint(path: str | Path) -> dict:
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass
    warnings.warn(f"{path} holds objects beyond tensors; unpickling it in full (only do this for files you trust)",
                  stacklevel=2)
    return torch.load(str(path), map_location="cpu", weights_only=False)


def dle_state_dict(checkpoint: dict) -> dict:
    state_dict = checkpoint.get("state_dict", checkpoint)
    stripped = {}
    for name, tensor in state_dict.items():
        for prefix in ("module.1.", "module."):
            if name.startswith(prefix):
                name = name[len(prefix) :]
                break
        stripped[name] = tensor
    return stripped

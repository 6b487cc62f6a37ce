"""Log-mel features computed the way NeMo's ``AudioToMelSpectrogramPreprocessor`` computes them.

Only numpy is needed at serving time. The parameters come from the checkpoint's preprocessor config
and the window and mel filterbank are the checkpoint's own buffers (``preprocessor.featurizer.window``
and ``.fb``), so nothing here re-derives them and they cannot drift from the trained model.

Each utterance is processed at its own length, so a batch gives every item what it gets alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from triton_speech.defaults import ASR_SAMPLE_RATE

# NeMo's normalize_batch adds this to the standard deviation.
NORMALIZE_EPSILON = 1e-5


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = ASR_SAMPLE_RATE
    win_length: int = 320
    hop_length: int = 160
    n_fft: int = 512
    n_mels: int = 64
    preemph: float | None = 0.97
    log: bool = True
    log_zero_guard_type: str = "add"
    log_zero_guard_value: float = 2.0**-24
    mag_power: float = 2.0
    normalize: str | None = "per_feature"
    exact_pad: bool = False
    pad_value: float = 0.0

    @classmethod
    def from_nemo(cls, preprocessor_cfg: dict) -> "MelConfig":
        """Read the parameters of a NeMo ``AudioToMelSpectrogramPreprocessor`` config (a plain dict)."""
        cfg = dict(preprocessor_cfg)
        target = cfg.get("_target_", "")
        if target and not target.endswith("AudioToMelSpectrogramPreprocessor"):
            raise ValueError(f"unsupported preprocessor {target}: only AudioToMelSpectrogramPreprocessor")
        if int(cfg.get("frame_splicing", 1)) != 1:
            raise ValueError("frame_splicing > 1 is not supported")
        if cfg.get("normalize", "per_feature") not in ("per_feature", "all_features", None, "None"):
            raise ValueError(f"unsupported normalize={cfg['normalize']!r}")
        sample_rate = int(cfg.get("sample_rate", ASR_SAMPLE_RATE))
        win_length = int(round(float(cfg.get("window_size", 0.02)) * sample_rate))
        hop_length = int(round(float(cfg.get("window_stride", 0.01)) * sample_rate))
        n_fft = cfg.get("n_fft") or 2 ** int(np.ceil(np.log2(win_length)))
        guard = cfg.get("log_zero_guard_value", 2.0**-24)
        if isinstance(guard, str):
            guard = {"tiny": float(np.finfo(np.float32).tiny), "eps": float(np.finfo(np.float32).eps)}[guard]
        normalize = cfg.get("normalize", "per_feature")
        return cls(
            sample_rate=sample_rate,
            win_length=win_length,
            hop_length=hop_length,
            n_fft=int(n_fft),
            n_mels=int(cfg.get("features", cfg.get("nfilt", 64))),
            preemph=None if cfg.get("preemph", 0.97) is None else float(cfg.get("preemph", 0.97)),
            log=bool(cfg.get("log", True)),
            log_zero_guard_type=str(cfg.get("log_zero_guard_type", "add")),
            log_zero_guard_value=float(guard),
            mag_power=float(cfg.get("mag_power", 2.0)),
            normalize=None if normalize in (None, "None") else str(normalize),
            exact_pad=bool(cfg.get("exact_pad", False)),
            pad_value=float(cfg.get("pad_value", 0.0)),
        )


class MelFrontend:
    """NeMo-compatible log-mel front-end.

    ``window`` has ``win_length`` samples (centred inside ``n_fft`` as torch.stft does);
    ``filterbank`` is ``[n_mels, n_fft // 2 + 1]``.
    """

    def __init__(self, config: MelConfig, window: np.ndarray, filterbank: np.ndarray):
        window = np.asarray(window, dtype=np.float64).reshape(-1)
        filterbank = np.asarray(filterbank, dtype=np.float64)
        if filterbank.ndim == 3:  # NeMo stores fb as [1, n_mels, bins]
            filterbank = filterbank[0]
        if window.shape != (config.win_length,):
            raise ValueError(f"window has {window.shape[0]} samples, config says {config.win_length}")
        if filterbank.shape != (config.n_mels, config.n_fft // 2 + 1):
            raise ValueError(f"filterbank shape {filterbank.shape} does not fit n_mels/n_fft of the config")
        self.config = config
        left = (config.n_fft - config.win_length) // 2
        self._window = np.zeros(config.n_fft)
        self._window[left : left + config.win_length] = window
        self._filterbank = filterbank

    @property
    def padded_window(self) -> np.ndarray:
        """The window centred in ``n_fft`` samples (float64), as the STFT applies it."""
        return self._window

    @property
    def filterbank(self) -> np.ndarray:
        """``[n_mels, n_fft // 2 + 1]`` (float64)."""
        return self._filterbank

    def num_frames(self, num_samples: int) -> int:
        """Number of valid feature frames for an utterance of ``num_samples`` (NeMo's get_seq_len)."""
        c = self.config
        pad = (c.n_fft - c.hop_length) // 2 * 2 if c.exact_pad else c.n_fft // 2 * 2
        return max(0, (num_samples + pad - c.n_fft) // c.hop_length)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        """Features ``[n_mels, num_frames(len(audio))]`` (float32) of one mono utterance."""
        c = self.config
        x = np.asarray(audio, dtype=np.float64).reshape(-1)
        valid = self.num_frames(x.shape[0])
        if c.preemph is not None and x.size:
            x = np.concatenate([x[:1], x[1:] - c.preemph * x[:-1]])
        pad = (c.n_fft - c.hop_length) // 2 if c.exact_pad else c.n_fft // 2
        x = np.pad(x, (pad, pad))  # torch.stft(center=True, pad_mode="constant") or NeMo's exact pad
        frames = np.lib.stride_tricks.sliding_window_view(x, c.n_fft)[:: c.hop_length][:valid]
        power = np.abs(np.fft.rfft(frames * self._window, axis=-1))
        if c.mag_power != 1.0:
            power = power**c.mag_power
        mel = self._filterbank @ power.T
        if c.log:
            if c.log_zero_guard_type == "add":
                mel = np.log(mel + c.log_zero_guard_value)
            else:
                mel = np.log(np.maximum(mel, c.log_zero_guard_value))
        if c.normalize == "per_feature" and valid > 0:
            mean = mel.mean(axis=1, keepdims=True)
            std = np.sqrt(((mel - mean) ** 2).sum(axis=1, keepdims=True) / (valid - 1)) if valid > 1 else 0.0
            mel = (mel - mean) / (std + NORMALIZE_EPSILON)
        elif c.normalize == "all_features" and valid > 0:
            mel = (mel - mel.mean()) / (mel.std(ddof=1) + NORMALIZE_EPSILON)
        return mel.astype(np.float32)

    def save(self, path: str | Path) -> None:
        np.savez(
            path,
            config=json.dumps(asdict(self.config)),
            window=self._window[(self.config.n_fft - self.config.win_length) // 2 :][: self.config.win_length],
            filterbank=self._filterbank,
        )

    @classmethod
    def load(cls, path: str | Path) -> "MelFrontend":
        with np.load(path) as data:
            config = MelConfig(**json.loads(str(data["config"])))
            return cls(config, data["window"], data["filterbank"])


class StreamingMelFrontend:
    """``MelFrontend``'s features of a stream whose audio comes in pieces, each frame's spectrum computed once.

    ``append`` adds samples; ``window(first)`` returns the features of frames ``first`` to the last of the audio so
    far, as ``MelFrontend`` computes them over the whole audio so far (within float rounding): the log-mel of a
    frame whose STFT window lies inside the audio is computed once and kept until released, the
    last frames, whose windows reach past the audio's end into the padding, are computed again while audio comes,
    and the normalization uses the statistics of all frames so far (running sums), as the whole-audio computation
    normalizes over every frame. The caller releases the frames it needs no more (``release``).
    """

    def __init__(self, mel: MelFrontend):
        self.mel = mel
        c = mel.config
        self._pad = (c.n_fft - c.hop_length) // 2 if c.exact_pad else c.n_fft // 2
        self._x = np.zeros(0)  # pre-emphasized samples from self._x_start on (the left padding as zeros)
        self._x_start = -self._pad
        self._last_sample = 0.0  # the sample before the next one (pre-emphasis; none before the first)
        self.samples = 0
        self._log_mel = np.zeros((c.n_mels, 0))  # complete frames [self._kept_from, self.complete)
        self._kept_from = 0
        self.complete = 0  # frames whose STFT window lies within the audio so far
        # Sums over the complete frames of their log-mel minus the first frame's (a shift that keeps the variance's
        # sums from cancelling when frames differ little)
        self._shift = None
        self._sum = np.zeros(c.n_mels)
        self._squares = np.zeros(c.n_mels)

    @property
    def frames(self) -> int:
        """Valid frames of the audio so far (``MelFrontend.num_frames``)."""
        return self.mel.num_frames(self.samples)

    def append(self, audio: np.ndarray) -> None:
        c = self.mel.config
        x = np.asarray(audio, dtype=np.float64).reshape(-1)
        if x.size == 0:
            return
        last = float(x[-1])
        if c.preemph is not None:  # the stream's first sample is kept as it is (nothing before it)
            x = x - c.preemph * np.concatenate([[self._last_sample], x[:-1]])
        self._last_sample = last
        if self.samples == 0:
            x = np.concatenate([np.zeros(self._pad), x])
        self._x = np.concatenate([self._x, x])
        self.samples += np.asarray(audio).size
        # Frame t covers samples [t * hop - pad, t * hop - pad + n_fft): complete once they are all here
        complete = min(self.frames, max(0, (self.samples + self._pad - c.n_fft) // c.hop_length + 1))
        if complete > self.complete:
            new = self._log_mel_of(self.complete, complete, self._x)
            if self._shift is None:
                self._shift = new[:, :1].copy() if c.normalize != "all_features" else new[:, :1].mean()
            self._sum += (new - self._shift).sum(axis=1)
            self._squares += ((new - self._shift) ** 2).sum(axis=1)
            self._log_mel = np.concatenate([self._log_mel, new], axis=1)
            self.complete = complete
            # Samples before the next frame's window are no longer needed
            first_needed = self.complete * c.hop_length - self._pad
            cut = first_needed - self._x_start
            if cut > 0:
                self._x = self._x[cut:]
                self._x_start = first_needed

    def _log_mel_of(self, first: int, end: int, x: np.ndarray) -> np.ndarray:
        """Log-mel (float64) of frames ``[first, end)`` from pre-emphasized samples ``x`` starting at ``_x_start``,
        zeros beyond them."""
        c = self.mel.config
        if end <= first:
            return np.zeros((c.n_mels, 0))
        low = first * c.hop_length - self._pad - self._x_start
        high = (end - 1) * c.hop_length - self._pad - self._x_start + c.n_fft
        segment = x[low:high]
        if segment.shape[0] < high - low:
            segment = np.concatenate([segment, np.zeros(high - low - segment.shape[0])])
        windows = np.lib.stride_tricks.sliding_window_view(segment, c.n_fft)[:: c.hop_length][: end - first]
        power = np.abs(np.fft.rfft(windows * self.mel.padded_window, axis=-1))
        if c.mag_power != 1.0:
            power = power**c.mag_power
        mel = self.mel.filterbank @ power.T
        if c.log:
            if c.log_zero_guard_type == "add":
                mel = np.log(mel + c.log_zero_guard_value)
            else:
                mel = np.log(np.maximum(mel, c.log_zero_guard_value))
        return mel

    def release(self, before: int) -> None:
        """Forget the log-mel of frames before ``before`` (``window`` will not be asked for them)."""
        drop = min(before, self.complete) - self._kept_from
        if drop > 0:
            self._log_mel = self._log_mel[:, drop:]
            self._kept_from += drop

    def window(self, first: int) -> np.ndarray:
        """Features ``[n_mels, frames - first]`` (float32) of frames ``first`` to the last, normalized over all
        frames so far. ``first`` must not have been released."""
        c = self.mel.config
        valid = self.frames
        if first < self._kept_from:
            raise ValueError(f"frame {first} is no longer kept (frames from {self._kept_from} are)")
        tentative = self._log_mel_of(self.complete, valid, self._x)
        mel = np.concatenate([self._log_mel[:, max(0, first - self._kept_from) :],
                              tentative[:, max(0, first - self.complete) :]], axis=1)
        if c.normalize is None or valid == 0:
            return mel.astype(np.float32)
        shift = self._shift if self._shift is not None else (
            tentative[:, :1] if c.normalize != "all_features" else tentative[:, :1].mean())
        total = self._sum + (tentative - shift).sum(axis=1)
        squares = self._squares + ((tentative - shift) ** 2).sum(axis=1)
        if c.normalize == "per_feature":
            mean = total / valid  # of the shifted values
            std = np.sqrt(np.maximum(squares - valid * mean * mean, 0.0) / (valid - 1)) if valid > 1 else 0.0
            return ((mel - shift - mean[:, None]) / (std + NORMALIZE_EPSILON)[:, None] if valid > 1 else
                    (mel - shift - mean[:, None]) / NORMALIZE_EPSILON).astype(np.float32)
        count = valid * c.n_mels
        mean = total.sum() / count
        std = np.sqrt(max(squares.sum() - count * mean * mean, 0.0) / (count - 1)) if count > 1 else 0.0
        return ((mel - shift - mean) / (std + NORMALIZE_EPSILON)).astype(np.float32)


class OnnxMelFrontend:
    """The exported front-end graph (``frontend.onnx``, ``triton_speech.models.frontend``) in ONNX Runtime: a ragged
    list of utterances runs as one padded batch, and each gets the features it gets alone. ``mel``: the same
    front-end in numpy (``frontend.npz``), for streams (``StreamingMelFrontend``)."""

    def __init__(self, session, config: MelConfig, mel: MelFrontend | None = None):
        self.session = session
        self.config = config
        self.mel = mel

    @classmethod
    def load(cls, export_dir: str | Path, intra_op_threads: int = 0, device: str = "cpu") -> OnnxMelFrontend:
        """From an export directory: ``frontend.onnx`` and its configuration in ``frontend.npz``."""
        from triton_speech.runtime.onnx import onnx_session

        export_dir = Path(export_dir)
        mel = MelFrontend.load(export_dir / "frontend.npz")
        return cls(onnx_session(export_dir / "frontend.onnx", intra_op_threads, device), mel.config, mel)

    def __call__(self, audio: list[np.ndarray]) -> list[np.ndarray]:
        from triton_speech.runtime.batching import pad_batch

        batch, lengths = pad_batch([np.asarray(a, dtype=np.float32).reshape(-1) for a in audio], axis=0)
        features, frames = self.session.run(["features", "features_length"],
                                            {"audio": batch, "audio_length": lengths})
        return [features[row, :, : int(n)] for row, n in enumerate(frames)]

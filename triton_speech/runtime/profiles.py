"""TensorRT optimization profiles of the served graphs, derived from the limits the server enforces.

TensorRT builds an engine for a range of input shapes (a profile: min, opt, max per input). An input outside it
either fails (a ``tensorrt_plan``) or makes ONNX Runtime's TensorRT provider build a new engine while requests wait.
So each bound here is what the server lets through, computed from the same settings the request checks use:
- the front-end: audio from ``min_samples`` (one hop, what ``audio_input`` / ``feature_extractor`` accept) to
  ``max_audio_seconds``; batch 1 to ``max_batch_size``;
- QuartzNet: from one feature frame (what ``quartznet`` accepts sent directly) to the frames the front-end graph
  gives for ``max_audio_seconds`` (its STFT is centred: one frame more than the valid frames);
- the punctuator's BERT: one token to a window of ``max_seq_length``; at most ``max_windows`` windows a run;
- WaveGlow: one mel frame to the vocoders' ``max_mel_frames``, and its noise ``z`` to match.
The optimum is a mid-size batch of a few seconds of speech.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# The optimum of the audio profiles: a mid-size batch of utterances this long.
OPTIMUM_SECONDS = 5.0
OPTION_NAMES = ("trt_profile_min_shapes", "trt_profile_opt_shapes", "trt_profile_max_shapes")

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Profile:
    """min / opt / max shape of each dynamic input of one graph."""

    shapes: Mapping[str, tuple[Shape, Shape, Shape]]

    def __post_init__(self):
        for name, (low, optimum, high) in self.shapes.items():
            if not len(low) == len(optimum) == len(high) or any(
                    not 1 <= a <= b <= c for a, b, c in zip(low, optimum, high)):
                raise ValueError(f"profile of {name}: need 1 <= min <= opt <= max on every axis, got "
                                 f"{low}, {optimum}, {high}")

    def ort_options(self) -> dict[str, str]:
        """ONNX Runtime's TensorRT provider options (and the Triton onnxruntime backend's accelerator parameters of
        the same names): ``name:d0xd1,...`` for the min, opt and max shapes."""
        return {option: ",".join(f"{name}:{'x'.join(map(str, shapes[index]))}"
                                 for name, shapes in self.shapes.items())
                for index, option in enumerate(OPTION_NAMES)}

    @classmethod
    def from_ort_options(cls, options: Mapping[str, str]) -> Profile:
        parsed: dict[str, list[Shape]] = {}
        for option in OPTION_NAMES:
            for entry in options[option].split(","):
                name, _, dims = entry.rpartition(":")
                parsed.setdefault(name, []).append(tuple(int(d) for d in dims.split("x")))
        return cls({name: tuple(shapes) for name, shapes in parsed.items()})

    def admits(self, name: str, shape: Shape) -> bool:
        low, _, high = self.shapes[name]
        return len(shape) == len(low) and all(a <= n <= b for a, n, b in zip(low, shape, high))


def _mid(max_batch_size: int) -> int:
    return max(1, max_batch_size // 2)


def frontend_frames(num_samples: int, hop_length: int) -> int:
    """Width of the front-end graph's ``features`` for audio this long (a centred STFT: one frame per hop, plus
    one); its ``features_length`` (the valid frames) can be one less."""
    return 1 + num_samples // hop_length


def frontend_profile(sample_rate: int, hop_length: int, max_batch_size: int, max_audio_seconds: float) -> Profile:
    longest = int(max_audio_seconds * sample_rate)
    optimum = min(longest, int(OPTIMUM_SECONDS * sample_rate))
    batch = (1, _mid(max_batch_size), max_batch_size)
    return Profile({"audio": ((1, hop_length), (batch[1], optimum), (max_batch_size, longest)),
                    "audio_length": tuple((b,) for b in batch)})


def acoustic_profile(sample_rate: int, hop_length: int, n_mels: int, max_batch_size: int,
                     max_audio_seconds: float) -> Profile:
    longest = frontend_frames(int(max_audio_seconds * sample_rate), hop_length)
    optimum = min(longest, frontend_frames(int(OPTIMUM_SECONDS * sample_rate), hop_length))
    batch = (1, _mid(max_batch_size), max_batch_size)
    return Profile({"features": ((1, n_mels, 1), (batch[1], n_mels, optimum), (max_batch_size, n_mels, longest)),
                    "features_length": tuple((b,) for b in batch)})


def punctuator_profile(max_seq_length: int, max_windows: int) -> Profile:
    shapes = ((1, 1), (_mid(max_windows), max_seq_length), (max_windows, max_seq_length))
    return Profile({name: shapes for name in ("input_ids", "attention_mask", "token_type_ids")})


def waveglow_profile(n_mels: int, n_group: int, hop: int, max_batch_size: int, max_mel_frames: int,
                     optimum_frames: int) -> Profile:
    optimum_frames = min(optimum_frames, max_mel_frames)
    batch = (1, _mid(max_batch_size), max_batch_size)
    frames = (1, optimum_frames, max_mel_frames)
    return Profile({"mel": tuple((b, n_mels, f) for b, f in zip(batch, frames)),
                    "z": tuple((b, n_group, f * hop // n_group) for b, f in zip(batch, frames)),
                    "mel_length": tuple((b,) for b in batch)})

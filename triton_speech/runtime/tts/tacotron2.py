"""Tacotron2 in-process: the exported ``encoder``, ``decoder_step`` (once per mel frame) and ``postnet`` graphs in
ONNX Runtime, driven by numpy.

A batch of sentences runs together with padding and masks, each item stops at its own gate, and every item gets
the mel it gets alone up to float rounding: the graphs mask what padding could reach, and each item's random
prenet dropout comes from its own seeded generator.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triton_speech.defaults import GATE_THRESHOLD, MAX_DECODER_STEPS, PRENET_DROPOUT, TEXT_NORMALIZATION
from triton_speech.runtime.batching import pad_batch, per_item_seeds
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.onnx import ONNX_SPINNING, onnx_session, static_dim
from triton_speech.runtime.tts.text import check_normalization, export_normalization

# Tensor names of the exported graphs (triton_speech.export.tacotron2 writes them, the engine reads them).
ENCODER_INPUTS = ("text", "text_length")
ENCODER_OUTPUTS = ("memory", "processed_memory", "memory_mask")
DECODER_STATES = (
    "attention_hidden", "attention_cell", "decoder_hidden", "decoder_cell",
    "attention_weights", "attention_weights_cum", "attention_context",
)
DECODER_INPUTS = ("previous_frame", "prenet_dropout_mask", *DECODER_STATES, *ENCODER_OUTPUTS)
DECODER_OUTPUTS = ("mel_frame", "gate_logit", *(f"next_{name}" for name in DECODER_STATES))
POSTNET_INPUTS = ("mel", "mel_length")
POSTNET_OUTPUTS = ("mel_postnet",)
# States indexed by text position: cut with the memory when the longest remaining text gets shorter.
_TEXT_AXIS_STATES = ("attention_weights", "attention_weights_cum")


@dataclass(frozen=True)
class DecoderSettings:
    """Settings of the decoder loop.

    ``gate_threshold``: an item stops at the first frame whose gate probability exceeds it (that frame is
    kept, as in NVIDIA/tacotron2; DLE drops it, 11.6 ms). ``max_decoder_steps``: frames after which an item
    is cut and reported. ``prenet_dropout``: DLE keeps the prenet's dropout (0.5) on at inference; 0 turns it
    off (deterministic without seeds, but not what the model learned).
    """

    gate_threshold: float = GATE_THRESHOLD
    max_decoder_steps: int = MAX_DECODER_STEPS
    prenet_dropout: float = PRENET_DROPOUT

    def __post_init__(self):
        if not 0.0 <= self.gate_threshold <= 1.0:
            raise ValueError(f"gate_threshold must be in [0, 1], got {self.gate_threshold}")
        if self.max_decoder_steps < 1:
            raise ValueError(f"max_decoder_steps must be at least 1, got {self.max_decoder_steps}")
        if not 0.0 <= self.prenet_dropout < 1.0:
            raise ValueError(f"prenet_dropout must be in [0, 1), got {self.prenet_dropout}")

    @property
    def gate_logit_threshold(self) -> float:
        """sigmoid(logit) > p  <=>  logit > log(p / (1 - p)); comparing logits avoids exp overflow."""
        if self.gate_threshold <= 0.0:
            return -math.inf
        if self.gate_threshold >= 1.0:
            return math.inf
        return math.log(self.gate_threshold) - math.log1p(-self.gate_threshold)


@dataclass
class Spectrogram:
    mel: np.ndarray  # [n_mel, frames] float32 log-mel after the postnet
    hit_step_limit: bool  # the gate never fired: the mel was cut at max_decoder_steps
    alignment: np.ndarray  # [frames, text_length] attention weights, for diagnosing skipped or repeated words


class PrenetDropout:
    """One item's prenet dropout masks, a step at a time: kept units are scaled by 1 / (1 - rate)."""

    def __init__(self, seed: int, shape: tuple[int, int], rate: float):
        self.generator = np.random.default_rng(seed)
        self.shape = shape
        self.rate = rate

    def next(self) -> np.ndarray:
        if self.rate == 0.0:
            return np.ones(self.shape, dtype=np.float32)
        keep = 1.0 - self.rate
        return ((self.generator.random(self.shape) < keep) / keep).astype(np.float32)


class Tacotron2Engine:
    """Text ids -> mel spectrograms with the exported ``encoder``, ``decoder_step`` and ``postnet`` graphs."""

    def __init__(self, encoder, decoder_step, postnet, settings: DecoderSettings | None = None,
                 text_normalization: str = TEXT_NORMALIZATION):
        self.encoder = encoder
        # The text front-end of the checkpoint (text.py): what turns text into the ids this model understands.
        self.text_normalization = check_normalization(text_normalization)
        self.decoder_step = decoder_step
        self.postnet = postnet
        self.settings = settings or DecoderSettings()
        self.n_mel_channels = static_dim(decoder_step, "previous_frame", 1)
        self.prenet_shape = (static_dim(decoder_step, "prenet_dropout_mask", 1),
                             static_dim(decoder_step, "prenet_dropout_mask", 2))
        self.state_sizes = {name: static_dim(decoder_step, name, 1) for name in DECODER_STATES
                            if name not in _TEXT_AXIS_STATES}
        self.n_symbols = int(encoder.get_modelmeta().custom_metadata_map["n_symbols"])

    @classmethod
    def load(cls, directory: str | Path, settings: DecoderSettings | None = None,
             intra_op_threads: int = 0, device: str = "cpu", spinning: bool = ONNX_SPINNING) -> "Tacotron2Engine":
        directory = Path(directory)
        sessions = [onnx_session(directory / f"{name}.onnx", intra_op_threads, device, spinning)
                    for name in ("encoder", "decoder_step", "postnet")]
        recorded = directory / "export.json"
        normalization = export_normalization(json.loads(recorded.read_text())) if recorded.is_file() else None
        return cls(*sessions, settings=settings, text_normalization=normalization or TEXT_NORMALIZATION)

    @property
    def postnet_context_frames(self) -> int:
        """Decoder frames on each side that one postnet frame depends on (recorded by the export)."""
        recorded = self.postnet.get_modelmeta().custom_metadata_map.get("context_frames")
        if recorded is None:
            raise ValueError("postnet.onnx does not record its context_frames: export Tacotron2 again (make export)")
        return int(recorded)

    def __call__(self, sequences: Sequence[Sequence[int]],
                 seeds: int | Sequence[int] | None = None) -> list[Spectrogram]:
        """Mel spectrogram of each id sequence; ``seeds`` (one, or one per item) draw the prenet dropout."""
        if not sequences:
            return []
        batch = DecoderBatch(self)
        ids = batch.add(sequences, per_item_seeds(seeds, len(sequences)))
        frames = {item: [] for item in ids}
        alignments = {item: [] for item in ids}
        limited = set()
        while batch.running:
            step = batch.step()
            for row, item in enumerate(step.items):
                frames[item].append(step.frames[row])
                alignments[item].append(step.alignments[row])
            limited.update(step.items[step.limited].tolist())
        mels = self.postnet_mels([np.stack(frames[item], axis=1) for item in ids])
        return [Spectrogram(mel, item in limited, np.stack(alignments[item])) for mel, item in zip(mels, ids)]

    def _checked_ids(self, ids: Sequence[int], index: int) -> np.ndarray:
        row = np.asarray(ids, dtype=np.int64).reshape(-1)
        if row.size == 0:
            raise InputError(f"text {index} has no symbols")
        if row.min() < 0 or row.max() >= self.n_symbols:
            raise InputError(f"text {index} has symbol ids outside 0..{self.n_symbols - 1}")
        return row

    def postnet_mels(self, mels: list[np.ndarray]) -> list[np.ndarray]:
        """Decoder mels [n_mel, frames] -> final mels (one padded batch; the graph masks each item's padding)."""
        batch, lengths = pad_batch(mels, axis=-1)
        (final,) = self.postnet.run(list(POSTNET_OUTPUTS), {"mel": batch, "mel_length": lengths})
        return [final[row, :, :n] for row, n in enumerate(lengths)]


@dataclass
class DecoderStep:
    """What one decoder step made: a frame for each item that was running (``items``, in row order)."""

    items: np.ndarray  # int: the item ids
    frames: np.ndarray  # [rows, n_mel] decoder (pre-postnet) mel frames
    alignments: list[np.ndarray]  # each row's attention weights over its own text
    stopped: np.ndarray  # bool per row: the gate fired, this frame is the item's last
    limited: np.ndarray  # bool per row: the item reached max_decoder_steps without its gate firing


class DecoderBatch:
    """Items (sentences) decoding together, a frame per step each. Items may join between steps (the text axis is
    padded to the longest text) and leave when they stop (it is cut to the longest remaining): both are exact,
    since beyond an item's length its attention weights are zero and its energies masked. Each item counts its own
    steps against ``max_decoder_steps`` and draws its own prenet dropout, so it gets its alone mel whenever it
    joins, up to float rounding."""

    def __init__(self, engine: Tacotron2Engine):
        self.engine = engine
        self.items = np.zeros(0, dtype=np.int64)  # the item of each row
        self.tensors: dict[str, np.ndarray] = {}  # encoded text, decoder state and previous frame, per row
        self.text_length: dict[int, int] = {}
        self.dropouts: dict[int, PrenetDropout] = {}
        self.steps: dict[int, int] = {}
        self._next_item = 0

    @property
    def running(self) -> int:
        return int(self.items.size)

    def add(self, sequences: Sequence[Sequence[int]], seeds: Sequence[int]) -> list[int]:
        """Encode ``sequences`` and let them join at the next step; returns their item ids."""
        engine = self.engine
        rows = [engine._checked_ids(ids, index) for index, ids in enumerate(sequences)]
        text, text_length = pad_batch(rows, axis=0)
        memory, processed_memory, memory_mask = engine.encoder.run(
            list(ENCODER_OUTPUTS), {"text": text, "text_length": text_length}
        )
        batch, width = memory.shape[:2]
        joining = {"memory": memory, "processed_memory": processed_memory, "memory_mask": memory_mask,
                   "previous_frame": np.zeros((batch, engine.n_mel_channels), dtype=np.float32)}
        for name in DECODER_STATES:
            size = width if name in _TEXT_AXIS_STATES else engine.state_sizes[name]
            joining[name] = np.zeros((batch, size), dtype=np.float32)
        ids = list(range(self._next_item, self._next_item + batch))
        self._next_item += batch
        for item, length, seed in zip(ids, text_length, seeds):
            self.text_length[item] = int(length)
            self.dropouts[item] = PrenetDropout(seed, engine.prenet_shape, engine.settings.prenet_dropout)
            self.steps[item] = 0
        if self.running:
            width = max(width, self.tensors["memory"].shape[1])
            joining = {name: np.concatenate([_text_width(self.tensors[name], name, width),
                                             _text_width(value, name, width)])
                       for name, value in joining.items()}
        self.tensors = joining
        self.items = np.concatenate([self.items, np.asarray(ids, dtype=np.int64)])
        return ids

    def remove(self, items: Sequence[int]) -> None:
        """Stop decoding ``items`` (their request no longer needs them)."""
        self._keep(~np.isin(self.items, list(items)))

    def step(self) -> DecoderStep:
        engine = self.engine
        masks = np.stack([self.dropouts[item].next() for item in self.items])
        encoded = {name: self.tensors[name] for name in ENCODER_OUTPUTS}
        state = {name: self.tensors[name] for name in DECODER_STATES}
        mel_frame, gate_logit, *next_state = engine.decoder_step.run(
            list(DECODER_OUTPUTS),
            {"previous_frame": self.tensors["previous_frame"], "prenet_dropout_mask": masks, **state, **encoded},
        )
        self.tensors.update(zip(DECODER_STATES, next_state), previous_frame=mel_frame)
        items = self.items
        for item in items:
            self.steps[item] += 1
        stopped = gate_logit > engine.settings.gate_logit_threshold
        limited = ~stopped & np.array([self.steps[item] >= engine.settings.max_decoder_steps for item in items])
        weights = self.tensors["attention_weights"]
        step = DecoderStep(items, mel_frame, [weights[row, : self.text_length[item]] for row, item in enumerate(items)],
                           stopped, limited)
        if (stopped | limited).any():
            self._keep(~(stopped | limited))
        return step

    def _keep(self, running: np.ndarray) -> None:
        for item in self.items[~running]:
            del self.text_length[item], self.dropouts[item], self.steps[item]
        self.items = self.items[running]
        if not self.running:
            self.tensors = {}
            return
        # Cutting the text axis to the longest remaining text is exact (see the class docstring).
        width = max(self.text_length[item] for item in self.items)
        self.tensors = {name: _text_width(value[running], name, width) for name, value in self.tensors.items()}


_TEXT_AXIS = (*_TEXT_AXIS_STATES, *ENCODER_OUTPUTS)


def _text_width(value: np.ndarray, name: str, width: int) -> np.ndarray:
    """``value`` with its text axis (axis 1 of the encoded text and the attention states) cut or zero-padded to
    ``width``; zero memory_mask (False) marks padding."""
    if name not in _TEXT_AXIS or value.shape[1] == width:
        return value
    if value.shape[1] > width:
        return value[:, :width]
    padding = [(0, 0)] * value.ndim
    padding[1] = (0, width - value.shape[1])
    return np.pad(value, padding)


@dataclass
class RequestMel:
    mel: np.ndarray  # [n_mel, frames]: the request's sentences, joined in order
    hit_step_limit: bool  # some sentence was cut at max_decoder_steps


def request_mels(engine: Tacotron2Engine, requests: Sequence[tuple[Sequence[np.ndarray], int]],
                 max_frames: int | None = None) -> list[RequestMel]:
    """Mels of many requests (each: sentence id sequences and a seed) decoded as ONE batch of sentences.

    Sentence ``j`` of a request draws its prenet dropout from ``seed + j``, so a request gets the same mel
    whatever it is batched with. A request's joined mel is cut at ``max_frames`` (reported as hitting the step
    limit): the vocoders refuse longer ones.
    """
    sentences = [ids for ids, _ in requests for ids in ids]
    seeds = [seed + j for ids, seed in requests for j in range(len(ids))]
    spectrograms = engine(sentences, seeds)
    joined, first = [], 0
    for ids, _ in requests:
        mine = spectrograms[first : first + len(ids)]
        first += len(ids)
        mel = np.concatenate([s.mel for s in mine], axis=1)
        cut = max_frames is not None and mel.shape[1] > max_frames
        joined.append(RequestMel(mel[:, :max_frames] if cut else mel, cut or any(s.hit_step_limit for s in mine)))
    return joined

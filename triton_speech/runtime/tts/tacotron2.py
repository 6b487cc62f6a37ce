"""Tacotron2 in-process: the exported ``encoder``, ``decoder_step`` (once per mel frame) and ``postnet`` graphs in
ONNX Runtime, driven by numpy.

A batch of sentences runs together with padding and masks, each item stops at its own gate, and every item gets
the mel it gets alone up to float rounding: the graphs mask what padding could reach, and each item's random
prenet dropout comes from its own seeded generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triton_speech.defaults import GATE_THRESHOLD, MAX_DECODER_STEPS, PRENET_DROPOUT
from triton_speech.runtime.batching import pad_batch, per_item_seeds
from triton_speech.runtime.errors import InputError
from triton_speech.runtime.onnx import onnx_session, static_dim

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

    def __init__(self, encoder, decoder_step, postnet, settings: DecoderSettings | None = None):
        self.encoder = encoder
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
             intra_op_threads: int = 0, device: str = "cpu") -> "Tacotron2Engine":
        directory = Path(directory)
        sessions = [onnx_session(directory / f"{name}.onnx", intra_op_threads, device)
                    for name in ("encoder", "decoder_step", "postnet")]
        return cls(*sessions, settings=settings)

    def __call__(self, sequences: Sequence[Sequence[int]],
                 seeds: int | Sequence[int] | None = None) -> list[Spectrogram]:
        """Mel spectrogram of each id sequence; ``seeds`` (one, or one per item) draw the prenet dropout."""
        if not sequences:
            return []
        rows = [self._checked_ids(ids, index) for index, ids in enumerate(sequences)]
        text, text_length = pad_batch(rows, axis=0)
        memory, processed_memory, memory_mask = self.encoder.run(
            list(ENCODER_OUTPUTS), {"text": text, "text_length": text_length}
        )
        dropouts = [PrenetDropout(seed, self.prenet_shape, self.settings.prenet_dropout)
                    for seed in per_item_seeds(seeds, len(rows))]
        frames, alignments, hit_limit = self._decode(memory, processed_memory, memory_mask, text_length, dropouts)
        mels = self._postnet([np.stack(f, axis=1) for f in frames])
        return [Spectrogram(mel, limited, np.stack(a)) for mel, limited, a in zip(mels, hit_limit, alignments)]

    def _checked_ids(self, ids: Sequence[int], index: int) -> np.ndarray:
        row = np.asarray(ids, dtype=np.int64).reshape(-1)
        if row.size == 0:
            raise InputError(f"text {index} has no symbols")
        if row.min() < 0 or row.max() >= self.n_symbols:
            raise InputError(f"text {index} has symbol ids outside 0..{self.n_symbols - 1}")
        return row

    def _decode(self, memory, processed_memory, memory_mask, text_length, dropouts):
        """The autoregressive loop; finished items leave the batch, so later steps run only the others."""
        batch = memory.shape[0]
        state = {name: np.zeros((batch, memory.shape[1] if name in _TEXT_AXIS_STATES else self.state_sizes[name]),
                                dtype=np.float32) for name in DECODER_STATES}
        encoded = {"memory": memory, "processed_memory": processed_memory, "memory_mask": memory_mask}
        previous_frame = np.zeros((batch, self.n_mel_channels), dtype=np.float32)
        items = np.arange(batch)  # the item each row of the running batch belongs to
        frames = [[] for _ in range(batch)]
        alignments = [[] for _ in range(batch)]
        threshold = self.settings.gate_logit_threshold
        for _ in range(self.settings.max_decoder_steps):
            masks = np.stack([dropouts[item].next() for item in items])
            mel_frame, gate_logit, *next_state = self.decoder_step.run(
                list(DECODER_OUTPUTS),
                {"previous_frame": previous_frame, "prenet_dropout_mask": masks, **state, **encoded},
            )
            state = dict(zip(DECODER_STATES, next_state))
            for row, item in enumerate(items):
                frames[item].append(mel_frame[row])
                alignments[item].append(state["attention_weights"][row, : text_length[item]])
            previous_frame = mel_frame
            running = gate_logit <= threshold
            if not running.all():
                items = items[running]
                if items.size == 0:
                    break
                # Cutting the text axis to the longest remaining text is exact: beyond an item's length its
                # attention weights are zero and its energies masked.
                width = int(text_length[items].max())
                encoded = {name: value[running, :width] for name, value in encoded.items()}
                state = {name: value[running, :width] if name in _TEXT_AXIS_STATES else value[running]
                         for name, value in state.items()}
                previous_frame = previous_frame[running]
        hit_limit = np.zeros(batch, dtype=bool)
        hit_limit[items] = True
        return frames, alignments, hit_limit

    def _postnet(self, mels: list[np.ndarray]) -> list[np.ndarray]:
        batch, lengths = pad_batch(mels, axis=-1)
        (final,) = self.postnet.run(list(POSTNET_OUTPUTS), {"mel": batch, "mel_length": lengths})
        return [final[row, :, :n] for row, n in enumerate(lengths)]


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

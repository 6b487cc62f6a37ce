"""Tacotron2 + WaveGlow synthesis in-process: ONNX Runtime sessions driven by numpy.

``Tacotron2Engine`` runs the exported ``encoder``, ``decoder_step`` (once per mel frame) and ``postnet``
graphs; ``WaveGlowEngine`` runs ``waveglow`` and, optionally, DLE's denoiser. A batch of texts runs
together with padding and masks, each item stops at its own gate, and every item gets the mel and audio it
gets alone (up to float rounding): the graphs mask what padding could reach, and each item's random
prenet dropout and WaveGlow noise come from its own seeded generator.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from triton_speech.acoustic import onnx_session
from triton_speech.batching import pad_batch
from triton_speech.errors import InputError
from triton_speech.text import english_cleaners, split_sentences, text_to_sequence

SAMPLE_RATE = 22050

# Tensor names of the exported graphs (export/tts.py writes them, the engines read them).
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
WAVEGLOW_INPUTS = ("mel", "z", "sigma", "mel_length")
WAVEGLOW_OUTPUTS = ("audio",)
# States indexed by text position: cut with the memory when the longest remaining text gets shorter.
_TEXT_AXIS_STATES = ("attention_weights", "attention_weights_cum")

DEFAULT_SIGMA = 0.666
# DLE's audio front end (TacotronSTFT): the STFT and mel bands of the mels Tacotron2 predicts and vocoders read.
STFT_SIZE = 1024
HOP = 256
MEL_FMAX = 8000.0
GRIFFIN_LIM_ITERATIONS = 32
# DLE's denoiser: its STFT, and the all-zero mel whose audio is WaveGlow's bias.
DENOISER_FFT_SIZE = STFT_SIZE
DENOISER_HOP = HOP
DENOISER_BIAS_FRAMES = 88


@dataclass(frozen=True)
class DecoderSettings:
    """Settings of the decoder loop.

    ``gate_threshold``: an item stops at the first frame whose gate probability exceeds it (that frame is
    kept, as in NVIDIA/tacotron2; DLE drops it, 11.6 ms). ``max_decoder_steps``: frames after which an item
    is cut and reported. ``prenet_dropout``: DLE keeps the prenet's dropout (0.5) on at inference; 0 turns it
    off (deterministic without seeds, but not what the model learned).
    """

    gate_threshold: float = 0.5
    max_decoder_steps: int = 2000
    prenet_dropout: float = 0.5

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


def _per_item_seeds(seeds: int | Sequence[int] | None, count: int) -> list[int]:
    if seeds is None or isinstance(seeds, (int, np.integer)):
        return [int(seeds or 0)] * count
    if len(seeds) != count:
        raise InputError(f"{len(seeds)} seeds for {count} items")
    return [int(s) for s in seeds]


def _static_dim(session, name: str, axis: int) -> int:
    for node in session.get_inputs():
        if node.name == name:
            return int(node.shape[axis])
    raise KeyError(f"graph has no input {name!r}")


class Tacotron2Engine:
    """Text ids -> mel spectrograms with the exported ``encoder``, ``decoder_step`` and ``postnet`` graphs."""

    def __init__(self, encoder, decoder_step, postnet, settings: DecoderSettings | None = None):
        self.encoder = encoder
        self.decoder_step = decoder_step
        self.postnet = postnet
        self.settings = settings or DecoderSettings()
        self.n_mel_channels = _static_dim(decoder_step, "previous_frame", 1)
        self.prenet_shape = (_static_dim(decoder_step, "prenet_dropout_mask", 1),
                             _static_dim(decoder_step, "prenet_dropout_mask", 2))
        self.state_sizes = {name: _static_dim(decoder_step, name, 1) for name in DECODER_STATES
                            if name not in _TEXT_AXIS_STATES}
        self.n_symbols = int(encoder.get_modelmeta().custom_metadata_map["n_symbols"])

    @classmethod
    def load(cls, directory: str | Path, settings: DecoderSettings | None = None,
             intra_op_threads: int = 0) -> "Tacotron2Engine":
        directory = Path(directory)
        sessions = [onnx_session(directory / f"{name}.onnx", intra_op_threads)
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
                    for seed in _per_item_seeds(seeds, len(rows))]
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


def hann_window(size: int) -> np.ndarray:
    """Periodic Hann window (scipy's ``get_window('hann', size)``), as DLE's STFT uses."""
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(size) / size)).astype(np.float64)


def stft(audio: np.ndarray, fft_size: int = DENOISER_FFT_SIZE, hop: int = DENOISER_HOP) -> np.ndarray:
    """[frames, fft_size / 2 + 1] complex spectrum; the signal is reflect-padded by fft_size / 2 (centred frames)."""
    padded = np.pad(audio.astype(np.float64), fft_size // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, fft_size)[::hop]
    return np.fft.rfft(frames * hann_window(fft_size), axis=1)


def istft(spectrum: np.ndarray, length: int, fft_size: int = DENOISER_FFT_SIZE, hop: int = DENOISER_HOP) -> np.ndarray:
    """Inverse of ``stft``: windowed overlap-add divided by the summed squared window."""
    window = hann_window(fft_size)
    frames = np.fft.irfft(spectrum, n=fft_size, axis=1) * window
    total = fft_size + hop * (frames.shape[0] - 1)
    signal = np.zeros(total)
    window_power = np.zeros(total)
    for index, frame in enumerate(frames):
        signal[index * hop : index * hop + fft_size] += frame
        window_power[index * hop : index * hop + fft_size] += window**2
    nonzero = window_power > np.finfo(np.float64).tiny
    signal[nonzero] /= window_power[nonzero]
    return signal[fft_size // 2 : fft_size // 2 + length].astype(np.float32)


class WaveGlowEngine:
    """Mel spectrograms -> 22050 Hz audio with the exported ``waveglow`` graph.

    ``sigma`` scales the Gaussian noise (DLE's default 0.666). ``denoiser_strength`` > 0 applies DLE's
    denoiser: the magnitude spectrum of WaveGlow's output for an all-zero mel (sigma 0), times the strength,
    is subtracted from each item's spectrum (typical strengths 0.01 to 0.1).
    """

    def __init__(self, session, sigma: float = DEFAULT_SIGMA, denoiser_strength: float = 0.0):
        if sigma < 0:
            raise ValueError(f"sigma must be non-negative, got {sigma}")
        if denoiser_strength < 0:
            raise ValueError(f"denoiser_strength must be non-negative, got {denoiser_strength}")
        self.session = session
        self.sigma = sigma
        self.denoiser_strength = denoiser_strength
        self.n_mel_channels = _static_dim(session, "mel", 1)
        self.n_group = _static_dim(session, "z", 1)
        self.hop = int(session.get_modelmeta().custom_metadata_map["hop_length"])
        self._bias_spectrum: np.ndarray | None = None

    @classmethod
    def load(cls, path: str | Path, sigma: float = DEFAULT_SIGMA, denoiser_strength: float = 0.0,
             intra_op_threads: int = 0) -> "WaveGlowEngine":
        """``path``: ``waveglow.onnx`` or the export directory holding it."""
        path = Path(path)
        if path.is_dir():
            path = path / "waveglow.onnx"
        return cls(onnx_session(path, intra_op_threads), sigma, denoiser_strength)

    def noise(self, frames: int, seed: int) -> np.ndarray:
        """Standard normal ``z`` [n_group, frames * hop / n_group] of one item (float32)."""
        generator = np.random.default_rng(seed)
        return generator.standard_normal((self.n_group, frames * self.hop // self.n_group), dtype=np.float32)

    def __call__(self, mels: Sequence[np.ndarray], seeds: int | Sequence[int] | None = None,
                 noise: Sequence[np.ndarray] | None = None, sigma: float | None = None) -> list[np.ndarray]:
        """Audio (float32, ``frames * hop`` samples) of each mel [n_mel, frames]; noise from ``noise`` or ``seeds``;
        ``sigma`` overrides the engine's for this call."""
        sigma = self.sigma if sigma is None else sigma
        if sigma < 0:
            raise InputError(f"SIGMA must be non-negative, got {sigma}")
        if not mels:
            return []
        mels = [self._checked_mel(mel, index) for index, mel in enumerate(mels)]
        if noise is None:
            noise = [self.noise(mel.shape[1], seed) for mel, seed in zip(mels, _per_item_seeds(seeds, len(mels)))]
        elif len(noise) != len(mels):
            raise InputError(f"{len(noise)} noise arrays for {len(mels)} mels")
        audio = self._vocode(mels, [np.asarray(z, dtype=np.float32) for z in noise], sigma)
        if self.denoiser_strength > 0:
            audio = [self.denoise(item) for item in audio]
        return audio

    def _checked_mel(self, mel: np.ndarray, index: int) -> np.ndarray:
        mel = np.asarray(mel, dtype=np.float32)
        if mel.ndim != 2 or mel.shape[0] != self.n_mel_channels or mel.shape[1] == 0:
            raise InputError(f"mel {index} must be [{self.n_mel_channels}, frames>0], got {list(mel.shape)}")
        if not np.isfinite(mel).all():
            raise InputError(f"mel {index} contains NaN or Inf")
        return mel

    def _vocode(self, mels: list[np.ndarray], noise: list[np.ndarray], sigma: float) -> list[np.ndarray]:
        for index, (mel, z) in enumerate(zip(mels, noise)):
            expected = (self.n_group, mel.shape[1] * self.hop // self.n_group)
            if z.shape != expected:
                raise InputError(f"noise {index} must have shape {list(expected)}, got {list(z.shape)}")
        mel_batch, mel_length = pad_batch(mels, axis=-1)
        z_batch, _ = pad_batch(noise, axis=-1)
        (audio,) = self.session.run(list(WAVEGLOW_OUTPUTS), {
            "mel": mel_batch, "z": z_batch, "sigma": np.array([sigma], dtype=np.float32), "mel_length": mel_length,
        })
        return [audio[row, : n * self.hop] for row, n in enumerate(mel_length)]

    @property
    def bias_spectrum(self) -> np.ndarray:
        """|STFT| of WaveGlow's audio for an all-zero mel and no noise (DLE's denoiser bias), first frame."""
        if self._bias_spectrum is None:
            mel = np.zeros((self.n_mel_channels, DENOISER_BIAS_FRAMES), dtype=np.float32)
            z = np.zeros((self.n_group, DENOISER_BIAS_FRAMES * self.hop // self.n_group), dtype=np.float32)
            (bias_audio,) = self._vocode([mel], [z], sigma=0.0)
            self._bias_spectrum = np.abs(stft(bias_audio))[0]
        return self._bias_spectrum

    def denoise(self, audio: np.ndarray, strength: float | None = None) -> np.ndarray:
        strength = self.denoiser_strength if strength is None else strength
        spectrum = stft(audio)
        magnitude = np.maximum(np.abs(spectrum) - strength * self.bias_spectrum, 0.0)
        return istft(magnitude * np.exp(1j * np.angle(spectrum)), len(audio))


def griffin_lim(mel: np.ndarray, seed: int = 0, iterations: int = GRIFFIN_LIM_ITERATIONS) -> np.ndarray:
    """DLE log-mel ``[n_mel, F]`` -> ``F * HOP`` samples at 22050 Hz by Griffin-Lim phase recovery (librosa).

    A vocoder that needs no training: buzzier than a trained WaveGlow, but intelligible, so a Tacotron2 can be
    heard (and judged) before a WaveGlow for its voice exists. ``seed`` draws the initial phase.
    """
    import librosa

    if mel.ndim != 2 or mel.shape[1] == 0:
        raise InputError(f"MEL must be [n_mel, frames] with at least one frame, got {list(mel.shape)}")
    magnitude = librosa.feature.inverse.mel_to_stft(np.exp(mel.astype(np.float32)), sr=SAMPLE_RATE, n_fft=STFT_SIZE,
                                                    power=1.0, fmin=0.0, fmax=MEL_FMAX)
    audio = librosa.griffinlim(magnitude, n_iter=iterations, hop_length=HOP, n_fft=STFT_SIZE,
                               random_state=np.random.default_rng(seed))
    # F centred frames span (F - 1) hops; the last hop is silence, so lengths match WaveGlow's F * HOP.
    return np.pad(audio.astype(np.float32), (0, mel.shape[1] * HOP - audio.shape[0]))


@dataclass
class Speech:
    audio: np.ndarray  # float32 samples at SAMPLE_RATE
    hit_step_limit: bool  # Tacotron2 never decided to stop: the audio is cut at max_decoder_steps


# --- serving: the pieces the tts ensemble's models call, and the same pipeline in-process -------------

# A sentence with none of these after cleaning has nothing to say ("!!!", "--") and is skipped.
_SPEAKABLE = re.compile(r"[a-z0-9{]")


def sentence_sequences(text: str, max_sentence_chars: int, what: str = "TEXT") -> list[np.ndarray]:
    """Symbol ids of each sentence of ``text`` (long text is split so no sentence exceeds the limit); an InputError
    starts with ``what`` (the input and row)."""
    try:
        sentences = [s for s in split_sentences(text, max_sentence_chars) if _SPEAKABLE.search(english_cleaners(s))]
        if not sentences:
            raise InputError(f"{what} has no speakable characters: {text[:60]!r}")
        return [np.asarray(text_to_sequence(sentence), dtype=np.int64) for sentence in sentences]
    except InputError as error:
        raise error if str(error).startswith(what) else InputError(f"{what}: {error}") from None


def pack_sentences(requests: Sequence[Sequence[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The wire format from ``text_normalizer`` to ``tacotron2``: each request's sentences' ids joined into one
    row of ``SYMBOL_IDS`` [B, N] and their lengths as a row of ``SENTENCE_LENGTHS`` [B, S], both padded with 0."""
    ids, _ = pad_batch([np.concatenate(sentences).astype(np.int64) for sentences in requests], axis=0)
    lengths, _ = pad_batch([np.array([len(s) for s in sentences], dtype=np.int64) for sentences in requests], axis=0)
    return ids, lengths


def unpack_sentences(ids: np.ndarray, lengths: np.ndarray, n_symbols: int,
                     max_symbols: int | None = None) -> list[list[np.ndarray]]:
    """The inverse of ``pack_sentences``, checked: lengths are positive then 0-padded and fit the ids sent, every
    id is within the vocabulary, and a request has at most ``max_symbols`` ids; InputError names the row."""
    ids, lengths = np.asarray(ids), np.asarray(lengths)
    if ids.ndim != 2 or lengths.ndim != 2 or lengths.shape[0] != ids.shape[0]:
        raise InputError(f"SYMBOL_IDS {list(ids.shape)} and SENTENCE_LENGTHS {list(lengths.shape)} must be "
                         "[batch, n] with the same batch")
    requests = []
    for row, (row_ids, row_lengths) in enumerate(zip(ids, lengths)):
        count = int(np.count_nonzero(row_lengths))
        if count == 0 or (row_lengths[:count] <= 0).any() or (row_lengths[count:] != 0).any():
            raise InputError(f"SENTENCE_LENGTHS row {row} must be positive lengths followed by 0 padding, "
                             f"got {row_lengths.tolist()}")
        total = int(row_lengths.sum())
        if total > row_ids.shape[0]:
            raise InputError(f"SENTENCE_LENGTHS row {row} adds up to {total}, more than the {row_ids.shape[0]} "
                             "SYMBOL_IDS sent")
        if max_symbols is not None and total > max_symbols:
            raise InputError(f"SYMBOL_IDS row {row} has {total} symbols; the limit is {max_symbols}")
        used = row_ids[:total]
        if used.min() < 0 or used.max() >= n_symbols:
            raise InputError(f"SYMBOL_IDS row {row} has ids outside 0..{n_symbols - 1}")
        requests.append(np.split(used.astype(np.int64), np.cumsum(row_lengths[:count])[:-1]))
    return requests


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


def request_audio(engine: WaveGlowEngine, mels: Sequence[np.ndarray], seeds: Sequence[int],
                  sigmas: Sequence[float], denoiser_strengths: Sequence[float]) -> list[np.ndarray]:
    """Audio of each mel with its own noise seed, sigma and denoiser strength (one batch per distinct sigma)."""
    audio: list[np.ndarray | None] = [None] * len(mels)
    for sigma in sorted(set(sigmas)):
        rows = [i for i, s in enumerate(sigmas) if s == sigma]
        for row, item in zip(rows, engine([mels[i] for i in rows], [seeds[i] for i in rows], sigma=sigma)):
            audio[row] = item
    for row, strength in enumerate(denoiser_strengths):
        if strength < 0:
            raise InputError(f"DENOISER_STRENGTH must be non-negative, got {strength}")
        if strength > 0:
            audio[row] = engine.denoise(audio[row], strength)
    return audio


class TTSPipeline:
    """The ``tts`` ensemble in-process: text -> sentences -> Tacotron2 -> joined mel -> vocoder, where the
    vocoder is WaveGlow or, with ``waveglow`` None, Griffin-Lim (the ``griffin_lim`` model)."""

    sample_rate = SAMPLE_RATE

    def __init__(self, tacotron2: Tacotron2Engine, waveglow: WaveGlowEngine | None, max_sentence_chars: int,
                 griffin_lim_iterations: int = GRIFFIN_LIM_ITERATIONS):
        self.tacotron2 = tacotron2
        self.waveglow = waveglow
        self.max_sentence_chars = max_sentence_chars
        self.griffin_lim_iterations = griffin_lim_iterations

    def __call__(self, text: str, seed: int = 0, sigma: float | None = None,
                 denoiser_strength: float | None = None) -> Speech:
        (speech,) = self.batch([text], [seed], sigma, denoiser_strength)
        return speech

    def batch(self, texts: Sequence[str], seeds: Sequence[int], sigma: float | None = None,
              denoiser_strength: float | None = None) -> list[Speech]:
        """Many texts decoded and vocoded together, as the served models do with a dynamic batch."""
        mels = request_mels(self.tacotron2, [(sentence_sequences(text, self.max_sentence_chars), seed)
                                             for text, seed in zip(texts, seeds)])
        if self.waveglow is None:
            if sigma is not None or denoiser_strength is not None:  # as the served griffin_lim ensemble refuses them
                raise ValueError("sigma and denoiser_strength are WaveGlow's: this pipeline vocodes with Griffin-Lim")
            audio = [griffin_lim(m.mel, seed, self.griffin_lim_iterations) for m, seed in zip(mels, seeds)]
        else:
            sigma = self.waveglow.sigma if sigma is None else sigma
            strength = self.waveglow.denoiser_strength if denoiser_strength is None else denoiser_strength
            audio = request_audio(self.waveglow, [m.mel for m in mels], seeds, [sigma] * len(mels),
                                  [strength] * len(mels))
        return [Speech(a, m.hit_step_limit) for a, m in zip(audio, mels)]

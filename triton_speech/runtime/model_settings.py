"""Each served python model's settings, one frozen dataclass per model: the repository builder (``ensembles/``) makes
it and writes it into the model's config.pbtxt parameters, and the model's ``model.py`` reads it back, typed
(``ModelArgs.settings``). A parameter is named after its field. Where a model's graphs run (device, GPU options,
engine cache) is ``runtime.onnx.Placement``'s, written beside these.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path

from triton_speech.defaults import CTC_BEAM_SIZE, LM_ALPHA, LM_BETA

T = typing.TypeVar("T", bound="ModelSettings")


class ModelSettings:
    """What every model's settings dataclass can do: become config.pbtxt parameters (strings) and come back."""

    def parameters(self) -> dict[str, str]:
        return {item.name: _text(getattr(self, item.name)) for item in fields(self)}

    @classmethod
    def from_parameters(cls: type[T], parameters: Mapping[str, str], model: str = "") -> T:
        """The settings a config's parameters hold; one without a default must be there."""
        types = typing.get_type_hints(cls)
        values = {}
        for item in fields(cls):
            if item.name in parameters:
                values[item.name] = _value(parameters[item.name], types[item.name])
            elif item.default is MISSING and item.default_factory is MISSING:
                raise KeyError(f"model {model or cls.__name__}: parameter {item.name} missing from config.pbtxt")
        return cls(**values)


def _text(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):
        return ",".join(value)
    return repr(value) if isinstance(value, float) else str(value)


def _value(text: str, kind):
    if kind is bool:
        return text == "1"
    if typing.get_origin(kind) is tuple:
        return tuple(item for item in text.split(",") if item)
    return kind(text)


settings = dataclass(frozen=True, kw_only=True)


@settings
class Threads(ModelSettings):
    # ONNX Runtime intra-op threads per model instance (0: ONNX Runtime's default, all cores)
    intra_op_threads: int = 0


@settings
class AudioLimits(ModelSettings):
    """What an ``AUDIO`` input may be: at least a frame's hop of samples, at most ``max_audio_seconds``."""

    sample_rate: int
    min_samples: int
    max_audio_seconds: float

    @property
    def max_samples(self) -> int:
        return int(self.max_audio_seconds * self.sample_rate)


@settings
class FeatureExtractorSettings(AudioLimits, Threads):
    pass


@settings
class QuartzNetSettings(Threads):
    onnx_model: str = "model.onnx"
    max_frames: int  # the frames of the longest audio asr takes: longer FEATURES are refused
    precision: str  # which graph model.onnx is (export.precision.PRECISIONS): recorded, not read


@settings
class Decoding(ModelSettings):
    """CTC decoding: greedy, or beam search over a word list (``lexicon``) or with an n-gram LM (``lm``); the files
    are in the model's version directory ("" for none)."""

    labels: str = "labels.json"
    lexicon: str = ""
    lm: str = ""
    beam_size: int = CTC_BEAM_SIZE
    lm_alpha: float = LM_ALPHA
    lm_beta: float = LM_BETA

    def decoder_arguments(self, directory: Path) -> dict:
        """``ctc.load_decoder``'s keyword arguments, the files in ``directory``."""
        return dict(lexicon=Path(directory) / self.lexicon if self.lexicon else None,
                    lm=Path(directory) / self.lm if self.lm else None, beam_size=self.beam_size,
                    lm_alpha=self.lm_alpha, lm_beta=self.lm_beta)


@settings
class CTCDecoderSettings(Decoding):
    max_frames: int  # as QuartzNetSettings.max_frames: longer LOGPROBS are refused
    frame_seconds: float  # the acoustic model's output stride, for word times


@settings
class PunctuatorSettings(Threads):
    max_text_chars: int
    network: str = ""  # a served model that runs the BERT network (the ngc target, through BLS); "" runs it here
    max_windows_per_run: int = 0  # token windows per network run (0: all of a batch's)


@settings
class AsrLongSettings(ModelSettings):
    sample_rate: int
    min_samples: int
    max_long_audio_seconds: float
    window_seconds: float
    overlap_seconds: float
    windows_in_flight: int  # windows sent to asr at once
    asr_model: str = "asr"
    asr_outputs: tuple[str, ...]


@settings
class AsrStreamingSettings(Decoding, Threads):
    # runtime.asr.streaming.StreamSettings, which the model makes of these
    precision: str  # which graph model.onnx is: recorded, not read
    buffer_seconds: float
    lookahead_seconds: float
    partial_beam_size: int
    partials: str
    max_stream_seconds: float
    idle_seconds: float
    max_audio_seconds: float
    window_seconds: float
    overlap_seconds: float


@settings
class TextNormalizerSettings(ModelSettings):
    max_text_chars: int
    max_sentence_chars: int
    text_normalization: str  # runtime.tts.text.NORMALIZATIONS: what the Tacotron2 checkpoint was trained on


@settings
class DecoderLoopSettings(Threads):
    """Tacotron2's decoder loop: each sentence stops at its gate or at ``max_decoder_steps``; a request's mel at
    ``max_mel_frames``."""

    gate_threshold: float
    max_decoder_steps: int
    max_mel_frames: int


@settings
class Tacotron2Settings(DecoderLoopSettings):
    max_symbols: int  # SYMBOL_IDS a request may send


@settings
class WaveGlowSettings(Threads):
    onnx_model: str = "waveglow.onnx"
    sigma: float
    denoiser_strength: float
    max_mel_frames: int


@settings
class GriffinLimSettings(ModelSettings):
    iterations: int
    max_mel_frames: int


@settings
class TTSStreamingSettings(DecoderLoopSettings):
    vocoder: str  # "waveglow" or "griffin_lim"
    max_text_chars: int
    max_sentence_chars: int
    text_normalization: str
    stream_block_frames: int  # decoder frames per chunk within a sentence
    # WaveGlow's
    onnx_model: str = "waveglow.onnx"
    sigma: float = 0.0
    denoiser_strength: float = 0.0
    # Griffin-Lim's
    iterations: int = 0
    griffin_lim_context_frames: int = 0

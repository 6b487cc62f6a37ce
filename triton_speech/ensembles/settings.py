"""Serving settings of the repository builder (batching, instances, limits); their values when unset are in
``triton_speech.defaults``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from triton_speech import defaults
from triton_speech.ensembles.spec import Batching

TARGETS = ("pip", "ngc")
# The engine cache's default when --engine-cache-dir is not given (e.g. set where a chart mounts a volume)
ENGINE_CACHE_ENV = "TRITON_SPEECH_ENGINE_CACHE"


def default_precision(target: str, device: str) -> str:
    """What the build commands serve unless told: QuartzNet in INT8 on CPUs (the pip target on the CPU), where it
    serves 2.5-4x FP32's throughput and the build refuses a graph whose transcripts drift (export.precision); FP32
    elsewhere (TensorRT takes no asymmetric INT8 graph; FP16 is a GPU deployment's choice)."""
    return "int8" if (target, device) == ("pip", "cpu") else "fp32"


@dataclass(frozen=True)
class RepositorySettings:
    max_batch_size: int = defaults.MAX_BATCH_SIZE
    max_queue_delay_us: int = defaults.MAX_QUEUE_DELAY_US
    preferred_batch_sizes: tuple[int, ...] = ()
    # model name -> instance count; models not named get defaults.MODEL_INSTANCES' count, or one
    instances: Mapping[str, int] = field(default_factory=dict)
    max_audio_seconds: float = defaults.MAX_AUDIO_SECONDS
    # asr_long: recordings up to this long, in overlapping windows (within max_audio_seconds) sent to asr
    max_long_audio_seconds: float = defaults.MAX_LONG_AUDIO_SECONDS
    long_window_seconds: float = defaults.LONG_WINDOW_SECONDS
    long_overlap_seconds: float = defaults.LONG_OVERLAP_SECONDS
    long_windows_in_flight: int = defaults.LONG_WINDOWS_IN_FLIGHT
    # asr_streaming: seconds of the stream the model runs over for each partial transcript, the longest stream, how
    # long an idle stream is kept, how many streams are served at once
    stream_buffer_seconds: float = defaults.STREAM_BUFFER_SECONDS
    # ... how much audio must follow a frame before its log-probs are kept and decoded once, the partials' beam width
    stream_lookahead_seconds: float = defaults.STREAM_LOOKAHEAD_SECONDS
    stream_beam_size: int = defaults.STREAM_BEAM_SIZE
    # "buffered" partials (the model and decoder over the whole buffer again after every chunk) or "incremental"
    # (each frame decoded once, 1.2x the streams); buffered by default: with the default model, whose words go wrong
    # next to silence, incremental partials settle on wrong words early (a browser's live captions held three of
    # the sentence's words in fewer runs)
    stream_partials: str = "buffered"
    # ONNX Runtime intra-op threads of asr_streaming (0: ONNX Runtime's default, all cores)
    stream_onnx_threads: int = defaults.STREAM_ONNX_THREADS
    max_stream_seconds: float = defaults.MAX_STREAM_SECONDS
    stream_idle_seconds: float = defaults.STREAM_IDLE_SECONDS
    max_streams: int = defaults.MAX_STREAMS
    # CTC decoding: greedy, or (given a word list, one word per line) beam search whose words are all listed
    lexicon: str = ""
    ctc_beam_size: int = defaults.CTC_BEAM_SIZE
    # ... or beam search scored by a word n-gram language model (an ARPA or KenLM binary file; the lm extra)
    lm: str = ""
    lm_alpha: float = defaults.LM_ALPHA
    lm_beta: float = defaults.LM_BETA
    # Punctuator text limit (long texts are windowed, not cut)
    max_punctuation_chars: int = defaults.MAX_PUNCTUATION_CHARS
    # ONNX Runtime intra-op threads per model instance (0: ONNX Runtime's default, all cores)
    onnx_threads: int = 0
    # TTS: request text limit, sentence length the text is split to, decoder loop and vocoder settings
    max_text_chars: int = defaults.MAX_TEXT_CHARS
    max_sentence_chars: int = defaults.MAX_SENTENCE_CHARS
    # TTS text front-end: "dle" (DeepLearningExamples' english_cleaners and ids) or "extended" (this project's
    # readings); "" is the one the Tacotron2 export records for its checkpoint
    text_normalization: str = ""
    # Tacotron2 cuts a request's mel at this much audio (reported as the step limit); the vocoders refuse longer
    max_speech_seconds: float = defaults.MAX_SPEECH_SECONDS
    gate_threshold: float = defaults.GATE_THRESHOLD
    max_decoder_steps: int = defaults.MAX_DECODER_STEPS
    sigma: float = defaults.SIGMA
    denoiser_strength: float = defaults.DENOISER_STRENGTH
    # The vocoder: "waveglow", or "griffin_lim" (no weights; no waveglow export needed)
    vocoder: str = "waveglow"
    griffin_lim_iterations: int = defaults.GRIFFIN_LIM_ITERATIONS
    # tts_streaming: decoder frames per chunk within a sentence; Griffin-Lim's context either side of a chunk
    # (WaveGlow's is its whole reach, from its export)
    stream_block_frames: int = defaults.STREAM_BLOCK_FRAMES
    griffin_lim_context_frames: int = defaults.GRIFFIN_LIM_CONTEXT_FRAMES
    # model_warmup: every model runs a real request before it is reported ready
    warmup: bool = True
    # Where the repository runs: "pip" (the Triton bundled with nvidia-pytriton: python-backend models hosting ONNX
    # Runtime) or "ngc" (NVIDIA's container: networks on the native onnxruntime_onnx or tensorrt_plan backends, on
    # the GPU, and python models only for what has no native form)
    target: str = "pip"
    # pip target: "cpu", or "gpu" (GPU instances; ONNX Runtime asks for TensorRT, then CUDA)
    device: str = "cpu"
    # "fp32", "fp16" (the GPU networks converted) or "int8" (QuartzNet quantized for CPUs), derived from the export.
    # The build commands (make repository, python -m ensembles) default to default_precision(target, device).
    precision: str = "fp32"
    # ngc target: ONNX Runtime's TensorRT execution accelerator (FP16, engine cache) for the native ONNX models
    tensorrt_accelerator: bool = False
    # ngc target: a directory of TensorRT plans (python -m export tensorrt) served instead of the ONNX graphs
    tensorrt_plans: str = ""
    # TensorRT engine caches (one folder per model under it; the launcher creates them): ngc target default
    # NGC_ENGINE_CACHE_DIR (a volume of the container); pip target default trt_cache/ beside each graph
    engine_cache_dir: str = field(default_factory=lambda: os.environ.get(ENGINE_CACHE_ENV, ""))

    def __post_init__(self):
        from triton_speech.ensembles.spec import ConfigError
        from triton_speech.export.precision import PRECISIONS
        from triton_speech.runtime.asr.streaming import PARTIALS
        from triton_speech.runtime.tts.text import NORMALIZATIONS

        for name, value, allowed in (("target", self.target, TARGETS), ("device", self.device, ("cpu", "gpu")),
                                     ("precision", self.precision, PRECISIONS),
                                     ("text-normalization", self.text_normalization, ("", *NORMALIZATIONS)),
                                     ("stream-partials", self.stream_partials, PARTIALS)):
            if value not in allowed:
                shown = ", ".join(value or "'' (the export's)" for value in allowed)
                raise ConfigError(f"--{name} must be one of {shown}, got {value!r}")
        if self.network_device == "gpu" and self.precision == "int8":
            # precision.to_int8 quantizes activations to uint8 with per-tensor zero points (asymmetric ranges):
            # TensorRT takes only symmetric INT8 (zero point 0) and its ONNX parser rejects the graph.
            raise ConfigError(f"--precision int8 is for CPUs (the pip target with --device cpu): its QDQ graph has "
                              f"non-zero (asymmetric uint8) zero points, which TensorRT rejects; the {self.target} "
                              f"target on a GPU serves fp16 or fp32")

    @property
    def network_device(self) -> str:
        """Where the networks run: the ngc target is a GPU deployment; the pip target runs on ``device``."""
        return "gpu" if self.target == "ngc" else self.device

    def engine_cache(self, model: str) -> str:
        """Where ``model``'s TensorRT engines are cached ("" : beside its graphs, the pip target's default)."""
        root = self.engine_cache_dir or (defaults.NGC_ENGINE_CACHE_DIR if self.target == "ngc" else "")
        return f"{root.rstrip('/')}/{model}" if root else ""

    def batching(self, model: str) -> Batching:
        return Batching(
            max_batch_size=self.max_batch_size,
            max_queue_delay_us=self.max_queue_delay_us,
            preferred_batch_sizes=self.preferred_batch_sizes,
            instance_count=int(self.instances.get(model, defaults.MODEL_INSTANCES.get(model, 1))),
        )

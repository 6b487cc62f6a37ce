"""The ASR models and the ``asr`` ensemble: audio -> features -> QuartzNet -> CTC decoding (-> punctuation) -> text.

pip target: python models hosting ONNX Runtime (``feature_extractor`` checks the audio and runs frontend.onnx).
ngc target: ``audio_input`` (python: the same checks) -> ``feature_extractor`` and ``quartznet`` on the native
onnxruntime_onnx backend (or TensorRT plans) on the GPU -> ``ctc_decoder`` (python). The ensemble's interface is
the same on both.
"""

from __future__ import annotations

from dataclasses import asdict, fields, replace
from pathlib import Path

from triton_speech.ensembles import gpu, punctuation, warmup
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.ensembles.spec import (
    Batching,
    ConfigError,
    Ensemble,
    NativeModel,
    PythonModel,
    SequenceBatching,
    Step,
    Tensor,
    read_export,
)
from triton_speech.export.precision import DERIVED_GRAPHS, PrecisionDriftError, derived_graph
from triton_speech.runtime.asr.acoustic import frame_seconds
from triton_speech.runtime.asr.ctc import load_decoder
from triton_speech.runtime.asr.features import MelFrontend
from triton_speech.runtime.asr.longform import window_settings
from triton_speech.runtime.asr.words import WORD_CONFIDENCE, WORD_END_S, WORD_START_S, WORDS
from triton_speech.runtime.model_settings import (
    AsrLongSettings,
    AsrStreamingSettings,
    AudioLimits,
    CTCDecoderSettings,
    Decoding,
    FeatureExtractorSettings,
    QuartzNetSettings,
)
from triton_speech.runtime.profiles import OPTIMUM_SECONDS, acoustic_profile, frontend_profile

AUDIO = Tensor("AUDIO", "FP32", (-1,))
# Optional: a client that sends a padded batch [B, N] says how many samples of each row are audio.
AUDIO_LENGTH = Tensor("AUDIO_LENGTH", "INT32", (1,), optional=True)
TRANSCRIPT = Tensor("TRANSCRIPT", "BYTES", (1,))
# With a punctuator: TRANSCRIPT is punctuated and capitalized, RAW_TRANSCRIPT is the CTC decoder's text.
RAW_TRANSCRIPT = Tensor("RAW_TRANSCRIPT", "BYTES", (1,))
# The raw transcript's words, each with its start and end (seconds from the start of the audio) and confidence
# (0-1); a client asks for them or not.
WORD_TENSORS = (Tensor(WORDS, "BYTES", (-1,)), Tensor(WORD_START_S, "FP32", (-1,)), Tensor(WORD_END_S, "FP32", (-1,)),
                Tensor(WORD_CONFIDENCE, "FP32", (-1,)))
# The graphs' [batch] length tensors, declared [1] and reshaped (native models).
GRAPH_LENGTH = dict(dtype="INT64", dims=(1,), reshape=())


def models(export_dir: Path, settings: RepositorySettings,
           punctuator_export: Path | None = None) -> list[PythonModel | NativeModel | Ensemble]:
    """The asr ensemble and its steps (+ the punctuator's models), asr_long (recordings of any length, in windows
    through asr) and asr_streaming (live streams)."""
    export_dir = Path(export_dir)
    info = read_export(export_dir)
    n_mels, num_classes = int(info["n_mels"]), int(info["num_classes"])
    frontend = MelFrontend.load(export_dir / "frontend.npz")
    # Frames of the longest audio asr takes: quartznet and ctc_decoder refuse longer inputs sent to them directly.
    max_frames = frontend.num_frames(int(settings.max_audio_seconds * int(info["sample_rate"])))
    # What the first step checks (runtime.backend.audio_rows): a frame's worth of samples at least, the limit at most.
    audio_checks = AudioLimits(sample_rate=int(info["sample_rate"]), min_samples=frontend.config.hop_length,
                               max_audio_seconds=settings.max_audio_seconds)
    try:
        acoustic_graph = (derived_graph(export_dir / "model.onnx", settings.precision, export_dir)
                          if "quartznet" in DERIVED_GRAPHS.get(settings.precision, {}) else export_dir / "model.onnx")
    except PrecisionDriftError as error:
        raise ConfigError(f"quartznet: {error}") from error
    logprobs = Tensor("LOGPROBS", "FP32", (-1, num_classes))
    logprobs_length = Tensor("LOGPROBS_LENGTH", "INT64", (1,))
    audio = warmup.speech_like(int(info["sample_rate"]))
    decoder = ctc_decoder(export_dir, settings, logprobs, logprobs_length, max_frames,
                          audio.shape[0] / int(info["sample_rate"]))
    graphs = asr_graphs(settings, int(info["sample_rate"]), frontend.config.hop_length, n_mels)

    if settings.target == "ngc":
        described, steps = _ngc_front(export_dir, settings, acoustic_graph, audio_checks, n_mels, num_classes,
                                      frontend, graphs)
    else:
        described, steps = _pip_front(export_dir, settings, acoustic_graph, audio_checks, n_mels, logprobs,
                                      logprobs_length, max_frames, frontend, audio, graphs)
    described.append(decoder)
    word_outputs = {tensor.name: tensor.name for tensor in WORD_TENSORS}
    if punctuator_export is None:
        steps.append(Step("ctc_decoder", inputs={"LOGPROBS": "logprobs", "LOGPROBS_LENGTH": "logprobs_length"},
                          outputs={"TRANSCRIPT": "TRANSCRIPT", **word_outputs}))
        outputs = (TRANSCRIPT, *WORD_TENSORS)
    else:
        steps.append(Step("ctc_decoder", inputs={"LOGPROBS": "logprobs", "LOGPROBS_LENGTH": "logprobs_length"},
                          outputs={"TRANSCRIPT": "raw_transcript", **word_outputs}))
        steps.append(Step("punctuator", inputs={"TEXT": "raw_transcript"},
                          outputs={"PUNCTUATED_TEXT": "TRANSCRIPT", "UNPUNCTUATED_TEXT": "RAW_TRANSCRIPT"}))
        described += punctuation.models(punctuator_export, settings)
        outputs = (TRANSCRIPT, RAW_TRANSCRIPT, *WORD_TENSORS)
    asr = Ensemble(name="asr", inputs=(AUDIO, AUDIO_LENGTH), outputs=outputs, max_batch_size=settings.max_batch_size,
                   steps=tuple(steps))
    return described + [asr, asr_long(settings, outputs, info, frontend.config.hop_length),
                        asr_streaming(export_dir, settings, acoustic_graph, decoder, graphs)]


def asr_graphs(settings: RepositorySettings, sample_rate: int, hop_length: int, n_mels: int) -> dict:
    """The GPU options of the front-end and QuartzNet graphs: TensorRT over the shapes the server lets through
    (audio from one hop, what the request checks accept, to max_audio_seconds; the front-end's frames of that),
    FP16 for QuartzNet only, and only at --precision fp16."""
    return {"frontend.onnx": gpu.tensorrt(frontend_profile(sample_rate, hop_length, settings.max_batch_size,
                                                            settings.max_audio_seconds), half=False),
            "model.onnx": gpu.tensorrt(acoustic_profile(sample_rate, hop_length, n_mels, settings.max_batch_size,
                                                        settings.max_audio_seconds), half=gpu.fp16(settings,
                                                                                                    "quartznet"))}


def _pip_front(export_dir, settings, acoustic_graph, audio_checks, n_mels, logprobs, logprobs_length, max_frames,
               frontend, audio, graphs):
    warmup_features = frontend(audio)
    features = Tensor("FEATURES", "FP32", (n_mels, -1))
    features_length = Tensor("FEATURES_LENGTH", "INT64", (1,))
    device = settings.network_device
    feature_extractor = PythonModel(
        name="feature_extractor",
        inputs=(AUDIO, AUDIO_LENGTH),
        outputs=(features, features_length),
        batching=settings.batching("feature_extractor"),
        settings=FeatureExtractorSettings(**asdict(audio_checks), intra_op_threads=settings.onnx_threads),
        parameters=gpu.python_parameters(settings, "feature_extractor", {"frontend.onnx": graphs["frontend.onnx"]}),
        artifacts={name: export_dir / name for name in ("frontend.onnx", "frontend.npz")},
        device=device,
        warmup=warmup.samples(settings, AUDIO=audio),
    )
    quartznet = PythonModel(
        name="quartznet",
        inputs=(features, features_length),
        outputs=(logprobs, logprobs_length),
        batching=settings.batching("quartznet"),
        settings=QuartzNetSettings(onnx_model="model.onnx", intra_op_threads=settings.onnx_threads,
                                   max_frames=max_frames, precision=settings.precision),
        parameters=gpu.python_parameters(settings, "quartznet", {"model.onnx": graphs["model.onnx"]}),
        # export.json travels with the weights: where they came from and the parity measured.
        artifacts={"model.onnx": acoustic_graph, "export.json": export_dir / "export.json"},
        device=device,
        warmup=warmup.samples(settings, FEATURES=warmup_features,
                              FEATURES_LENGTH=warmup.length(warmup_features.shape[1])),
    )
    steps = [
        Step("feature_extractor", inputs={"AUDIO": "AUDIO", "AUDIO_LENGTH": "AUDIO_LENGTH"},
             outputs={"FEATURES": "features", "FEATURES_LENGTH": "features_length"}),
        Step("quartznet", inputs={"FEATURES": "features", "FEATURES_LENGTH": "features_length"},
             outputs={"LOGPROBS": "logprobs", "LOGPROBS_LENGTH": "logprobs_length"}),
    ]
    return [feature_extractor, quartznet], steps


def _ngc_front(export_dir, settings, acoustic_graph, audio_checks, n_mels, num_classes, frontend, graphs):
    plans = Path(settings.tensorrt_plans) if settings.tensorrt_plans else None
    audio = warmup.speech_like(frontend.config.sample_rate)
    # The native models warm up at the profiles' optimum (a few seconds of speech): TensorRT builds or loads its
    # engine and CUDA its kernels before the model is reported ready
    long_audio = warmup.speech_like(frontend.config.sample_rate, OPTIMUM_SECONDS)
    features = frontend(long_audio)
    audio_input = PythonModel(
        name="audio_input",
        inputs=(AUDIO, AUDIO_LENGTH),
        outputs=(Tensor("CHECKED_AUDIO", "FP32", (-1,)), Tensor("CHECKED_AUDIO_LENGTH", "INT64", (1,))),
        batching=settings.batching("audio_input"),
        settings=audio_checks,
        warmup=warmup.samples(settings, AUDIO=audio),
    )
    feature_extractor = NativeModel(
        name="feature_extractor",
        inputs=(Tensor("audio", "FP32", (-1,)), Tensor("audio_length", **GRAPH_LENGTH)),
        outputs=(Tensor("features", "FP32", (n_mels, -1)), Tensor("features_length", **GRAPH_LENGTH)),
        batching=settings.batching("feature_extractor"),
        graph=export_dir / "frontend.onnx",
        plan=plans / "feature_extractor.plan" if plans else None,
        warmup=warmup.samples(settings, audio=long_audio, audio_length=warmup.length(long_audio.shape[0])),
        **gpu.native(settings, "feature_extractor", graphs["frontend.onnx"]),
    )
    quartznet = NativeModel(
        name="quartznet",
        inputs=(Tensor("features", "FP32", (n_mels, -1)), Tensor("features_length", **GRAPH_LENGTH)),
        outputs=(Tensor("logprobs", "FP32", (-1, num_classes)), Tensor("logprobs_length", **GRAPH_LENGTH)),
        batching=settings.batching("quartznet"),
        graph=acoustic_graph,
        plan=plans / "quartznet.plan" if plans else None,
        warmup=warmup.samples(settings, features=features, features_length=warmup.length(features.shape[1])),
        **gpu.native(settings, "quartznet", graphs["model.onnx"]),
    )
    steps = [
        Step("audio_input", inputs={"AUDIO": "AUDIO", "AUDIO_LENGTH": "AUDIO_LENGTH"},
             outputs={"CHECKED_AUDIO": "audio", "CHECKED_AUDIO_LENGTH": "audio_length"}),
        Step("feature_extractor", inputs={"audio": "audio", "audio_length": "audio_length"},
             outputs={"features": "features", "features_length": "features_length"}),
        Step("quartznet", inputs={"features": "features", "features_length": "features_length"},
             outputs={"logprobs": "logprobs", "logprobs_length": "logprobs_length"}),
    ]
    return [audio_input, feature_extractor, quartznet], steps


def ctc_decoder(export_dir: Path, settings: RepositorySettings, logprobs: Tensor, logprobs_length: Tensor,
                max_frames: int, warmup_seconds: float) -> PythonModel:
    try:
        stride = frame_seconds(export_dir)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    decoding = CTCDecoderSettings(labels="labels.json", max_frames=max_frames, frame_seconds=stride,
                                  beam_size=settings.ctc_beam_size, lm_alpha=settings.lm_alpha,
                                  lm_beta=settings.lm_beta)
    decoding_files = {"labels.json": export_dir / "labels.json"}
    if settings.lexicon or settings.lm:
        try:  # the decoder the server will load: an unspellable word, a bad LM or beam size fails now, not at load
            load_decoder(export_dir / "labels.json", settings.lexicon or None, settings.ctc_beam_size,
                         settings.lm or None, settings.lm_alpha, settings.lm_beta)
        except (ImportError, OSError, ValueError) as error:
            what = f"lexicon {settings.lexicon}" if settings.lexicon else f"lm {settings.lm}"
            raise ConfigError(f"ctc_decoder: {what}: {error}") from error
    if settings.lexicon:
        decoding = replace(decoding, lexicon="lexicon.txt")
        decoding_files["lexicon.txt"] = Path(settings.lexicon)
    if settings.lm:
        decoding = replace(decoding, lm="lm" + Path(settings.lm).suffix)
        decoding_files[decoding.lm] = Path(settings.lm)
    frames = max(1, int(warmup_seconds / stride))  # the log-prob frames of the warm-up audio
    return PythonModel(name="ctc_decoder", inputs=(logprobs, logprobs_length), outputs=(TRANSCRIPT, *WORD_TENSORS),
                       batching=settings.batching("ctc_decoder"), settings=decoding, artifacts=decoding_files,
                       warmup=warmup.samples(settings, LOGPROBS=warmup.log_probs(frames, logprobs.dims[1]),
                                             LOGPROBS_LENGTH=warmup.length(frames)))


def asr_long(settings: RepositorySettings, asr_outputs: tuple[Tensor, ...], info: dict, hop_length: int) -> PythonModel:
    """Recordings up to ``max_long_audio_seconds``, each in overlapping windows sent to asr (BLS)."""
    window, overlap = long_windows(settings)
    if settings.long_windows_in_flight < 1:
        raise ConfigError("asr_long: long_windows_in_flight must be at least 1")
    if settings.max_long_audio_seconds < settings.max_audio_seconds:
        raise ConfigError(f"asr_long: max_long_audio_seconds {settings.max_long_audio_seconds:g} is below "
                          f"asr's max_audio_seconds {settings.max_audio_seconds:g}")
    return PythonModel(
        name="asr_long",
        inputs=(AUDIO, AUDIO_LENGTH),
        outputs=asr_outputs,
        batching=settings.batching("asr_long"),
        settings=AsrLongSettings(sample_rate=int(info["sample_rate"]), min_samples=hop_length,
                                 max_long_audio_seconds=settings.max_long_audio_seconds, window_seconds=window,
                                 overlap_seconds=overlap, windows_in_flight=settings.long_windows_in_flight,
                                 asr_model="asr", asr_outputs=tuple(tensor.name for tensor in asr_outputs)),
    )


def long_windows(settings: RepositorySettings) -> tuple[float, float]:
    """The windows of long recordings: each one asr request, so within max_audio_seconds."""
    try:
        return window_settings(settings.max_audio_seconds, settings.long_window_seconds, settings.long_overlap_seconds)
    except ValueError as error:
        raise ConfigError(f"asr_long: {error}") from error


def asr_streaming(export_dir: Path, settings: RepositorySettings, acoustic_graph: Path,
                  decoder: PythonModel, graphs: dict) -> PythonModel:
    """Live streams through the sequence batcher: asr's export (front-end, weights) and ctc_decoder's decoding in
    one model that keeps each stream's audio."""
    for name, value in (("stream_buffer_seconds", settings.stream_buffer_seconds),
                        ("max_stream_seconds", settings.max_stream_seconds),
                        ("stream_idle_seconds", settings.stream_idle_seconds),
                        ("stream_beam_size", settings.stream_beam_size)):
        if value <= 0:
            raise ConfigError(f"asr_streaming: {name} must be positive, got {value:g}")
    if settings.stream_lookahead_seconds < 0:
        raise ConfigError(f"asr_streaming: stream_lookahead_seconds must be 0 or more, got "
                          f"{settings.stream_lookahead_seconds:g}")
    batching = settings.batching("asr_streaming")
    window, overlap = long_windows(settings)
    decoding = {item.name: getattr(decoder.settings, item.name) for item in fields(Decoding)}
    return PythonModel(
        name="asr_streaming",
        inputs=(AUDIO,),
        outputs=(TRANSCRIPT, *WORD_TENSORS),
        batching=Batching(batching.max_batch_size, instance_count=batching.instance_count),
        sequence_batching=SequenceBatching(
            idle_us=int(settings.stream_idle_seconds * 1e6), max_candidate_sequences=settings.max_streams,
            max_queue_delay_us=settings.max_queue_delay_us, preferred_batch_sizes=settings.preferred_batch_sizes),
        settings=AsrStreamingSettings(
            intra_op_threads=settings.stream_onnx_threads, precision=settings.precision, **decoding,
            buffer_seconds=settings.stream_buffer_seconds, lookahead_seconds=settings.stream_lookahead_seconds,
            partial_beam_size=settings.stream_beam_size, partials=settings.stream_partials,
            max_stream_seconds=settings.max_stream_seconds, idle_seconds=settings.stream_idle_seconds,
            max_audio_seconds=settings.max_audio_seconds, window_seconds=window, overlap_seconds=overlap),
        parameters=gpu.python_parameters(settings, "asr_streaming", graphs),
        # asr's export as ASRPipeline.from_export reads it, and the decoder's word list or LM
        artifacts={**{name: export_dir / name for name in ("frontend.onnx", "frontend.npz", "export.json")},
                   "model.onnx": acoustic_graph, **decoder.artifacts},
        device=settings.network_device,
    )

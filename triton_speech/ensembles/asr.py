"""The ASR models and the ``asr`` ensemble: audio -> features -> QuartzNet -> CTC decoding -> text."""

from __future__ import annotations

from pathlib import Path

from triton_speech.ensembles import punctuation
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.ensembles.spec import (
    Batching,
    ConfigError,
    Ensemble,
    PythonModel,
    SequenceBatching,
    Step,
    Tensor,
    read_export,
)
from triton_speech.runtime.asr.acoustic import frame_seconds
from triton_speech.runtime.asr.ctc import load_decoder
from triton_speech.runtime.asr.features import MelFrontend
from triton_speech.runtime.asr.longform import window_settings
from triton_speech.runtime.asr.words import WORD_CONFIDENCE, WORD_END_S, WORD_START_S, WORDS

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


def models(export_dir: Path, settings: RepositorySettings,
           punctuator_export: Path | None = None) -> list[PythonModel | Ensemble]:
    """feature_extractor, quartznet, ctc_decoder (+ punctuator), the asr ensemble chaining them, asr_long
    (recordings of any length, in windows through asr) and asr_streaming (live streams)."""
    export_dir = Path(export_dir)
    info = read_export(export_dir)
    n_mels, num_classes = int(info["n_mels"]), int(info["num_classes"])
    features = Tensor("FEATURES", "FP32", (n_mels, -1))
    features_length = Tensor("FEATURES_LENGTH", "INT64", (1,))
    logprobs = Tensor("LOGPROBS", "FP32", (-1, num_classes))
    logprobs_length = Tensor("LOGPROBS_LENGTH", "INT64", (1,))
    # Frames of the longest audio asr takes: quartznet and ctc_decoder refuse longer inputs sent to them directly.
    frontend = MelFrontend.load(export_dir / "frontend.npz")
    max_frames = frontend.num_frames(int(settings.max_audio_seconds * int(info["sample_rate"])))

    feature_extractor = PythonModel(
        name="feature_extractor",
        inputs=(AUDIO, AUDIO_LENGTH),
        outputs=(features, features_length),
        batching=settings.batching("feature_extractor"),
        parameters={
            "frontend": "frontend.npz",
            "sample_rate": str(info["sample_rate"]),
            "max_audio_seconds": str(settings.max_audio_seconds),
        },
        artifacts={"frontend.npz": export_dir / "frontend.npz"},
    )
    quartznet = PythonModel(
        name="quartznet",
        inputs=(features, features_length),
        outputs=(logprobs, logprobs_length),
        batching=settings.batching("quartznet"),
        parameters={"onnx_model": "model.onnx", "intra_op_threads": str(settings.onnx_threads),
                    "max_frames": str(max_frames)},
        # export.json travels with the weights: where they came from and the parity measured.
        artifacts={"model.onnx": export_dir / "model.onnx", "export.json": export_dir / "export.json"},
    )
    try:
        stride = frame_seconds(export_dir)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    decoding = {"labels": "labels.json", "max_frames": str(max_frames), "frame_seconds": repr(stride)}
    decoding_files = {"labels.json": export_dir / "labels.json"}
    if settings.lexicon:
        try:  # the decoder the server will load: an unspellable word or a bad beam size fails now, not at load
            load_decoder(export_dir / "labels.json", settings.lexicon, settings.ctc_beam_size)
        except (OSError, ValueError) as error:
            raise ConfigError(f"ctc_decoder: lexicon {settings.lexicon}: {error}") from error
        decoding.update(lexicon="lexicon.txt", beam_size=str(settings.ctc_beam_size))
        decoding_files["lexicon.txt"] = Path(settings.lexicon)
    ctc_decoder = PythonModel(
        name="ctc_decoder",
        inputs=(logprobs, logprobs_length),
        outputs=(TRANSCRIPT, *WORD_TENSORS),
        batching=settings.batching("ctc_decoder"),
        parameters=decoding,
        artifacts=decoding_files,
    )
    steps = [
        Step(
            "feature_extractor",
            inputs={"AUDIO": "AUDIO", "AUDIO_LENGTH": "AUDIO_LENGTH"},
            outputs={"FEATURES": "features", "FEATURES_LENGTH": "features_length"},
        ),
        Step(
            "quartznet",
            inputs={"FEATURES": "features", "FEATURES_LENGTH": "features_length"},
            outputs={"LOGPROBS": "logprobs", "LOGPROBS_LENGTH": "logprobs_length"},
        ),
    ]
    described = [feature_extractor, quartznet, ctc_decoder]
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
        described.append(punctuation.punctuator(punctuator_export, settings))
        outputs = (TRANSCRIPT, RAW_TRANSCRIPT, *WORD_TENSORS)
    asr = Ensemble(
        name="asr",
        inputs=(AUDIO, AUDIO_LENGTH),
        outputs=outputs,
        max_batch_size=settings.max_batch_size,
        steps=tuple(steps),
    )
    return described + [asr, asr_long(settings, outputs, info, frontend.config.hop_length),
                        asr_streaming(settings, quartznet, ctc_decoder)]


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
        parameters={
            "sample_rate": str(info["sample_rate"]),
            "min_samples": str(hop_length),
            "max_long_audio_seconds": str(settings.max_long_audio_seconds),
            "window_seconds": str(window),
            "overlap_seconds": str(overlap),
            "windows_in_flight": str(settings.long_windows_in_flight),
            "asr_model": "asr",
            "asr_outputs": ",".join(tensor.name for tensor in asr_outputs),
        },
    )


def long_windows(settings: RepositorySettings) -> tuple[float, float]:
    """The windows of long recordings: each one asr request, so within max_audio_seconds."""
    try:
        return window_settings(settings.max_audio_seconds, settings.long_window_seconds, settings.long_overlap_seconds)
    except ValueError as error:
        raise ConfigError(f"asr_long: {error}") from error


def asr_streaming(settings: RepositorySettings, quartznet: PythonModel, ctc_decoder: PythonModel) -> PythonModel:
    """Live streams through the sequence batcher, with quartznet's weights and ctc_decoder's decoding."""
    for name, value in (("stream_buffer_seconds", settings.stream_buffer_seconds),
                        ("max_stream_seconds", settings.max_stream_seconds),
                        ("stream_idle_seconds", settings.stream_idle_seconds)):
        if value <= 0:
            raise ConfigError(f"asr_streaming: {name} must be positive, got {value:g}")
    batching = settings.batching("asr_streaming")
    return PythonModel(
        name="asr_streaming",
        inputs=(AUDIO,),
        outputs=(TRANSCRIPT, *WORD_TENSORS),
        batching=Batching(batching.max_batch_size, instance_count=batching.instance_count),
        sequence_batching=SequenceBatching(
            idle_us=int(settings.stream_idle_seconds * 1e6), max_candidate_sequences=settings.max_streams,
            max_queue_delay_us=settings.max_queue_delay_us, preferred_batch_sizes=settings.preferred_batch_sizes),
        parameters={
            "intra_op_threads": quartznet.parameters["intra_op_threads"],
            **{key: ctc_decoder.parameters[key] for key in ("lexicon", "beam_size") if key in ctc_decoder.parameters},
            "buffer_seconds": str(settings.stream_buffer_seconds),
            "max_stream_seconds": str(settings.max_stream_seconds),
            "idle_seconds": str(settings.stream_idle_seconds),
            "max_audio_seconds": str(settings.max_audio_seconds),
            **dict(zip(("window_seconds", "overlap_seconds"), map(str, long_windows(settings)))),
        },
        # asr's export, as ASRPipeline.from_export reads it, and the lexicon
        artifacts={"frontend.npz": quartznet.artifacts["model.onnx"].parent / "frontend.npz",
                   **quartznet.artifacts, **ctc_decoder.artifacts},
    )

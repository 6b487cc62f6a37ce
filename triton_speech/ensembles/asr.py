"""The ASR models and the ``asr`` ensemble: audio -> features -> QuartzNet -> CTC decoding -> text."""

from __future__ import annotations

from pathlib import Path

from triton_speech.ensembles import punctuation
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.ensembles.spec import ConfigError, Ensemble, PythonModel, Step, Tensor, read_export
from triton_speech.runtime.asr.ctc import load_decoder
from triton_speech.runtime.asr.features import MelFrontend

AUDIO = Tensor("AUDIO", "FP32", (-1,))
# Optional: a client that sends a padded batch [B, N] says how many samples of each row are audio.
AUDIO_LENGTH = Tensor("AUDIO_LENGTH", "INT32", (1,), optional=True)
TRANSCRIPT = Tensor("TRANSCRIPT", "BYTES", (1,))
# With a punctuator: TRANSCRIPT is punctuated and capitalized, RAW_TRANSCRIPT is the CTC decoder's text.
RAW_TRANSCRIPT = Tensor("RAW_TRANSCRIPT", "BYTES", (1,))


def models(export_dir: Path, settings: RepositorySettings,
           punctuator_export: Path | None = None) -> list[PythonModel | Ensemble]:
    """feature_extractor, quartznet, ctc_decoder (+ punctuator) and the asr ensemble chaining them."""
    export_dir = Path(export_dir)
    info = read_export(export_dir)
    n_mels, num_classes = int(info["n_mels"]), int(info["num_classes"])
    features = Tensor("FEATURES", "FP32", (n_mels, -1))
    features_length = Tensor("FEATURES_LENGTH", "INT64", (1,))
    logprobs = Tensor("LOGPROBS", "FP32", (-1, num_classes))
    logprobs_length = Tensor("LOGPROBS_LENGTH", "INT64", (1,))
    # Frames of the longest audio asr takes: quartznet and ctc_decoder refuse longer inputs sent to them directly.
    max_frames = MelFrontend.load(export_dir / "frontend.npz").num_frames(
        int(settings.max_audio_seconds * int(info["sample_rate"])))

    feature_extractor = PythonModel(
        name="feature_extractor",
        inputs=(AUDIO, AUDIO_LENGTH),
        outputs=(features, features_length),
        batching=settings.batching("feature_extractor"),
        parameters={
            "intra_op_threads": str(settings.onnx_threads),
            "sample_rate": str(info["sample_rate"]),
            "max_audio_seconds": str(settings.max_audio_seconds),
        },
        artifacts={name: export_dir / name for name in ("frontend.onnx", "frontend.npz")},
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
    decoding = {"labels": "labels.json", "max_frames": str(max_frames)}
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
        outputs=(TRANSCRIPT,),
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
    if punctuator_export is None:
        steps.append(Step("ctc_decoder", inputs={"LOGPROBS": "logprobs", "LOGPROBS_LENGTH": "logprobs_length"},
                          outputs={"TRANSCRIPT": "TRANSCRIPT"}))
        outputs = (TRANSCRIPT,)
    else:
        steps.append(Step("ctc_decoder", inputs={"LOGPROBS": "logprobs", "LOGPROBS_LENGTH": "logprobs_length"},
                          outputs={"TRANSCRIPT": "raw_transcript"}))
        steps.append(Step("punctuator", inputs={"TEXT": "raw_transcript"},
                          outputs={"PUNCTUATED_TEXT": "TRANSCRIPT", "UNPUNCTUATED_TEXT": "RAW_TRANSCRIPT"}))
        described.append(punctuation.punctuator(punctuator_export, settings))
        outputs = (TRANSCRIPT, RAW_TRANSCRIPT)
    asr = Ensemble(
        name="asr",
        inputs=(AUDIO, AUDIO_LENGTH),
        outputs=outputs,
        max_batch_size=settings.max_batch_size,
        steps=tuple(steps),
    )
    return described + [asr]

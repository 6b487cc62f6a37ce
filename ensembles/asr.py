"""The ASR models and the ``asr`` ensemble: audio -> features -> QuartzNet -> greedy CTC -> text."""

from __future__ import annotations

import json
from pathlib import Path

from ensembles.spec import Ensemble, PythonModel, Step, Tensor
from ensembles.settings import RepositorySettings

AUDIO = Tensor("AUDIO", "FP32", (-1,))
# Optional: a client that sends a padded batch [B, N] says how many samples of each row are audio.
AUDIO_LENGTH = Tensor("AUDIO_LENGTH", "INT32", (1,), optional=True)
TRANSCRIPT = Tensor("TRANSCRIPT", "BYTES", (1,))


def read_export(export_dir: Path, model: str = "quartznet") -> dict:
    """The metadata `python -m export MODEL` writes beside its artifacts."""
    info_path = Path(export_dir) / "export.json"
    if not info_path.exists():
        raise FileNotFoundError(f"{info_path} not found: run `python -m export {model}` (or `make export`)")
    info = json.loads(info_path.read_text())
    if info.get("model") != model:
        raise FileNotFoundError(f"{info_path} describes {info.get('model')!r}, not {model}")
    return info


def models(export_dir: Path, settings: RepositorySettings) -> list[PythonModel | Ensemble]:
    export_dir = Path(export_dir)
    info = read_export(export_dir)
    n_mels, num_classes = int(info["n_mels"]), int(info["num_classes"])
    features = Tensor("FEATURES", "FP32", (n_mels, -1))
    features_length = Tensor("FEATURES_LENGTH", "INT64", (1,))
    logprobs = Tensor("LOGPROBS", "FP32", (-1, num_classes))
    logprobs_length = Tensor("LOGPROBS_LENGTH", "INT64", (1,))

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
        parameters={"onnx_model": "model.onnx", "intra_op_threads": str(settings.onnx_threads)},
        # export.json travels with the weights: where they came from and the parity measured.
        artifacts={"model.onnx": export_dir / "model.onnx", "export.json": export_dir / "export.json"},
    )
    ctc_decoder = PythonModel(
        name="ctc_decoder",
        inputs=(logprobs, logprobs_length),
        outputs=(TRANSCRIPT,),
        batching=settings.batching("ctc_decoder"),
        parameters={"labels": "labels.json"},
        artifacts={"labels.json": export_dir / "labels.json"},
    )
    asr = Ensemble(
        name="asr",
        inputs=(AUDIO, AUDIO_LENGTH),
        outputs=(TRANSCRIPT,),
        max_batch_size=settings.max_batch_size,
        steps=(
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
            Step(
                "ctc_decoder",
                inputs={"LOGPROBS": "logprobs", "LOGPROBS_LENGTH": "logprobs_length"},
                outputs={"TRANSCRIPT": "TRANSCRIPT"},
            ),
        ),
    )
    return [feature_extractor, quartznet, ctc_decoder, asr]

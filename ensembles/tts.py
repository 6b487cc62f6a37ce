"""The TTS models and the ``tts`` ensemble: text -> symbol ids -> Tacotron2 mel -> WaveGlow audio (22050 Hz)."""

from __future__ import annotations

from pathlib import Path

from ensembles.settings import RepositorySettings
from ensembles.spec import Ensemble, PythonModel, Step, Tensor, read_export

TEXT = Tensor("TEXT", "BYTES", (1,))
# Optional per request: the seed of the prenet dropout and WaveGlow noise (same seed, same audio),
# WaveGlow's sigma and the denoiser strength (defaults are builder settings).
SEED = Tensor("SEED", "INT64", (1,), optional=True)
SIGMA = Tensor("SIGMA", "FP32", (1,), optional=True)
DENOISER_STRENGTH = Tensor("DENOISER_STRENGTH", "FP32", (1,), optional=True)
AUDIO = Tensor("AUDIO", "FP32", (-1,))
AUDIO_LENGTH = Tensor("AUDIO_LENGTH", "INT64", (1,))
STEP_LIMIT_REACHED = Tensor("STEP_LIMIT_REACHED", "BOOL", (1,))
SYMBOL_IDS = Tensor("SYMBOL_IDS", "INT64", (-1,))
SENTENCE_LENGTHS = Tensor("SENTENCE_LENGTHS", "INT64", (-1,))
MEL_LENGTH = Tensor("MEL_LENGTH", "INT64", (1,))


def models(tacotron2_export: Path, waveglow_export: Path, settings: RepositorySettings) -> list[PythonModel | Ensemble]:
    tacotron2_export, waveglow_export = Path(tacotron2_export), Path(waveglow_export)
    tacotron2_info = read_export(tacotron2_export, "tacotron2")
    read_export(waveglow_export, "waveglow")
    mel = Tensor("MEL", "FP32", (int(tacotron2_info["n_mel_channels"]), -1))

    text_normalizer = PythonModel(
        name="text_normalizer",
        inputs=(TEXT,),
        outputs=(SYMBOL_IDS, SENTENCE_LENGTHS),
        batching=settings.batching("text_normalizer"),
        parameters={"max_text_chars": settings.max_text_chars, "max_sentence_chars": settings.max_sentence_chars},
    )
    tacotron2 = PythonModel(
        name="tacotron2",
        inputs=(SYMBOL_IDS, SENTENCE_LENGTHS, SEED),
        outputs=(mel, MEL_LENGTH, STEP_LIMIT_REACHED),
        batching=settings.batching("tacotron2"),
        parameters={
            "gate_threshold": settings.gate_threshold,
            "max_decoder_steps": settings.max_decoder_steps,
            "intra_op_threads": settings.onnx_threads,
        },
        artifacts={name: tacotron2_export / name
                   for name in ("encoder.onnx", "decoder_step.onnx", "postnet.onnx", "export.json")},
    )
    waveglow = PythonModel(
        name="waveglow",
        inputs=(mel, MEL_LENGTH, SEED, SIGMA, DENOISER_STRENGTH),
        outputs=(AUDIO, AUDIO_LENGTH),
        batching=settings.batching("waveglow"),
        parameters={
            "onnx_model": "waveglow.onnx",
            "sigma": settings.sigma,
            "denoiser_strength": settings.denoiser_strength,
            "intra_op_threads": settings.onnx_threads,
        },
        artifacts={name: waveglow_export / name for name in ("waveglow.onnx", "export.json")},
    )
    tts = Ensemble(
        name="tts",
        inputs=(TEXT, SEED, SIGMA, DENOISER_STRENGTH),
        outputs=(AUDIO, AUDIO_LENGTH, STEP_LIMIT_REACHED),
        max_batch_size=settings.max_batch_size,
        steps=(
            Step("text_normalizer", inputs={"TEXT": "TEXT"},
                 outputs={"SYMBOL_IDS": "symbol_ids", "SENTENCE_LENGTHS": "sentence_lengths"}),
            Step("tacotron2", inputs={"SYMBOL_IDS": "symbol_ids", "SENTENCE_LENGTHS": "sentence_lengths", "SEED": "SEED"},
                 outputs={"MEL": "mel", "MEL_LENGTH": "mel_length", "STEP_LIMIT_REACHED": "STEP_LIMIT_REACHED"}),
            Step("waveglow",
                 inputs={"MEL": "mel", "MEL_LENGTH": "mel_length", "SEED": "SEED", "SIGMA": "SIGMA",
                         "DENOISER_STRENGTH": "DENOISER_STRENGTH"},
                 outputs={"AUDIO": "AUDIO", "AUDIO_LENGTH": "AUDIO_LENGTH"}),
        ),
    )
    return [text_normalizer, tacotron2, waveglow, tts]

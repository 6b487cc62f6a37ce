"""The ``punctuator`` model: text -> punctuated, capitalized text (BERT token classification)."""

from __future__ import annotations

from pathlib import Path

from triton_speech.ensembles import warmup
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.ensembles.spec import PythonModel, Tensor, read_export

TEXT = Tensor("TEXT", "BYTES", (1,))
PUNCTUATED_TEXT = Tensor("PUNCTUATED_TEXT", "BYTES", (1,))
# The text as received. An ensemble takes its raw transcript from here: in Triton 2.51 an ensemble output
# that a later step also reads deadlocks requests that ask for only some outputs.
UNPUNCTUATED_TEXT = Tensor("UNPUNCTUATED_TEXT", "BYTES", (1,))


def punctuator(export_dir: Path, settings: RepositorySettings) -> PythonModel:
    export_dir = Path(export_dir)
    read_export(export_dir, "punctuator")
    return PythonModel(
        name="punctuator",
        inputs=(TEXT,),
        outputs=(PUNCTUATED_TEXT, UNPUNCTUATED_TEXT),
        batching=settings.batching("punctuator"),
        parameters={"max_text_chars": settings.max_punctuation_chars, "intra_op_threads": settings.onnx_threads},
        artifacts={name: export_dir / name for name in ("model.onnx", "vocab.txt", "labels.json", "export.json")},
        warmup=warmup.samples(settings, TEXT=warmup.text(warmup.WARMUP_TEXT.lower().strip("?").replace(",", ""))),
    )

"""Lower-precision graphs derived from an FP32 export, for ``python -m ensembles --precision fp16|int8``.

* FP16 (GPUs): ``onnxconverter-common``'s float16 conversion with FP32 inputs and outputs kept, so a model's tensors
  in the repository do not change type. Cast nodes stay FP32 (the converter retypes their outputs but not their
  target type). Used for QuartzNet, the punctuator's BERT and WaveGlow; the front-end's STFT and Tacotron2's
  autoregressive loop (whose rounding errors compound over thousands of steps) stay FP32.
* INT8 (CPUs): ONNX Runtime's static quantization of QuartzNet (QDQ, per-channel int8 weights, uint8 activations,
  min-max ranges) calibrated on the project's own speech: template sentences spoken by espeak-ng, none of them from
  the test sets. The first convolution (raw features) and the classifier (log-probs) stay FP32: quantizing them
  cost most of the accuracy. A quantized graph is refused when its greedy transcripts of other template sentences
  (the check set) differ from the FP32 graph's by more than ``INT8_DRIFT_BOUND`` of their words: whatever the
  weights, a model served in INT8 then says at most that share of words otherwise than in FP32.

A derived graph is written next to its source (``model.int8.onnx``, ``model.fp16.onnx``) with a record of the
source's SHA-256; it is made again when the source changes.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

from triton_speech.corpus.calibration import spoken_sentences

PRECISIONS = ("fp32", "fp16", "int8")
# Which exported graphs each precision changes (the others are served in FP32).
DERIVED_GRAPHS = {
    "fp16": {"quartznet": ["model.onnx"], "punctuator": ["model.onnx"], "waveglow": ["waveglow.onnx"]},
    "int8": {"quartznet": ["model.onnx"]},
}
CALIBRATION_UTTERANCES = 48
CALIBRATION_SEED = 2024  # template sentences of this seed; the test sets hold none (they are checked)
# The drift check: word error rate of the INT8 graph's greedy transcripts against the FP32 graph's on the check set.
# With a bound of 1%, a model's WER rises by at most about one point in INT8 (the triangle inequality of edit
# distances), the most the project accepts from quantization.
INT8_DRIFT_BOUND = 0.01
CHECK_UTTERANCES = 32
CHECK_SEED = 2025  # none of the calibration sentences, nor of a test set (tested)


class PrecisionDriftError(ValueError):
    """A lower-precision graph whose transcripts differ too much from the FP32 graph's."""


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def derived_graph(source: Path, precision: str, export_dir: Path | None = None) -> Path:
    """The ``precision`` version of the FP32 graph ``source`` (made now unless an up-to-date one is there)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: one of {', '.join(PRECISIONS)}")
    source = Path(source)
    if precision == "fp32":
        return source
    target = source.with_name(f"{source.stem}.{precision}.onnx")
    record = target.with_suffix(".json")
    if target.exists() and record.exists():
        made = json.loads(record.read_text())
        # (an INT8 graph made before the drift check is checked now)
        if made.get("source_sha256") == sha256(source) and (precision != "int8" or "drift" in made):
            return target
    if precision == "fp16":
        to_fp16(source, target)
        details = {}
    else:
        export_dir = Path(export_dir or source.parent)
        calibration = calibration_features(export_dir)
        to_int8(source, target, calibration)
        drift = check_drift(source, target, export_dir)
        details = {"calibration": f"{len(calibration)} template sentences (seed {CALIBRATION_SEED}) by espeak-ng",
                   "drift": drift}
    record.write_text(json.dumps({"source": source.name, "source_sha256": sha256(source), "precision": precision,
                                  **details}, indent=1))
    return target


def to_fp16(source: Path, target: Path) -> None:
    import onnx
    from onnxconverter_common import float16

    model = float16.convert_float_to_float16(onnx.load(str(source)), keep_io_types=True,
                                             op_block_list=[*float16.DEFAULT_OP_BLOCK_LIST, "Cast"])
    onnx.save(model, str(target))


def calibration_features(export_dir: Path, count: int = CALIBRATION_UTTERANCES,
                         seed: int = CALIBRATION_SEED) -> list[np.ndarray]:
    """Features of template sentences spoken by espeak-ng (the export's own front-end), for INT8 calibration (and,
    of another seed, the drift check)."""
    from triton_speech.runtime.asr.features import OnnxMelFrontend

    frontend = OnnxMelFrontend.load(export_dir)
    return frontend(spoken_sentences(count, seed, frontend.config.sample_rate))


def transcript_drift(source: Path, target: Path, export_dir: Path, features: list[np.ndarray]) -> dict:
    """Greedy transcripts of ``features`` by the graphs ``source`` (FP32) and ``target``: the words of the FP32
    transcripts and the word edits that turn them into the target's (their word error rate against FP32)."""
    from rapidfuzz.distance import Levenshtein

    from triton_speech.runtime.asr.acoustic import AcousticModel
    from triton_speech.runtime.asr.ctc import load_decoder

    decoder = load_decoder(Path(export_dir) / "labels.json")
    full, lower = ([decoder(logprobs).split() for logprobs in AcousticModel.load(graph)(features)]
                   for graph in (source, target))
    words = sum(len(reference) for reference in full)
    edits = sum(Levenshtein.distance(reference, hypothesis) for reference, hypothesis in zip(full, lower))
    return {"utterances": len(features), "words": words, "word_edits": edits, "wer_vs_fp32": edits / max(1, words)}


def check_drift(source: Path, target: Path, export_dir: Path, bound: float = INT8_DRIFT_BOUND) -> dict:
    """The drift of ``target`` on the check set; a graph beyond ``bound`` is removed and refused."""
    drift = transcript_drift(source, target, export_dir, calibration_features(export_dir, CHECK_UTTERANCES,
                                                                              CHECK_SEED))
    if drift["wer_vs_fp32"] > bound:
        target.unlink(missing_ok=True)
        raise PrecisionDriftError(
            f"{target.name} refused: its greedy transcripts of {drift['utterances']} check sentences differ from "
            f"FP32's in {drift['word_edits']} of {drift['words']} words ({drift['wer_vs_fp32']:.1%} > "
            f"{bound:.0%}); serve this model with --precision fp32 (make repository PRECISION=fp32)")
    return drift


def to_int8(source: Path, target: Path, calibration: list[np.ndarray]) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Features(CalibrationDataReader):
        def __init__(self):
            self.items = iter(calibration)

        def get_next(self):
            item = next(self.items, None)
            return None if item is None else {"features": item[None],
                                              "features_length": np.array([item.shape[1]], dtype=np.int64)}

    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        convolutions = [node.name for node in onnx.load(str(prepared)).graph.node if node.op_type == "Conv"]
        quantize_static(str(prepared), str(target), Features(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                        nodes_to_exclude=[convolutions[0], convolutions[-1]])

"""Lower-precision graphs derived from an FP32 export, for ``python -m ensembles --precision fp16|int8``.

* FP16 (GPUs): ``onnxconverter-common``'s float16 conversion with FP32 inputs and outputs kept, so a model's tensors
  in the repository do not change type. Cast nodes stay FP32 (the converter retypes their outputs but not their
  target type). Used for QuartzNet, the punctuator's BERT and WaveGlow; the front-end's STFT and Tacotron2's
  autoregressive loop (whose rounding errors compound over thousands of steps) stay FP32.
* INT8 (CPUs): ONNX Runtime's static quantization of QuartzNet (QDQ, per-channel int8 weights, uint8 activations,
  min-max ranges) calibrated on the project's own speech: template sentences spoken by espeak-ng, none of them from
  the test sets. The first convolution (raw features) and the classifier (log-probs) stay FP32: quantizing them
  cost most of the accuracy.

A derived graph is written next to its source (``model.int8.onnx``, ``model.fp16.onnx``) with a record of the
source's SHA-256; it is made again when the source changes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

PRECISIONS = ("fp32", "fp16", "int8")
# Which exported graphs each precision changes (the others are served in FP32).
DERIVED_GRAPHS = {
    "fp16": {"quartznet": ["model.onnx"], "punctuator": ["model.onnx"], "waveglow": ["waveglow.onnx"]},
    "int8": {"quartznet": ["model.onnx"]},
}
CALIBRATION_UTTERANCES = 48
CALIBRATION_SEED = 2024  # template sentences of this seed; the test sets hold none (they are checked)


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
    if target.exists() and record.exists() and json.loads(record.read_text()).get("source_sha256") == sha256(source):
        return target
    if precision == "fp16":
        to_fp16(source, target)
        details = {}
    else:
        calibration = calibration_features(Path(export_dir or source.parent))
        to_int8(source, target, calibration)
        details = {"calibration": f"{len(calibration)} template sentences (seed {CALIBRATION_SEED}) by espeak-ng"}
    record.write_text(json.dumps({"source": source.name, "source_sha256": sha256(source), "precision": precision,
                                  **details}, indent=1))
    return target


def to_fp16(source: Path, target: Path) -> None:
    import onnx
    from onnxconverter_common import float16

    model = float16.convert_float_to_float16(onnx.load(str(source)), keep_io_types=True,
                                             op_block_list=[*float16.DEFAULT_OP_BLOCK_LIST, "Cast"])
    onnx.save(model, str(target))


def calibration_features(export_dir: Path, count: int = CALIBRATION_UTTERANCES) -> list[np.ndarray]:
    """Features of template sentences spoken by espeak-ng (the export's own front-end), for INT8 calibration."""
    from triton_speech.runtime.asr.features import OnnxMelFrontend
    from triton_speech.training.templates import sentences
    from triton_speech.training.voices import Voice, speak

    if shutil.which("espeak-ng") is None:
        raise RuntimeError("INT8 calibration speaks with espeak-ng: apt-get install espeak-ng (make setup does)")
    frontend = OnnxMelFrontend.load(export_dir)
    return frontend([speak(text, Voice.espeak(), frontend.config.sample_rate)
                     for text in sentences(count, seed=CALIBRATION_SEED)])


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

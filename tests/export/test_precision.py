"""Lower precision derived from an FP32 export: FP16 graphs within their stated bound of FP32 (run here, on the CPU),
INT8 calibration on speech none of the test sets holds, derived graphs remade when their source changes."""

import json
import shutil

import numpy as np
import pytest

from tests.helpers import DATA, speechlike
from triton_speech.export.precision import CALIBRATION_SEED, CALIBRATION_UTTERANCES, derived_graph, sha256
from triton_speech.runtime.asr.acoustic import AcousticModel
from triton_speech.runtime.asr.features import OnnxMelFrontend

# FP16 QuartzNet vs FP32: the decoder reads probabilities; their largest difference. (The random test model's
# probabilities are near ties, so which label is best is not a stable measure on it.)
FP16_PROBABILITY_TOLERANCE = 1e-2


@pytest.fixture(scope="module")
def own_export(quartznet_export, tmp_path_factory):
    """A copy: derived graphs are written beside their source."""
    copy = tmp_path_factory.mktemp("precision") / "quartznet"
    shutil.copytree(quartznet_export, copy)
    return copy


def test_fp16_quartznet_is_within_its_bound_of_fp32(own_export):
    features = OnnxMelFrontend.load(own_export)([speechlike(s, seed) for seed, s in enumerate((1.2, 3.1, 0.6))])
    full = AcousticModel.load(own_export / "model.onnx")(features)
    half = AcousticModel.load(derived_graph(own_export / "model.onnx", "fp16"))(features)
    assert [h.shape for h in half] == [f.shape for f in full]
    assert max(float(np.abs(np.exp(h) - np.exp(f)).max()) for h, f in zip(half, full)) <= FP16_PROBABILITY_TOLERANCE


def test_fp16_keeps_fp32_inputs_and_outputs(own_export):
    import onnx

    graph = onnx.load(str(derived_graph(own_export / "model.onnx", "fp16"))).graph
    assert [v.type.tensor_type.elem_type for v in graph.input] == [onnx.TensorProto.FLOAT, onnx.TensorProto.INT64]
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer)


def test_a_derived_graph_is_reused_until_its_source_changes(own_export):
    first = derived_graph(own_export / "model.onnx", "fp16")
    stamp = first.stat().st_mtime_ns
    assert derived_graph(own_export / "model.onnx", "fp16").stat().st_mtime_ns == stamp  # reused
    record = json.loads(first.with_suffix(".json").read_text())
    assert record["source_sha256"] == sha256(own_export / "model.onnx")
    record["source_sha256"] = "0" * 64  # as if model.onnx had been exported again
    first.with_suffix(".json").write_text(json.dumps(record))
    assert derived_graph(own_export / "model.onnx", "fp16").stat().st_mtime_ns != stamp


def test_fp32_is_the_export_itself(own_export):
    assert derived_graph(own_export / "model.onnx", "fp32") == own_export / "model.onnx"


def test_int8_calibration_speaks_no_sentence_of_a_test_set():
    from triton_speech.training.manifest import read_manifest
    from triton_speech.training.templates import DEMO_ASR_TEXT, sentences

    calibration = set(sentences(CALIBRATION_UTTERANCES, seed=CALIBRATION_SEED))
    tested = {item["text"] for item in read_manifest(DATA / "asr_heldout" / "manifest.json")} | {DEMO_ASR_TEXT}
    assert len(calibration) == CALIBRATION_UTTERANCES and not calibration & tested

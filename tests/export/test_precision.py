"""Lower precision derived from an FP32 export: FP16 graphs within their stated bound of FP32 (run here, on the CPU),
INT8 calibration on speech none of the test sets holds, derived graphs remade when their source changes."""

import json
import shutil

import numpy as np
import pytest

from tests.support.audio import speechlike
from tests.support.paths import DATA
from triton_speech.export.precision import (
    CALIBRATION_SEED,
    CALIBRATION_UTTERANCES,
    CHECK_SEED,
    CHECK_UTTERANCES,
    INT8_DRIFT_BOUND,
    PrecisionDriftError,
    check_drift,
    derived_graph,
    sha256,
)
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


def test_int8_calibration_and_check_speak_no_sentence_of_a_test_set():
    from triton_speech.corpus.manifest import read_manifest
    from triton_speech.corpus.templates import DEMO_ASR_TEXT, sentences

    calibration = set(sentences(CALIBRATION_UTTERANCES, seed=CALIBRATION_SEED))
    check = set(sentences(CHECK_UTTERANCES, seed=CHECK_SEED))
    tested = {item["text"] for item in read_manifest(DATA / "asr_heldout" / "manifest.json")} | {DEMO_ASR_TEXT}
    assert len(calibration) == CALIBRATION_UTTERANCES and not calibration & tested
    assert len(check) == CHECK_UTTERANCES and not check & tested and not check & calibration


# --- the INT8 drift check -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_export(default_quartznet_export, tmp_path_factory):
    """A copy of the default QuartzNet's export (a trained model: its transcripts say words), without the graphs
    other tests' builds derived from it (model.int8.onnx and its record), which the build would reuse."""
    copy = tmp_path_factory.mktemp("precision") / "default_quartznet"
    shutil.copytree(default_quartznet_export, copy, ignore=shutil.ignore_patterns("model.*.onnx", "model.*.json"))
    return copy


def scrambled(source, target, seed: int = 0):
    """``source`` with the classifier's output classes shuffled: a graph that says other letters (a quantization
    gone wrong)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    classifier = [node for node in model.graph.node if node.op_type == "Conv"][-1]
    for index, initializer in enumerate(model.graph.initializer):
        if initializer.name in classifier.input[1:]:
            weights = numpy_helper.to_array(initializer)
            order = np.random.default_rng(seed).permutation(weights.shape[0])
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(weights[order], initializer.name))
    onnx.save(model, str(target))
    return target


def test_the_drift_check_refuses_a_graph_whose_transcripts_drift(trained_export):
    source = trained_export / "model.onnx"
    same = trained_export / "model.same.onnx"
    shutil.copy(source, same)
    drift = check_drift(source, same, trained_export)
    assert drift["word_edits"] == 0 and drift["words"] >= 5 * CHECK_UTTERANCES  # a trained model says words
    bad = scrambled(source, trained_export / "model.bad.onnx")
    with pytest.raises(PrecisionDriftError, match=r"model.bad.onnx refused: its greedy transcripts of 32 check "
                                                   r"sentences differ from FP32's in \d+ of \d+ words"):
        check_drift(source, bad, trained_export)
    assert not bad.exists()


def test_a_drifting_int8_graph_is_never_served(trained_export, monkeypatch, tmp_path):
    """The build refuses it (ConfigError naming the way out) and leaves no graph to reuse; a good one is kept with
    its measured drift."""
    from triton_speech.ensembles.builder import Exports, build
    from triton_speech.ensembles.settings import RepositorySettings
    from triton_speech.ensembles.spec import ConfigError
    from triton_speech.export import precision

    monkeypatch.setattr(precision, "to_int8", lambda source, target, calibration: scrambled(source, target))
    with pytest.raises(ConfigError, match="quartznet: model.int8.onnx refused.*--precision fp32"):
        build(tmp_path / "repository", Exports(asr=trained_export), RepositorySettings(precision="int8"))
    assert not (trained_export / "model.int8.onnx").exists() and not (trained_export / "model.int8.json").exists()
    monkeypatch.undo()
    graph = derived_graph(trained_export / "model.onnx", "int8", trained_export)
    drift = json.loads(graph.with_suffix(".json").read_text())["drift"]
    assert drift["wer_vs_fp32"] <= INT8_DRIFT_BOUND and drift["utterances"] == CHECK_UTTERANCES

"""The punctuator export: the checkpoint's labels, vocabulary and settings; ONNX parity with PyTorch."""

import json

import numpy as np
import pytest
import torch

from tests.support.archives import CUSTOM_CAPIT, CUSTOM_PUNCT
from triton_speech.export import punctuator


@pytest.fixture(scope="module")
def custom_export(custom_punctuator_nemo, tmp_path_factory):
    output = tmp_path_factory.mktemp("export")
    info = punctuator.export_punctuator(custom_punctuator_nemo, output)
    return output, info


def test_export_writes_the_checkpoint_labels_vocabulary_and_settings(custom_punctuator, custom_export):
    output, info = custom_export
    labels = json.loads((output / "labels.json").read_text())
    assert labels == {"punct": CUSTOM_PUNCT, "capit": CUSTOM_CAPIT, "pad_label": "O"}
    assert (output / "vocab.txt").read_text().splitlines() == custom_punctuator.vocab
    assert json.loads((output / "export.json").read_text()) == info
    assert (info["max_seq_length"], info["step"], info["margin"]) == (64, 8, 16) and not info["random_weights"]
    for name in punctuator.OUTPUT_NAMES:
        record = info["parity"][name]
        assert 0 < record["onnx_vs_float64"] <= record["bound"] == max(record["float32_vs_float64"], 2.5e-5) * 4
        assert record["onnx_vs_float32"] <= 1e-4


def test_onnx_matches_pytorch_on_a_padded_batch(custom_punctuator, custom_export):
    from triton_speech.runtime.onnx import onnx_session

    output, _ = custom_export
    session = onnx_session(output / "model.onnx")
    assert [i.name for i in session.get_inputs()] == list(punctuator.INPUT_NAMES)
    assert [o.name for o in session.get_outputs()] == list(punctuator.OUTPUT_NAMES)
    lengths = (5, 40, 17, 64)
    batch = punctuator.parity_batch(len(custom_punctuator.vocab), lengths, seed=11)
    served = session.run(punctuator.OUTPUT_NAMES, dict(zip(punctuator.INPUT_NAMES, batch)))
    padded = punctuator.torch_logits(custom_punctuator.model, *batch)
    assert served[0].shape == (4, 64, len(CUSTOM_PUNCT)) and served[1].shape == (4, 64, len(CUSTOM_CAPIT))
    for row, length in enumerate(lengths):
        alone = punctuator.torch_logits(custom_punctuator.model, *(x[row : row + 1, :length] for x in batch))
        for ours, batched, single in zip(served, padded, alone):
            np.testing.assert_allclose(ours[row, :length], batched[row, :length], atol=1e-4, rtol=0)
            np.testing.assert_allclose(ours[row, :length], single[0], atol=1e-4, rtol=0)
    # Varied logits, so the comparison means something.
    assert np.ptp(served[0][0, :5].argmax(-1)) > 0 or np.ptp(served[0][1, :40].argmax(-1)) > 0


def test_export_refuses_an_onnx_graph_that_differs_from_pytorch(custom_punctuator_nemo, tmp_path, monkeypatch):
    export_onnx = punctuator.export_onnx

    def export_a_perturbed_model(model, path, **kwargs):
        bias = model.capit_classifier.mlp.layer2.bias
        with torch.no_grad():
            bias += 1e-3
            export_onnx(model, path, **kwargs)
            bias -= 1e-3

    monkeypatch.setattr(punctuator, "export_onnx", export_a_perturbed_model)
    with pytest.raises(AssertionError, match="capit_logits differs from the float64 reference"):
        punctuator.export_punctuator(custom_punctuator_nemo, tmp_path / "out")

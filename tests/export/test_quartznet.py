"""QuartzNet export: layout, .nemo loading, and ONNX parity with the masked NeMo model."""

import json

import numpy as np
import pytest
import torch

from tests.support.audio import speechlike
from tests.support.paths import DATA
from triton_speech.export import quartznet
from triton_speech.runtime.asr.acoustic import AcousticModel
from triton_speech.runtime.asr.features import MelFrontend

TOLERANCE = quartznet.PARITY_TOLERANCE
SECONDS = (2.3, 0.7, 5.1, 3.05)


nemo_alone = quartznet.nemo_alone


@pytest.fixture(scope="module")
def features(quartznet_export):
    frontend = MelFrontend.load(quartznet_export / "frontend.npz")
    return [frontend(speechlike(s, seed)) for seed, s in enumerate(SECONDS)]


def test_default_architecture_has_the_published_quartznet_15x5_layout(quartznet_model):
    published = json.loads((DATA / "quartznet15x5_nemo.json").read_text())["params"]
    ours = {name: list(tensor.shape) for name, tensor in quartznet_model.state_dict().items()}
    assert ours == {name: list(shape) for name, shape in published.items()}


def test_onnx_matches_nemo_for_a_single_utterance(quartznet_model, quartznet_export, features):
    acoustic = AcousticModel.load(quartznet_export / "model.onnx")
    for item in features:
        (ours,) = acoustic([item])
        np.testing.assert_allclose(ours, nemo_alone(quartznet_model, item), atol=TOLERANCE, rtol=0)


def test_onnx_ragged_batch_gives_each_utterance_its_alone_logprobs(quartznet_model, quartznet_export, features):
    batch = AcousticModel.load(quartznet_export / "model.onnx")(features)
    for item, ours in zip(features, batch):
        np.testing.assert_allclose(ours, nemo_alone(quartznet_model, item), atol=TOLERANCE, rtol=0)


def test_nemo_own_export_is_not_length_aware(quartznet_model, features):
    """Why the export exists: without masks, padding changes a short utterance's log-probs."""
    from triton_speech.runtime.batching import pad_batch

    unmasked = quartznet.MaskedCTC(quartznet_model)
    for module in unmasked.blocks.modules():
        if hasattr(module, "use_mask"):
            module.use_mask = False
    batch, lengths = pad_batch(features, axis=-1)
    with torch.no_grad():
        logprobs, out_lengths = unmasked(torch.from_numpy(batch), torch.from_numpy(lengths))
    short = int(np.argmin(lengths))
    alone = nemo_alone(quartznet_model, features[short])
    assert np.abs(logprobs[short, : int(out_lengths[short])].numpy() - alone).max() > 100 * TOLERANCE
    for module in unmasked.blocks.modules():
        if hasattr(module, "use_mask"):
            module.use_mask = True


def test_export_from_a_nemo_file_reads_its_vocabulary_and_front_end(tmp_path):
    labels = [" ", "e", "t", "a", "o", "n", "-"]  # not the English default: must come from the checkpoint
    config = quartznet.quartznet_config(
        repeat=1, blocks_per_group=1, group_filters=(32, 32), group_kernels=(5, 7),
        prologue=(32, 11), epilogue=((48, 5, 2, True), (64, 1, 1, False)), n_mels=40, labels=labels,
    )
    model = quartznet.random_model(config, seed=3, calibration_batches=1)
    nemo_path = tmp_path / "small.nemo"
    model.save_to(str(nemo_path))

    info = quartznet.export(nemo_path, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "labels.json").read_text()) == {"labels": labels, "blank_id": len(labels)}
    assert info["num_classes"] == len(labels) + 1 and info["n_mels"] == 40 and not info["random_weights"]
    assert MelFrontend.load(tmp_path / "out" / "frontend.npz").config.n_mels == 40
    logprobs = info["parity"]["logprobs"]
    assert logprobs["onnx_vs_float64"] <= logprobs["bound"] and logprobs["greedy"]["frames_beyond_ties"] == 0
    assert logprobs["onnx_vs_float32"] <= TOLERANCE  # a shallow model: float32 itself is close
    assert info["parity"]["frontend_max_abs"] <= TOLERANCE
    # The parity check can fail: the same graph against another model's weights is far outside the bound
    other = quartznet.random_model(config, seed=4, calibration_batches=1)
    frontend = MelFrontend.load(tmp_path / "out" / "frontend.npz")
    audio = quartznet.parity_audio(frontend.config.sample_rate)
    result = quartznet.check_onnx(other, tmp_path / "out" / "model.onnx", [frontend(a) for a in audio])
    assert not result.passed and result.parity.onnx > 100 * result.parity.bound
    with pytest.raises(AssertionError, match="float64 reference"):
        result.check()


# --- the float64 rule on a model whose float32 run is far from exact ----------------------------------------------


def test_a_batchnorm_calibrated_full_scale_15x5_is_exported(calibrated_quartznet_export):
    """A checkpoint like a trained one (BatchNorm statistics from speech, residual branches at full scale): float32
    rounding alone is 1e-3..1e-2 in log-prob, far over a fixed 1e-4; the graph is as close to float64 as NeMo's own
    float32 run, and its greedy paths are float64's (but at near ties)."""
    output, info = calibrated_quartznet_export
    logprobs = info["parity"]["logprobs"]
    assert logprobs["float32_vs_float64"] > 10 * TOLERANCE and logprobs["onnx_vs_float32"] > 10 * TOLERANCE
    assert logprobs["onnx_vs_float64"] <= logprobs["bound"] == pytest.approx(
        logprobs["factor"] * max(logprobs["float32_vs_float64"], logprobs["floor"]))
    assert logprobs["greedy"]["frames_beyond_ties"] == 0 and logprobs["greedy"]["frames"] > 300
    assert json.loads((output / "export.json").read_text()) == info


def test_the_calibrated_model_gives_varied_output(calibrated_quartznet_export):
    """The check compares something: the calibrated model's greedy path visits many classes."""
    output, _ = calibrated_quartznet_export
    frontend = MelFrontend.load(output / "frontend.npz")
    (logprobs,) = AcousticModel.load(output / "model.onnx")([frontend(speechlike(3.0, 7))])
    assert len(set(logprobs.argmax(axis=1).tolist())) >= 5


def test_a_graph_without_length_masks_is_refused(calibrated_quartznet, monkeypatch, tmp_path):
    """A wrong graph of the deep model still fails: masks dropped, padding leaks into shorter utterances."""
    model, _ = calibrated_quartznet
    monkeypatch.setattr(quartznet, "_mask_from_lengths", lambda self, x, lens: x)
    quartznet.export_onnx(model, tmp_path / "model.onnx")
    frontend = quartznet.frontend_from_model(model)
    ragged = [frontend(speechlike(seconds, seed)) for seed, seconds in enumerate((1.6, 0.7))]
    result = quartznet.check_onnx(model, tmp_path / "model.onnx", ragged)
    assert not result.passed and result.parity.onnx > 10 * result.parity.bound
    with pytest.raises(AssertionError, match="float64 reference"):
        result.check()


def test_the_deep_model_against_other_weights_is_refused(calibrated_quartznet, quartznet_export):
    """The export of other 15x5 weights (the default random model) checked against the calibrated model."""
    model, _ = calibrated_quartznet
    frontend = quartznet.frontend_from_model(model)
    result = quartznet.check_onnx(model, quartznet_export / "model.onnx", [frontend(speechlike(1.2, 3))])
    assert not result.passed and result.parity.onnx > 100 * result.parity.bound
    assert result.frames_beyond_ties > 0


def test_random_weights_give_varied_output(quartznet_export, features):
    """Calibrated BatchNorm: the random model must not emit one label everywhere."""
    (logprobs,) = AcousticModel.load(quartznet_export / "model.onnx")([features[2]])
    assert len(set(logprobs.argmax(axis=1).tolist())) >= 5


def test_the_export_records_the_subsampling_the_model_applies(quartznet_export, features):
    """export.json's factor is what the graph does: feature frames per log-prob frame (QuartzNet: 2, so 20 ms)."""
    from triton_speech.runtime.asr.acoustic import frame_seconds

    factor = json.loads((quartznet_export / "export.json").read_text())["subsampling_factor"]
    assert factor == 2 and frame_seconds(quartznet_export) == pytest.approx(0.02)
    for item, logprobs in zip(features, AcousticModel.load(quartznet_export / "model.onnx")(features)):
        assert logprobs.shape[0] == -(-item.shape[1] // factor)

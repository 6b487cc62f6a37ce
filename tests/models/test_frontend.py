"""The ONNX mel front-end (frontend.onnx, exported from ``MelGraph``) against the numpy reference (``MelFrontend``)
and NeMo's preprocessor: alone, in ragged batches, at every length around a frame boundary, with any padding."""

import numpy as np
import pytest
import torch

from tests.support.audio import speechlike
from triton_speech.export import quartznet
from triton_speech.runtime.asr.features import MelFrontend, OnnxMelFrontend

TOLERANCE = quartznet.PARITY_TOLERANCE
# Normalizing two frames divides by their difference, which amplifies float32 rounding (the numpy reference and
# NeMo differ as much, tests/runtime/asr/test_features.py).
TWO_FRAME_TOLERANCE = 1e-3
# The same row batched with wider rows: ONNX Runtime's convolution over a wider input rounds differently.
BATCHED_TOLERANCE = 2e-5


@pytest.fixture(scope="module")
def graph(quartznet_export):
    return OnnxMelFrontend.load(quartznet_export)


@pytest.fixture(scope="module")
def reference(quartznet_export):
    return MelFrontend.load(quartznet_export / "frontend.npz")


def boundary_lengths(hop: int) -> list[int]:
    """Lengths one below, at and one above frame boundaries, from the shortest audio with a frame."""
    return [n for k in (1, 2, 3, 50, 101) for n in (k * hop - 1, k * hop, k * hop + 1) if n >= hop]


def test_every_length_near_a_frame_boundary_matches_the_reference_in_one_ragged_batch(graph, reference):
    lengths = boundary_lengths(reference.config.hop_length)
    audio = [speechlike(n / 16000, seed)[:n] for seed, n in enumerate(lengths)]
    for a, ours in zip(audio, graph(audio)):
        expected = reference(a)
        assert ours.shape == expected.shape == (64, reference.num_frames(a.shape[0]))
        bound = TWO_FRAME_TOLERANCE if ours.shape[1] == 2 else TOLERANCE
        np.testing.assert_allclose(ours, expected, atol=bound, rtol=0)


def test_alone_equals_batched(graph):
    audio = [speechlike(s, seed) for seed, s in enumerate((0.3, 2.0, 1.1))]
    for alone, batched in zip([graph([a])[0] for a in audio], graph(audio)):
        np.testing.assert_allclose(batched, alone, atol=BATCHED_TOLERANCE, rtol=0)


def test_padding_never_changes_a_rows_features(graph):
    """What lies beyond a row's length (zeros, noise, loud garbage) is masked before the STFT: bit for bit the same."""
    audio = speechlike(1.0, 3)
    results = []
    for padding in (np.zeros(4000), np.random.default_rng(0).normal(0, 1, 4000), np.full(4000, 7.0)):
        batch = np.concatenate([audio, padding]).astype(np.float32)[None]
        features, frames = graph.session.run(["features", "features_length"],
                                             {"audio": batch, "audio_length": np.array([audio.size])})
        assert int(frames[0]) == 100
        assert not features[0, :, 100:].any()  # frames beyond the length are zero
        results.append(features[0, :, :100])
    np.testing.assert_array_equal(results[1], results[0])
    np.testing.assert_array_equal(results[2], results[0])


def test_graph_matches_nemo_alone_and_in_a_ragged_batch(quartznet_model, quartznet_export):
    audio = [speechlike(s, 10 + seed) for seed, s in enumerate((1.7, 0.5, 3.2))]
    assert quartznet.check_frontend_onnx(quartznet_model, quartznet_export / "frontend.onnx", audio) <= TOLERANCE


def test_a_single_frame_utterance_is_zero_not_nan(graph):
    """One valid frame: per-feature normalization divides by (frames - 1); the graph must not give NaN."""
    (features,) = graph([speechlike(0.01, 4)])
    assert features.shape == (64, 1) and not features.any()


def test_exported_parity_is_recorded(quartznet_export):
    import json

    parity = json.loads((quartznet_export / "export.json").read_text())["parity"]
    assert 0 < parity["frontend_onnx_max_abs"] <= TOLERANCE


def test_the_graph_module_matches_the_reference_before_export(reference):
    from triton_speech.models.frontend import MelGraph

    audio = [speechlike(s, 20 + seed) for seed, s in enumerate((0.9, 0.4))]
    batch = torch.zeros(2, 14400)
    for row, a in enumerate(audio):
        batch[row, : a.size] = torch.from_numpy(a)
    with torch.no_grad():
        features, frames = MelGraph(reference)(batch, torch.tensor([a.size for a in audio]))
    for row, a in enumerate(audio):
        np.testing.assert_allclose(features[row, :, : int(frames[row])].numpy(), reference(a), atol=TOLERANCE, rtol=0)

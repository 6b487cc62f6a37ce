"""The shipped default QuartzNet through the real server (its lexicon decoding, as `make repository` serves it) on
the robustness set (tests/data/asr_robustness, python -m triton_speech.training.robustness): sentence patterns,
word orders and voices no training run used, several sentences with pauses, silence around a sentence, noise
alone, and word times against words spoken apart.

Bounds: the targets (robustness.TARGETS). A target the shipped model does not reach yet is a strict xfail (the
recorded number in defaults/quartznet_small.json, "robustness", says by how much): a model that reaches it turns the
xfail into a failure until its mark is removed."""

from __future__ import annotations

import json

import pytest

from tests.support.paths import DATA, DEFAULTS
from triton_speech.client import ASRClient
from triton_speech.corpus.manifest import read_manifest
from triton_speech.training import robustness

pytestmark = pytest.mark.server
ITEMS = read_manifest(DATA / "asr_robustness" / "manifest.json")
# What the served model must reach on the set (each at most its target in robustness.TARGETS)
BOUNDS = {
    "heldout_templates_wer": 0.04,
    "new_combinations_wer": 0.10,
    "multi_sentence_wer": 0.06,
    "silence_wer": 0.06,
    "noise_clips_without_words": 9,
    "word_boundary_median_s": 0.100,
    "word_boundary_p95_s": 0.250,
}


RECORDED = json.loads((DEFAULTS / "quartznet_small.json").read_text())["robustness"]["shipped"]
NOT_REACHED = pytest.mark.xfail(strict=True, reason="the shipped default does not reach this target yet")


def _marked(name: str):
    return pytest.param(name, marks=() if RECORDED["targets"][name]["met"] else NOT_REACHED)


@pytest.fixture(scope="module")
def served(default_asr_server):
    """Every clip of the set as one request to the served asr ensemble, with word times; scored."""
    transcripts = ASRClient(default_asr_server.grpc_url).recognize_files(
        [item["audio_filepath"] for item in ITEMS], concurrency=8, progress=False, timestamps=True)
    assert not [t for t in transcripts if isinstance(t, Exception)]
    scored = robustness.score(ITEMS, transcripts)
    print(json.dumps({kind: {k: v for k, v in numbers.items() if k not in ("errors", "heard")}
                      for kind, numbers in scored.items()}, indent=1))
    return scored


def test_bounds_are_no_looser_than_the_targets():
    for name, (target, kind) in robustness.TARGETS.items():
        assert BOUNDS[name] <= target if kind == "max" else BOUNDS[name] >= target


@pytest.mark.parametrize("target", [_marked(name) for name in BOUNDS])
def test_served_default_model_meets_the_robustness_target(served, target):
    value = robustness.targets(served)[target]["value"]
    bound, kind = BOUNDS[target], robustness.TARGETS[target][1]
    assert value is not None and (value <= bound if kind == "max" else value >= bound), (target, value, bound)


@pytest.mark.xfail(strict=True, reason="the shipped default hears too few words of the set right to time them")
def test_word_times_are_measured_on_most_words(served):
    """The boundary numbers count only words heard right; most must be (a model that hears one word is not timed)."""
    boundaries = served["word_boundaries"]
    assert boundaries["matched"] >= 0.9 * boundaries["words"]


def test_served_numbers_are_the_recorded_in_process_ones(served):
    """defaults/quartznet_small.json records the set's numbers measured in-process (python -m
    triton_speech.training.robustness evaluate, the served code without a server): the server gives the same, up to
    one word per kind (batched and alone, padding rounds differently)."""
    recorded = RECORDED["lexicon"]
    for kind in ("heldout_templates", "new_combinations", "multi_sentence", "silence"):
        words = sum(len(item["text"].split()) for item in ITEMS if item["kind"] == kind and
                    item["family"] == "espeak-ng")
        assert abs(served[kind]["wer"] - recorded[kind]["wer"]) <= 1 / words + 1e-4, kind
    assert abs(served["noise"]["clips_without_words"] - recorded["noise"]["clips_without_words"]) <= 1

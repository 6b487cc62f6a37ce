"""The robustness set (tests/data/asr_robustness): what it holds is what its script plans, its truth comes from how
the audio was made (checked on the audio, not with any model), and its scores count what they say."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.support.paths import DATA
from tests.support.speech import heldout_items
from triton_speech.client.audio import load_audio
from triton_speech.corpus.manifest import read_manifest
from triton_speech.corpus.templates import HELD_OUT_TEMPLATES, sentences, vocabulary
from triton_speech.runtime.asr.ctc import Word
from triton_speech.runtime.asr.words import Transcript
from triton_speech.training import asr_data, robustness

SET = DATA / "asr_robustness"
ITEMS = read_manifest(SET / "manifest.json")
RATE = 16000


def rms_db(audio: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.asarray(audio, np.float64) ** 2)) + 1e-12)


def floor_db(audio: np.ndarray) -> float:
    """The level of a stretch of noise floor without its drift (brown noise's power is mostly below a few Hz: over a
    fraction of a second it is an offset)."""
    from scipy.signal import detrend

    return rms_db(detrend(np.asarray(audio, np.float64)))


def of_kind(kind: str) -> list[dict]:
    return [item for item in ITEMS if item["kind"] == kind]


def test_committed_set_is_the_seeded_plan_and_small():
    planned = robustness.plan(0)
    assert [{key: item[key] for key in clip} for item, clip in zip(ITEMS, planned)] == planned
    assert len(ITEMS) == len(planned) and robustness.plan(1) != planned
    assert {kind: len(of_kind(kind)) for kind in robustness.KINDS} == {
        "heldout_templates": 26, "new_combinations": 27, "multi_sentence": 8, "silence": 8, "noise": 10,
        "word_boundaries": 8}
    assert sum(path.stat().st_size for path in SET.iterdir()) < 7 * 2**20


def test_voices_are_never_heard_in_training():
    for item in ITEMS:
        if item["kind"] == "noise":
            continue
        family, _, name = item["voice"].partition(":")
        if family == "espeak-ng":
            accent, _, variant = name.partition("+")
            assert accent in asr_data.HELD_OUT_ACCENTS or variant in asr_data.HELD_OUT_VARIANTS
            assert variant not in asr_data.VARIANTS or not variant
        else:
            assert name in asr_data.HELDOUT_VOICES[family]
            assert name not in asr_data.TRAIN_FLITE + asr_data.TRAIN_FESTIVAL


def test_sentences_are_held_out_and_said_in_known_words():
    trained = set(sentences(20000, seed=3))
    held_out_patterns = set(sentences(2000, seed=0, templates=HELD_OUT_TEMPLATES))
    always_excluded = {item["text"] for item in heldout_items()}  # every training corpus excludes these
    known = set(vocabulary())
    for item in ITEMS:
        assert set(item["text"].split()) <= known
        for sentence in item.get("sentences", [item["text"]] if item["kind"] != "noise" else []):
            assert sentence not in trained or sentence in always_excluded
        if item["kind"] == "heldout_templates":
            assert item["text"] in held_out_patterns
        for sentence in item.get("sentences", []):
            assert sentence in held_out_patterns | always_excluded


def test_word_times_mark_the_speech_and_the_pauses_between_words():
    for item in of_kind("word_boundaries"):
        audio = load_audio(item["audio_filepath"], RATE)
        words = item["words"]
        assert [w for w, _, _ in words] == item["text"].split()
        assert words[0][1] == pytest.approx(item["before_s"], abs=1e-3)
        assert item["duration"] - words[-1][2] == pytest.approx(item["after_s"], abs=2e-3)
        for (_, _, end), (_, start, _), pause in zip(words, words[1:], item["pauses_s"]):
            assert start - end == pytest.approx(pause, abs=2e-3)
            assert floor_db(audio[int((end + 0.02) * RATE) : int((start - 0.02) * RATE)]) < item["floor_db"] + 3
        for _, start, end in words:
            speech = audio[int(start * RATE) : int(end * RATE)]
            assert rms_db(speech) > item["floor_db"] + 25
            # the first and last 10 ms of a word are within the trim threshold of its loudest 10 ms
            frames = speech[: len(speech) // 160 * 160].reshape(-1, 160)
            levels = [rms_db(f) for f in frames]
            assert max(levels[0], levels[1]) > max(levels) - item["trim_db"] - 1
            assert max(levels[-1], levels[-2]) > max(levels) - item["trim_db"] - 1


def test_pauses_silence_and_noise_are_as_the_manifest_says():
    for item in of_kind("silence") + of_kind("multi_sentence"):
        audio = load_audio(item["audio_filepath"], RATE)
        assert floor_db(audio[: int((item["before_s"] - 0.02) * RATE)]) < item["floor_db"] + 3
        assert floor_db(audio[-int((item["after_s"] - 0.02) * RATE) :]) < item["floor_db"] + 3
        assert rms_db(audio) > item["floor_db"] + 25
    for item in of_kind("silence"):
        assert 1.0 <= item["before_s"] <= 3.0 and 1.0 <= item["after_s"] <= 3.0
    for item in of_kind("multi_sentence"):
        assert len(item["sentences"]) in (2, 3) and " ".join(item["sentences"]) == item["text"]
        assert all(0.2 <= pause <= 2.0 for pause in item["pauses_s"])
    for item in of_kind("noise"):
        audio = load_audio(item["audio_filepath"], RATE)
        assert item["text"] == "" and len(audio) == 3 * RATE and -50 <= item["level_db"] <= -30
        assert rms_db(audio) == pytest.approx(item["level_db"], abs=0.2)
    assert {item["noise"] for item in of_kind("noise")} == {"white", "pink", "brown"}


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is installed by make setup")
def test_rendering_a_clip_again_gives_the_committed_audio():
    planned = robustness.plan(0)
    for kind in ("noise", "word_boundaries", "silence"):
        index = next(i for i, clip in enumerate(planned) if clip["kind"] == kind)
        audio, extra = robustness.render(planned[index], index, 0)
        committed = load_audio(ITEMS[index]["audio_filepath"], RATE)
        assert np.max(np.abs(np.round(np.clip(audio, -1, 1) * 32767) / 32768 - committed)) < 2 / 32768
        assert all(ITEMS[index][key] == value for key, value in extra.items())


def transcript(text: str, words: list[tuple[str, float, float]] | None = None) -> Transcript:
    return Transcript(text, text, [Word(w, s, e, 1.0) for w, s, e in words] if words is not None else None)


def perfect() -> list[Transcript]:
    return [transcript(item["text"], [tuple(w) for w in item.get("words", [])]) for item in ITEMS]


def test_score_of_a_perfect_recognizer_meets_every_target():
    scored = robustness.score(ITEMS, perfect())
    for kind in ("heldout_templates", "new_combinations", "multi_sentence", "silence"):
        assert scored[kind]["wer"] == 0 and scored[kind]["errors"] == []
    assert scored["heldout_templates"]["other_synthesizers"]["wer"] == 0
    assert scored["noise"] == {"clips": 10, "clips_without_words": 10, "words": 0, "heard": []}
    boundaries = scored["word_boundaries"]
    assert boundaries["matched"] == boundaries["words"] == sum(len(i["words"]) for i in of_kind("word_boundaries"))
    assert boundaries["median_s"] == boundaries["p95_s"] == 0
    assert all(target["met"] for target in robustness.targets(scored).values())


def test_score_counts_errors_words_in_noise_and_time_offsets():
    results = perfect()
    first = next(i for i, item in enumerate(ITEMS) if item["kind"] == "silence" and item["family"] == "espeak-ng")
    words = ITEMS[first]["text"].split()
    results[first] = transcript(" ".join(words[1:]))  # one deletion
    noisy = [i for i, item in enumerate(ITEMS) if item["kind"] == "noise"]
    results[noisy[0]] = transcript("the the")
    results[noisy[1]] = transcript("a")
    shifted = [i for i, item in enumerate(ITEMS) if item["kind"] == "word_boundaries"]
    for i in shifted:  # every word heard 0.3 s late at its start, on time at its end
        results[i] = transcript(ITEMS[i]["text"], [(w, s + 0.3, e) for w, s, e in ITEMS[i]["words"]])
    scored = robustness.score(ITEMS, results)
    silence_words = sum(len(item["text"].split()) for item in of_kind("silence"))
    assert scored["silence"]["wer"] == round(1 / silence_words, 4)
    assert scored["silence"]["errors"] == [[ITEMS[first]["text"], " ".join(words[1:])]]
    assert scored["noise"]["clips_without_words"] == 8 and scored["noise"]["words"] == 3
    assert scored["word_boundaries"]["start_median_s"] == pytest.approx(0.3)
    assert scored["word_boundaries"]["end_median_s"] == 0
    assert scored["word_boundaries"]["median_s"] == pytest.approx(0.15)  # starts and ends together
    assert scored["word_boundaries"]["p95_s"] == pytest.approx(0.3)
    met = {name: target["met"] for name, target in robustness.targets(scored).items()}
    assert met == {"heldout_templates_wer": True, "new_combinations_wer": True, "multi_sentence_wer": True,
                   "silence_wer": True, "noise_clips_without_words": False, "word_boundary_median_s": False,
                   "word_boundary_p95_s": False}
    with pytest.raises(ValueError, match="87 clips but 86 transcripts"):
        robustness.score(ITEMS, results[1:])


def test_unmatched_words_have_no_boundary_error():
    truth = [["please", 0.5, 0.9], ["call", 1.0, 1.3], ["emma", 1.5, 1.9]]
    heard = [Word("please", 0.52, 0.88, 1), Word("tall", 1.0, 1.3, 1), Word("emma", 1.6, 1.9, 1)]
    errors = robustness.boundary_errors(truth, heard)
    assert len(errors) == 2 and np.allclose(errors, [(0.02, 0.02), (0.1, 0.0)])

"""The synthetic speech corpus generator (export/data.py): random speakers really speak, splits stay apart."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile

from triton_speech.training import asr_data as data

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                                reason="espeak-ng and sox are installed by make setup")


def speak(tmp_path, voice: str, espeak_path=None) -> np.ndarray:
    out = tmp_path / f"{voice.replace('+', '_')}.wav"
    path = [f"--path={espeak_path}"] if espeak_path else []
    subprocess.run(["espeak-ng", *path, "-v", voice, "-w", str(out), "the train leaves at nine"], check=True)
    return soundfile.read(out)[0]


def test_synthetic_speakers_are_reproducible_and_distinct():
    first, again = data.synthetic_speakers(20, seed=0), data.synthetic_speakers(20, seed=0)
    assert first == again
    assert first != data.synthetic_speakers(20, seed=1)
    assert len({speaker.formants for speaker in first}) == 20
    assert {speaker.female for speaker in first} == {True, False}
    assert not {speaker.name for speaker in first} & set(data.VARIANTS + data.HELD_OUT_VARIANTS)


def test_random_speaker_variant_is_really_used(tmp_path):
    # espeak-ng falls back to its default voice, silently, for a variant it cannot find.
    speakers = data.synthetic_speakers(2, seed=0)
    espeak_path = data.espeak_data_with(speakers, tmp_path / "espeak")
    default = speak(tmp_path, "en-us", espeak_path)
    voices = [speak(tmp_path, f"en-us+{speaker.name}", espeak_path) for speaker in speakers]
    missing = speak(tmp_path, "en-us+no_such_variant", espeak_path)
    assert missing.shape == default.shape and np.array_equal(missing, default)
    for audio in voices:
        assert audio.shape != default.shape or not np.allclose(audio, default)
    assert voices[0].shape != voices[1].shape or not np.allclose(voices[0], voices[1])


def test_heldout_plan_has_no_training_augmentation(tmp_path):
    texts = data.sentences(5, seed=3)
    heldout = data.plan(texts, data.HELD_OUT_ACCENTS, data.HELD_OUT_VARIANTS, 4, tmp_path, augment=False)
    assert {(u.speed_factor, u.bass_db, u.treble_db, u.reverb, u.noise_snr_db, u.espeak_path) for u in heldout} == {
        (1.0, 0.0, 0.0, 0, None, "")}
    train = data.plan(texts, data.ACCENTS, data.VARIANTS, 4, tmp_path, augment=True, espeak_path="x")
    assert len({u.speed_factor for u in train}) > 1 and all(0.9 <= u.speed_factor <= 1.1 for u in train)


def test_build_writes_manifests_and_keeps_excluded_sentences_out_of_training(tmp_path):
    excluded = set(data.sentences(40, seed=0)[:20])  # the first sentences training would otherwise pick
    manifests = data.build(tmp_path, train=8, heldout=3, seed=0, workers=1, exclude=excluded, speakers=4)
    train = [json.loads(line) for line in manifests["train"].read_text().splitlines()]
    heldout = [json.loads(line) for line in manifests["heldout"].read_text().splitlines()]
    assert len(train) == 8 and len(heldout) == 3
    assert not {item["text"] for item in train} & excluded
    assert not {item["text"] for item in train} & {item["text"] for item in heldout}
    for item in train + heldout:
        audio, rate = soundfile.read(item["audio_filepath"])
        assert rate == data.SAMPLE_RATE and audio.ndim == 1
        assert item["duration"] == pytest.approx(len(audio) / rate, abs=1e-3) and item["duration"] > 0.5
        assert np.abs(audio).max() > 0.01


def test_random_speakers_are_drawn_for_training():
    speakers = [s.name for s in data.synthetic_speakers(data.SYNTHETIC_SPEAKERS, 0)]
    texts = data.sentences(200, seed=1)
    train = data.plan(texts, data.ACCENTS, data.VARIANTS + speakers, 0, Path("x"), augment=True)
    used = {u.voice.partition("+")[2] for u in train}
    assert used & set(speakers) and used & set(data.VARIANTS)
    assert not used & set(data.HELD_OUT_VARIANTS)


def test_clean_fraction_leaves_that_share_unaugmented_and_the_rest_as_before():
    texts = data.sentences(400, seed=2)
    voices = data.ACCENTS, data.VARIANTS
    augmented = data.plan(texts, *voices, 5, Path("x"), augment=True, espeak_path="e")
    mixed = data.plan(texts, *voices, 5, Path("x"), augment=True, espeak_path="e", clean_fraction=0.3)
    clean = [m for a, m in zip(augmented, mixed) if a != m]
    assert 0.2 < len(clean) / len(texts) < 0.4
    for utterance in clean:
        assert (utterance.speed_factor, utterance.tempo, utterance.reverb, utterance.noise_snr_db,
                utterance.gain_db, utterance.bass_db, utterance.treble_db) == (1.0, 1.0, 0, None, 0.0, 0.0, 0.0)
    # Voice, rate and pitch are drawn as for every other utterance: only the augmentation is left out.
    assert [(u.voice, u.speed, u.pitch, u.text) for u in augmented] == [(u.voice, u.speed, u.pitch, u.text)
                                                                        for u in mixed]


def test_pad_fraction_puts_pauses_around_that_share_and_leaves_the_rest_as_before(tmp_path):
    texts = data.sentences(300, seed=3)
    voices = data.ACCENTS, data.VARIANTS
    plain = data.plan(texts, *voices, 6, tmp_path, augment=True, espeak_path="")
    padded = data.plan(texts, *voices, 6, tmp_path, augment=True, espeak_path="", pad_fraction=0.5)
    changed = [(a, b) for a, b in zip(plain, padded) if a != b]
    assert 0.4 < len(changed) / len(texts) < 0.6
    for before, after in changed:  # only the pauses and their floor differ
        assert replace(after, pad_before_s=0.0, pad_after_s=0.0, floor_db=-90.0) == before
        assert 0.1 <= after.pad_before_s <= 1.5 and 0.1 <= after.pad_after_s <= 1.5 and -75 <= after.floor_db <= -45
    # Synthesized: the pauses lengthen the clip by their sum and hold only the floor's faint noise.
    one = replace(changed[0][1], noise_snr_db=None, reverb=0, gain_db=0.0, path=str(tmp_path / "padded.wav"))
    bare = replace(one, pad_before_s=0.0, pad_after_s=0.0, floor_db=-90.0, path=str(tmp_path / "bare.wav"))
    padded_length, bare_length = data.synthesize(one)["duration"], data.synthesize(bare)["duration"]
    assert abs(padded_length - bare_length - one.pad_before_s - one.pad_after_s) < 0.002
    audio, rate = soundfile.read(one.path)
    pause = audio[: int(0.9 * one.pad_before_s * rate)]
    assert abs(20 * np.log10(np.sqrt(np.mean(pause**2))) - one.floor_db) < 3.0


def test_build_never_trains_on_the_demo_sentence(tmp_path, monkeypatch):

    first = data.sentences(1, seed=0)[0]  # what training would pick first
    monkeypatch.setattr(data, "DEMO_ASR_TEXT", first)
    manifests = data.build(tmp_path, train=3, heldout=1, seed=0, workers=1, speakers=2)
    assert first not in {item["text"] for item in data.read_manifest(manifests["train"])}


def test_base_voice_fraction_speaks_that_share_in_the_accents_own_voices():
    speakers = [s.name for s in data.synthetic_speakers(10, 0)]
    texts = data.sentences(400, seed=2)
    voices = data.ACCENTS, data.VARIANTS + speakers
    varied = data.plan(texts, *voices, 5, Path("x"), augment=True, espeak_path="e")
    based = data.plan(texts, *voices, 5, Path("x"), augment=True, espeak_path="e", base_voice_fraction=0.2)
    changed = [(v, b) for v, b in zip(varied, based) if v != b]
    assert 0.12 < len(changed) / len(texts) < 0.28
    for before, after in changed:
        assert after.voice == before.voice.partition("+")[0] in data.ACCENTS
        assert after == replace(before, voice=after.voice)  # nothing else moves

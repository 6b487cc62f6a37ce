"""The general ASR corpus: training voices never include a held-out voice, plans are seeded, the committed
held-out set is what its manifest says, and synthesis writes 16 kHz audio with the transcript."""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from triton_speech.corpus.voices import Voice, available
from triton_speech.training import asr_corpus
from triton_speech.training.asr_corpus import HELDOUT_VOICES, Utterance, heldout_plan, synthesize, training_plan

HELDOUT = Path(__file__).parents[1] / "data" / "general_heldout"
GENERAL = [f"general sentence number {i} about things" for i in range(500)]


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    if not available("espeak-ng"):
        pytest.skip("espeak-ng is not installed")
    return training_plan(GENERAL, 400, seed=7, output=tmp_path_factory.mktemp("corpus"), template_share=0.25)


def test_training_plan_mixes_texts_and_keeps_voices_out(plan):
    assert len(plan) == 400
    general = sum(u.text in GENERAL for u in plan)
    assert 290 <= general <= 310  # 75% general sentences, the rest templates
    assert len({u.text for u in plan}) == 400
    families = {u.voice.family for u in plan}
    assert families == {"espeak-ng", "flite", "festival"}
    held = {(family, name) for family, names in HELDOUT_VOICES.items() for name in names if family != "espeak-ng"}
    assert not {(u.voice.family, u.voice.name) for u in plan} & held
    espeak = [u.voice.name for u in plan if u.voice.family == "espeak-ng"]
    assert not [v for v in espeak if v.startswith("en-029") or v.endswith(("+f4", "+m6"))]
    clean = sum(u.speed_factor == 1.0 and u.noise_snr_db is None and u.reverb == 0 for u in plan)
    assert 0.2 * 400 < clean < 0.45 * 400  # 30% left as spoken (+ augmented ones that drew no noise/reverb)


def test_training_plan_is_seeded(plan, tmp_path):
    again = training_plan(GENERAL, 400, seed=7, output=Path(plan[0].path).parents[1], template_share=0.25)
    assert again == plan
    other = training_plan(GENERAL, 400, seed=8, output=tmp_path, template_share=0.25)
    assert [u.text for u in other] != [u.text for u in plan]


def test_heldout_plan_uses_only_heldout_voices(tmp_path):
    sentences = [" ".join(["word"] * (4 + i % 5)) + f" {i}" for i in range(200)]
    plan = heldout_plan(sentences, 6, seed=0, folder=tmp_path)
    assert len(plan) == 6 * len(HELDOUT_VOICES)
    assert len({u.text for u in plan}) == len(plan)
    for u in plan:
        assert u.voice.name in HELDOUT_VOICES[u.voice.family]
    with pytest.raises(ValueError):
        heldout_plan(sentences[:10], 6, seed=0, folder=tmp_path)


@pytest.mark.skipif(not available("flite"), reason="flite is not installed")
def test_synthesize_writes_16k_audio_and_manifest_line(tmp_path):
    utterance = Utterance("the cat sat on the mat", Voice("flite", "kal"), str(tmp_path / "a.wav"),
                          speed_factor=1.1, pitch_cents=200, tempo=0.95, reverb=20, noise_snr_db=20.0, gain_db=-3)
    line = synthesize(utterance)
    audio, rate = soundfile.read(line["audio_filepath"])
    assert rate == 16000 and abs(line["duration"] - audio.size / 16000) < 0.01 and 0.8 < line["duration"] < 4
    assert line["text"] == "the cat sat on the mat" and line["voice"] == "flite:kal" and line["family"] == "flite"


def test_committed_heldout_set():
    items = [json.loads(line) for line in (HELDOUT / "manifest.json").read_text().splitlines()]
    sentences = set((HELDOUT / "sentences.txt").read_text().splitlines())
    families = {item["family"] for item in items}
    assert families == set(HELDOUT_VOICES)
    for family in families:
        assert sum(item["family"] == family for item in items) >= 20
    for item in items:
        assert item["text"] in sentences
        family, name = item["voice"].split(":")
        assert name in HELDOUT_VOICES[family]
        info = soundfile.info(str(HELDOUT / item["audio_filepath"]))
        assert info.samplerate == 16000 and abs(info.duration - item["duration"]) < 0.01
    assert sum(item["duration"] for item in items) < 300  # keeps the repository lean
    assert asr_corpus.read_lines(HELDOUT / "sentences.txt")[0] in sentences


def test_noise_only_utterances(tmp_path):
    if not available("espeak-ng"):
        pytest.skip("espeak-ng is not installed")
    plan = training_plan(GENERAL, 200, seed=7, output=tmp_path, noise_share=0.05)
    noise = [u for u in plan if u.noise_only]
    assert len(plan) == 210 and len(noise) == 10 and all(u.text == "" for u in noise)
    without = training_plan(GENERAL, 200, seed=7, output=tmp_path)
    assert {u.text for u in plan if not u.noise_only} == {u.text for u in without}
    (tmp_path / "train").mkdir(exist_ok=True)
    for u in noise[:5]:
        line = synthesize(u)
        audio, rate = soundfile.read(line["audio_filepath"])
        assert line["text"] == "" and line["family"] == "noise" and rate == 16000
        assert abs(audio.size / 16000 - u.noise_seconds) < 0.01
        assert 0 < np.sqrt(np.mean(audio**2)) < 0.2

"""The independent judge: scoring normalization, and Whisper's own sanity on human and espeak-ng speech, so a
broken judge (wrong weights, wrong audio scaling, wrong language) cannot pass the tests that rely on it."""

import shutil
import subprocess
from pathlib import Path

import pytest

from triton_speech.training.judge import normalize, score

ALSA = Path("/usr/share/sounds/alsa")
EVERYDAY = ["the quick brown fox jumps over the lazy dog", "why is the sky blue during the day",
            "mix the butter and sugar until the batter is smooth", "please close the window before you leave",
            "my brother bought a new bicycle last summer", "the children walked to school in the rain"]


def test_normalize_spells_numbers_and_drops_punctuation():
    assert normalize("Front, left.") == "front left"
    assert normalize("It costs $3.50!") == "it costs three dollars fifty cents"
    assert normalize("Dr. Smith's 2nd well-known car") == "doctor smith's second well known car"
    assert normalize("  'Quoted' words -- here ") == "quoted words here"


def test_score_counts_word_and_character_errors():
    result = score(["a b c d", "one two"], ["a b x d", "One, two."])
    assert result["wer"] == pytest.approx(1 / 6, abs=1e-4)
    assert result["words"] == 6 and result["utterances"] == 2
    assert score(["one 2 three"], ["one two three"])["wer"] == 0.0
    with pytest.raises(ValueError):
        score([""], ["x"])


@pytest.mark.skipif(not ALSA.exists(), reason="alsa-utils' sounds are not installed (apt-get install alsa-utils)")
def test_whisper_base_hears_the_alsa_clips(judge):
    clips = sorted(p for p in ALSA.glob("*.wav") if p.stem != "Noise")
    references = [clip.stem.replace("_", " ") for clip in clips]  # Front_Left.wav says "front left"
    hypotheses = judge.transcribe_files(clips)
    assert len(clips) == 8
    assert score(references, hypotheses)["wer"] <= 0.1, list(zip(references, hypotheses))
    assert normalize(judge.transcribe_files([ALSA / "Noise.wav"])[0]).count(" ") <= 1  # at most two words


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_whisper_base_hears_espeak_everyday_sentences(judge, tmp_path):
    paths = []
    for index, text in enumerate(EVERYDAY):
        path = tmp_path / f"{index}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), text], check=True)
        paths.append(path)
    result = score(EVERYDAY, judge.transcribe_files(paths))
    assert result["wer"] <= 0.2, result

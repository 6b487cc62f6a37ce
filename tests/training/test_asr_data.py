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


def test_speech_span_and_join_parts_give_each_part_its_true_place():
    rate = 16000
    tone = (0.3 * np.sin(2 * np.pi * 300 * np.arange(rate // 2) / rate))  # 0.5 s
    piece = np.concatenate([np.zeros(3200), tone, np.zeros(1600)])  # 0.2 s silence, 0.5 s tone, 0.1 s silence
    assert data.speech_span(piece, rate) == (3200, 3200 + 8000)
    quiet = np.concatenate([piece, 1e-3 * tone])  # 50 dB below the tone: outside the 40 dB threshold
    assert data.speech_span(quiet, rate) == (3200, 3200 + 8000)
    joined, spans = data.join_parts([piece, 0.5 * piece, piece], (0.25, 1.0), rate)
    assert spans == [(0.0, 0.5), (0.75, 1.25), (2.25, 2.75)]
    assert len(joined) == int(2.75 * rate)
    assert np.all(joined[int(0.5 * rate) : int(0.75 * rate)] == 0)
    with pytest.raises(ValueError, match="3 parts need 2 gaps, got 1"):
        data.join_parts([piece] * 3, (0.2,), rate)


def test_noise_signal_has_the_asked_level_and_kind():
    rng = np.random.default_rng(0)
    for kind in ("white", "pink", "brown", "hum"):
        noise = data.noise_signal(kind, 2.0, rng, level_db=-40.0)
        assert len(noise) == 32000
        assert 20 * np.log10(np.sqrt(np.mean(noise**2))) == pytest.approx(-40.0, abs=0.01)
    spectrum = {kind: np.abs(np.fft.rfft(data.noise_signal(kind, 2.0, rng, -40.0))) ** 2 for kind in ("white", "pink")}
    low, high = slice(20, 400), slice(8000, 16000)  # 10-200 Hz against 4-8 kHz
    assert spectrum["pink"][low].mean() > 10 * spectrum["pink"][high].mean()
    assert spectrum["white"][low].mean() < 2 * spectrum["white"][high].mean()
    with pytest.raises(ValueError, match="unknown noise 'purple'"):
        data.noise_signal("purple", 1.0, rng)


def test_an_empty_mix_leaves_the_plan_as_it_was():
    texts = data.sentences(50, seed=2)
    planned = data.plan(texts, data.ACCENTS, data.VARIANTS, 5, Path("x"), augment=True, pad_fraction=0.3)
    assert data.mixed(planned, data.Mix(), 5) is planned


def test_mix_makes_each_kind_of_clip_in_about_its_share():
    from triton_speech.corpus.templates import vocabulary

    texts = data.sentences(2000, seed=2)
    planned = data.plan(texts, data.ACCENTS, data.VARIANTS, 5, Path("x"), augment=True, pad_fraction=0.3,
                        pad_seconds=(0.1, 3.0))
    mix = data.Mix(multi=0.25, random_words=0.3, apart=0.1, noise_only=0.05, other_voices=0.2)
    clips = data.mixed(planned, mix, 5)
    assert len(clips) == len(planned) and clips == data.mixed(planned, mix, 5)
    noise = [c for c in clips if c.noise_only]
    speech = [c for c in clips if not c.noise_only]
    assert 0.03 < len(noise) / len(clips) < 0.07
    assert all(c.text == "" and c.noise_only in data.NOISE_KINDS and -70 <= c.noise_db <= -25 for c in noise)
    several = [c for c in speech if c.parts and len(c.parts) < len(c.text.split())]
    apart = [c for c in speech if c.parts and len(c.parts) == len(c.text.split())]
    assert 0.2 < len(several) / len(speech) < 0.3 and 0.06 < len(apart) / len(speech) < 0.14
    for clip in several:
        assert " ".join(clip.parts) == clip.text and all(0.2 <= gap <= 2.0 for gap in clip.gaps_s)
        assert len(clip.gaps_s) == len(clip.parts) - 1 and clip.pad_before_s > 0
        assert data._estimated_seconds(clip, clip.parts, clip.gaps_s) <= data.MAX_MIX_SECONDS or len(clip.parts) == 1
    assert {len(c.parts) for c in several} == {2, 3}
    assert all(0.05 <= gap <= 0.6 for clip in apart for gap in clip.gaps_s)
    # Random word sequences: the templates' words only, in orders no sentence of the plan has
    known, sentences = set(vocabulary()), set(texts)
    assert {word for c in speech for word in c.text.split()} <= known
    singles = [c for c in speech if not c.parts]
    assert 0.2 < sum(c.text not in sentences for c in singles) / len(singles) < 0.4
    others = [c for c in speech if c.family != "espeak-ng"]
    assert 0.15 < len(others) / len(speech) < 0.25
    assert {(c.family, c.voice) for c in others} <= {("flite", v) for v in data.TRAIN_FLITE} | {
        ("festival", v) for v in data.TRAIN_FESTIVAL}
    assert {c.floor_color for c in speech if c.pad_before_s} == {"white", "pink", "brown"}


def test_mix_shares_are_checked():
    with pytest.raises(ValueError, match="noise_only share must be between 0 and 1, got 1.5"):
        data.Mix(noise_only=1.5)
    with pytest.raises(ValueError, match="multi \\+ apart shares exceed 1"):
        data.Mix(multi=0.7, apart=0.5)
    with pytest.raises(SystemExit):
        data.main(["--multi-fraction", "0.8", "--apart-fraction", "0.4"])
    with pytest.raises(SystemExit):
        data.main(["--pad-seconds", "2", "1"])


def test_mixed_clips_are_spoken_as_planned(tmp_path):
    base = data.Utterance(text="", voice="en-us", speed=170, pitch=50, tempo=1.0, reverb=0, noise_snr_db=None,
                          gain_db=0.0, path="")
    noise = replace(base, noise_only="pink", noise_seconds=1.5, noise_db=-40.0, path=str(tmp_path / "noise.wav"))
    line = data.synthesize(noise)
    audio, rate = soundfile.read(noise.path)
    assert line["text"] == "" and line["duration"] == 1.5 and len(audio) == 1.5 * rate
    assert 20 * np.log10(np.sqrt(np.mean(audio**2))) == pytest.approx(-40.0, abs=0.1)
    words = replace(base, text="please call emma", parts=("please", "call", "emma"), gaps_s=(0.5, 0.5),
                    path=str(tmp_path / "apart.wav"))
    together = replace(base, text="please call emma", path=str(tmp_path / "together.wav"))
    flite = replace(together, family="flite", voice="kal16", path=str(tmp_path / "flite.wav"))
    assert data.synthesize(words)["text"] == data.synthesize(together)["text"] == "please call emma"
    apart, together_audio = soundfile.read(words.path)[0], soundfile.read(together.path)[0]
    assert len(apart) > len(together_audio) + 0.8 * rate  # two pauses of 0.5 s, each word trimmed
    quiet = np.sqrt(np.convolve(apart**2, np.ones(1600) / 1600, mode="valid")) < 1e-4
    assert quiet.sum() >= 2 * 0.3 * rate  # the pauses are silent (no floor asked for)
    data.synthesize(flite)
    assert not np.array_equal(soundfile.read(flite.path)[0][:1000], together_audio[:1000])


def test_cli_excludes_the_sentences_of_several_sentence_clips(tmp_path, monkeypatch):
    first = data.sentences(3, seed=0)
    manifest = tmp_path / "set.json"
    manifest.write_text(json.dumps({"audio_filepath": "x.flac", "text": f"{first[0]} {first[1]}",
                                    "sentences": first[:2]}) + "\n")
    seen = {}
    monkeypatch.setattr(data, "build", lambda *args, **kwargs: seen.update(exclude=args[5], mix=args[-1]) or {})
    data.main(["--output", str(tmp_path / "out"), "--exclude", str(manifest), "--multi-fraction", "0.3"])
    assert set(first[:2]) <= seen["exclude"] and seen["mix"] == data.Mix(multi=0.3)

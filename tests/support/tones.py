"""A tone "acoustic model": emissions aligned with the audio by construction.

Each letter is a sine at the centre of its own mel band; the model says a letter while its band is loud and a
space in silence, so a word's letters come out exactly where its tones are. Served like a QuartzNet export
(features -> log-probs with lengths), it gives the ASR models words whose times are known. Its log-prob frames
are 4 feature frames apart (QuartzNet's are 2): times are right only if the stride comes from the export."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TONE_LETTERS = "abcdefghijklmnopqrstuvwxyz"
TONE_SUBSAMPLING = 4
TONE_LETTER_S = 0.08
TONE_LEVEL = -2.0  # log-mel above which a band counts as sounding: tones reach about +4, silence -16.6
TONE_BANDS = {letter: 8 + 2 * index for index, letter in enumerate(TONE_LETTERS)}

# A word's times are right to one log-prob frame plus one feature hop: the STFT window hears a tone before it starts
TONE_TIME_BOUND_S = TONE_SUBSAMPLING * 0.01 + 0.01

# The tone repository: windows, stream buffer and idle time short, so that tests reach every edge quickly.
TONE_SETTINGS = dict(max_audio_seconds=10.0, max_long_audio_seconds=120.0, long_window_seconds=6.0,
                     long_overlap_seconds=1.5, stream_buffer_seconds=2.0, max_stream_seconds=60.0,
                     stream_idle_seconds=3.0, max_batch_size=8, max_queue_delay_us=5000)


def tone_frequencies() -> dict[str, float]:
    import librosa

    centres = librosa.mel_frequencies(64 + 2, fmin=0.0, fmax=8000.0)[1:-1]
    return {letter: float(centres[band]) for letter, band in TONE_BANDS.items()}


def tone_export(output: Path) -> Path:
    """An export directory (model.onnx, frontend.npz, labels.json, export.json) of the tone model."""
    import json

    import librosa
    import torch

    from triton_speech.export.quartznet import export_frontend
    from triton_speech.runtime.asr.features import MelConfig, MelFrontend

    output.mkdir(parents=True, exist_ok=True)
    config = MelConfig(normalize=None)  # raw log-mel: a tone's level does not depend on the rest of the audio
    filterbank = librosa.filters.mel(sr=16000, n_fft=config.n_fft, n_mels=config.n_mels, fmin=0.0, fmax=8000.0)
    frontend = MelFrontend(config, np.hanning(config.win_length), filterbank)
    frontend.save(output / "frontend.npz")
    export_frontend(frontend, output / "frontend.onnx")
    labels = [" ", *TONE_LETTERS, "'"]
    gain = 10.0
    weight = torch.zeros(len(labels) + 1, config.n_mels)
    bias = torch.full((len(labels) + 1,), -1000.0)  # the apostrophe and the blank are never said
    bias[0] = 0.0  # space: what silence says
    for letter, band in TONE_BANDS.items():
        weight[labels.index(letter), band] = gain
        bias[labels.index(letter)] = -gain * TONE_LEVEL
    floor = float(np.log(config.log_zero_guard_value))

    class ToneModel(torch.nn.Module):
        def forward(self, features, features_length):
            frames = torch.arange(features.shape[2]).unsqueeze(0) < features_length.unsqueeze(1)
            features = torch.where(frames.unsqueeze(1), features, torch.full_like(features, floor))
            # three frames of silence appended: the last log-prob frame of an item is the same alone or padded;
            # the loudest of a log-prob frame's feature frames, so two letters in a row leave no gap between them
            silence = torch.full_like(features[:, :, :3], floor)
            pooled = torch.nn.functional.max_pool1d(torch.cat([features, silence], 2), TONE_SUBSAMPLING)
            logits = torch.einsum("bft,cf->btc", pooled, weight) + bias
            return torch.log_softmax(logits, -1), (features_length + TONE_SUBSAMPLING - 1) // TONE_SUBSAMPLING

    example = (torch.randn(2, config.n_mels, 40), torch.tensor([40, 23]))
    torch.onnx.export(ToneModel(), example, str(output / "model.onnx"), input_names=["features", "features_length"],
                      output_names=["logprobs", "logprobs_length"], opset_version=17, dynamo=False,
                      dynamic_axes={"features": {0: "batch", 2: "frames"}, "features_length": {0: "batch"},
                                    "logprobs": {0: "batch", 1: "encoded"}, "logprobs_length": {0: "batch"}})
    (output / "labels.json").write_text(json.dumps({"labels": labels, "blank_id": len(labels)}))
    (output / "export.json").write_text(json.dumps({
        "model": "quartznet", "source": "tone model (tests/support/tones.py)", "random_weights": False,
        "sample_rate": 16000, "n_mels": config.n_mels, "num_classes": len(labels) + 1,
        "subsampling_factor": TONE_SUBSAMPLING}))
    return output


def tone_words(count: int, seed: int) -> list[str]:
    """``count`` random words of 2-5 letters, no letter twice in a row (CTC needs a blank between those)."""
    rng = np.random.default_rng(seed)
    words = []
    for _ in range(count):
        letters = [rng.choice(list(TONE_LETTERS))]
        while len(letters) < rng.integers(2, 6):
            letters.append(rng.choice([c for c in TONE_LETTERS if c != letters[-1]]))
        words.append("".join(letters))
    return words


def tone_speech(words: list[str], gaps_s: list[float], sample_rate: int = 16000) -> tuple[np.ndarray, list]:
    """``words`` said one by one as tones, ``gaps_s[k]`` of silence before word k and ``gaps_s[-1]`` after the
    last; returns the audio and each word's (word, start s, end s)."""
    assert len(gaps_s) == len(words) + 1
    frequencies = tone_frequencies()
    letter = int(TONE_LETTER_S * sample_rate)
    t = np.arange(letter) / sample_rate
    ramp = np.minimum(1.0, np.minimum(np.arange(letter), np.arange(letter)[::-1]) / (0.002 * sample_rate))
    pieces, bounds, position = [], [], 0
    for word, gap in zip(words, gaps_s):
        silence = int(round(gap * sample_rate))
        pieces.append(np.zeros(silence))
        position += silence
        pieces += [0.3 * ramp * np.sin(2 * np.pi * frequencies[c] * t) for c in word]
        bounds.append((word, position / sample_rate, (position + letter * len(word)) / sample_rate))
        position += letter * len(word)
    pieces.append(np.zeros(int(round(gaps_s[-1] * sample_rate))))
    return np.concatenate(pieces).astype(np.float32), bounds


def tone_clip(words: int, seed: int) -> tuple[np.ndarray, list]:
    """``words`` random tone words said with 0.15-0.5 s of silence around each: (audio, word times)."""
    rng = np.random.default_rng(seed)
    return tone_speech(tone_words(words, seed), list(rng.uniform(0.15, 0.5, words + 1)))

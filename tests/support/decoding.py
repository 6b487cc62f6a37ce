"""The tiny Tacotron2's decoding case: texts and a gate threshold under which items stop at different steps
and one never stops."""

from __future__ import annotations

import numpy as np

from tests.support.models import tiny_tacotron2

# Texts and seeds of the decoding tests: under the gate threshold ``decoding_case`` picks, the tiny model
# stops them at different steps and one never stops.
TEXTS = ["Hello there, how are you?", "Hi.", "The 3rd test costs $3.50 today."]
SEEDS = [11, 12, 13]
MAX_STEPS = 40


def gate_logits(model, sequence, seed: int, steps: int) -> np.ndarray:
    import torch

    from triton_speech.runtime.tts.tacotron2 import DecoderSettings, PrenetDropout

    settings = DecoderSettings(gate_threshold=1.0, max_decoder_steps=steps)
    text = torch.tensor([sequence])
    stream = PrenetDropout(seed, model.prenet_shape, settings.prenet_dropout)
    memory, processed, mask = model.encode(text, torch.tensor([len(sequence)]))
    state = model.decoder.initial_state(memory)
    frame = torch.zeros(1, model.n_mel_channels)
    logits = []
    with torch.no_grad():
        for _ in range(steps):
            frame, logit, *state = model.decoder.step(frame, torch.from_numpy(stream.next()[None]), *state,
                                                      memory, processed, mask)
            logits.append(float(logit[0]))
    return np.array(logits)


def stop_steps(logits: np.ndarray, threshold: float) -> list[int | None]:
    """1-based step at which each item's gate first exceeds ``threshold`` (None: never)."""
    return [int(np.argmax(row > threshold)) + 1 if (row > threshold).any() else None for row in logits]


def decoding_case():
    """Texts, seeds and a gate threshold under which the items stop at different steps and one never stops.

    The threshold is the midpoint of the widest gap between gate logits that gives such outcomes, so that
    float rounding cannot flip a decision.
    """
    from triton_speech.runtime.tts.tacotron2 import DecoderSettings
    from triton_speech.runtime.tts.text import text_to_sequence

    model = tiny_tacotron2()
    sequences = [text_to_sequence(t) for t in TEXTS]
    seeds = SEEDS
    logits = np.stack([gate_logits(model, s, seed, MAX_STEPS) for s, seed in zip(sequences, seeds)])
    values = np.unique(logits)
    best = None
    for low, high in zip(values[:-1], values[1:]):
        steps = stop_steps(logits, (low + high) / 2)
        stopped = [s for s in steps if s is not None]
        varied = None in steps and len(set(stopped)) == len(stopped) >= 2 and min(stopped) > 1
        if varied and (best is None or high - low > best[1] - best[0]):
            best = (low, high)
    assert best is not None and best[1] - best[0] > 1e-4, "no gate threshold separates the test items"
    threshold_logit = (best[0] + best[1]) / 2
    settings = DecoderSettings(gate_threshold=float(1 / (1 + np.exp(-threshold_logit))), max_decoder_steps=MAX_STEPS)
    return model, sequences, seeds, settings, stop_steps(logits, threshold_logit)

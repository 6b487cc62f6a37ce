"""Tiny random Tacotron2 and WaveGlow models saved as DeepLearningExamples checkpoints, for fast tests."""

import numpy as np
import torch

from export.tts_models import Tacotron2, WaveGlow
from triton_speech.text import text_to_sequence
from triton_speech.tts import DecoderSettings, PrenetDropout

TINY_TACOTRON2 = dict(
    n_mel_channels=16, symbols_embedding_dim=32, encoder_embedding_dim=32, attention_rnn_dim=24, attention_dim=16,
    attention_location_n_filters=4, attention_location_kernel_size=7, decoder_rnn_dim=24, prenet_dim=16,
    postnet_embedding_dim=24, postnet_n_convolutions=3,
)
TINY_WAVEGLOW = dict(n_mel_channels=16, n_flows=4, n_group=8, n_early_every=2, n_early_size=2,
                     WN_config=dict(n_layers=3, n_channels=16, kernel_size=3))
# Random decoder weights this much larger than PyTorch's init make the gate logits move from step to
# step (at init they are nearly constant), so that items stop at different steps.
DECODER_WEIGHT_SCALE = 3.0


def layout(model: torch.nn.Module) -> dict:
    return {name: list(tensor.shape) for name, tensor in model.state_dict().items()}


def dle_wrapped(model: torch.nn.Module, config: dict, prefix: str = "module.", dtype=None) -> dict:
    """A checkpoint as DLE's train.py saves it from a DDP model."""
    state_dict = {prefix + name: (t.to(dtype) if dtype and t.is_floating_point() else t)
                  for name, t in model.state_dict().items()}
    return {"epoch": 3, "config": config, "state_dict": state_dict, "optimizer": {"state": {}, "param_groups": []}}


def tiny_tacotron2(seed: int = 0) -> Tacotron2:
    torch.manual_seed(seed)
    model = Tacotron2(**TINY_TACOTRON2)
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.mul_(DECODER_WEIGHT_SCALE)
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)):
            norm.running_mean.normal_(0, 0.1)
            norm.running_var.uniform_(0.5, 2.0)
    return model.eval()


def tiny_waveglow(seed: int = 0) -> WaveGlow:
    """Weight-normed, with weight_g unlike |weight_v| (so folding matters) and non-zero coupling outputs."""
    torch.manual_seed(seed)
    model = WaveGlow(**TINY_WAVEGLOW)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("weight_g"):
                parameter.mul_(torch.empty_like(parameter).uniform_(0.5, 1.5))
        for wn in model.WN:
            wn.end.weight.normal_(0, 0.1)
            wn.end.bias.normal_(0, 0.1)
    return model.eval()

# Texts and seeds of the decoding tests: under the gate threshold ``decoding_case`` picks, the tiny model
# stops them at different steps and one never stops.
TEXTS = ["Hello there, how are you?", "Hi.", "The 3rd test costs $3.50 today."]
SEEDS = [11, 12, 13]
MAX_STEPS = 40


def gate_logits(model: Tacotron2, sequence, seed: int, steps: int) -> np.ndarray:
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

"""Tiny random Tacotron2 and WaveGlow models, saved as DeepLearningExamples checkpoints."""

from __future__ import annotations

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


def layout(model) -> dict:
    return {name: list(tensor.shape) for name, tensor in model.state_dict().items()}


def dle_wrapped(model, config: dict, prefix: str = "module.", dtype=None) -> dict:
    """A checkpoint as DLE's train.py saves it from a DDP model."""
    state_dict = {prefix + name: (t.to(dtype) if dtype and t.is_floating_point() else t)
                  for name, t in model.state_dict().items()}
    return {"epoch": 3, "config": config, "state_dict": state_dict, "optimizer": {"state": {}, "param_groups": []}}


def tiny_tacotron2(seed: int = 0):
    import torch

    from triton_speech.models.tacotron2 import Tacotron2

    torch.manual_seed(seed)
    model = Tacotron2(**TINY_TACOTRON2)
    with torch.no_grad():
        for parameter in model.decoder.parameters():
            parameter.mul_(DECODER_WEIGHT_SCALE)
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)):
            norm.running_mean.normal_(0, 0.1)
            norm.running_var.uniform_(0.5, 2.0)
    return model.eval()


def tiny_waveglow(seed: int = 0):
    """Weight-normed, with weight_g unlike |weight_v| (so folding matters) and non-zero coupling outputs."""
    import torch

    from triton_speech.models.waveglow import WaveGlow

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

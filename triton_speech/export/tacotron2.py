"""Export a DeepLearningExamples Tacotron2 checkpoint to ONNX for ``triton_speech.runtime.tts.tacotron2``.

Tacotron2 becomes three graphs, driven by the numpy decoder loop of ``Tacotron2Engine``. Tensor names are the
engine's constants; shapes (B batch, T text, F mel frames):

    encoder.onnx       text int64 [B, T], text_length int64 [B]
                       -> memory [B, T, 512], processed_memory [B, T, 128], memory_mask bool [B, T] (True = text)
    decoder_step.onnx  previous_frame [B, 80], prenet_dropout_mask [B, 2, 256], attention_hidden [B, 1024],
                       attention_cell [B, 1024], decoder_hidden [B, 1024], decoder_cell [B, 1024],
                       attention_weights [B, T], attention_weights_cum [B, T], attention_context [B, 512],
                       memory, processed_memory, memory_mask
                       -> mel_frame [B, 80], gate_logit [B], next_<state> for each state above
    postnet.onnx       mel [B, 80, F], mel_length int64 [B] -> mel_postnet [B, 80, F]

All FP32. The export checks the graphs in ONNX Runtime against the PyTorch model run in float64 and raises when a
graph is further from it than the float32 model allows (parity.py); ``export.json`` records shapes, source and the
measured parity.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from triton_speech.defaults import TEXT_NORMALIZATION
from triton_speech.export.graphs import MethodGraph, export_graph, graph_signature, max_abs
from triton_speech.export.parity import Parity, float64, to_float64
from triton_speech.export.progress import Stages, provenance, random_weights_notice
from triton_speech.models.dle import checkpoint_config, dle_state_dict, read_checkpoint
from triton_speech.models.tacotron2 import Tacotron2
from triton_speech.runtime.onnx import onnx_session
from triton_speech.runtime.tts.stft import SAMPLE_RATE
from triton_speech.runtime.tts.tacotron2 import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    DECODER_STATES,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    POSTNET_INPUTS,
    POSTNET_OUTPUTS,
    DecoderSettings,
)
from triton_speech.runtime.tts.text import check_normalization

PARITY_DECODER_STEPS = 8


def build_tacotron2(checkpoint: Path | None, seed: int = 0) -> tuple[Tacotron2, dict]:
    """The checkpoint's model (architecture from its ``config``) or deterministic random weights."""
    if checkpoint is None:
        torch.manual_seed(seed)
        return Tacotron2().eval(), {}
    stored = read_checkpoint(checkpoint)
    config = checkpoint_config(stored)
    model = Tacotron2.from_config(config) if config else Tacotron2()
    model.load_state_dict(dle_state_dict(stored), strict=True)
    return model.eval(), config


def parity_texts(model: Tacotron2, lengths=(23, 9, 16), seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded ragged batch of random symbol ids (pad id 0), longest first so that padding is exercised."""
    generator = torch.Generator().manual_seed(seed)
    n_symbols = model.embedding.num_embeddings
    text = torch.zeros(len(lengths), max(lengths), dtype=torch.int64)
    for row, length in enumerate(lengths):
        text[row, :length] = torch.randint(1, n_symbols, (length,), generator=generator)
    return text, torch.tensor(lengths, dtype=torch.int64)


def parity_dropout_masks(model: Tacotron2, steps: int, batch: int, seed: int = 2) -> torch.Tensor:
    """[steps, B, layers, units] masks of DLE's dropout rate 0.5 (values 0 and 2)."""
    generator = torch.Generator().manual_seed(seed)
    layers, units = model.prenet_shape
    return (torch.rand(steps, batch, layers, units, generator=generator) < 0.5).float() * 2.0


def export_tacotron2_graphs(model: Tacotron2, output: Path) -> None:
    text, text_length = parity_texts(model)
    with torch.no_grad():
        memory, processed_memory, memory_mask = model.encode(text, text_length)
    export_graph(MethodGraph(model, "encode"), (text, text_length), output / "encoder.onnx", ENCODER_INPUTS,
                 ENCODER_OUTPUTS,
            {"text": {0: "batch", 1: "text_time"}, "text_length": {0: "batch"},
             **{name: {0: "batch", 1: "text_time"} for name in ENCODER_OUTPUTS}},
            metadata={"n_symbols": model.embedding.num_embeddings, "n_mel_channels": model.n_mel_channels})

    batch = text.size(0)
    state = model.decoder.initial_state(memory)
    step_inputs = (torch.zeros(batch, model.n_mel_channels), parity_dropout_masks(model, 1, batch)[0], *state,
                   memory, processed_memory, memory_mask)
    text_axis_names = ("attention_weights", "attention_weights_cum", *ENCODER_OUTPUTS)
    dynamic_axes = {name: {0: "batch"} for name in (*DECODER_INPUTS, *DECODER_OUTPUTS)}
    for name in text_axis_names:
        dynamic_axes[name] = {0: "batch", 1: "text_time"}
        if name in DECODER_STATES:
            dynamic_axes[f"next_{name}"] = {0: "batch", 1: "text_time"}
    export_graph(MethodGraph(model.decoder, "step"), step_inputs, output / "decoder_step.onnx",
            DECODER_INPUTS, DECODER_OUTPUTS, dynamic_axes)

    mel = torch.randn(batch, model.n_mel_channels, 17)
    export_graph(MethodGraph(model, "postnet_mel"), (mel, torch.tensor([17, 11, 5])), output / "postnet.onnx",
            POSTNET_INPUTS, POSTNET_OUTPUTS, {"mel": {0: "batch", 2: "frames"}, "mel_length": {0: "batch"},
                              "mel_postnet": {0: "batch", 2: "frames"}},
            metadata={"context_frames": model.postnet.context_frames})


def check_tacotron2(model: Tacotron2, output: Path, steps: int = PARITY_DECODER_STEPS) -> dict[str, Parity]:
    """Each graph on a ragged batch against the PyTorch model in float64 (the float64 rule, parity.py: max abs over
    every output); the decoder over ``steps`` real decoding steps."""
    encoder, decoder_step, postnet = (onnx_session(output / f"{name}.onnx")
                                      for name in ("encoder", "decoder_step", "postnet"))
    text, text_length = parity_texts(model, lengths=(31, 7, 19), seed=3)
    with torch.no_grad():
        encoded = model.encode(text, text_length)
    ours = encoder.run(list(ENCODER_OUTPUTS), {"text": text.numpy(), "text_length": text_length.numpy()})
    if not np.array_equal(ours[2], encoded[2].numpy()):
        raise AssertionError("ONNX memory_mask differs from PyTorch")

    # Each step gets PyTorch's previous outputs, so the error of one step does not feed the next.
    batch = text.size(0)
    masks = parity_dropout_masks(model, steps, batch, seed=4)
    frame = torch.zeros(batch, model.n_mel_channels)
    state = model.decoder.initial_state(encoded[0])
    step_inputs, step_references, step_ours = [], [], []
    for mask in masks:
        inputs = (frame, mask, *state, *encoded)
        with torch.no_grad():
            reference = model.decoder.step(*inputs)
        step_inputs.append(inputs)
        step_references.append(reference)
        step_ours.append(decoder_step.run(list(DECODER_OUTPUTS),
                                          {n: t.numpy() for n, t in zip(DECODER_INPUTS, inputs)}))
        frame, _, *state = reference

    mel = torch.stack([reference[0] for reference in step_references], dim=2)
    mel_length = torch.tensor([steps, steps - 3, 1])
    with torch.no_grad():
        postnet_reference = model.postnet_mel(mel, mel_length)
    (postnet_ours,) = postnet.run(list(POSTNET_OUTPUTS), {"mel": mel.numpy(), "mel_length": mel_length.numpy()})

    with float64(model), torch.no_grad():
        encoded_exact = model.encode(text, text_length)
        steps_exact = [model.decoder.step(*to_float64(*inputs)) for inputs in step_inputs]
        postnet_exact = model.postnet_mel(mel.double(), mel_length)

    def judged(exact, references, ours) -> Parity:
        return Parity(onnx=max(max_abs(e, o) for e, o in zip(exact, ours)),
                      float32=max(max_abs(e, r.numpy()) for e, r in zip(exact, references)),
                      onnx_vs_float32=max(max_abs(r, o) for r, o in zip(references, ours)), metric="max abs")

    valid = list(enumerate(mel_length.tolist()))
    return {
        "encoder": judged(encoded_exact[:2], encoded[:2], ours[:2]),
        "decoder_step": judged([t for exact in steps_exact for t in exact],
                               [t for reference in step_references for t in reference],
                               [o for outputs in step_ours for o in outputs]),
        "postnet": judged([postnet_exact[row, :, :n] for row, n in valid],
                          [postnet_reference[row, :, :n] for row, n in valid],
                          [postnet_ours[row, :, :n] for row, n in valid]),
    }


def export_tacotron2(checkpoint: Path | None, output: Path, check: bool = True,
                     text_normalization: str | None = None) -> dict:
    """Export a DLE Tacotron2 checkpoint (or random weights, seed 0) as encoder/decoder_step/postnet ONNX.

    ``text_normalization`` (text.py) is recorded for the repository builder: by default the one the checkpoint's
    config names (checkpoints trained here record theirs), else DLE's, which NVIDIA's published ones were trained on.
    """
    output = Path(output)
    with Stages.of_export(output, ["load", "export", "parity", "write"], "tacotron2") as stages:
        if checkpoint is None:
            random_weights_notice("Tacotron2", "--checkpoint", "nvidia_tacotron2pyt_fp16.pt")
        model, config = build_tacotron2(checkpoint)
        normalization = check_normalization(text_normalization or config.get("text_normalization",
                                                                             TEXT_NORMALIZATION))

        stages.next("export")
        export_tacotron2_graphs(model, output)

        stages.next("parity")
        parity = check_tacotron2(model, output) if check else {}
        for graph, judged in parity.items():
            judged.check(f"{graph}.onnx")

        stages.next("write")
        defaults = DecoderSettings(
            gate_threshold=config.get("gate_threshold", DecoderSettings.gate_threshold),
            max_decoder_steps=config.get("max_decoder_steps", DecoderSettings.max_decoder_steps),
        )
        layers, units = model.prenet_shape
        info = {
            **provenance("tacotron2", checkpoint),
            "sample_rate": SAMPLE_RATE,
            "n_mel_channels": model.n_mel_channels,
            "n_symbols": model.embedding.num_embeddings,
            "text_normalization": normalization,
            "prenet_dropout_mask": [layers, units],
            "postnet_context_frames": model.postnet.context_frames,
            "decoder_defaults": {"gate_threshold": defaults.gate_threshold,
                                 "max_decoder_steps": defaults.max_decoder_steps,
                                 "prenet_dropout": defaults.prenet_dropout},
            "parameters": sum(p.numel() for p in model.parameters()),
            "graphs": {name: graph_signature(output / f"{name}.onnx")
                       for name in ("encoder", "decoder_step", "postnet")},
            "parity": {**{graph: judged.record() for graph, judged in parity.items()},
                       "decoder_steps_checked": PARITY_DECODER_STEPS if check else 0},
        }
        (output / "export.json").write_text(json.dumps(info, indent=1))
    return info

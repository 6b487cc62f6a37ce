"""The ``punctuator`` model: text -> punctuated, capitalized text (BERT token classification).

pip target: one python model (tokenize, run the network in ONNX Runtime, label). ngc target: the python model
tokenizes and labels, and runs the network through BLS on ``punctuator_network``, served by the native
onnxruntime_onnx backend on the GPU (or its TensorRT plan, given ``--tensorrt-plans``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from triton_speech.defaults import PUNCTUATION_MAX_SEQ_LENGTH
from triton_speech.ensembles import gpu, warmup
from triton_speech.ensembles.settings import RepositorySettings
from triton_speech.ensembles.spec import NativeModel, PythonModel, Tensor, read_export
from triton_speech.export.precision import DERIVED_GRAPHS, derived_graph
from triton_speech.runtime.model_settings import PunctuatorSettings
from triton_speech.runtime.profiles import punctuator_profile
from triton_speech.runtime.punctuation import INPUT_NAMES, OUTPUT_NAMES

TEXT = Tensor("TEXT", "BYTES", (1,))
PUNCTUATED_TEXT = Tensor("PUNCTUATED_TEXT", "BYTES", (1,))
# The text as received. An ensemble takes its raw transcript from here: in Triton 2.51 an ensemble output
# that a later step also reads deadlocks requests that ask for only some outputs.
UNPUNCTUATED_TEXT = Tensor("UNPUNCTUATED_TEXT", "BYTES", (1,))
NETWORK = "punctuator_network"
HEADS = ("punct", "capit")  # labels.json keys, in the order of OUTPUT_NAMES


def models(export_dir: Path, settings: RepositorySettings) -> list[PythonModel | NativeModel]:
    export_dir = Path(export_dir)
    info = read_export(export_dir, "punctuator")
    # ASR-like text (no marks, no capitals) as the ensemble sends it
    text = warmup.WARMUP_TEXT.lower().strip("?").replace(",", "")
    sample = warmup.samples(settings, TEXT=warmup.text(text))
    graph = (derived_graph(export_dir / "model.onnx", settings.precision)
             if "punctuator" in DERIVED_GRAPHS.get(settings.precision, {}) else export_dir / "model.onnx")
    served = PunctuatorSettings(max_text_chars=settings.max_punctuation_chars, intra_op_threads=settings.onnx_threads)
    files = {name: export_dir / name for name in ("vocab.txt", "labels.json", "export.json")}
    labels = json.loads((export_dir / "labels.json").read_text())
    # On a GPU a run takes at most max_batch_size windows (the profile's batch); every window is a full one at most
    network_graph = gpu.tensorrt(punctuator_profile(int(info.get("max_seq_length", PUNCTUATION_MAX_SEQ_LENGTH)),
                                                    settings.max_batch_size), half=gpu.fp16(settings, "punctuator"))
    if settings.target != "ngc":
        if settings.network_device == "gpu":
            served = replace(served, max_windows_per_run=settings.max_batch_size)
        return [PythonModel(name="punctuator", inputs=(TEXT,), outputs=(PUNCTUATED_TEXT, UNPUNCTUATED_TEXT),
                            batching=settings.batching("punctuator"), settings=served,
                            parameters=gpu.python_parameters(settings, "punctuator", {"model.onnx": network_graph}),
                            artifacts={**files, "model.onnx": graph}, device=settings.network_device,
                            warmup=sample)]
    plans = Path(settings.tensorrt_plans) if settings.tensorrt_plans else None
    network = NativeModel(
        name=NETWORK,
        inputs=tuple(Tensor(name, "INT64", (-1,)) for name in INPUT_NAMES),
        outputs=tuple(Tensor(name, "FP32", (-1, len(labels[head]))) for name, head in zip(OUTPUT_NAMES, HEADS)),
        batching=settings.batching(NETWORK),
        graph=graph,
        plan=plans / f"{NETWORK}.plan" if plans else None,
        warmup=warmup.samples(settings, **warmup.punctuator_inputs(export_dir, text)),
        **gpu.native(settings, NETWORK, network_graph),
    )
    punctuator = PythonModel(
        name="punctuator", inputs=(TEXT,), outputs=(PUNCTUATED_TEXT, UNPUNCTUATED_TEXT),
        batching=settings.batching("punctuator"),
        settings=replace(served, network=NETWORK, max_windows_per_run=settings.max_batch_size),
        artifacts=files,
        # no warm-up: it would call punctuator_network through BLS, which Triton may not have loaded yet
    )
    return [punctuator, network]

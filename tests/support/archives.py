"""Punctuator checkpoints taken apart and put back: .nemo archive members, edited weights, custom labels."""

from __future__ import annotations

import io
import tarfile

# Punctuation labels that are not NeMo's defaults, so they can only come from the checkpoint.
CUSTOM_PUNCT = ["O", "!", ",", ".", "?"]
CUSTOM_CAPIT = ["O", "U"]


def read_archive(path) -> dict[str, bytes]:
    with tarfile.open(path, "r:*") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def write_archive(path, members: dict[str, bytes], mode: str = "w:gz") -> None:
    with tarfile.open(path, mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def edited_checkpoint(members: dict[str, bytes], edit) -> dict[str, bytes]:
    import torch

    state_dict = torch.load(io.BytesIO(members["./model_weights.ckpt"]), weights_only=True)
    edit(state_dict)
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return {**members, "./model_weights.ckpt": buffer.getvalue()}

"""Ragged rows <-> padded batches with lengths."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from triton_speech.runtime.errors import InputError


def pad_batch(items: Sequence[np.ndarray], axis: int = -1, pad_value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Stack arrays that differ only along ``axis`` into one padded batch, plus their lengths (int64)."""
    axis = axis % items[0].ndim
    lengths = np.array([item.shape[axis] for item in items], dtype=np.int64)
    shape = list(items[0].shape)
    shape[axis] = int(lengths.max(initial=0))
    batch = np.full([len(items)] + shape, pad_value, dtype=items[0].dtype)
    for row, item in enumerate(items):
        index = [row] + [slice(None)] * item.ndim
        index[1 + axis] = slice(0, item.shape[axis])
        batch[tuple(index)] = item
    return batch, lengths


def unpad_batch(batch: np.ndarray, lengths: np.ndarray, axis: int, name: str) -> list[np.ndarray]:
    """Split a padded ``batch`` into its rows, each cut to its length along ``axis`` (of the row)."""
    lengths = np.asarray(lengths).reshape(-1)
    if lengths.shape[0] != batch.shape[0]:
        raise InputError(f"{name}: {batch.shape[0]} rows but {lengths.shape[0]} lengths")
    axis = axis % (batch.ndim - 1)
    rows = []
    for row, length in enumerate(lengths):
        if not 0 < length <= batch.shape[1 + axis]:
            raise InputError(f"{name}: length {int(length)} of row {row} is outside 1..{batch.shape[1 + axis]}")
        index = [slice(None)] * (batch.ndim - 1)
        index[axis] = slice(0, int(length))
        rows.append(batch[row][tuple(index)])
    return rows


def per_item_seeds(seeds: int | Sequence[int] | None, count: int) -> list[int]:
    """One seed per item: ``seeds`` itself when it is one per item, else the one seed (0 for None) for all."""
    if seeds is None or isinstance(seeds, (int, np.integer)):
        return [int(seeds or 0)] * count
    if len(seeds) != count:
        raise InputError(f"{len(seeds)} seeds for {count} items")
    return [int(s) for s in seeds]

"""The parity rule of every export: the ONNX graph against the PyTorch model run in float64.

A float32 run of a deep network is not exact: rounding grows with depth (a BatchNorm-calibrated QuartzNet 15x5 is
1e-2 in log-prob from its own float64 run). A fixed bound against the float32 model therefore refuses correct graphs
of deep models, or must be so loose that it lets wrong ones through on shallow ones. So each check runs the model in
float64 on the same inputs, and accepts the graph when it is no further from that reference than the model's own
float32 run is, up to a factor:

    error(ONNX, float64) <= PARITY_FACTOR * max(error(PyTorch float32, float64), PARITY_FLOOR)

ONNX Runtime computes in float32 too, with its own order of operations and fused kernels, so its error is of the
same order as PyTorch's (measured 0.6-0.85 of it on QuartzNet 15x5), never a multiple of it; a wrong graph (other
weights, a mask dropped, a layer missing) is orders of magnitude outside. The floor keeps the bound at or above the
fixed 1e-4 that shallow models always met: a float32 run that happens to be exact gives no zero bound.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

PARITY_FACTOR = 4.0
PARITY_FLOOR = 2.5e-5


@dataclass(frozen=True)
class Parity:
    """One output's errors against the float64 reference, in one metric (``metric`` says which)."""

    onnx: float  # the exported graph (ONNX Runtime, float32) against float64
    float32: float  # the PyTorch model in float32 against float64, on the same inputs
    onnx_vs_float32: float | None = None  # the graph against the float32 model (for the record: not judged)
    metric: str = "max abs"
    factor: float = PARITY_FACTOR
    floor: float = PARITY_FLOOR

    @property
    def bound(self) -> float:
        return self.factor * max(self.float32, self.floor)

    @property
    def passed(self) -> bool:
        return self.onnx <= self.bound

    def record(self) -> dict:
        """What export.json says of it."""
        return {"onnx_vs_float64": self.onnx, "float32_vs_float64": self.float32, "bound": self.bound,
                "factor": self.factor, "floor": self.floor, "onnx_vs_float32": self.onnx_vs_float32,
                "metric": self.metric}

    def check(self, what: str) -> None:
        if not self.passed:
            raise AssertionError(
                f"{what} differs from the float64 reference by {self.onnx:.2e} ({self.metric}) > {self.factor:g} x "
                f"max(PyTorch float32's own {self.float32:.2e}, {self.floor:g}) = {self.bound:.2e}"
            )


@contextmanager
def float64(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """``module`` in float64 for the duration (then float32 again: the round trip is exact).

    Depthwise convolutions run as sums over unfolded windows meanwhile: the same arithmetic, in float64, which
    PyTorch's own float64 depthwise convolution does about 20 times slower on CPUs (QuartzNet's 15x5 kernels).
    """
    patched = [m for m in module.modules() if _is_depthwise(m)]
    module.double()
    for conv in patched:
        conv._conv_forward = types.MethodType(_depthwise_windows, conv)
    try:
        yield module
    finally:
        for conv in patched:
            del conv._conv_forward
        module.float()


def _is_depthwise(module: torch.nn.Module) -> bool:
    return (type(module) is torch.nn.Conv1d and module.groups == module.in_channels == module.out_channels
            and module.padding_mode == "zeros" and not isinstance(module.padding, str))


def _depthwise_windows(self: torch.nn.Conv1d, x: torch.Tensor, weight: torch.Tensor,
                       bias: torch.Tensor | None) -> torch.Tensor:
    (padding,), (stride,), (dilation,) = self.padding, self.stride, self.dilation
    span = dilation * (weight.size(-1) - 1) + 1
    windows = torch.nn.functional.pad(x, (padding, padding)).unfold(2, span, stride)[..., ::dilation]
    out = torch.einsum("bctk,ck->bct", windows, weight[:, 0])
    return out if bias is None else out + bias[:, None]


def to_float64(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Floating tensors as float64 (the reference's inputs: the same values), others unchanged."""
    return tuple(t.double() if t.is_floating_point() else t for t in tensors)

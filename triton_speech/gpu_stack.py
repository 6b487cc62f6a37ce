"""The GPU software the deployment is built for, in one place: NVIDIA's Triton container of the ngc target (the
Dockerfile's base) and what it ships. The Dockerfile, ``requirements/ngc.txt`` (the container's pip packages) and
``requirements/gpu.txt`` (``make gpu-setup``) are checked against it (tests/test_gpu_stack.py), and so is what the
pinned onnxruntime-gpu links (``runtime.onnx.CUDA_LIBRARIES``).

Versions from NVIDIA's release notes of the 24.10 container (Triton 2.51, the release the pip-bundled server is).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Container:
    image: str
    python: tuple[int, int]  # the container's python3 (Ubuntu 22.04's)
    glibc: tuple[int, int]  # which manylinux wheels it runs
    cuda: tuple[int, int]
    cudnn: tuple[int, int]
    tensorrt: tuple[int, int]
    # The newest ONNX IR version and default-domain opset its onnxruntime backend (ONNX Runtime 1.19) loads
    max_ir_version: int
    max_opset: int
    driver: str  # the NVIDIA driver the container's CUDA needs (older data-center branches: forward compatibility)

    def manylinux_platforms(self) -> list[str]:
        """The wheel platform tags the container's glibc runs (pip takes one ``--platform`` each)."""
        return ["manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in range(17, self.glibc[1] + 1))]

    @property
    def python_version(self) -> str:
        return ".".join(map(str, self.python))


NGC = Container(
    image="nvcr.io/nvidia/tritonserver:24.10-py3",
    python=(3, 10),
    glibc=(2, 35),
    cuda=(12, 6),
    cudnn=(9, 5),
    tensorrt=(10, 5),
    max_ir_version=10,
    max_opset=21,
    driver="560 or later (data-center GPUs: R470.57+, R525.85+, R535.86+ or R545.23+)",
)
# The Python of the host environment `make gpu-setup` installs into (the project's .venv)
HOST_PYTHON = (3, 11)

"""The GPU package sets against the container they run in (triton_speech.gpu_stack), without the network: the
Dockerfile installs the locked set; pip resolves that set for the container's Python and glibc from the recorded
metadata of the real wheels (no package left out, none for another Python); what onnxruntime-gpu links has the
container's CUDA, cuDNN and TensorRT majors; the code runs on the container's Python."""

from __future__ import annotations

import hashlib
import html
import importlib.util
import json
import re
import subprocess
import sys
import tomllib

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from tests.support.paths import REPOSITORY_ROOT
from triton_speech.gpu_stack import HOST_PYTHON, NGC
from triton_speech.runtime.onnx import CUDA_LIBRARIES, TENSORRT_LIBRARIES

LOCK = json.loads((REPOSITORY_ROOT / "requirements" / "gpu_lock.json").read_text())
PYPROJECT = tomllib.loads((REPOSITORY_ROOT / "pyproject.toml").read_text())
# Which container component each library family belongs to (the soname's number is that component's major), and
# the wheel of `make gpu-setup` that brings it on a host. cuFFT (11) and cuRAND (10) number themselves.
FAMILIES = {"libcudart": ("cuda", "nvidia-cuda-runtime-cu12"), "libcublas": ("cuda", "nvidia-cublas-cu12"),
            "libcublasLt": ("cuda", "nvidia-cublas-cu12"), "libnvrtc": ("cuda", "nvidia-cuda-nvrtc-cu12"),
            "libcufft": (None, "nvidia-cufft-cu12"), "libcurand": (None, "nvidia-curand-cu12"),
            "libcudnn": ("cudnn", "nvidia-cudnn-cu12"), "libnvinfer": ("tensorrt", None),
            "libnvinfer_plugin": ("tensorrt", None), "libnvonnxparser": ("tensorrt", None)}
SYSTEM = re.compile(r"^(ld-linux|libc|libm|libdl|libpthread|librt|libgcc_s|libstdc\+\+)[.-]")


def gpu_lock_tool():
    spec = importlib.util.spec_from_file_location("gpu_lock", REPOSITORY_ROOT / "tools" / "gpu_lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dockerfile_builds_on_the_container_and_installs_the_locked_set():
    dockerfile = (REPOSITORY_ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM (\S+)$", dockerfile, re.M).group(1) == NGC.image
    install = re.search(r"^RUN (pip install .*?)(?<!\\)$", dockerfile, re.M | re.S).group(1)
    assert "--require-hashes" in install and "--only-binary=:all:" in install and "-r requirements/ngc.txt" in install
    assert "--ignore-requires-python" not in dockerfile  # the package declares the container's Python


def test_the_declared_python_versions_take_the_containers_and_the_code_runs_there():
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(NGC.python_version)
    vermin = "import sys, vermin; sys.exit(vermin.main())"
    result = subprocess.run([sys.executable, "-c", vermin, "--no-tips", "--violations", "--eval-annotations",
                             f"-t={NGC.python_version}-", "triton_speech", "model_repository"],
                            cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_locks_are_what_the_tool_makes_of_pyproject_today():
    sets = gpu_lock_tool().package_sets()
    for name, (python, requirements) in sets.items():
        locked = LOCK["sets"][name]
        assert locked["requirements"] == requirements, f"requirements/{name}.txt is stale: run tools/gpu_lock.py"
        assert locked["python"] == ".".join(map(str, python))
        lines = [line for line in (REPOSITORY_ROOT / "requirements" / f"{name}.txt").read_text().splitlines()
                 if not line.startswith("#")]
        assert lines == [f"{f['name']}=={f['version']} --hash=sha256:{f['sha256']}" for f in locked["files"]]
    assert sets["ngc"][0] == NGC.python and sets["gpu"][0] == HOST_PYTHON


def metadata(entry: dict) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {entry['name']}", f"Version: {entry['version']}"]
    if entry["requires_python"]:
        lines.append(f"Requires-Python: {entry['requires_python']}")
    lines += [f"Provides-Extra: {extra}" for extra in entry["provides_extra"]]
    lines += [f"Requires-Dist: {requirement}" for requirement in entry["requires_dist"]]
    return "\n".join(lines) + "\n"


def local_index(root, files: list[dict]) -> str:
    """A PEP 503 index of the recorded wheels: their real names, hashes and metadata (PEP 658); pip resolves from
    the metadata and downloads nothing in a dry run."""
    (root / "files").mkdir(parents=True)
    by_project: dict[str, list[str]] = {}
    for entry in files:
        data = metadata(entry).encode()
        (root / "files" / f"{entry['file']}.metadata").write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        requires = html.escape(entry["requires_python"] or "")
        by_project.setdefault(canonicalize_name(entry["name"]), []).append(
            f'<a href="../../files/{entry["file"]}#sha256={entry["sha256"]}" data-requires-python="{requires}" '
            f'data-dist-info-metadata="sha256={digest}" data-core-metadata="sha256={digest}">{entry["file"]}</a>')
    for project, links in by_project.items():
        (root / "simple" / project).mkdir(parents=True)
        (root / "simple" / project / "index.html").write_text("<html><body>" + "".join(links) + "</body></html>")
    return (root / "simple").as_uri()


def resolve(index: str, python: str, locked, folder) -> subprocess.CompletedProcess:
    """pip's dry run of a requirements file (its pins; hash checking would need the wheels themselves)."""
    pins = folder / "pins.txt"
    pins.write_text("".join(line.split(" --hash")[0] + "\n" for line in locked.read_text().splitlines()))
    platforms = [arg for platform in NGC.manylinux_platforms() for arg in ("--platform", platform)]
    return subprocess.run([sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed",
                           "--index-url", index, "--only-binary=:all:", "--python-version", python, *platforms,
                           "--target", str(folder / "target"), "-r", str(pins)],
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("name", ["ngc", "gpu"])
def test_the_locked_set_resolves_to_wheels_for_its_python_and_the_containers_glibc(name, tmp_path):
    locked = LOCK["sets"][name]
    index = local_index(tmp_path / "index", locked["files"])
    result = resolve(index, locked["python"], REPOSITORY_ROOT / "requirements" / f"{name}.txt", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    would = re.search(r"Would install (.*)", result.stdout).group(1).split()
    assert sorted(would) == sorted(f"{f['name']}-{f['version']}" for f in locked["files"])


def test_a_wheel_for_another_python_does_not_resolve(tmp_path):
    """The check can fail: onnxruntime-gpu with only a cp311 wheel (as 1.31 has only cp311+) for the 3.10 container."""
    files = [dict(entry, file=entry["file"].replace("cp310", "cp311")) if entry["name"] == "onnxruntime-gpu" else entry
             for entry in LOCK["sets"]["ngc"]["files"]]
    result = resolve(local_index(tmp_path / "index", files), NGC.python_version,
                     REPOSITORY_ROOT / "requirements" / "ngc.txt", tmp_path)
    assert result.returncode != 0 and "onnxruntime-gpu" in result.stderr


def linked(name: str) -> dict[str, list[str]]:
    (entry,) = [f for f in LOCK["sets"][name]["files"] if f["name"] == "onnxruntime-gpu"]
    return {library: [n for n in needed if not SYSTEM.match(n)] for library, needed in entry["linked"].items()}


def family(soname: str) -> tuple[str, int]:
    stem, major = re.match(r"(lib[A-Za-z+_]+?)(?:_(?:adv|cnn|ops|graph|heuristic|engines_\w+))?\.so\.(\d+)$",
                           soname).groups()
    return stem, int(major)


@pytest.mark.parametrize("name", ["ngc", "gpu"])
def test_onnxruntime_gpu_links_the_containers_cuda_cudnn_and_tensorrt_majors(name):
    majors = {"cuda": NGC.cuda[0], "cudnn": NGC.cudnn[0], "tensorrt": NGC.tensorrt[0]}
    for library, needed in linked(name).items():
        assert needed, library
        for soname in needed:
            stem, major = family(soname)
            component, _ = FAMILIES[stem]
            if component is not None:
                assert major == majors[component], f"{library} links {soname}; the container has {component} " \
                                                   f"{majors[component]}"


def test_the_libraries_sessions_check_are_those_the_providers_link():
    providers = linked("gpu")
    cuda = set(providers["libonnxruntime_providers_cuda.so"])
    assert set(CUDA_LIBRARIES) == cuda
    assert set(TENSORRT_LIBRARIES) == set(providers["libonnxruntime_providers_tensorrt.so"]) - cuda


def test_make_gpu_setup_brings_a_cuda_12_wheel_for_every_library_and_the_containers_tensorrt():
    wheels = {canonicalize_name(f["name"]) for f in LOCK["sets"]["gpu"]["files"]}
    for soname in CUDA_LIBRARIES:
        assert FAMILIES[family(soname)[0]][1] in wheels, soname
    extra = PYPROJECT["project"]["optional-dependencies"]["gpu"]
    (tensorrt,) = [r for r in extra if r.startswith("tensorrt")]
    assert tensorrt.startswith(f"tensorrt-cu{NGC.cuda[0]}==") and tensorrt.endswith(
        "==" + ".".join(map(str, NGC.tensorrt)) + ".0")
    makefile = (REPOSITORY_ROOT / "Makefile").read_text()
    assert "-r requirements/gpu.txt" in makefile and "tensorrt-cu12==" not in makefile  # one pin, pyproject's

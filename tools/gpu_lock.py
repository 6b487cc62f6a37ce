"""Lock the GPU package sets (needs PyPI): what the NGC container installs and what `make gpu-setup` installs.

    python tools/gpu_lock.py [--cache build/gpu_lock]

- ``requirements/ngc.txt``: the serving dependencies of pyproject.toml (and its s3 extra) with onnxruntime-gpu (the
  gpu extra's pin) in place of onnxruntime, resolved by pip for the container's Python and glibc
  (triton_speech.gpu_stack.NGC), wheels only, with their hashes (the Dockerfile installs it with --require-hashes);
- ``requirements/gpu.txt``: the gpu extra's wheels (onnxruntime-gpu and the CUDA 12 / cuDNN 9 wheels) for the host's
  Python, likewise;
- ``requirements/gpu_lock.json``: for each file, what pip resolved it from (name, version, file name, sha256,
  Requires-Python, Requires-Dist) and, for onnxruntime-gpu, the shared libraries its GPU providers link (read from the
  wheel with readelf). tests/test_gpu_stack.py replays pip's resolution offline from this record and checks the CUDA
  majors against the container.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import tomllib
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from triton_speech.gpu_stack import HOST_PYTHON, NGC  # noqa: E402

REQUIREMENTS = ROOT / "requirements"
LOCK = REQUIREMENTS / "gpu_lock.json"
# Built from source (NVIDIA's sdists fetch their wheels from NVIDIA's own index at install): not lockable here
SOURCE_ONLY = ("tensorrt",)
PROVIDER_LIBRARIES = re.compile(r"onnxruntime/capi/libonnxruntime_providers_(cuda|tensorrt)\.so$")


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[=<>!~;]", requirement, maxsplit=1)[0].lower()


def package_sets() -> dict[str, tuple[tuple[int, int], list[str]]]:
    """Lock name -> (Python version, requirements)."""
    meta = project()
    gpu = [r for r in meta["optional-dependencies"]["gpu"] if not requirement_name(r).startswith(SOURCE_ONLY)]
    ort_gpu = [r for r in gpu if requirement_name(r) == "onnxruntime-gpu"]
    # the container serves repositories from object storage too (the s3 extra: the launcher lists the bucket)
    serving = [r.split(";")[0].strip() for r in [*meta["dependencies"], *meta["optional-dependencies"]["s3"]]
               if requirement_name(r) != "onnxruntime"]
    pins = [r for r in meta["dependencies"] if requirement_name(r) in ("numpy", "protobuf")]
    return {"ngc": (NGC.python, sorted(set(serving + ort_gpu))), "gpu": (HOST_PYTHON, sorted(set(pins + gpu)))}


def resolve(python: tuple[int, int], requirements: list[str]) -> list[dict]:
    """pip's resolution (dry run, wheels only) for that Python on the container's platforms: its report's installs."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        platforms = [arg for platform in NGC.manylinux_platforms() for arg in ("--platform", platform)]
        subprocess.run([sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--ignore-installed",
                        "--only-binary=:all:", "--python-version", ".".join(map(str, python)), *platforms,
                        "--target", str(Path(folder) / "target"), "--report", str(report), *requirements],
                       check=True, stdout=subprocess.DEVNULL)
        return json.loads(report.read_text())["install"]


def linked_libraries(url: str, sha256: str, cache: Path) -> dict[str, list[str]]:
    """DT_NEEDED of the GPU provider libraries inside a wheel (downloaded once, checked against its hash)."""
    wheel = cache / url.rsplit("/", 1)[-1]
    if not wheel.exists() or hashlib.sha256(wheel.read_bytes()).hexdigest() != sha256:
        cache.mkdir(parents=True, exist_ok=True)
        urllib.request.urlretrieve(url, wheel)
    if hashlib.sha256(wheel.read_bytes()).hexdigest() != sha256:
        raise RuntimeError(f"{wheel.name}: hash differs from the index's")
    linked = {}
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as folder:
        for member in archive.namelist():
            if PROVIDER_LIBRARIES.search(member):
                path = archive.extract(member, folder)
                dynamic = subprocess.run(["readelf", "-d", path], check=True, capture_output=True, text=True).stdout
                linked[member.rsplit("/", 1)[-1]] = sorted(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]",
                                                                      dynamic))
    return linked


def lock(cache: Path) -> dict:
    record = {"container": NGC.image, "sets": {}}
    for name, (python, requirements) in package_sets().items():
        files = []
        for item in sorted(resolve(python, requirements), key=lambda i: i["metadata"]["name"].lower()):
            info, metadata = item["download_info"], item["metadata"]
            entry = {"name": metadata["name"], "version": metadata["version"],
                     "file": info["url"].rsplit("/", 1)[-1], "sha256": info["archive_info"]["hashes"]["sha256"],
                     "requires_python": metadata.get("requires_python"),
                     "requires_dist": metadata.get("requires_dist", []),
                     "provides_extra": metadata.get("provides_extra", [])}
            if metadata["name"].lower() == "onnxruntime-gpu":
                entry["linked"] = linked_libraries(info["url"], entry["sha256"], cache)
            files.append(entry)
        record["sets"][name] = {"python": ".".join(map(str, python)), "requirements": requirements, "files": files}
        lines = [f"# Generated by tools/gpu_lock.py from pyproject.toml for Python {'.'.join(map(str, python))}, "
                 f"manylinux x86_64 (glibc {'.'.join(map(str, NGC.glibc))}): edit pyproject.toml, then run it again.",
                 *(f"{f['name']}=={f['version']} --hash=sha256:{f['sha256']}" for f in files)]
        (REQUIREMENTS / f"{name}.txt").write_text("\n".join(lines) + "\n")
    LOCK.write_text(json.dumps(record, indent=1) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "gpu_lock", help="downloaded wheels")
    args = parser.parse_args(argv)
    record = lock(args.cache)
    for name, entry in record["sets"].items():
        print(f"requirements/{name}.txt: {len(entry['files'])} wheels for Python {entry['python']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

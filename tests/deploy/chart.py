"""The Helm chart rendered by the real helm (deploy/get-helm.sh, `make helm`), as Kubernetes would receive it."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "triton-speech"
VALUES = {"gpu": CHART / "values-gpu.yaml", "cpu": CHART / "values-cpu.yaml"}
RELEASE = "speech"
NAMESPACE = "speech"


def helm_binary() -> str:
    """helm as `make helm` installs it (next to the environment's python), else one on PATH."""
    beside = Path(sys.prefix) / "bin" / "helm"
    found = os.environ.get("HELM") or (str(beside) if beside.exists() else shutil.which("helm"))
    if not found:
        pytest.fail("helm not found: run `make helm` (deploy/get-helm.sh installs it into the virtual environment)")
    return found


def run_helm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=120)


@functools.lru_cache(maxsize=None)
def _template(values: tuple[str, ...], settings: tuple[str, ...], kube_version: str | None) -> tuple[str, str, int]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for path in values:
        args += ["-f", path]
    for setting in settings:
        args += ["--set", setting]
    if kube_version:
        args += ["--kube-version", kube_version]
    result = run_helm(*args)
    return result.stdout, result.stderr, result.returncode


def template(*values: str, settings: tuple[str, ...] = (), kube_version: str | None = None,
             check: bool = True) -> subprocess.CompletedProcess:
    """`helm template` of the chart with these values files (names in VALUES, or paths) and --set settings."""
    paths = tuple(str(VALUES.get(v, v)) for v in values)
    stdout, stderr, code = _template(paths, tuple(settings), kube_version)
    result = subprocess.CompletedProcess(["helm", "template"], code, stdout, stderr)
    if check and code != 0:
        pytest.fail(f"helm template {' '.join(values)} {settings} failed:\n{stderr}")
    return result


def manifests(*values: str, settings: tuple[str, ...] = (), kube_version: str | None = None) -> list[dict]:
    """The rendered manifests (YAML documents), empty documents dropped."""
    text = template(*values, settings=settings, kube_version=kube_version).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


def find(docs: list[dict], kind: str, component: str | None = None) -> list[dict]:
    return [doc for doc in docs if doc["kind"] == kind and (
        component is None or doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component)]


def one(docs: list[dict], kind: str, component: str | None = None) -> dict:
    found = find(docs, kind, component)
    assert len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}"
    return found[0]


def container(deployment: dict) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(deployment: dict) -> dict[str, dict]:
    """The container's environment: name -> its entry (value or valueFrom)."""
    return {entry["name"]: entry for entry in container(deployment).get("env", [])}


def adapter_rules(docs: list[dict]) -> list[dict]:
    """The Prometheus adapter rules the chart ships (its ConfigMap's config.yaml)."""
    configmaps = [doc for doc in find(docs, "ConfigMap") if "config.yaml" in doc.get("data", {})]
    assert len(configmaps) == 1, "expected one ConfigMap with the adapter's config.yaml"
    return yaml.safe_load(configmaps[0]["data"]["config.yaml"])["rules"]

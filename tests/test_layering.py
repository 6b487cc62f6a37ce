"""Dependencies inside ``triton_speech`` point one way. Every import of one sub-package by another, at module level or
inside a function, must be allowed by this table (a package may also import itself):

    defaults, gpu_stack  nothing
    runtime              defaults                      (what the served model.py files import)
    client               defaults, runtime
    models               defaults, runtime
    corpus               defaults, runtime, client     (template sentences, voices, manifests, calibration speech)
    export               defaults, runtime, models, corpus
    ensembles            defaults, runtime, export
    training             defaults, runtime, client, models, corpus, export, ensembles
    server               defaults, runtime
    riva                 defaults, runtime, client
    gateway              defaults, runtime, client, server, riva
    fleet                defaults, server, gateway
    benchmarks           defaults, runtime, client, models, corpus, export, ensembles, server, riva, gateway
    demo                 defaults, client, corpus, server, training, benchmarks

So ``export`` never imports ``training`` (both take what they share from ``corpus``), the served code and the
services never import export or training code, and the table has no cycle: a function-local import cannot hide one.
The served ``model.py`` files in model_repository/ import ``runtime`` and ``defaults`` only.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

from tests.support.paths import REPOSITORY_ROOT

PACKAGE = REPOSITORY_ROOT / "triton_speech"
SERVED = {"defaults", "runtime"}
ALLOWED = {
    "defaults": set(),
    "gpu_stack": set(),
    "runtime": {"defaults"},
    "client": {"defaults", "runtime"},
    "models": {"defaults", "runtime"},
    "corpus": {"defaults", "runtime", "client"},
    "export": {"defaults", "runtime", "models", "corpus"},
    "ensembles": {"defaults", "runtime", "export"},
    "training": {"defaults", "runtime", "client", "models", "corpus", "export", "ensembles"},
    "server": {"defaults", "runtime"},
    "riva": {"defaults", "runtime", "client"},
    "gateway": {"defaults", "runtime", "client", "server", "riva"},
    "fleet": {"defaults", "server", "gateway"},
    "benchmarks": {"defaults", "runtime", "client", "models", "corpus", "export", "ensembles", "server", "riva",
                   "gateway"},
    "demo": {"defaults", "client", "corpus", "server", "training", "benchmarks"},
}


def imported_packages(source: str) -> list[tuple[str, int]]:
    """The ``triton_speech`` sub-packages ``source`` imports, anywhere in it (functions, branches), with the line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = ([f"triton_speech.{alias.name}" for alias in node.names] if node.module == "triton_speech"
                       else [node.module])
        else:
            continue
        found += [(module.split(".")[1], node.lineno) for module in modules
                  if module.startswith("triton_speech.")]
    return found


def package_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else path.stem


def edges() -> list[tuple[str, str, str]]:
    """(importer, imported, where) for every import of one sub-package by another."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = package_of(path)
        for imported, line in imported_packages(path.read_text()):
            if imported != importer:
                found.append((importer, imported, f"{path.relative_to(REPOSITORY_ROOT)}:{line}"))
    return found


def test_the_parser_sees_function_local_and_package_imports():
    source = ("import triton_speech.runtime.onnx\nfrom triton_speech import client, defaults\n"
              "def f():\n    from triton_speech.training.judge import score\n"
              "class C:\n    def g(self):\n        if True:\n            import triton_speech.export.precision\n"
              "from .sibling import x\nimport numpy\n")
    assert sorted(imported_packages(source)) == [("client", 2), ("defaults", 2), ("export", 8), ("runtime", 1),
                                                 ("training", 4)]


def test_every_package_has_its_place_in_the_table():
    packages = {package_of(path) for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"
                or path.parent != PACKAGE}
    assert packages == set(ALLOWED)


def test_the_table_points_one_way():
    try:
        order = list(TopologicalSorter(ALLOWED).static_order())
    except CycleError as error:  # pragma: no cover - the message names the cycle
        pytest.fail(f"the allowed dependencies form a cycle: {error.args[1]}")
    assert order.index("corpus") < order.index("export") < order.index("training")


def test_imports_follow_the_table():
    wrong = [f"{where}: {importer} imports {imported}" for importer, imported, where in edges()
             if imported not in ALLOWED[importer]]
    assert not wrong, "imports against the one-way table:\n" + "\n".join(wrong)


def test_export_takes_what_it_shares_with_training_from_corpus():
    """The case the table was made for, stated on its own: calibration speech comes from ``corpus``."""
    found = {(importer, imported) for importer, imported, _ in edges()}
    assert ("export", "corpus") in found and ("training", "corpus") in found
    assert ("export", "training") not in found


@pytest.mark.parametrize("model", sorted(path.parents[1].name for path in (REPOSITORY_ROOT / "model_repository")
                                         .glob("*/1/model.py")))
def test_served_model_files_import_only_served_code(model):
    source = (REPOSITORY_ROOT / "model_repository" / model / "1" / "model.py").read_text()
    assert {imported for imported, _ in imported_packages(source)} <= SERVED

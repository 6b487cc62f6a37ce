"""The ``export`` and ``postgres`` markers come from the fixtures a test uses (tests/support/markers.py): tests of the
shipped defaults' exports and of the PostgreSQL parameter are marked, tests that use neither are not, and every
fixture that calls an exporter is one the derivation sees."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys

from tests.support.markers import derived_markers
from tests.support.paths import REPOSITORY_ROOT

TESTS = REPOSITORY_ROOT / "tests"


def collected(marker: str, *paths: str) -> set[str]:
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             "-m", marker, *paths], cwd=REPOSITORY_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return {line for line in result.stdout.splitlines() if "::" in line}


def test_the_markers_of_a_fixture_closure():
    assert derived_markers(["tmp_path", "default_tacotron2_export"]) == {"export"}  # by its name
    assert derived_markers(["decoding_case"]) == {"export"}  # registered: it builds a tiny Tacotron2
    importlib.import_module("tests.gateway.conftest")  # where the postgres fixture is registered
    assert derived_markers(["postgres", "request"]) == {"postgres"}
    assert derived_markers(["tmp_path", "monkeypatch", "request"]) == set()


def test_collected_tests_carry_the_markers_of_their_fixtures():
    files = ("tests/export/test_precision.py", "tests/integration/test_default_tts.py", "tests/gateway/test_routes.py")
    export = collected("export", *files)
    # default_quartznet_export (through trained_export) and default_tacotron2_export (through default_tts_server)
    assert "tests/export/test_precision.py::test_the_drift_check_refuses_a_graph_whose_transcripts_drift" in export
    assert "tests/integration/test_default_tts.py::test_served_tts_is_the_in_process_pipeline" in export
    assert "tests/export/test_precision.py::test_int8_calibration_and_check_speak_no_sentence_of_a_test_set" \
        not in export
    assert not any(test.startswith("tests/gateway/test_routes.py") for test in export)  # the fake inference service
    postgres = collected("postgres", *files)
    route = "tests/gateway/test_routes.py::test_a_transcription_is_stored_read_listed_fetched_and_deleted"
    assert f"{route}[postgresql]" in postgres and f"{route}[sqlite]" not in postgres
    on_postgresql = re.compile(r".*\[(.*-)?postgresql(-.*)?\]")
    assert postgres == {test for test in collected("not export", *files) if on_postgresql.fullmatch(test)}


def fixtures() -> dict[str, list[ast.FunctionDef]]:
    """Every fixture function defined under tests/, by name."""
    found: dict[str, list[ast.FunctionDef]] = {}
    for path in TESTS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list):
                found.setdefault(node.name, []).append(node)
    return found


def registered(node: ast.FunctionDef, marker: str) -> bool:
    return any(re.fullmatch(rf"marks\(.*'{marker}'.*\)", ast.unparse(d)) for d in node.decorator_list)


def calls_an_exporter(node: ast.FunctionDef) -> bool:
    """Calls ``quartznet.export``, ``export_tacotron2``, ``export_punctuator``...: a function of triton_speech.export
    (torch.onnx.export is left to the fixtures' names)."""
    names = {(call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", ""))
             for call in ast.walk(node) if isinstance(call, ast.Call)
             and not ast.unparse(call.func).startswith("torch.onnx")}
    return any(re.fullmatch(r"export(_\w+)?", name) for name in names)


def test_every_fixture_that_exports_is_seen_by_the_derivation():
    defined = fixtures()

    def exports(name: str, seen: frozenset = frozenset()) -> bool:
        if "export" in derived_markers([name]):
            return True
        return any(registered(node, "export") or any(exports(arg.arg, seen | {name}) for arg in node.args.args
                                                     if arg.arg in defined and arg.arg not in seen)
                   for node in defined.get(name, []))

    exporting = {name for name, nodes in defined.items() if any(calls_an_exporter(node) for node in nodes)}
    assert {"quartznet_export", "default_quartznet_export", "default_tacotron2_export"} <= exporting
    assert not [name for name in exporting if not exports(name)]

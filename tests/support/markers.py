"""Markers derived from the fixtures a test uses, so that no list of tests or fixtures is kept by hand.

A test is marked ``export`` when it uses, directly or through other fixtures, a fixture whose name ends in
``_export`` (the convention for a fixture that makes an export) or one registered with ``@marks("export")`` (a
model or checkpoint the session builds, seconds to a minute each); ``postgres`` when it uses one registered with
``@marks("postgres")`` (it starts PostgreSQL) or runs on the PostgreSQL parameter of a database fixture
(``POSTGRESQL``). Quick runs leave them out: ``-m "not export and not postgres"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

# fixture name -> the markers of every test that uses it
FIXTURE_MARKERS: dict[str, set[str]] = {}
NAME_SUFFIX_MARKERS = {"_export": "export"}
# The database parameter that runs a test on the session's PostgreSQL (its fixture starts the server on demand).
POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.postgres, id="postgresql")


def marks(*markers: str) -> Callable:
    """Register a fixture function (put it under ``@pytest.fixture``): tests that use it get ``markers``."""
    def register(function: Callable) -> Callable:
        FIXTURE_MARKERS.setdefault(function.__name__, set()).update(markers)
        return function
    return register


def derived_markers(fixturenames: Iterable[str]) -> set[str]:
    """The markers a test gets from the closure of the fixtures it uses."""
    found: set[str] = set()
    for name in fixturenames:
        found |= FIXTURE_MARKERS.get(name, set())
        found |= {marker for suffix, marker in NAME_SUFFIX_MARKERS.items() if name.endswith(suffix)}
    return found


def mark_items(items) -> None:
    for item in items:
        for marker in sorted(derived_markers(getattr(item, "fixturenames", ()))):
            item.add_marker(getattr(pytest.mark, marker))

"""Gateway fixtures: every database-touching fixture runs once on SQLite and once on a real PostgreSQL (Debian's
server, started by the session); the application in-process before a fake inference service (route tests without
Triton); the gateway before a real Triton serving the trained defaults (``gateway``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.gateway import (
    DATABASES,
    GATEWAY_LIMITS,
    Api,
    RunningGateway,
    gateway_settings,
    new_database,
    running_api,
)
from tests.support.markers import marks
from tests.support.ports import free_port
from triton_speech.fleet.postgres import PostgresServer, bin_dir


@pytest.fixture(scope="session")
@marks("postgres")
def postgres() -> Iterator[PostgresServer]:
    if bin_dir() is None:
        pytest.fail("PostgreSQL's server is not installed (make setup installs it: apt-get install postgresql)")
    server = PostgresServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path) -> str:
    return new_database(request.param, tmp_path, request)


@pytest.fixture()
def api(database_url, tmp_path) -> Iterator[Api]:
    with running_api(database_url, tmp_path, rate_limit="100000/minute") as running:
        yield running


@pytest.fixture(scope="session", params=DATABASES)
def gateway(request, default_speech_server, tmp_path_factory) -> Iterator[RunningGateway]:
    """The gateway before ``default_speech_server``, on a database (SQLite, PostgreSQL) and media directory of its
    own, with the test limits (GATEWAY_LIMITS) and one API key."""
    from triton_speech.gateway.database import Database
    from triton_speech.gateway.keys import KeyStore
    from triton_speech.gateway.serving import gateway_in_thread

    folder = tmp_path_factory.mktemp(f"gateway_{request.param}")
    settings = gateway_settings(new_database(request.param, folder, request), folder,
                                triton_url=default_speech_server.grpc_url, **GATEWAY_LIMITS)
    database = Database(settings.database_url)
    database.migrate()
    key = KeyStore(database).create("tests")[1]
    database.close()
    with gateway_in_thread(settings, free_port()) as url:
        yield RunningGateway(url, settings, key)


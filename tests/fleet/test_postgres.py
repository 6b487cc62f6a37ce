"""The private PostgreSQL server: a database a client can use, and nothing left once closed."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.ports import free_port
from triton_speech.fleet.postgres import PostgresServer
from triton_speech.server import procfs


# (the test starts its own server rather than use a fixture's: what it checks is that server)
@pytest.mark.postgres
def test_a_private_server_serves_a_new_database_and_leaves_nothing_when_closed():
    server = PostgresServer(free_port())
    with server:
        url = server.create_database("speech")
        assert url == f"postgresql+psycopg://{server.user}@127.0.0.1:{server.port}/speech"
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
            assert connection.execute("SELECT current_database()").fetchone() == ("speech",)
        postmaster = server.pid()
        assert postmaster is not None and procfs.alive(postmaster)
    assert not procfs.alive(postmaster) and not server.root.exists()

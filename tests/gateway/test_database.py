"""Stored rows: the migrations make exactly the models' schema, and the queries the gateway makes."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from triton_speech.gateway.database import Base, Database, Speech, Transcription


def transcription(index: int) -> Transcription:
    return Transcription(name=f"clip{index}.wav", text=f"Text {index}.", raw_text=f"text {index}", words=None,
                         duration_s=1.5, inference_time_s=0.01, audio_file=f"{index:032x}.wav", media_type="audio/wav")


def test_migrations_make_the_models_schema(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'db' / 'gateway.sqlite3'}")  # the folder is created
    database.migrate()
    database.migrate()  # at every start: nothing left to do the second time
    with database.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    with sqlite3.connect(tmp_path / "db" / "gateway.sqlite3") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert {"transcriptions", "speech", "alembic_version"} <= tables and version == [("0001",)]


def test_rows_are_added_paged_newest_first_and_deleted(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'gateway.sqlite3'}")
    database.migrate()
    added = [database.add(transcription(i)) for i in range(1, 6)]
    assert [row.id for row in added] == [1, 2, 3, 4, 5]
    rows, total = database.page(Transcription, limit=2, offset=1)
    assert total == 5 and [row.id for row in rows] == [4, 3]
    assert database.get(Transcription, 3).text == "Text 3." and database.get(Transcription, 9) is None
    assert database.get(Transcription, 2).created_at.tzinfo is not None
    assert database.delete(Transcription, 3).audio_file == f"{3:032x}.wav"
    assert database.delete(Transcription, 3) is None
    assert database.page(Transcription, limit=10, offset=0)[1] == 4
    assert database.page(Speech, limit=10, offset=0) == ([], 0)


def test_concurrent_writers_all_land(tmp_path):
    """The gateway writes from its thread pool: SQLite serializes the writers (WAL, busy timeout), none fails."""
    database = Database(f"sqlite:///{tmp_path / 'gateway.sqlite3'}")
    database.migrate()
    with ThreadPoolExecutor(8) as pool:
        rows = list(pool.map(lambda i: database.add(transcription(i)), range(40)))
    assert sorted(row.id for row in rows) == list(range(1, 41))
    with sqlite3.connect(tmp_path / "gateway.sqlite3") as connection:
        stored = dict(connection.execute("SELECT audio_file, name FROM transcriptions").fetchall())
    assert stored == {f"{i:032x}.wav": f"clip{i}.wav" for i in range(40)}

"""Stored rows, on SQLite and PostgreSQL: the migrations make exactly the models' schema (also from the first
schema, with rows in it), the queries the gateway makes, rows kept to their owners, ids never reused, deletes
that find a row exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from tests.support.gateway import read_rows
from triton_speech.gateway.database import Base, Database, Speech, Transcription, migrate


def transcription(index: int, owner: int | None = None) -> Transcription:
    return Transcription(key_id=owner, name=f"clip{index}.wav", text=f"Text {index}.", raw_text=f"text {index}",
                         words=None, duration_s=1.5, inference_time_s=0.01, audio_file=f"{index:032x}.wav",
                         media_type="audio/wav")


@pytest.fixture()
def database(database_url):
    database = Database(database_url)
    database.migrate()
    yield database
    database.close()


def owners(database: Database) -> tuple[int, int]:
    from triton_speech.gateway.keys import KeyStore

    store = KeyStore(database)
    return store.create("alice")[0].id, store.create("bob")[0].id


def test_migrations_make_the_models_schema(database_url):
    database = Database(database_url)
    database.migrate()
    database.migrate()  # at every start: nothing left to do the second time
    with database.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    database.close()
    assert version == ["0002"]


def test_a_sqlite_file_gets_its_folder(tmp_path):
    Database(f"sqlite:///{tmp_path / 'db' / 'gateway.sqlite3'}").migrate()
    assert (tmp_path / "db" / "gateway.sqlite3").exists()


def test_rows_of_the_first_schema_survive_the_upgrade_as_anonymous_rows(database_url):
    database = Database(database_url)
    migrate(database.engine, "0001")
    with database.engine.begin() as connection:
        for index in (1, 2, 3):
            connection.execute(text(
                "INSERT INTO transcriptions (name, text, raw_text, duration_s, inference_time_s, audio_file, "
                f"media_type, created_at) VALUES ('c{index}', 't', 'r', 1, 1, 'f{index}', 'audio/wav', "
                "CURRENT_TIMESTAMP)"))
        connection.execute(text("DELETE FROM transcriptions WHERE id = 3"))
    database.migrate()
    assert [(row["id"], row["name"], row["key_id"]) for row in read_rows(database_url, "transcriptions")] == [
        (1, "c1", None), (2, "c2", None)]
    # 3 was deleted before the upgrade: PostgreSQL's sequence knows it, SQLite without AUTOINCREMENT did not
    after = database.add(transcription(9)).id
    assert after == (3 if database_url.startswith("sqlite") else 4)
    database.delete(Transcription, after, None)
    assert database.add(transcription(10)).id == after + 1  # from now on, never again
    database.close()


def test_rows_are_added_paged_newest_first_and_deleted(database):
    added = [database.add(transcription(i)) for i in range(1, 6)]
    assert [row.id for row in added] == [1, 2, 3, 4, 5]
    rows, total = database.page(Transcription, limit=2, offset=1, owner=None)
    assert total == 5 and [row.id for row in rows] == [4, 3]
    assert database.get(Transcription, 3, None).text == "Text 3." and database.get(Transcription, 9, None) is None
    assert database.get(Transcription, 2, None).created_at.tzinfo is not None
    assert database.delete(Transcription, 3, None) == f"{3:032x}.wav"
    assert database.delete(Transcription, 3, None) is None
    assert database.page(Transcription, limit=10, offset=0, owner=None)[1] == 4
    assert database.page(Speech, limit=10, offset=0, owner=None) == ([], 0)


def test_rows_belong_to_their_owner(database):
    alice, bob = owners(database)
    mine, theirs = database.add(transcription(1, alice)), database.add(transcription(2, bob))
    anonymous = database.add(transcription(3))
    assert database.get(Transcription, mine.id, bob) is None and database.get(Transcription, mine.id, None) is None
    assert database.get(Transcription, theirs.id, bob).name == "clip2.wav"
    assert [row.id for row in database.page(Transcription, 10, 0, alice)[0]] == [mine.id]
    assert [row.id for row in database.page(Transcription, 10, 0, None)[0]] == [anonymous.id]
    assert database.delete(Transcription, mine.id, bob) is None and database.get(Transcription, mine.id, alice)
    assert database.delete(Transcription, mine.id, alice) == mine.audio_file


def test_the_newest_rows_id_is_never_given_again(database):
    first = database.add(transcription(1)).id
    newest = database.add(transcription(2)).id
    assert database.delete(Transcription, newest, None) is not None
    assert database.add(transcription(3)).id == newest + 1  # an old URL of the deleted row finds nothing
    assert database.get(Transcription, newest, None) is None and first == newest - 1


def test_concurrent_deletes_of_one_row_find_it_once(database):
    rows = [database.add(transcription(i)) for i in range(10)]
    for row in rows:
        barrier = threading.Barrier(8)

        def delete(row_id: int, barrier=barrier) -> str | None:
            barrier.wait()
            return database.delete(Transcription, row_id, None)

        with ThreadPoolExecutor(8) as pool:
            found = [name for name in pool.map(delete, [row.id] * 8) if name is not None]
        assert found == [row.audio_file]


def test_concurrent_writers_all_land(database, database_url):
    """The gateway writes from its thread pool: concurrent writers wait for each other (SQLite: WAL and a busy
    timeout), none fails."""
    with ThreadPoolExecutor(8) as pool:
        rows = list(pool.map(lambda i: database.add(transcription(i)), range(40)))
    assert sorted(row.id for row in rows) == list(range(1, 41))
    stored = {row["audio_file"]: row["name"] for row in read_rows(database_url, "transcriptions")}
    assert stored == {f"{i:032x}.wav": f"clip{i}.wav" for i in range(40)}


def test_ping_says_whether_the_database_answers(database):
    database.ping()
    away = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    with pytest.raises(Exception, match="(?i)connect"):
        away.ping()

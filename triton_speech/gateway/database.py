"""Stored results, as the seed's Django models had them (``ASRText``, ``TTSSound``): SQLAlchemy models and the
queries the gateway makes. SQLite by default; any SQLAlchemy URL (``DATABASE_URL``, e.g.
``postgresql+psycopg://user@host/db``) works. The schema is Alembic's migrations (``migrations/``), applied at start.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, create_engine, event, func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Times in UTC, read back as aware datetimes: SQLite keeps no time zone, and a naive time would be taken
    for the browser's local time."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect):
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value: datetime | None, _dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class Transcription(Base):
    """An uploaded recording and what the ``asr`` ensemble heard in it."""

    __tablename__ = "transcriptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))  # the client's file name, shown, never used as a path
    text: Mapped[str] = mapped_column(Text)  # punctuated
    raw_text: Mapped[str] = mapped_column(Text)  # the CTC decoder's words
    words: Mapped[list | None] = mapped_column(JSON, nullable=True)  # word timestamps, when the asr model has them
    duration_s: Mapped[float] = mapped_column(Float)
    inference_time_s: Mapped[float] = mapped_column(Float)
    audio_file: Mapped[str] = mapped_column(String(64), unique=True)
    media_type: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, index=True)


class Speech(Base):
    """A text and the speech the ``tts`` ensemble made of it (a 16-bit WAV)."""

    __tablename__ = "speech"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    sample_rate: Mapped[int] = mapped_column(Integer)
    step_limit_reached: Mapped[bool] = mapped_column(Boolean)
    inference_time_s: Mapped[float] = mapped_column(Float)
    audio_file: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now, index=True)


Row = Transcription | Speech


def _sqlite_pragmas(connection, _record) -> None:
    # WAL lets readers go on while one request writes; concurrent writers wait for each other instead of failing.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create(url: str) -> Engine:
    """An engine for ``url``; a SQLite file's directory is created."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic (creates it in an empty database)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class Database:
    """Blocking queries, one short session each: the gateway runs them in its thread pool."""

    def __init__(self, url: str):
        self.engine = create(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        migrate(self.engine)

    def add(self, row: Row) -> Row:
        with self.sessions.begin() as session:
            session.add(row)
        return row

    def get(self, model: type[Row], row_id: int) -> Row | None:
        with self.sessions() as session:
            return session.get(model, row_id)

    def page(self, model: type[Row], limit: int, offset: int) -> tuple[list[Row], int]:
        """Rows newest first, and how many there are in all."""
        with self.sessions() as session:
            rows = session.scalars(select(model).order_by(model.id.desc()).limit(limit).offset(offset)).all()
            return list(rows), session.scalar(select(func.count()).select_from(model))

    def delete(self, model: type[Row], row_id: int) -> Row | None:
        """Remove the row; returns it (for its file), or None when there was none."""
        with self.sessions.begin() as session:
            row = session.get(model, row_id)
            if row is not None:
                session.delete(row)
            return row

    def close(self) -> None:
        self.engine.dispose()

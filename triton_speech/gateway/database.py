"""Stored results, as the seed's Django models had them (``ASRText``, ``TTSSound``), each owned by the API key that
made it, and the keys: SQLAlchemy models and the queries the gateway makes. SQLite by default; PostgreSQL
(``DATABASE_URL=postgresql+psycopg://user@host/db``) is tested as well. The schema is Alembic's migrations
(``migrations/``), applied at start.

Ids are never reused (SQLite's AUTOINCREMENT, PostgreSQL's sequences): a deleted row's URL can never name a newer
row. Every query of a stored row names its owner: another key's rows do not exist for a caller.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# A database that does not answer within this is away: the request gets 503 rather than waiting
CONNECT_TIMEOUT_S = 5


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


# SQLite reuses the largest id once its row is deleted unless the table says AUTOINCREMENT
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class ApiKey(Base):
    """An API key (``keys.py``): only its SHA-256 digest is kept, never the key."""

    __tablename__ = "api_keys"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the key's first characters, to tell keys apart in a list
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Transcription(Base):
    """An uploaded recording and what the ``asr`` ensemble heard in it."""

    __tablename__ = "transcriptions"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The key that made it (None: made without a key, when the gateway admits anonymous requests)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True, index=True)
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
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True, index=True)
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
        # pre-ping: connections the server dropped (a restart) are replaced, not handed to a request
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if parsed.get_backend_name() == "postgresql" else {}
        return create_engine(url, pool_pre_ping=True, pool_timeout=CONNECT_TIMEOUT_S, connect_args=connect_args)
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
    """Blocking queries, one short session each: the gateway runs them in its thread pool. ``owner`` is the id of
    the key a request comes from (None: anonymous)."""

    def __init__(self, url: str):
        self.engine = create(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        migrate(self.engine)

    def ping(self) -> None:
        """Raises when the database cannot be reached."""
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def add(self, row: Row) -> Row:
        with self.sessions.begin() as session:
            session.add(row)
        return row

    def get(self, model: type[Row], row_id: int, owner: int | None) -> Row | None:
        with self.sessions() as session:
            return session.scalar(select(model).where(model.id == row_id, model.key_id == owner))

    def page(self, model: type[Row], limit: int, offset: int, owner: int | None) -> tuple[list[Row], int]:
        """The owner's rows newest first, and how many the owner has in all."""
        with self.sessions() as session:
            owned = model.key_id == owner
            rows = session.scalars(select(model).where(owned).order_by(model.id.desc()).limit(limit).offset(offset))
            return list(rows), session.scalar(select(func.count()).select_from(model).where(owned))

    def delete(self, model: type[Row], row_id: int, owner: int | None) -> str | None:
        """Remove the owner's row and return its file's name, or None when there was none. One statement: of
        several deletes of one row at once, exactly one finds it."""
        with self.sessions.begin() as session:
            statement = delete(model).where(model.id == row_id, model.key_id == owner).returning(model.audio_file)
            return session.scalar(statement)

    def audio_files(self, model: type[Row]) -> set[str]:
        """The media file names the rows of ``model`` name."""
        with self.sessions() as session:
            return set(session.scalars(select(model.audio_file)))

    def names_file(self, model: type[Row], name: str) -> bool:
        with self.sessions() as session:
            return session.scalar(select(model.id).where(model.audio_file == name)) is not None

    def close(self) -> None:
        self.engine.dispose()

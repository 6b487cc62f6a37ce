"""Alembic environment: the gateway passes its connection (``database.migrate``); the ``alembic`` command
(``alembic -c triton_speech/gateway/migrations/alembic.ini``) takes ``DATABASE_URL``."""

import os

from alembic import context
from sqlalchemy import engine_from_config, pool

from triton_speech import defaults
from triton_speech.gateway.database import Base

config = context.config
connection = config.attributes.get("connection")


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    config.set_main_option("sqlalchemy.url", os.environ.get("DATABASE_URL", defaults.DATABASE_URL))
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as opened:
        run(opened)

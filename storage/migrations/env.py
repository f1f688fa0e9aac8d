"""Alembic environment: run with a connection handed in by storage.migrate, or from a URL on the CLI."""

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_with(connection: Connection) -> None:
    # render_as_batch lets ALTERs work on SQLite, which cannot alter most constraints in place.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_with(connection)
else:
    # Offline use (`alembic revision --autogenerate`) with a synchronous URL from alembic.ini's -x url=...
    url = context.get_x_argument(as_dictionary=True).get("url", "sqlite:///./daifu.db")
    engine = engine_from_config({"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as sync_connection:
        run_with(sync_connection)

"""Bring a database's schema to the newest Alembic revision; the bot does this on start.

Several workers (or a one-shot `migrate` beside them) may start at once on one PostgreSQL database: the upgrade
holds an advisory lock for its whole transaction, so one of them upgrades and the others, let in after it has
committed, find the schema at the head already and do nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.database import Database

MIGRATIONS = Path(__file__).with_name("migrations")
# "daifu" in ASCII: in pg_locks (classid 100, objid 1634297461) it says whose lock it is.
MIGRATION_LOCK_KEY = int.from_bytes(b"daifu", "big")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Held until this transaction commits, after the last migration (Alembic runs inside the transaction it is
        # handed), and let go by a crash too. Taken before Alembic reads alembic_version, so a worker let in after
        # another's upgrade reads the version that one committed (each READ COMMITTED statement sees it). Advisory
        # locks belong to one database: two databases on one server never wait for each other here.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    # SQLite takes none: an SQLite file serves one bot process (several workers need PostgreSQL), which upgrades
    # before it serves anything, and `migrate` is run before it or instead of it, not beside it.
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def upgrade_to_head(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.run_sync(_upgrade)

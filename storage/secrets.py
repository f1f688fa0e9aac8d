"""Secrets daifu makes for itself when the environment leaves them unset, kept across restarts."""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError

from storage.database import Database
from storage.models import AppSecret


async def get_or_create_secret(db: Database, name: str) -> str:
    async with db.transaction() as session:
        row = await session.get(AppSecret, name)
        if row is not None:
            return row.value
    try:
        async with db.transaction() as session:
            session.add(AppSecret(name=name, value=secrets.token_urlsafe(32)))
    except IntegrityError:
        pass  # another worker made it first; theirs is the one everyone uses
    async with db.transaction() as session:
        row = await session.get(AppSecret, name)
        assert row is not None
        return row.value

"""Secrets daifu makes for itself when the environment leaves them unset (webhook, sandbox, web forms).

Each is remembered for the log redaction (services.redaction) the moment it is made or read, before any
statement that stores it could be logged, then kept in the database (storage.secrets, encrypted when
SECRETS_KEY is set) so every worker and every restart uses the same one.
"""

from __future__ import annotations

import secrets

from services.redaction import remember
from storage.database import Database
from storage.secrets import keep_secret, read_secret


async def app_secret(db: Database, name: str) -> str:
    found = await read_secret(db, name)
    if found is None:
        made = secrets.token_urlsafe(32)
        remember(made)
        found = await keep_secret(db, name, made)
    remember(found)
    return found

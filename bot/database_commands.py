"""The commands that work on the database alone: `migrate`, `apikey create|revoke`, `rotate-secrets`.

Each upgrades the schema first (a fresh database gets its tables, as when the bot starts) and prints one line
and returns 2 when the database cannot be used, as a start does (bot.start_failures)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.settings import Settings
from bot.start_failures import StartFailure, database_at, invalid_settings
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.secrets import SecretsKeyError, parse_keys


class DatabaseOnly(BaseSettings):
    """The settings `apikey` needs, read like Settings reads them (environment, then .env)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    database_url: str = Settings.model_fields["database_url"].default
    secrets_key: SecretStr | None = None  # the shop's callback secret is stored encrypted with it


@asynccontextmanager
async def upgraded(url: str) -> AsyncIterator[Database]:
    """The database at url with its schema at the newest revision; disposed of on the way out."""
    with database_at(url):
        db = Database(url)
    try:
        with database_at(url):
            await upgrade_to_head(db)
        yield db
    finally:
        await db.dispose()


def failed(line: str) -> int:
    print(f"daifu: {line}", file=sys.stderr)
    return 2


def migrate(settings: Settings) -> int:
    async def run() -> None:
        async with upgraded(settings.database_url):
            pass

    try:
        asyncio.run(run())
    except StartFailure as error:
        return failed(str(error))
    print("daifu: the database schema is up to date.")
    return 0


def apikey(action: str, name: str, prog: str) -> int:
    """`apikey create <shop>` prints a new key and the shop's callback secret; `apikey revoke <prefix>`.

    Before the full settings: managing keys needs only DATABASE_URL, not a bot token or providers."""
    name = name.strip()
    if not name:
        return failed(f"usage: {prog} apikey create SHOP | {prog} apikey revoke PREFIX (a name, not blanks)")
    try:
        wanted = DatabaseOnly()
    except ValidationError as error:
        return failed(invalid_settings(error))
    try:
        fernet_keys = parse_keys(wanted.secrets_key.get_secret_value()) if wanted.secrets_key else []
    except ValueError as error:  # says which key in the list, never the key
        return failed(f"the settings are not valid:\n  SECRETS_KEY: {error}")

    async def run() -> int:
        from services.api_keys import ApiKeys
        from storage.secrets import use_keys

        use_keys(fernet_keys)
        async with upgraded(wanted.database_url) as db:
            keys = ApiKeys(db)
            if action == "revoke":
                if not await keys.revoke(name, revoked_by=None):
                    return failed(f"no active API key has the prefix {name!r}; nothing was revoked.")
                print(f"daifu: the API key {name} is revoked; requests with it now get 401.")
                return 0
            made = await keys.create(name, created_by=None)
            print(
                f"daifu: a new API key for the shop {made.shop.name!r}.\n"
                f"  API key:         {made.key}\n"
                f"  callback secret: {made.callback_secret}\n"
                "Both are shown only this once: store them now (the key is kept only as a hash).\n"
                "The API key goes in 'Authorization: Bearer <key>'; the callback secret checks the\n"
                f"Daifu-Signature of callbacks. Revoke the key with: {prog} apikey revoke {made.prefix}"
            )
            return 0

    try:
        return asyncio.run(run())
    except SecretsKeyError as error:
        return failed(f"{error}.")
    except StartFailure as error:
        return failed(str(error))


def rotate_secrets(settings: Settings) -> int:
    """Re-encrypt every stored secret with the first SECRETS_KEY key (all keys in the list decrypt)."""
    from storage.secrets import rotate, use_keys

    if not settings.secrets_keys:
        return failed("SECRETS_KEY is not set, so there is no key to encrypt with (see .env.example).")
    use_keys(settings.secrets_keys)

    async def run() -> int:
        async with upgraded(settings.database_url) as db:
            return await rotate(db)

    try:
        done = asyncio.run(run())
    except SecretsKeyError as error:
        return failed(f"{error}; nothing was changed.")
    except StartFailure as error:
        return failed(str(error))
    print(f"daifu: {done} stored secrets are encrypted with the first key of SECRETS_KEY; the others can go.")
    return 0

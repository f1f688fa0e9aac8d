"""Secrets kept in the database (daifu's own generated secrets, the shops' callback secrets), encrypted at rest.

With SECRETS_KEY set (a comma list of Fernet keys), each such value is stored as `fernet:<token>`, encrypted
with the first key; every key in the list decrypts, which is how a key is rotated: put the new key first,
run `python -m bot rotate-secrets` (everything is re-encrypted with it), then drop the old key. A value with
no `fernet:` prefix was stored before any key was set and is read as it is (and encrypted by the next
rotation). A stored value no configured key opens is a SecretsKeyError, raised at start (check_readable),
never garbage handed on as a secret.

The keys are the process's, like its logging: `use_keys` is called once at start (bot.runtime, the CLI).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage.database import Database
from storage.models import AppSecret, Shop

SEALED = "fernet:"


class SecretsKeyError(RuntimeError):
    """SECRETS_KEY cannot open what the database holds (wrong key, or none while values are encrypted)."""


class Sealer:
    """Encrypts with the first key, decrypts with any; without keys, stores and reads plain text."""

    def __init__(self, keys: Sequence[str] = ()) -> None:
        self._fernet = MultiFernet([Fernet(key.encode()) for key in keys]) if keys else None

    @property
    def keyed(self) -> bool:
        return self._fernet is not None

    def seal(self, value: str) -> str:
        if self._fernet is None:
            return value
        return SEALED + self._fernet.encrypt(value.encode()).decode()

    def unseal(self, stored: str, *, what: str = "a stored secret") -> str:
        if not stored.startswith(SEALED):
            return stored  # kept before a key was set
        if self._fernet is None:
            raise SecretsKeyError(f"{what} is encrypted, but SECRETS_KEY is not set: set the key it was stored with")
        try:
            return self._fernet.decrypt(stored.removeprefix(SEALED).encode()).decode()
        except InvalidToken:
            raise SecretsKeyError(
                f"no key in SECRETS_KEY decrypts {what}: keep the key it was stored with in the list"
            ) from None


_sealer = Sealer()


def use_keys(keys: Sequence[str]) -> None:
    """The keys this process encrypts (first) and decrypts (all) with; empty: plain text, as before any key."""
    global _sealer
    _sealer = Sealer(keys)


def keyed() -> bool:
    """Whether values are encrypted as they are stored (SECRETS_KEY is set)."""
    return _sealer.keyed


def seal(value: str) -> str:
    return _sealer.seal(value)


def unseal(stored: str, *, what: str = "a stored secret") -> str:
    return _sealer.unseal(stored, what=what)


def parse_keys(text: str) -> list[str]:
    """The keys of a SECRETS_KEY value; ValueError (without the value) for one that is not a Fernet key."""
    keys = [part.strip() for part in text.split(",") if part.strip()]
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except (ValueError, TypeError):
            raise ValueError(
                f"key {number} is not a Fernet key (32 bytes in URL-safe base64; make one with"
                ' python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
            ) from None
    return keys


async def read_secret(db: Database, name: str) -> str | None:
    async with db.transaction() as session:
        row = await session.get(AppSecret, name)
        return None if row is None else unseal(row.value, what=f"the app secret {name!r}")


async def keep_secret(db: Database, name: str, value: str) -> str:
    """Store this value under the name unless one is there already; the one everyone uses is returned."""
    try:
        async with db.transaction() as session:
            session.add(AppSecret(name=name, value=seal(value)))
    except IntegrityError:
        pass  # another worker made it first; theirs is the one everyone uses
    found = await read_secret(db, name)
    assert found is not None
    return found


async def get_or_create_secret(db: Database, name: str) -> str:
    """The named secret, made now if there is none (services.app_secrets does the same and keeps it off the logs)."""
    found = await read_secret(db, name)
    return found if found is not None else await keep_secret(db, name, secrets.token_urlsafe(32))


async def check_readable(db: Database) -> None:
    """Raise SecretsKeyError now, at start, if any stored secret cannot be decrypted with the keys in use."""
    async with db.transaction() as session:
        for row in (await session.exec(select(AppSecret))).all():
            unseal(row.value, what=f"the app secret {row.name!r}")
        kept = select(Shop.name, Shop.callback_secret).where(col(Shop.callback_secret).is_not(None))
        for name, secret in (await session.exec(kept)).all():
            assert secret is not None
            unseal(secret, what=f"the callback secret of the shop {name!r}")


async def rotate(db: Database) -> int:
    """Re-encrypt every stored secret with the first key (plain ones too); how many values were rewritten."""
    done = 0
    async with db.transaction() as session:
        for row in (await session.exec(select(AppSecret))).all():
            row.value = seal(unseal(row.value, what=f"the app secret {row.name!r}"))
            session.add(row)
            done += 1
        for shop in (await session.exec(select(Shop).where(col(Shop.callback_secret).is_not(None)))).all():
            assert shop.callback_secret is not None
            shop.callback_secret = seal(unseal(shop.callback_secret, what=f"the callback secret of {shop.name!r}"))
            session.add(shop)
            done += 1
    return done

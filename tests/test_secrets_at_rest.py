"""Secrets at rest: with SECRETS_KEY set, the secrets daifu keeps (its generated ones, the shops' callback secrets)
are not in the database in clear, yet everything reads them; values kept before a key was set still work and are
encrypted by `python -m bot rotate-secrets`; a key list with the new key first re-encrypts, and the old key still
decrypts until then; a wrong key stops the start with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from sqlmodel import select

from services.api_keys import hash_key
from storage.database import Database
from storage.models import ApiKey, AppSecret, Shop
from storage.secrets import SEALED, use_keys
from tests.harness import running_shop

ROOT = Path(__file__).resolve().parents[1]
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


async def stored(database_url: str) -> dict[str, str]:
    """Every stored secret as it is in the database, read around daifu."""
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            values = {f"app:{row.name}": row.value for row in (await session.exec(select(AppSecret))).all()}
            for shop in (await session.exec(select(Shop))).all():
                values[f"shop:{shop.name}"] = shop.callback_secret or ""
            for key in (await session.exec(select(ApiKey))).all():
                values[f"key:{key.prefix}"] = key.key_hash
        return values
    finally:
        await db.dispose()


def cli(tmp_path: Path, database_url: str, *args: str, key: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PAYMENT_", "ADMIN_", "SECRETS_"))}
    env = clean | {"PYTHONPATH": str(ROOT), "DATABASE_URL": database_url, "SECRETS_KEY": key}
    env |= {"TELEGRAM_BOT_TOKEN": "123456:never-used", "TELEGRAM_API_BASE_URL": "http://127.0.0.1:1/bot"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


async def test_with_a_key_no_secret_is_stored_in_clear_and_all_of_them_work(
    database_url: str, unused_tcp_port: int
) -> None:
    try:
        async with running_shop(database_url, unused_tcp_port, run_mode="webhook", secrets_key=NEW) as shop:
            made = await shop.daifu.api_keys.create("Acme", created_by=None)
            webhook_secret = shop.emu.world.webhook["secret_token"]  # type: ignore[index]
            assert await shop.daifu.api_keys.shop_for(made.key) is not None
        at_rest = await stored(database_url)

        assert {name for name, value in at_rest.items() if name.startswith(("app:", "shop:"))} >= {
            "app:sandbox_secret",
            "app:webhook_secret",
            "shop:Acme",
        }
        in_clear = [made.key, made.callback_secret, webhook_secret]
        assert not [value for value in at_rest.values() if any(secret in value for secret in in_clear)]
        assert all(v.startswith(SEALED) for n, v in at_rest.items() if n.startswith(("app:", "shop:")))
        assert at_rest[f"key:{made.prefix}"] == hash_key(made.key)  # the API key itself: only its hash

        # Restarted with the same key, daifu reads what it stored: the same webhook secret, the same shop secret.
        async with running_shop(database_url, unused_tcp_port, run_mode="webhook", secrets_key=NEW) as shop:
            assert shop.emu.world.webhook["secret_token"] == webhook_secret  # type: ignore[index]
            again = await shop.daifu.api_keys.create("Acme", created_by=None)
            assert again.callback_secret == made.callback_secret
    finally:
        use_keys([])


async def test_plain_values_are_read_and_rotation_encrypts_them_with_the_first_key(
    database_url: str, unused_tcp_port: int, tmp_path: Path
) -> None:
    try:
        async with running_shop(database_url, unused_tcp_port) as shop:  # no key yet: stored as they are
            made = await shop.daifu.api_keys.create("Acme", created_by=None)
        plain = await stored(database_url)
        assert plain["shop:Acme"] == made.callback_secret

        async with running_shop(database_url, unused_tcp_port, secrets_key=OLD) as shop:  # plain ones still read
            assert (await shop.daifu.api_keys.create("Acme", created_by=None)).callback_secret == made.callback_secret

        rotated = cli(tmp_path, database_url, "rotate-secrets", key=OLD)
        assert rotated.returncode == 0, rotated.stderr
        under_old = await stored(database_url)
        assert under_old["shop:Acme"].startswith(SEALED) and made.callback_secret not in under_old["shop:Acme"]

        # A new key goes first; before the rotation the old key, second in the list, still decrypts everything.
        async with running_shop(database_url, unused_tcp_port, secrets_key=f"{NEW},{OLD}") as shop:
            assert (await shop.daifu.api_keys.create("Acme", created_by=None)).callback_secret == made.callback_secret
        assert cli(tmp_path, database_url, "rotate-secrets", key=f"{NEW},{OLD}").returncode == 0
        under_new = await stored(database_url)
        assert under_new["shop:Acme"] != under_old["shop:Acme"]

        # Now the old key can go: the new one alone reads it all, and the old one alone no longer does.
        async with running_shop(database_url, unused_tcp_port, secrets_key=NEW) as shop:
            assert (await shop.daifu.api_keys.create("Acme", created_by=None)).callback_secret == made.callback_secret
        refused = cli(tmp_path, database_url, key=OLD)
    finally:
        use_keys([])

    assert refused.returncode == 2
    assert "no key in SECRETS_KEY decrypts the app secret" in refused.stderr
    assert "Traceback" not in refused.stderr and OLD not in refused.stderr


async def test_encrypted_values_without_a_key_and_a_malformed_key_are_clear_errors(
    database_url: str, unused_tcp_port: int, tmp_path: Path
) -> None:
    try:
        async with running_shop(database_url, unused_tcp_port, secrets_key=NEW):
            pass
    finally:
        use_keys([])

    without = cli(tmp_path, database_url, key="")
    malformed = cli(tmp_path, database_url, key=f"{NEW},not-a-key")

    assert without.returncode == 2 and "is encrypted, but SECRETS_KEY is not set" in without.stderr
    assert (
        malformed.returncode == 2
        and "SECRETS_KEY" in malformed.stderr
        and "key 2 is not a Fernet key" in malformed.stderr
    )
    assert NEW not in malformed.stderr and "not-a-key" not in malformed.stderr

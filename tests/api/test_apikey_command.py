"""`python -m bot apikey create|revoke`: a key made on the command line works against the API at once."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import aiohttp

from tests.api.client import ApiClient
from tests.harness import RunningShop

ROOT = Path(__file__).resolve().parents[2]


async def run_bot(tmp_path: Path, *args: str, database_url: str) -> tuple[int, str, str]:
    # Only DATABASE_URL: no bot token, no providers, run from an empty folder so no .env is read.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PAYMENT_", "ADMIN_", "DATABASE_"))}
    env |= {"PYTHONPATH": str(ROOT), "DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_key_from_the_command_line_works_until_revoked(
    shop: RunningShop, database_url: str, tmp_path: Path
) -> None:
    code, out, err = await run_bot(tmp_path, "apikey", "create", "Corner Shop", database_url=database_url)

    assert code == 0, err
    key = re.search(r"API key:\s+(dfk_\S+)", out)
    secret = re.search(r"callback secret:\s+(whsec_\S+)", out)
    assert key and secret and "shown only this once" in out
    async with aiohttp.ClientSession() as session:
        api = ApiClient(session, shop.web_url, key.group(1))
        order = await api.new_order(title="Flowers")
        status, listed = await api.get("/api/v1/orders")
        assert status == 200 and [o["id"] for o in listed["orders"]] == [order["id"]]
        shop_row = await shop.daifu.api_keys.shop_named("Corner Shop")
        assert shop_row.callback_secret == secret.group(1)

        prefix = key.group(1)[:12]
        assert f"apikey revoke {prefix}" in out
        code, out, err = await run_bot(tmp_path, "apikey", "revoke", prefix, database_url=database_url)
        assert code == 0 and "revoked" in out, err
        status, refused = await api.get("/api/v1/orders")
        assert status == 401 and refused["error"]["code"] == "not_allowed"

    code, _, err = await run_bot(tmp_path, "apikey", "revoke", prefix, database_url=database_url)
    assert code == 2 and "nothing was revoked" in err and "Traceback" not in err
    code, _, err = await run_bot(tmp_path, "apikey", "create", database_url=database_url)
    assert code == 2 and "usage" in err and "Traceback" not in err
    code, _, err = await run_bot(
        tmp_path, "apikey", "create", "X", database_url="postgresql+asyncpg://u:pw@127.0.0.1:1/x"
    )
    assert code == 2 and "DATABASE_URL" in err and "pw" not in err and "Traceback" not in err

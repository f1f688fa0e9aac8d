"""Secrets never reach a log, at any level: DEBUG output of a whole journey (webhook mode with a generated secret,
the sandbox's generated secret, an admin's /apikey create, a pay-for-me paid on the sandbox page, a callback
signed with the shop's secret, the Mini App's sign-in), and a token Telegram refuses at start, hold none of them in
clear."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from bot.logs import REDACTED, configure
from emulator import BotApiEmulator
from services.receipts import RECEIPT_SECRET
from services.redaction import remember
from storage.secrets import read_secret
from tests.flows.payforme_steps import ask_friend, open_request, share_card
from tests.harness import RunningShop, running_shop
from web.web_payer import FORM_SECRET

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """daifu's own logging (bot.logs.configure) at DEBUG, written to a buffer the test reads."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hooks = (sys.excepthook, sys.unraisablehook, threading.excepthook)
    buffer = io.StringIO()
    configure("DEBUG", "text", [], stream=buffer)
    yield buffer
    root.handlers[:], root.level = handlers, level
    sys.excepthook, sys.unraisablehook, threading.excepthook = hooks
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def say(shop: RunningShop, text: str) -> str:
    await shop.emu.send_text(shop.admin, text)
    return str((await shop.emu.next_bot_message(shop.admin))["text"])


async def test_a_whole_journey_at_debug_logs_no_secret(
    debug_log: io.StringIO, database_url: str, unused_tcp_port: int
) -> None:
    async with running_shop(database_url, unused_tcp_port, run_mode="webhook") as shop:
        emu = shop.emu
        assert emu.world.webhook is not None
        webhook_secret = emu.world.webhook["secret_token"]
        made = await say(shop, "/apikey create Acme Books")
        api_key = re.search(r"dfk_\S+", made).group(0)  # type: ignore[union-attr]
        callback_secret = re.search(r"whsec_\S+", made).group(0)  # type: ignore[union-attr]

        group = emu.add_group("Friends", members=[shop.alice, shop.bob])
        order = await shop.new_link("/newlink 12.50 USD Coffee beans")
        request = await ask_friend(shop, shop.alice, order)
        await share_card(shop, shop.alice, request, group)
        offer = await open_request(shop, shop.bob, request)
        await emu.click(shop.bob, offer, "sandbox")
        page_url = await emu.click(shop.bob, await shop.told(shop.bob, "Open the checkout page"), "Open checkout page")
        status, _page = await shop.post(page_url, data={"decision": "pay"})
        assert status == 200
        await shop.told(shop.alice, "paid for you")
        # The Mini App's sign-in is a credential too: neither a good one nor one refused is written down.
        signed_in = emu.mini_app_init_data(shop.alice)
        for authorization in (f"tma {signed_in}", f"tma {signed_in}0"):
            await shop.get("/app/api/me", headers={"Authorization": authorization})

        sandbox_secret = await read_secret(shop.daifu.db, "sandbox_secret")
        form_secret = await read_secret(shop.daifu.db, FORM_SECRET)
        receipt_secret = await read_secret(shop.daifu.db, RECEIPT_SECRET)  # signed the receipt Bob was sent to
    logged = debug_log.getvalue()

    secrets = {
        "bot token": emu.token,
        "provider token": shop.settings.telegram_provider_token.get_secret_value(),
        "webhook secret": webhook_secret,
        "sandbox secret": sandbox_secret,
        "API key": api_key,
        "callback secret": callback_secret,
        "receipt secret": receipt_secret,
        "mini app sign-in": dict(parse_qsl(signed_in))["hash"],
    }
    if form_secret is not None:
        secrets["form secret"] = form_secret
    assert all(secrets.values()), secrets
    assert {name for name, secret in secrets.items() if secret and secret in logged} == set()
    # The lines that carried them are there, redacted: PTB's DEBUG line of each Bot API call, with its parameters.
    calls = [line for line in logged.splitlines() if "Calling Bot API endpoint" in line]
    assert any("`setWebhook`" in line and f"'secret_token': '{REDACTED}'" in line for line in calls)
    assert any("`sendMessage`" in line and f"<code>{REDACTED}</code>" in line for line in calls)


def test_records_are_redacted_for_every_handler_and_every_exception(debug_log: io.StringIO) -> None:
    """A library's logger that does not propagate, with a handler of its own, sees the redacted record too."""
    secret = "secret-made-at-run-time-42"
    remember(secret)
    own = io.StringIO()
    library = logging.getLogger("some.library")
    library.propagate = False
    library.addHandler(logging.StreamHandler(own))
    library.setLevel(logging.DEBUG)
    try:
        library.debug("connecting with %s", {"password": secret})
        try:
            raise RuntimeError(f"refused {secret}")
        except RuntimeError:
            library.exception("failed")
            logging.getLogger("daifu.test").error("failed too", exc_info=True, stack_info=True)
            sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
    finally:
        library.handlers.clear()
        library.propagate = True

    assert secret not in own.getvalue() and own.getvalue().count(REDACTED) == 2
    assert secret not in debug_log.getvalue()
    assert "daifu stopped on an exception nobody caught" in debug_log.getvalue()
    assert f"RuntimeError: refused {REDACTED}" in debug_log.getvalue()


async def test_a_token_telegram_refuses_at_start_is_not_printed(tmp_path: Path) -> None:
    rejected = "999999:REJECTED-very-secret-token"
    async with BotApiEmulator(token="123456:TEST-daifu", bot_username="daifu_bot", bot_name="daifu") as emu:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PAYMENT_", "ADMIN_"))}
        env = clean | {
            "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": rejected,
            "TELEGRAM_API_BASE_URL": emu.base_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'daifu.db'}",
            "LOG_LEVEL": "DEBUG",
            "WEB_PORT": "1",  # never reached: the start stops at the token
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    stdout, stderr = out.decode(), err.decode()

    assert process.returncode == 2
    assert "Telegram refused TELEGRAM_BOT_TOKEN" in stderr
    assert "REJECTED-very-secret" not in stdout + stderr and "999999:" not in stdout + stderr
    assert REDACTED in stderr  # PTB's DEBUG lines with the bot's URL were there, redacted

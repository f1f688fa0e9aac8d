"""What operations look at: health and readiness, Prometheus metrics, JSON logs without secrets."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.logs import REDACTED, configure
from services.log_context import about
from tests.harness import BOT_USERNAME, RunningShop
from web.health import HealthEndpoints


async def test_health_readiness_and_metrics(shop: RunningShop) -> None:
    status, body = await shop.get("/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = await shop.get("/readyz")
    assert status == 200 and json.loads(body)["checks"] == {"database": "ok", "bot_api": "ok"}

    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await shop.emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    await shop.emu.click(shop.alice, await shop.emu.next_bot_message(shop.alice), "Pay by card")
    await shop.emu.pay_invoice(shop.alice, await shop.emu.next_bot_message(shop.alice))
    await shop.told(shop.alice, "Payment received")

    status, metrics = await shop.get("/metrics")
    assert status == 200
    assert 'daifu_updates_total{type="message"}' in metrics
    assert 'daifu_updates_total{type="pre_checkout_query"}' in metrics
    assert 'daifu_payments_total{outcome="credited",provider="telegram"}' in metrics
    assert "daifu_pre_checkout_answer_seconds_count" in metrics
    assert "daifu_outbox_backlog 0.0" in metrics


async def test_readiness_fails_when_the_bot_api_does_not_answer(shop: RunningShop) -> None:
    async def unreachable() -> None:
        raise ConnectionError("no route to the Bot API")

    app = web.Application()
    app.add_routes(HealthEndpoints(shop.daifu, unreachable).routes())
    async with TestClient(TestServer(app)) as client:
        answer = await client.get("/readyz")
        assert answer.status == 503
        assert (await answer.json())["checks"] == {"database": "ok", "bot_api": "failing"}


@pytest.fixture
def json_logs() -> object:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    root.handlers[:], root.level = saved


def test_json_logs_carry_order_ids_and_no_secrets(json_logs: object, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "123456:AAH-very-secret-token"
    configure("INFO", "json", [secret])
    log = logging.getLogger("daifu.test")
    with about(order_id=42, request_id=7):
        log.info("calling https://api.telegram.org/bot%s/getMe", secret)
    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError:
        log.exception("something broke")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["order_id"] == 42 and lines[0]["request_id"] == 7
    assert REDACTED in lines[0]["message"] and "order_id" not in lines[1]
    assert all(secret not in json.dumps(line) for line in lines)
    assert "RuntimeError" in lines[1]["exception"]

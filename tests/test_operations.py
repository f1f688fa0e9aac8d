"""What operations look at: health and readiness, Prometheus metrics, JSON logs without secrets."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.logs import REDACTED, configure
from services.log_context import about
from storage.models import ProviderNotice
from tests.harness import BOT_USERNAME, RunningShop
from web.health import BOT_API_FAILING_FRESH_SECONDS, BOT_API_FRESH_SECONDS, OperationsEndpoints


async def test_health_readiness_and_metrics_on_the_operations_listener(shop: RunningShop) -> None:
    status, body = await shop.get(shop.ops_url + "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, body = await shop.get(shop.ops_url + "/readyz")
    assert status == 200 and json.loads(body)["checks"] == {"database": "ok", "bot_api": "ok"}

    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await shop.emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    await shop.emu.click(shop.alice, await shop.emu.next_bot_message(shop.alice), "Pay by card")
    await shop.emu.pay_invoice(shop.alice, await shop.emu.next_bot_message(shop.alice))
    await shop.told(shop.alice, "Payment received")

    status, metrics = await shop.get(shop.ops_url + "/metrics")
    assert status == 200
    assert 'daifu_updates_total{type="message"}' in metrics
    assert 'daifu_updates_total{type="pre_checkout_query"}' in metrics
    assert 'daifu_payments_total{outcome="credited",provider="telegram"}' in metrics
    assert "daifu_pre_checkout_answer_seconds_count" in metrics
    assert "daifu_outbox_backlog 0.0" in metrics
    for kind in ("notice", "refund", "telling"):
        assert f'daifu_parked_items{{kind="{kind}"}} 0.0' in metrics
    # The standard collectors any Python exporter has: the process, the platform, the garbage collector.
    for standard in ("process_resident_memory_bytes", "process_cpu_seconds_total", "python_info", "python_gc_"):
        assert standard in metrics, standard


async def test_the_public_port_serves_only_the_liveness_probe(shop: RunningShop) -> None:
    status, body = await shop.get("/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert (await shop.get("/readyz"))[0] == 404
    assert (await shop.get("/metrics"))[0] == 404


async def test_a_parked_item_shows_in_the_gauge(shop: RunningShop) -> None:
    # A notice the housekeeping job gave up on after failing to apply it PARK_AFTER_ATTEMPTS times.
    async with shop.daifu.db.transaction() as session:
        session.add(ProviderNotice(provider="sandbox", headers="{}", body="{}", status="parked", attempts=5))

    status, metrics = await shop.get(shop.ops_url + "/metrics")

    assert status == 200 and 'daifu_parked_items{kind="notice"} 1.0' in metrics


async def test_many_readiness_probes_ask_the_bot_api_once(shop: RunningShop) -> None:
    asked_before = len(shop.emu.calls_to("getMe"))

    answers = await asyncio.gather(*(shop.get(shop.ops_url + "/readyz") for _ in range(20)))
    answers += [await shop.get(shop.ops_url + "/readyz") for _ in range(5)]

    assert [status for status, _ in answers] == [200] * 25
    assert len(shop.emu.calls_to("getMe")) == asked_before + 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_readiness_fails_while_the_bot_api_does_not_answer_and_recovers_soon_after(shop: RunningShop) -> None:
    down = True
    asked = 0

    async def bot_api() -> None:
        nonlocal asked
        asked += 1
        if down:
            raise ConnectionError("no route to the Bot API")

    clock = FakeClock()
    app = web.Application()
    app.add_routes(OperationsEndpoints(shop.daifu, bot_api, clock=clock).routes())
    async with TestClient(TestServer(app)) as client:

        async def ready() -> tuple[int, dict[str, str]]:
            answer = await client.get("/readyz")
            return answer.status, (await answer.json())["checks"]

        assert await ready() == (503, {"database": "ok", "bot_api": "failing"})
        down = False
        assert (await ready())[0] == 503 and asked == 1  # a failing answer is kept a few seconds
        clock.now += BOT_API_FAILING_FRESH_SECONDS
        assert await ready() == (200, {"database": "ok", "bot_api": "ok"})
        down = True
        clock.now += BOT_API_FRESH_SECONDS - 1
        assert (await ready())[0] == 200 and asked == 2  # a passing one for longer
        clock.now += 1
        assert (await ready())[0] == 503 and asked == 3


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

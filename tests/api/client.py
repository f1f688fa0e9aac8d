"""A small JSON client for /api/v1, and the steps the API tests share (a shopper paying an order)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp

from tests.harness import RunningShop

NO_KEY = ""


class ApiClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, key: str) -> None:
        self.session = session
        self.base_url = base_url
        self.key = key

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        key: str | None = None,
    ) -> tuple[int, Any, Mapping[str, str]]:
        """Status, parsed JSON body and headers; key=NO_KEY sends no Authorization header."""
        key = self.key if key is None else key
        sent = {"Authorization": f"Bearer {key}"} if key else {}
        sent |= headers or {}
        async with self.session.request(method, self.base_url + path, json=json, data=data, headers=sent) as answer:
            assert answer.content_type == "application/json", (answer.status, await answer.text())
            return answer.status, await answer.json(), answer.headers

    async def create(self, body: dict[str, Any], *, idempotency_key: str | None = None) -> tuple[int, Any]:
        key = idempotency_key or str(uuid.uuid4())
        status, answer, _ = await self.call("POST", "/api/v1/orders", json=body, headers={"Idempotency-Key": key})
        return status, answer

    async def new_order(self, **fields: Any) -> dict[str, Any]:
        body = {"amount_minor": 1250, "currency": "USD", "title": "Coffee beans"} | fields
        status, order = await self.create(body)
        assert status == 201, order
        return dict(order)

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, answer, _ = await self.call("GET", path, **kwargs)
        return status, answer

    async def post(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, answer, _ = await self.call("POST", path, **kwargs)
        return status, answer


async def pay_on_sandbox(shop: RunningShop, order: dict[str, Any]) -> None:
    """Alice opens the order's deep link in Telegram and pays on the sandbox page."""
    emu = shop.emu
    await emu.open_link(shop.alice, order["deep_link"])
    card = await emu.next_bot_message(shop.alice)
    await emu.click(shop.alice, card, "sandbox")
    page_url = await emu.click(shop.alice, await emu.next_bot_message(shop.alice), "Open checkout page")
    status, result = await shop.post(page_url, data={"decision": "pay"})
    assert status == 200 and "Payment accepted" in result, result


async def pay_by_card(shop: RunningShop, order: dict[str, Any]) -> None:
    """Alice pays the order with a Telegram card invoice (refunds of those are owed, not made)."""
    emu = shop.emu
    await emu.open_link(shop.alice, order["deep_link"])
    card = await emu.next_bot_message(shop.alice)
    await emu.click(shop.alice, card, "Pay by card")
    invoice = await emu.next_bot_message(shop.alice)
    await emu.pay_invoice(shop.alice, invoice)
    await shop.told(shop.alice, "Payment received")

"""Only money, through the shop API: an order in an ISO 4217 code no one pays with is a 400 that says why."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from storage.models import Order
from tests.api.client import ApiClient
from tests.flows.test_only_money_currencies import NOT_MONEY
from tests.harness import RunningShop


@pytest.mark.parametrize("code", NOT_MONEY)
async def test_an_order_in_a_code_that_is_not_money_is_refused(shop: RunningShop, api: ApiClient, code: str) -> None:
    status, answer = await api.create({"amount_minor": 500, "currency": code, "title": "Gold bar"})

    assert status == 400, answer
    assert answer["error"]["code"] == "unknown_currency"
    assert answer["error"]["message"].startswith(f"'{code}' is an ISO 4217 code but not money anyone can pay with")
    async with shop.daifu.db.transaction() as session:
        assert (await session.exec(select(func.count()).select_from(Order))).one() == 0


@pytest.mark.parametrize("code", ["USD", "CNY", "usd", "XTR"])
async def test_real_currencies_are_taken(api: ApiClient, code: str) -> None:
    order = await api.new_order(currency=code, amount_minor=500)
    assert order["currency"] == code.upper()

"""Every error the shop API gives: JSON with a stable code, the right status, and nothing changed."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest
from sqlmodel import func, select

from services.api_keys import NewKey
from storage.models import Order
from tests.api.client import NO_KEY, ApiClient
from tests.harness import RunningShop

COFFEE = {"amount_minor": 1250, "currency": "USD", "title": "Coffee beans"}


async def orders_in_database(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(Order))).one())


async def test_requests_without_a_valid_key_are_refused(shop: RunningShop, api: ApiClient, acme_key: NewKey) -> None:
    for headers, key in [
        ({}, NO_KEY),
        ({"Authorization": f"Basic {acme_key.key}"}, NO_KEY),
        ({}, "dfk_not-a-key-anyone-was-given"),
        ({}, "not even the right shape"),
        ({}, "dfk_\u00e9"),
    ]:
        status, answer, sent = await api.call("GET", "/api/v1/orders", headers=headers, key=key)
        assert status == 401 and answer["error"]["code"] == "not_allowed", (headers, key)
        assert sent["WWW-Authenticate"] == "Bearer"

    assert await shop.daifu.api_keys.revoke(acme_key.prefix, revoked_by=None)
    status, answer = await api.get("/api/v1/orders")
    assert status == 401 and answer["error"]["code"] == "not_allowed"
    status, answer = await api.create(COFFEE)
    assert status == 401


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"amount_minor": 0}, "invalid_amount", "amount_minor"),
        ({"amount_minor": -5}, "invalid_amount", "amount_minor"),
        ({"amount_minor": 12.5}, "invalid_amount", "amount_minor"),
        ({"amount_minor": "1250"}, "invalid_amount", "amount_minor"),
        ({"amount_minor": True}, "invalid_amount", "amount_minor"),
        ({"amount_minor": 10**30}, "invalid_amount", "amount_minor"),
        ({"amount_minor": 100_000_001, "currency": "USD"}, "invalid_amount", "at most"),  # over 1,000,000 USD
        ({"amount_minor": 1_000_001, "currency": "JPY"}, "invalid_amount", "at most"),
        ({"currency": "ABC"}, "unknown_currency", "ISO 4217"),
        ({"currency": "dollars"}, "unknown_currency", "ISO 4217"),
        ({"currency": 840}, "unknown_currency", "currency"),
        ({"title": ""}, "bad_request", "title"),
        ({"title": "   "}, "bad_request", "title"),
        ({"title": "x" * 33}, "bad_request", "title"),
        ({"title": "nul\u0000byte"}, "bad_request", "NUL"),
        ({"description": "d" * 256}, "bad_request", "description"),
        ({"external_id": "e" * 129}, "bad_request", "external_id"),
        ({"callback_url": "ftp://shop.example/x"}, "bad_request", "callback_url"),
        ({"callback_url": "https://"}, "bad_request", "callback_url"),
        ({"callback_url": "https://shop:secret@shop.example/daifu"}, "bad_request", "user name or password"),
        ({"expires_in_seconds": 10}, "bad_request", "expires_in_seconds"),
        ({"expires_in_seconds": 10**12}, "bad_request", "expires_in_seconds"),
        ({"expires_at": "2020-01-01T00:00:00+00:00"}, "bad_request", "expire"),
        ({"expires_at": "2999-01-01T00:00:00"}, "bad_request", "expires_at"),
        ({"expires_at": "soon"}, "bad_request", "expires_at"),
        ({"expires_in_seconds": 3600, "expires_at": "2999-01-01T00:00:00Z"}, "bad_request", "not both"),
        ({"allowed_methods": ["paypal"]}, "bad_request", "allowed_methods"),
        ({"allowed_methods": []}, "bad_request", "allowed_methods"),
        ({"currency": "XTR", "allowed_methods": ["sandbox"]}, "no_payment_method", "XTR"),
        ({"payforme_allowed": "yes"}, "bad_request", "payforme_allowed"),
        ({"colour": "blue"}, "bad_request", "unknown field"),
    ],
)
async def test_invalid_orders_are_refused_and_not_made(
    shop: RunningShop, api: ApiClient, change: dict[str, Any], code: str, words: str
) -> None:
    status, answer = await api.create(COFFEE | change)

    assert status == 400, answer
    assert answer["error"]["code"] == code and words in answer["error"]["message"], answer
    assert await orders_in_database(shop) == 0


async def test_missing_fields_and_malformed_bodies_are_bad_requests(shop: RunningShop, api: ApiClient) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    for data in [b"", b"{", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"amount_minor": 1250, "currency": "USD"}']:
        status, answer, _ = await api.call("POST", "/api/v1/orders", data=data, headers=key)
        assert status == 400 and answer["error"]["code"] == "bad_request", data
    status, answer, _ = await api.call("POST", "/api/v1/orders", json=COFFEE)
    assert status == 400 and "Idempotency-Key" in answer["error"]["message"]
    status, answer = await api.create(COFFEE, idempotency_key="k" * 256)
    assert status == 400 and "Idempotency-Key" in answer["error"]["message"]
    status, answer = await api.get("/api/v1/orders?limit=0")
    assert status == 400 and "limit" in answer["error"]["message"]
    status, answer = await api.get("/api/v1/orders?limit=many")
    assert status == 400
    status, answer = await api.get("/api/v1/orders?stauts=paid")  # a misspelt filter is not ignored
    assert status == 400 and "stauts" in answer["error"]["message"]
    status, answer = await api.get("/api/v1/orders?status=lost")
    assert status == 400 and "status" in answer["error"]["message"]
    status, answer = await api.get("/api/v1/orders?cursor=bm90LWEtY3Vyc29y")
    assert status == 400 and answer["error"]["message"] == "cursor is not one this API gave out"
    order = await api.new_order()
    for body in [{"amount_minor": 0}, {"amount_minor": "5"}, {"reason": "x"}]:
        status, answer = await api.post(f"/api/v1/orders/{order['id']}/refunds", json=body)
        assert status == 400, body
    assert await orders_in_database(shop) == 1


async def test_oversized_bodies_are_refused_with_413(shop: RunningShop, api: ApiClient) -> None:
    huge = COFFEE | {"description": "x" * 20_000}
    status, answer = await api.create(huge)
    assert status == 413 and answer["error"]["code"] == "too_large"

    async def chunks() -> Any:  # no Content-Length: the cap holds on what actually arrives
        for _ in range(40):
            yield b" " * 1024

    status, answer, _ = await api.call(
        "POST",
        "/api/v1/orders",
        data=chunks(),
        headers={"Idempotency-Key": "chunked"},
    )
    assert status == 413 and answer["error"]["code"] == "too_large"
    assert await orders_in_database(shop) == 0


async def test_unknown_orders_are_not_found(api: ApiClient) -> None:
    for path in ["/api/v1/orders/999999", "/api/v1/orders/abc", "/api/v1/orders/99999999999999999999999"]:
        status, answer = await api.get(path)
        assert status == 404 and answer["error"] == {"code": "not_found", "message": "no such order"}
    for path in ["/api/v1/orders/999999/cancel", "/api/v1/orders/-1/refunds"]:
        status, answer = await api.post(path)
        assert status == 404 and answer["error"]["code"] == "not_found"


async def test_the_openapi_document_is_served_without_a_key(shop: RunningShop) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{shop.web_url}/api/v1/openapi.json") as answer:
        document = await answer.json()
    assert answer.status == 200 and document["openapi"].startswith("3.")
    assert set(document["paths"]) == {"/api/v1/orders", "/api/v1/orders/{id}", "/api/v1/orders/{id}/cancel",
                                      "/api/v1/orders/{id}/refunds"}  # fmt: skip
    listed = document["components"]["schemas"]["NewOrder"]["properties"]["allowed_methods"]["anyOf"]  # or null
    methods = next(branch["items"]["enum"] for branch in listed if branch.get("type") == "array")
    assert methods == ["sandbox", "telegram", "stars"]

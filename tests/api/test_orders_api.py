"""The shop API end to end: orders created (idempotently), read, listed, cancelled and refunded over HTTP."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlmodel import func, select

from services.api_keys import NewKey
from services.checkout import MethodUnavailable
from services.links import deep_link, qr_png
from services.pay_requests import RequestRefused
from storage.models import Order, OrderStatus, RequestMode
from tests.api.client import ApiClient, pay_by_card, pay_on_sandbox
from tests.harness import BOT_USERNAME, RunningShop

COFFEE = {"amount_minor": 1250, "currency": "USD", "title": "Coffee beans"}


async def test_an_order_is_created_with_its_links_and_read_back(shop: RunningShop, api: ApiClient) -> None:
    body = COFFEE | {
        "description": "1 kg, whole",
        "external_id": "A-1001",
        "callback_url": "https://shop.example/daifu",
        "expires_in_seconds": 3600,
    }
    status, order = await api.create(body)

    assert status == 201
    token = order["token"]
    assert order["status"] == "open" and order["amount_minor"] == 1250 and order["currency"] == "USD"
    assert order["title"] == "Coffee beans" and order["external_id"] == "A-1001"
    assert order["amounts"] == {"paid": [], "refunded": []}
    assert order["allowed_methods"] is None and order["payforme_allowed"] is True
    assert order["deep_link"] == f"https://t.me/{BOT_USERNAME}?start={token}"
    assert order["landing_url"] == f"{shop.web_url}/o/{token}"
    assert order["qr_svg_url"] == f"{shop.web_url}/o/{token}/qr.svg"
    status, kind, png = await shop.get_bytes(f"/o/{token}/qr.png")
    assert order["qr_png_url"] == f"{shop.web_url}/o/{token}/qr.png"
    assert status == 200 and kind == "image/png" and png == qr_png(deep_link(BOT_USERNAME, token))

    status, again = await api.get(f"/api/v1/orders/{order['id']}")
    assert status == 200 and again == order

    # The shopper sees it in the chat like any other order.
    await shop.emu.open_link(shop.alice, order["deep_link"])
    card = await shop.emu.next_bot_message(shop.alice)
    assert "Coffee beans" in card["text"] and "$12.50" in card["text"]


async def test_a_retried_create_returns_the_same_order_and_a_changed_body_is_refused(api: ApiClient) -> None:
    key = str(uuid.uuid4())
    status, first = await api.create(COFFEE, idempotency_key=key)
    assert status == 201

    status, replay, headers = await api.call("POST", "/api/v1/orders", json=COFFEE, headers={"Idempotency-Key": key})
    assert status == 200 and replay == first and headers["Idempotent-Replayed"] == "true"

    status, refused = await api.create(COFFEE | {"amount_minor": 1300}, idempotency_key=key)
    assert status == 409 and refused["error"]["code"] == "idempotency_conflict"

    status, other = await api.create(COFFEE, idempotency_key=str(uuid.uuid4()))
    assert status == 201 and other["id"] != first["id"]


async def test_concurrent_identical_creates_make_one_order(shop: RunningShop, api: ApiClient) -> None:
    key = str(uuid.uuid4())

    answers = await asyncio.gather(*(api.create(COFFEE, idempotency_key=key) for _ in range(8)))

    assert sorted(status for status, _ in answers) == [200] * 7 + [201]
    assert len({order["id"] for _, order in answers}) == 1
    async with shop.daifu.db.transaction() as session:
        count = (await session.exec(select(func.count()).where(Order.idempotency_key == key))).one()
    assert count == 1


async def test_orders_are_listed_newest_first_page_by_page(api: ApiClient) -> None:
    made = [await api.new_order(title=f"Order {n}") for n in range(5)]
    newest_first = [order["id"] for order in reversed(made)]

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = await api.get(f"/api/v1/orders{query}")
        assert status == 200
        seen += [order["id"] for order in page["orders"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first and pages == 3

    status, page = await api.get("/api/v1/orders")
    assert [order["id"] for order in page["orders"]] == newest_first and page["next_cursor"] is None

    status, _ = await api.post(f"/api/v1/orders/{made[1]['id']}/cancel")
    status, cancelled = await api.get("/api/v1/orders?status=cancelled")
    assert [order["id"] for order in cancelled["orders"]] == [made[1]["id"]]
    status, still_open = await api.get("/api/v1/orders?status=open&limit=100")
    assert made[1]["id"] not in [order["id"] for order in still_open["orders"]]
    assert len(still_open["orders"]) == 4


async def test_cancelling_closes_the_order_in_the_chat_too(shop: RunningShop, api: ApiClient) -> None:
    order = await api.new_order()

    status, cancelled = await api.post(f"/api/v1/orders/{order['id']}/cancel")

    assert status == 200 and cancelled["status"] == "cancelled"
    status, again = await api.post(f"/api/v1/orders/{order['id']}/cancel")
    assert status == 409 and again["error"]["code"] == "conflict"
    await shop.emu.open_link(shop.alice, order["deep_link"])
    card = await shop.emu.next_bot_message(shop.alice)
    assert "cancelled" in card["text"]


async def test_a_paid_order_is_refunded_in_parts_never_more_than_was_paid(shop: RunningShop, api: ApiClient) -> None:
    order = await api.new_order()
    status, refused = await api.post(f"/api/v1/orders/{order['id']}/refunds")
    assert status == 409 and refused["error"]["code"] == "not_refundable"  # nothing paid yet

    await pay_on_sandbox(shop, order)
    status, paid = await api.get(f"/api/v1/orders/{order['id']}")
    assert paid["status"] == "paid" and paid["amounts"]["paid"] == [{"amount_minor": 1250, "currency": "USD"}]
    assert paid["paid_at"] is not None

    status, part = await api.post(f"/api/v1/orders/{order['id']}/refunds", json={"amount_minor": 500})
    assert status == 201 and part["status"] == "done"
    assert part["refunds"] == [
        {"payment_id": part["refunds"][0]["payment_id"], "provider": "sandbox", "amount_minor": 500,
         "currency": "USD", "status": "done"}
    ]  # fmt: skip
    assert part["order"]["status"] == "paid"
    assert part["order"]["amounts"]["refunded"] == [{"amount_minor": 500, "currency": "USD"}]

    status, too_much = await api.post(f"/api/v1/orders/{order['id']}/refunds", json={"amount_minor": 751})
    assert status == 409 and too_much["error"]["code"] == "not_refundable"

    status, rest = await api.post(f"/api/v1/orders/{order['id']}/refunds", json={})
    assert status == 201 and rest["refunds"][0]["amount_minor"] == 750
    assert rest["order"]["status"] == "refunded"
    assert rest["order"]["amounts"]["refunded"] == [{"amount_minor": 1250, "currency": "USD"}]
    status, nothing_left = await api.post(f"/api/v1/orders/{order['id']}/refunds")
    assert status == 409 and nothing_left["error"]["code"] == "not_refundable"
    await shop.told(shop.alice, "refund")  # the payer hears of it in the chat


async def test_refunding_a_telegram_card_payment_is_owed(shop: RunningShop, api: ApiClient) -> None:
    order = await api.new_order()
    await pay_by_card(shop, order)

    status, refund = await api.post(f"/api/v1/orders/{order['id']}/refunds")

    assert status == 201 and refund["status"] == "owed"
    assert refund["refunds"][0]["provider"] == "telegram" and refund["refunds"][0]["status"] == "owed"


async def test_the_chat_offers_only_the_methods_the_shop_allowed(shop: RunningShop, api: ApiClient) -> None:
    # Wiring owned by services/checkout.py (methods_for) and handlers/start.py (the pay-for-me buttons).
    order = await api.new_order(allowed_methods=["sandbox", "stars"], payforme_allowed=False)
    assert order["allowed_methods"] == ["sandbox", "stars"] and order["payforme_allowed"] is False

    await shop.emu.open_link(shop.alice, order["deep_link"])
    card = await shop.emu.next_bot_message(shop.alice)

    labels = [[button["text"] for button in row] for row in card["reply_markup"]["inline_keyboard"]]
    assert labels == [["Pay on the sandbox page ($12.50)"], ["Pay with Stars (625 ⭐)"]]
    # A stale or forged button cannot get round it either.
    with pytest.raises(MethodUnavailable):
        await shop.daifu.checkouts.start(order["token"], "telegram", payer_id=shop.alice.id)
    with pytest.raises(RequestRefused):
        await shop.daifu.asking.ask(order["token"], shop.alice.id, mode=RequestMode.SINGLE)


async def test_each_shop_sees_only_its_own_orders(shop: RunningShop, api: ApiClient, acme_key: NewKey) -> None:
    theirs = await api.new_order()
    other = await shop.daifu.api_keys.create("Zenith", created_by=None)

    for method, path in [
        ("GET", f"/api/v1/orders/{theirs['id']}"),
        ("POST", f"/api/v1/orders/{theirs['id']}/cancel"),
        ("POST", f"/api/v1/orders/{theirs['id']}/refunds"),
    ]:
        status, answer, _ = await api.call(method, path, key=other.key)
        assert status == 404 and answer["error"]["code"] == "not_found", path
    status, listed = await api.get("/api/v1/orders", key=other.key)
    assert status == 200 and listed["orders"] == []
    status, mine = await api.get(f"/api/v1/orders/{theirs['id']}")
    assert status == 200 and mine["status"] == "open"  # the other shop's cancel changed nothing


async def test_chat_orders_are_not_visible_through_the_api(shop: RunningShop, api: ApiClient) -> None:
    token = await shop.new_link("/newlink 3 EUR Croissant")
    chat_order = await shop.daifu.orders.by_token(token)
    assert chat_order is not None and chat_order.status == OrderStatus.OPEN

    status, answer = await api.get(f"/api/v1/orders/{chat_order.id}")

    assert status == 404 and answer["error"]["code"] == "not_found"


async def test_a_part_refund_retried_under_its_idempotency_key_gives_back_once(
    shop: RunningShop, api: ApiClient
) -> None:
    order = await api.new_order()
    await pay_on_sandbox(shop, order)
    path, key = f"/api/v1/orders/{order['id']}/refunds", {"Idempotency-Key": "refund-42-a"}

    # The shop's first call timed out on its side, so it sends the same refund again, twice at once.
    answers = await asyncio.gather(*(api.call("POST", path, json={"amount_minor": 300}, headers=key) for _ in range(3)))
    statuses = sorted(status for status, _body, _headers in answers)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    for status, body, _headers in answers:
        if status == 409:
            assert body["error"]["code"] == "in_progress"
    status, again, headers = await api.call("POST", path, json={"amount_minor": 300}, headers=key)
    assert status == 201 and headers.get("Idempotent-Replayed") == "true"
    assert again["order"]["amounts"]["refunded"] == [{"amount_minor": 300, "currency": "USD"}]
    _status, now = await api.get(f"/api/v1/orders/{order['id']}")
    assert now["amounts"]["refunded"] == [{"amount_minor": 300, "currency": "USD"}]  # once, not three times

    status, other, _headers = await api.call("POST", path, json={"amount_minor": 200}, headers=key)
    assert status == 409 and other["error"]["code"] == "idempotency_conflict"
    status, second, _headers = await api.call(
        "POST", path, json={"amount_minor": 300}, headers={"Idempotency-Key": "refund-42-b"}
    )
    assert status == 201 and second["order"]["amounts"]["refunded"] == [{"amount_minor": 600, "currency": "USD"}]


async def test_a_refused_refund_leaves_its_idempotency_key_free(shop: RunningShop, api: ApiClient) -> None:
    order = await api.new_order()
    path, key = f"/api/v1/orders/{order['id']}/refunds", {"Idempotency-Key": "early"}
    status, refused, _headers = await api.call("POST", path, json={"amount_minor": 300}, headers=key)
    assert status == 409 and refused["error"]["code"] == "not_refundable"  # not paid yet

    await pay_on_sandbox(shop, order)
    status, done, headers = await api.call("POST", path, json={"amount_minor": 300}, headers=key)
    assert status == 201 and "Idempotent-Replayed" not in headers
    assert done["order"]["amounts"]["refunded"] == [{"amount_minor": 300, "currency": "USD"}]

"""The Mini App's screens over the API, against the running bot and the emulated Telegram: Alice pays her order in
Telegram's payment sheet, asks friends to split another and shares the card from the app; Bob and Carol chip in
through invoice links, under the chat's rules; a single request's hold is the chat's; only the requester cancels or
shares; admins make links. Every route refuses a missing, forged or stale sign-in, and a hostile body."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import pytest

from emulator import PaymentRefused
from emulator.faults import server_error
from emulator.mini_apps import init_data
from emulator.state import User
from services.live_messages import LiveKind
from storage.queries.live_messages import live_messages_of_kind
from tests.flows.payforme_steps import open_request
from tests.harness import BOT_USERNAME, RunningShop

API = "/app/api"
Who = User | str | None  # a person (signed in now), raw init data, or no sign-in at all


class AppClient:
    """The Mini App's calls to daifu, over one HTTP session, signed in as the person given."""

    def __init__(self, shop: RunningShop, session: aiohttp.ClientSession) -> None:
        self.shop = shop
        self.session = session

    async def __call__(
        self, method: str, path: str, who: Who, body: Any = None, *, raw: bytes | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {}
        if isinstance(who, User):
            headers["Authorization"] = f"tma {self.shop.emu.mini_app_init_data(who)}"
        elif isinstance(who, str):
            headers["Authorization"] = f"tma {who}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        async with self.session.request(method, self.shop.web_url + API + path, data=data, headers=headers) as answer:
            assert answer.content_type == "application/json", (answer.status, await answer.text())
            return answer.status, await answer.json()


@pytest.fixture
async def call(shop: RunningShop) -> AsyncIterator[AppClient]:
    async with aiohttp.ClientSession() as session:
        yield AppClient(shop, session)


def money(minor: int, formatted: str) -> dict[str, Any]:
    return {"minor": minor, "currency": "USD", "formatted": formatted}


async def test_an_order_paid_and_a_split_asked_shared_and_chipped_in_through_the_app(
    shop: RunningShop, call: AppClient
) -> None:
    emu, alice, bob, carol, admin = shop.emu, shop.alice, shop.bob, shop.carol, shop.admin
    coffee = await shop.new_link("/newlink 12.50 USD Coffee beans")
    cake = await shop.new_link("/newlink 10 USD Birthday cake")

    # Alice opens her order: what the chat's card offers, as data.
    status, screen = await call("GET", f"/orders/{coffee}", alice)
    assert status == 200, screen
    order = screen["order"]
    assert (order["token"], order["title"], order["shop"]) == (coffee, "Coffee beans", "Bean There")
    assert order["amount"] == money(1250, "$12.50") and order["status"]["code"] == "open"
    assert [(m["id"], m["kind"]) for m in screen["methods"]] == [
        ("sandbox", "web"),
        ("telegram", "invoice"),
        ("stars", "invoice"),
    ]
    assert screen["methods"][2]["label"] == "Pay with Stars (625 ⭐)"
    assert screen["can"] == {"pay": True, "ask": True, "split": True, "cancel": False}
    assert screen["request"] is None

    # She pays it with Stars in Telegram's sheet: the link's payload is the chat's, checked and credited the same.
    # Bob, who has the link too, opens a card invoice for it at the same time: one payer wins.
    status, bobs = await call("POST", f"/orders/{coffee}/invoice", bob, {"method": "telegram"})
    assert status == 200 and emu.invoice_from_link(bobs["url"]).total_amount == 1250, bobs
    status, answer = await call("POST", f"/orders/{coffee}/invoice", alice, {"method": "stars"})
    assert status == 200, answer
    invoice = emu.invoice_from_link(answer["url"])
    assert (invoice.currency, invoice.total_amount, invoice.title) == ("XTR", 625, "Coffee beans")
    await emu.pay_invoice(alice, answer["url"])
    await shop.told(alice, "Payment received")
    status, screen = await call("GET", f"/orders/{coffee}", alice)
    assert screen["order"]["status"] == {"code": "paid", "words": "paid by you"}
    assert screen["methods"] == [] and screen["can"]["pay"] is False
    with pytest.raises(PaymentRefused, match="already paid"):
        await emu.pay_invoice(bob, bobs["url"])
    status, again = await call("POST", f"/orders/{coffee}/invoice", bob, {"method": "telegram"})
    assert (status, again["code"]) == (409, "order_paid") and "already been paid" in again["error"]

    # A web method opens its page, as the order's web page does.
    status, web_checkout = await call("POST", f"/orders/{cake}/web", alice, {"method": "sandbox"})
    assert status == 200 and web_checkout["url"].startswith(shop.web_url), web_checkout
    status, refused = await call("POST", f"/orders/{cake}/web", alice, {"method": "telegram"})
    assert (status, refused["code"]) == (400, "bad_method")

    # Alice asks two friends to split the cake: the chat's request, and its card prepared for the share sheet.
    status, asked = await call("POST", f"/orders/{cake}/ask", alice, {"mode": "split", "shares": 2, "note": "🎂"})
    assert status == 201, asked
    token = asked["request"]["token"]
    assert asked["inline_query"] == token and asked["request"]["share"] == money(500, "$5.00")
    assert asked["request"]["note"] == "🎂" and asked["request"]["status"]["code"] == "open"
    [saved] = emu.calls_to("savePreparedInlineMessage")
    assert saved["user_id"] == alice.id
    friends = emu.add_group("Friends", [alice, bob, carol])
    card = await emu.share_prepared(alice, asked["prepared_message_id"], friends)
    assert "split $10.00" in card["text"] and card["via_bot"]["username"] == BOT_USERNAME
    [[button]] = card["reply_markup"]["inline_keyboard"]
    assert button["text"] == "Chip in for Alice" and button["url"].endswith(f"?start={token}")
    status, mine = await call("GET", f"/orders/{cake}", alice)
    # Her request is there to follow (and cancel, on its own screen); the order is the shop's to cancel.
    assert mine["request"]["token"] == token and mine["can"] == {
        "pay": False,
        "ask": False,
        "split": False,
        "cancel": False,
    }

    # Bob has the cake's link too, and may pay it as in the chat, but Alice's request is not his to see there.
    status, his = await call("GET", f"/orders/{cake}", bob)
    assert status == 200 and his["request"] is None and token not in json.dumps(his)

    # Bob opens the request as a friend sees it, and chips in his share with Stars.
    status, seen = await call("GET", f"/requests/{token}", bob)
    assert status == 200, seen
    assert seen["requester"] == {"name": "Alice"} and seen["is_requester"] is False
    assert seen["order"] == {"title": "Birthday cake", "amount": money(1000, "$10.00"), "shop": "Bean There"}
    assert seen["can"] == {"pay": True, "chip_in": True, "cancel": False, "share": False, "remind": False}
    assert seen["request"]["remaining"] == money(1000, "$10.00") and seen["contributions"] == []
    assert [(m["id"], m["label"]) for m in seen["methods"]] == [
        ("telegram", "Pay by card ($5.00)"),
        ("stars", "Pay with Stars (250 ⭐)"),
    ]
    status, answer = await call("POST", f"/requests/{token}/invoice", bob, {"method": "stars", "amount_minor": 500})
    assert status == 200, answer
    assert emu.invoice_from_link(answer["url"]).title == "Birthday cake — for Alice"
    await emu.pay_invoice(bob, answer["url"])
    await shop.told(alice, "Bob")
    status, seen = await call("GET", f"/requests/{token}", alice)
    assert seen["is_requester"] is True and seen["can"]["cancel"] is True
    assert seen["request"]["covered"] == money(500, "$5.00")
    assert seen["contributions"] == [{"name": "Bob", "amount": money(500, "$5.00")}]
    await emu.wait_for(lambda: "Chipped in: Bob" in emu.chat_messages(friends)[-1]["text"])  # the card follows

    # Only Alice may cancel or share it; a chip-in is checked as the chat checks it.
    for action in ("cancel", "share"):
        status, refused = await call("POST", f"/requests/{token}/{action}", bob)
        assert (status, refused["code"]) == (403, "not_requester"), action
    status, too_much = await call("POST", f"/requests/{token}/invoice", carol, {"method": "stars", "amount_minor": 600})
    assert (status, too_much["code"]) == (400, "bad_amount")
    status, shared = await call("POST", f"/requests/{token}/share", alice)
    assert status == 200 and shared["prepared_message_id"] and shared["inline_query"] == token

    # Carol pays all that is left by card: the request is paid, and the screens say so.
    status, answer = await call("POST", f"/requests/{token}/invoice", carol, {"method": "telegram"})
    assert status == 200, answer
    assert emu.invoice_from_link(answer["url"]).total_amount == 500
    await emu.pay_invoice(carol, answer["url"])
    await shop.told(alice, "Carol")
    status, seen = await call("GET", f"/requests/{token}", carol)
    assert seen["request"]["status"]["code"] == "paid" and seen["can"]["pay"] is False and seen["why_not"]
    status, cancel_paid = await call("POST", f"/requests/{token}/cancel", alice)
    assert (status, cancel_paid["code"]) == (409, "request_paid")

    # Each sees the order in their list as what it is to them.
    roles = {entry["token"]: entry["role"] for entry in (await call("GET", "/me", alice))[1]["orders"]}
    assert roles == {cake: "asked", coffee: "bought"}
    roles = {entry["token"]: entry["role"] for entry in (await call("GET", "/me", bob))[1]["orders"]}
    assert roles == {cake: "paid_for", coffee: "bought"}  # he tried to pay it himself
    roles = {entry["token"]: entry["role"] for entry in (await call("GET", "/me", admin))[1]["orders"]}
    assert roles == {cake: "bought", coffee: "bought"}

    # One shop for all of it: a single request's hold, next.
    await a_single_request_is_held_as_in_the_chat_and_only_its_requester_calls_it_off(shop, call)


async def a_single_request_is_held_as_in_the_chat_and_only_its_requester_calls_it_off(
    shop: RunningShop, call: AppClient
) -> None:
    alice, bob, carol = shop.alice, shop.bob, shop.carol
    tea = await shop.new_link("/newlink 8 USD Green tea")
    # Telegram does not take the card for the share sheet: the request is made all the same, to share by inline query.
    shop.emu.faults.fail("savePreparedInlineMessage", fault=server_error(502), times=1)
    status, asked = await call("POST", f"/orders/{tea}/ask", alice, {"mode": "single"})
    assert status == 201 and asked["request"]["shares"] is None, asked
    assert asked["prepared_message_id"] is None and asked["inline_query"] == asked["request"]["token"]
    token = asked["request"]["token"]

    # Nor the invoice link, once: Bob is told in words, tries again, and is still the one holding it.
    shop.emu.faults.fail("createInvoiceLink", fault=server_error(502), times=1)
    status, down = await call("POST", f"/requests/{token}/invoice", bob, {"method": "telegram"})
    assert (status, down["code"]) == (502, "telegram_down") and "try again" in down["error"]
    status, answer = await call("POST", f"/requests/{token}/invoice", bob, {"method": "telegram"})
    assert status == 200, answer
    status, held = await call("POST", f"/requests/{token}/invoice", carol, {"method": "stars"})
    assert (status, held["code"], held["holder_name"]) == (409, "held", "Bob"), held
    assert held["minutes_left"] >= 1 and "Bob is paying for this right now" in held["error"]
    status, seen = await call("GET", f"/requests/{token}", carol)
    assert seen["can"]["pay"] is False and seen["request"]["holder_name"] == "Bob"
    assert seen["request"]["status"]["words"] == "Bob is paying…"

    status, cancelled = await call("POST", f"/requests/{token}/cancel", alice)
    assert status == 200 and cancelled["request"]["status"]["code"] == "cancelled", cancelled
    status, late = await call("POST", f"/requests/{token}/invoice", bob, {"method": "telegram"})
    assert (status, late["code"]) == (409, "request_cancelled")

    # Nothing by those tokens: 404, in words.
    assert (await call("GET", "/orders/not-a-token", alice))[0] == 404
    status, unknown = await call("GET", "/requests/r_AAAAAAAAAAAAAAAAAAAAAA", alice)
    assert (status, unknown["code"]) == (404, "unknown_request") and "not known" in unknown["error"]


async def offer_remembered(shop: RunningShop, token: str) -> None:
    """Until the offer a friend was shown is remembered (just after it is sent): what a reminder replies under."""
    view = await shop.daifu.request_views.view(token)
    async with asyncio.timeout(5):
        while True:
            await shop.all_told()
            async with shop.daifu.db.transaction() as session:
                if await live_messages_of_kind(session, request_id=view.request.id, kind=LiveKind.REQUEST_OFFER):
                    return
            await asyncio.sleep(0.02)


async def test_the_requester_reminds_friends_and_an_admin_cancels_an_order_as_in_the_chat(
    shop: RunningShop, call: AppClient
) -> None:
    emu, alice, bob, carol, admin = shop.emu, shop.alice, shop.bob, shop.carol, shop.admin
    coffee = await shop.new_link("/newlink 12.50 USD Coffee beans")
    status, asked = await call("POST", f"/orders/{coffee}/ask", alice, {"mode": "single"})
    token = asked["request"]["token"]
    offer = await open_request(shop, bob, token)  # Bob opened it in a chat with the bot: he can be reminded there
    await offer_remembered(shop, token)

    # Only Alice reminds her friends: Bob is refused, and reminds nobody.
    status, refused = await call("POST", f"/requests/{token}/remind", bob)
    assert (status, refused["code"]) == (403, "not_requester") and refused["error"]
    assert (await call("GET", f"/requests/{token}", bob))[1]["can"]["remind"] is False
    status, seen = await call("GET", f"/requests/{token}", alice)
    assert seen["can"]["remind"] is True and shop.times_told(bob, "reminds you of") == 0

    # As /my's Remind: Bob is nudged under the offer he was shown, and Alice is told how many were.
    status, reminded = await call("POST", f"/requests/{token}/remind", alice)
    assert status == 200, reminded
    assert reminded["reminded"] == 1 and reminded["words"] == "Reminded 1 friend(s) who opened your request."
    nudge = await shop.told(bob, "Alice reminds you of")
    assert "Coffee beans" in nudge["text"] and nudge["reply_to_message"]["message_id"] == offer["message_id"]
    # Once per half hour, in the chat's words; the screens stop offering it meanwhile.
    status, again = await call("POST", f"/requests/{token}/remind", alice)
    assert (status, again["code"]) == (409, "reminded_lately"), again
    assert again["error"] == "Your friends were reminded a short while ago. You can remind them again in 30 minutes."
    in_chinese = init_data(emu.token, replace(alice, language_code="zh-hans"), auth_date=int(time.time()))
    status, again = await call("POST", f"/requests/{token}/remind", in_chinese)
    assert (status, again["code"]) == (409, "reminded_lately") and again["error"].startswith("刚刚已提醒过你的好友。")
    assert shop.times_told(bob, "reminds you of") == 1
    assert (await call("GET", f"/requests/{token}", alice))[1]["can"]["remind"] is False
    [listed] = [entry for entry in (await call("GET", "/me", alice))[1]["orders"] if entry["token"] == coffee]
    assert listed["can"] == {"pay": False, "share": True, "cancel": True, "remind": False}

    # A split nobody opened in a chat with the bot: nobody to remind, and the half hour is not spent on it.
    cake = await shop.new_link("/newlink 10 USD Birthday cake")
    status, asked = await call("POST", f"/orders/{cake}/ask", alice, {"mode": "split", "shares": 2})
    split = asked["request"]["token"]
    status, nobody = await call("POST", f"/requests/{split}/remind", alice)
    assert status == 200 and nobody["reminded"] == 0 and "nobody to remind" in nobody["words"]
    assert (await call("GET", f"/requests/{split}", alice))[1]["can"]["remind"] is True

    # Bob chips in his share; the order is the shop's, and only its admins cancel it, as /cancel.
    status, answer = await call("POST", f"/requests/{split}/invoice", bob, {"method": "stars", "amount_minor": 500})
    await emu.pay_invoice(bob, answer["url"])
    await shop.told(bob, "Payment received")
    for who in (alice, carol):
        status, screen = await call("GET", f"/orders/{cake}", who)
        assert screen["can"]["cancel"] is False
        status, refused = await call("POST", f"/orders/{cake}/cancel", who)
        assert (status, refused["code"]) == (403, "not_admin") and refused["error"]
    status, seen = await call("GET", f"/requests/{split}", carol)
    assert seen["request"]["status"]["code"] == "open" and seen["can"]["chip_in"] is True  # nothing changed
    status, unknown = await call("POST", "/orders/not-a-token/cancel", admin)
    assert (status, unknown["code"]) == (404, "unknown_order")

    status, screen = await call("GET", f"/orders/{cake}", admin)
    assert screen["can"]["cancel"] is True
    status, cancelled = await call("POST", f"/orders/{cake}/cancel", admin)
    assert status == 200, cancelled
    assert cancelled["order"]["status"]["code"] == "cancelled"
    assert (cancelled["requests_closed"], cancelled["chip_ins_returned"]) == (1, 1)
    await shop.told(bob, "has been refunded")  # his chip-in goes back, as /cancel gives it back
    assert (await call("GET", f"/orders/{cake}", admin))[1]["can"]["cancel"] is False

    # A cancelled order takes no money: neither its invoice route nor its request's.
    status, late = await call("POST", f"/orders/{cake}/invoice", carol, {"method": "stars"})
    assert (status, late["code"]) == (409, "order_cancelled") and "cancelled" in late["error"]
    status, late = await call("POST", f"/requests/{split}/invoice", carol, {"method": "stars"})
    assert (status, late["code"]) == (409, "request_cancelled"), late
    # Cancelling again, or a paid order, is refused in /cancel's words.
    status, twice = await call("POST", f"/orders/{cake}/cancel", admin)
    assert (status, twice["code"]) == (409, "order_cancelled") and "is already cancelled" in twice["error"]
    tea = await shop.new_link("/newlink 5 USD Tea")
    status, answer = await call("POST", f"/orders/{tea}/invoice", carol, {"method": "stars"})
    await emu.pay_invoice(carol, answer["url"])
    await shop.told(carol, "Payment received")
    status, paid = await call("POST", f"/orders/{tea}/cancel", admin)
    assert (status, paid["code"]) == (409, "order_paid") and "is paid and cannot be cancelled" in paid["error"]


async def admins_make_links_in_the_app_and_nobody_else_does(shop: RunningShop, call: AppClient) -> None:
    admin, bob = shop.admin, shop.bob
    body = {"title": "Oolong", "amount": "12.50", "currency": "usd"}
    status, refused = await call("POST", "/admin/links", bob, body)
    assert (status, refused["code"]) == (403, "not_admin")
    body["idempotency_key"] = "form-1"
    status, made = await call("POST", "/admin/links", admin, body)
    assert status == 201, made
    assert await call("POST", "/admin/links", admin, body) == (201, made)  # a double tap makes one order
    link = made["order"]
    assert link["link"] == f"https://t.me/{BOT_USERNAME}?start={link['token']}"
    assert link["page_url"] == f"{shop.web_url}/o/{link['token']}"
    qr_status, _type, svg = await shop.get_bytes(link["qr_svg_url"].removeprefix(shop.web_url))
    assert qr_status == 200 and b"<svg" in svg
    status, screen = await call("GET", f"/orders/{link['token']}", bob)
    assert screen["order"]["amount"] == money(1250, "$12.50")
    for wrong, code in [
        ({"amount": "12,5,0"}, "bad_amount"),
        ({"amount": "-3"}, "bad_amount"),
        ({"title": ""}, "bad_title"),
    ]:
        status, answer = await call("POST", "/admin/links", admin, body | wrong)
        assert (status, answer["code"]) == (400, code), wrong
        assert len(answer["error"]) > 10


ROUTES = [
    ("GET", "/me"),
    ("GET", "/orders/{order}"),
    ("POST", "/orders/{order}/invoice"),
    ("POST", "/orders/{order}/web"),
    ("POST", "/orders/{order}/ask"),
    ("POST", "/orders/{order}/cancel"),
    ("GET", "/requests/{request}"),
    ("POST", "/requests/{request}/invoice"),
    ("POST", "/requests/{request}/cancel"),
    ("POST", "/requests/{request}/share"),
    ("POST", "/requests/{request}/remind"),
    ("POST", "/admin/links"),
]


async def test_every_route_refuses_a_bad_sign_in_and_a_hostile_body(shop: RunningShop, call: AppClient) -> None:
    emu, alice = shop.emu, shop.alice
    order = await shop.new_link("/newlink 5 USD Biscotti")
    status, asked = await call("POST", f"/orders/{order}/ask", alice, {"mode": "split", "shares": 3})
    tokens = {"order": order, "request": asked["request"]["token"]}
    signed = emu.mini_app_init_data(alice)
    forged = urlencode(
        [(k, json.dumps({"id": shop.bob.id, "first_name": "Bob"}) if k == "user" else v) for k, v in parse_qsl(signed)]
    )
    sign_ins: dict[str, str | None] = {
        "missing": None,
        "forged": forged,
        "stale": emu.mini_app_init_data(alice, age=3601),
        "hash changed": re.sub(r"hash=[0-9a-f]{64}", "hash=" + "0" * 64, signed),
    }
    for method, path in ROUTES:
        path = path.format(**tokens)
        for case, init in sign_ins.items():
            status, body = await call(method, path, init, {"method": "stars"})
            assert status == 401 and body["code"] == "not_signed_in", (method, path, case)
            assert signed not in json.dumps(body)

    hostile: list[tuple[str, dict[str, Any] | None, bytes | None]] = [
        ("not JSON", None, b"method=stars"),
        ("not UTF-8", None, b"\xff\xfe{"),
        ("an array", None, b"[1, 2]"),
        ("nested deep", None, b"[" * 5000 + b"]" * 5000),
        ("too big", None, json.dumps({"note": "x" * 20000}).encode()),
        ("unknown method", {"method": "paypal"}, None),
        ("a number for the method", {"method": 7}, None),
        ("a huge amount", {"method": "stars", "amount_minor": 10**30}, None),
        ("a negative amount", {"method": "stars", "amount_minor": -1}, None),
        ("true as an amount", {"method": "stars", "amount_minor": True}, None),
        ("a text amount", {"method": "stars", "amount_minor": "500"}, None),
        ("a fraction", {"method": "stars", "amount_minor": 1.5}, None),
    ]
    for case, sent, raw in hostile:
        paths = [f"/requests/{tokens['request']}/invoice"]
        if sent is None or "amount_minor" not in sent:  # an order is paid whole: it reads no amount
            paths.append(f"/orders/{order}/invoice")
        for path in paths:
            status, answer = await call("POST", path, alice, sent, raw=raw)
            assert status == 400 and answer["code"], (case, path, answer)
    asking: list[dict[str, Any]] = [
        {"mode": "split", "shares": 1},
        {"mode": "split", "shares": 10**9},
        {"mode": "split", "shares": "2"},
        {"mode": "group"},
        {"mode": "single", "note": ["a"]},
        {"mode": "single", "note": "x" * 1001},
    ]
    for wrong in asking:
        status, answer = await call("POST", f"/orders/{order}/ask", shop.carol, wrong)
        assert status == 400, (wrong, answer)
    # Nothing of that reached Telegram or made a request: Carol has no orders at all.
    assert (await call("GET", "/me", shop.carol))[1]["orders"] == []

    await admins_make_links_in_the_app_and_nobody_else_does(shop, call)

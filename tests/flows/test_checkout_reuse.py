"""One person tapping Pay again and again opens one checkout: the same page, the same Stripe session, the same
pending payment, whether they tap in Telegram or post the request's web form."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import col, select, update

from storage.models import Order, Payment, PaymentStatus
from tests.flows.payforme_steps import ask_friend, open_order
from tests.flows.test_request_web_page import WebFriend
from tests.harness import RunningShop
from tests.providers.test_stripe import stripe_shop

COFFEE = "/newlink 12.50 USD Coffee beans"


async def attempts_at(shop: RunningShop, order_token: str) -> list[Payment]:
    async with shop.daifu.db.transaction() as session:
        statement = (
            select(Payment).join(Order, col(Order.id) == col(Payment.order_id)).where(Order.token == order_token)
        )
        return list((await session.exec(statement)).all())


def checkout_pages(shop: RunningShop, after: int) -> list[str]:
    """The URLs of the "Open checkout page" buttons Alice was sent after this message."""
    return [
        button["url"]
        for message in shop.emu.bot_messages(shop.alice)
        if message["message_id"] > after
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
        for button in row
        if button.get("text") == "Open checkout page"
    ]


async def tap(shop: RunningShop, card: dict[str, Any], label: str, times: int) -> list[Any]:
    """Alice taps the button as fast as she can (her taps reach the bot all at once)."""
    return await asyncio.gather(*(shop.emu.click(shop.alice, card, label, timeout=60) for _ in range(times)))


async def test_two_hundred_taps_on_the_sandbox_open_one_checkout(shop: RunningShop) -> None:
    token = await shop.new_link(COFFEE)
    card = await open_order(shop, shop.alice, token)
    before = shop.last_message_id(shop.alice)

    answers = await tap(shop, card, "Pay on the sandbox page", 200)

    assert not any(answer and answer.get("show_alert") for answer in answers)
    pages = await shop.emu.wait_for(lambda: (found := checkout_pages(shop, before)) and len(found) == 200 and found)
    assert len(set(pages)) == 1  # every answer points at the same checkout
    (attempt,) = await attempts_at(shop, token)
    assert attempt.status == PaymentStatus.PENDING and attempt.payer_id == shop.alice.id

    # It is a real checkout: paying it pays the order, once.
    status, result = await shop.post(pages[0], data={"decision": "pay"})
    assert status == 200 and "Payment accepted" in result
    await shop.told(shop.alice, "Payment received")
    assert shop.times_told(shop.alice, "Payment received") == 1


async def test_fifty_taps_on_stripe_make_one_checkout_session(database_url: str, unused_tcp_port: int) -> None:
    async with stripe_shop(database_url, unused_tcp_port) as (shop, fake):
        token = await shop.new_link(COFFEE)
        card = await open_order(shop, shop.alice, token)
        before = shop.last_message_id(shop.alice)

        await tap(shop, card, "Pay by card on Stripe", 50)

        pages = await shop.emu.wait_for(lambda: (found := checkout_pages(shop, before)) and len(found) == 50 and found)
        assert len(fake.sessions) == 1
        assert set(pages) == {next(iter(fake.sessions.values()))["url"]}
        assert len(await attempts_at(shop, token)) == 1


async def test_an_expired_checkout_is_not_handed_out_again(shop: RunningShop) -> None:
    token = await shop.new_link(COFFEE)
    card = await open_order(shop, shop.alice, token)
    before = shop.last_message_id(shop.alice)
    await tap(shop, card, "Pay on the sandbox page", 1)
    (first,) = await shop.emu.wait_for(lambda: checkout_pages(shop, before))
    async with shop.daifu.db.transaction() as session:  # its page can no longer be paid
        await session.exec(update(Payment).values(checkout_expires_at=col(Payment.created_at)))

    middle = shop.last_message_id(shop.alice)
    await tap(shop, card, "Pay on the sandbox page", 1)
    (second,) = await shop.emu.wait_for(lambda: checkout_pages(shop, middle))
    assert second != first
    assert len(await attempts_at(shop, token)) == 2


async def test_taps_on_a_telegram_invoice_resend_it_for_one_attempt(shop: RunningShop) -> None:
    token = await shop.new_link(COFFEE)
    card = await open_order(shop, shop.alice, token)
    before = shop.last_message_id(shop.alice)

    await tap(shop, card, "Pay by card", 20)

    def invoices() -> list[dict[str, Any]]:
        sent = [m for m in shop.emu.bot_messages(shop.alice) if m["message_id"] > before and "invoice" in m]
        return sent if len(sent) == 20 else []

    sent = await shop.emu.wait_for(invoices)
    (attempt,) = await attempts_at(shop, token)
    assert {call["payload"] for call in shop.emu.calls_to("sendInvoice")} == {attempt.checkout_ref}
    # Any of the invoices pays the order.
    await shop.emu.click(shop.alice, sent[-1], "Pay")
    await shop.told(shop.alice, "Payment received")


@pytest.fixture
async def browser(shop: RunningShop) -> AsyncIterator[WebFriend]:
    friend = WebFriend(shop)
    yield friend
    await friend.client.close()


async def test_two_hundred_posts_from_one_browser_open_one_checkout(shop: RunningShop, browser: WebFriend) -> None:
    token = await shop.new_link(COFFEE)
    request = await ask_friend(shop, shop.alice, token)
    status, _page = await browser.get(f"/r/{request}")
    assert status == 200
    form = {"form_token": browser.form_token(), "name": "Wei", "method": "sandbox"}

    answers = await asyncio.gather(*(browser.post(f"/r/{request}", form) for _ in range(200)))

    assert {status for status, _page, _location in answers} == {303}
    assert len({location for _status, _page, location in answers}) == 1
    (attempt,) = await attempts_at(shop, token)
    assert attempt.holder is not None and attempt.holder.startswith("web:")

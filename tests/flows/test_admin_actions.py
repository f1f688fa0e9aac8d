"""Admin commands that change things (/refund, /cancel, /apikey), logged with the admin; strangers change nothing."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqlmodel import col, func, select

from services.stats_report import StatsReport
from storage.models import (
    ApiKey,
    OrderEvent,
    OrderStatus,
    Payment,
    PaymentStatus,
    Refund,
    RequestStatus,
    Shop,
    utcnow,
)
from tests.flows.payforme_steps import ask_friend, current, share_card
from tests.flows.test_admin_reports import (
    friend_pays_on_sandbox,
    order_of,
    pay_by_invoice,
    pay_on_sandbox,
    refused,
    say,
)
from tests.flows.test_chip_in_and_holds import chip_in
from tests.harness import RunningShop


async def events(shop: RunningShop, token: str) -> list[tuple[str, int | None]]:
    order = await order_of(shop, token)
    async with shop.daifu.db.transaction() as session:
        rows = await session.exec(
            select(OrderEvent.kind, OrderEvent.actor_id)
            .where(OrderEvent.order_id == order.id)
            .order_by(col(OrderEvent.id))
        )
        return [(kind, actor) for kind, actor in rows.all()]


async def charges(shop: RunningShop, token: str) -> list[tuple[PaymentStatus, int]]:
    order = await order_of(shop, token)
    async with shop.daifu.db.transaction() as session:
        rows = await session.exec(
            select(Payment.status, Payment.refunded_minor)
            .where(Payment.order_id == order.id, col(Payment.provider_ref).is_not(None))
            .order_by(col(Payment.id))
        )
        return [(PaymentStatus(status), refunded) for status, refunded in rows.all()]


async def refund_count(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        return int((await session.exec(select(func.count()).select_from(Refund))).one())


async def confirm(shop: RunningShop, question: dict[str, Any], button: str = "Yes, refund") -> dict[str, Any]:
    """Tap a button under the refund question; returns the question as edited to say what happened."""
    emu = shop.emu
    await emu.click(shop.admin, question, button)
    return await emu.wait_for(lambda: not current(shop, question).get("reply_markup") and current(shop, question))


async def test_refund_a_part_then_the_rest_through_the_sandbox(shop: RunningShop) -> None:
    admin = shop.admin.id
    coffee = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await pay_on_sandbox(shop, shop.alice, coffee)
    await refused(shop, f"/refund {coffee}")
    assert await refund_count(shop) == 0

    question = await say(shop, shop.admin, f"/refund {coffee} 5")
    assert "Refund order #1, Coffee beans?" in question["text"]
    assert "$5.00 to Alice (payment #1, sandbox)" in question["text"]
    taps = [shop.emu.click(shop.admin, question, "Yes, refund") for _ in range(2)]  # a double tap
    answers = await asyncio.gather(*taps)
    assert sorted("already answered" in (answer["text"] or "") for answer in answers) == [False, True]
    done = await shop.emu.wait_for(lambda: "Refunded" in current(shop, question)["text"] and current(shop, question))
    assert "↩️ Refunded $5.00 to Alice through sandbox." in done["text"] and not done.get("reply_markup")
    told = await shop.told(shop.alice, "has been refunded")
    # A tap still on its way when the buttons went (a phone that had not redrawn yet): told, and no error.
    late = await shop.emu.click(shop.admin, question, "Yes, refund", as_shown=True)
    assert "already answered" in late["text"]
    await say(shop, shop.admin, "/help")
    assert shop.times_told(shop.admin, "something went wrong") == 0
    assert "Your payment of $5.00 has been refunded" in told["text"] and "The shop refunded" in told["text"]
    assert await charges(shop, coffee) == [(PaymentStatus.SUCCEEDED, 500)]
    assert (await order_of(shop, coffee)).status == OrderStatus.PAID

    too_much = await say(shop, shop.admin, f"/refund {coffee} 10")
    assert "more than was paid: at most $7.50 is left" in too_much["text"]
    assert "not an amount" in (await say(shop, shop.admin, f"/refund {coffee} lots"))["text"]
    assert "Did you mean 1.50?" in (await say(shop, shop.admin, f"/refund {coffee} 1,50"))["text"]
    assert "not €" in (await say(shop, shop.admin, f"/refund {coffee} €1"))["text"]
    assert await refund_count(shop) == 1

    rest = await say(shop, shop.admin, f"/refund {coffee}")
    assert "$7.50 to Alice" in rest["text"]
    kept = await confirm(shop, rest, "Keep it")
    assert "Nothing was refunded" in kept["text"] and await refund_count(shop) == 1
    rest = await say(shop, shop.admin, f"/refund {coffee}")
    await confirm(shop, rest)
    await shop.told(shop.alice, "Your payment of $7.50 has been refunded")
    assert await charges(shop, coffee) == [(PaymentStatus.REFUNDED, 1250)]
    assert (await order_of(shop, coffee)).status == OrderStatus.REFUNDED
    assert (await events(shop, coffee))[-2:] == [("refunded_payment", admin), ("refunded", admin)]
    assert "already been refunded" in (await say(shop, shop.admin, f"/refund {coffee}"))["text"]


async def test_refund_stars_whole_and_a_card_payment_as_owed(shop: RunningShop) -> None:
    emu, admin = shop.emu, shop.admin.id
    stickers = await shop.new_link("/newlink 50 XTR Sticker pack")
    paid = await pay_by_invoice(shop, shop.alice, stickers, "Stars")
    assert "can only be refunded whole" in (await say(shop, shop.admin, f"/refund {stickers} 10"))["text"]
    question = await say(shop, shop.admin, f"/refund {stickers}")
    assert "50 ⭐ to Alice" in question["text"] and "stars" in question["text"]
    await confirm(shop, question)
    await shop.told(shop.alice, "Your payment of 50 ⭐ has been refunded")
    charge_id = paid["successful_payment"]["telegram_payment_charge_id"]
    assert [refund["telegram_payment_charge_id"] for refund in emu.star_refunds] == [charge_id]
    assert (await order_of(shop, stickers)).status == OrderStatus.REFUNDED
    assert ("refunded", admin) in await events(shop, stickers)

    postcard = await shop.new_link("/newlink 1 USD Postcard")
    await pay_by_invoice(shop, shop.alice, postcard, "Pay by card")
    question = await say(shop, shop.admin, f"/refund {postcard}")
    assert "recorded as owed, and you refund it at the provider" in question["text"]
    done = await confirm(shop, question)
    assert "$1.00 to Alice is recorded as owed: refund it yourself at telegram" in done["text"]
    await shop.told(shop.admin, "⚠️ Refund owed: $1.00")
    await shop.told(shop.alice, "will be refunded by the shop through its payment provider")
    assert await charges(shop, postcard) == [(PaymentStatus.REFUND_OWED, 100)]
    assert ("refund_owed", admin) in await events(shop, postcard)
    assert len(emu.star_refunds) == 1  # nothing was sent to Telegram for the card


async def test_refund_a_chip_in_gives_every_part_back_and_refuses_a_part(shop: RunningShop) -> None:
    dinner = await shop.new_link("/newlink 100 USD Team dinner")
    request = await ask_friend(shop, shop.alice, dinner, shares=2)
    await chip_in(shop, shop.bob, request, "60")
    await chip_in(shop, shop.carol, request, "40")
    await shop.told(shop.alice, "covered the whole order")
    stats = await StatsReport(shop.daifu.db).stats(utcnow().replace(hour=0, minute=0, second=0))
    assert (stats.split_requests, stats.contributions, stats.paid_by_friends) == (1, 2, 1)

    part = await say(shop, shop.admin, f"/refund {dinner} 10")
    assert "paid in 2 payments (a chip-in)" in part["text"]
    assert "$60.00 to Bob" in part["text"] and "$40.00 to Carol" in part["text"]
    question = await say(shop, shop.admin, f"/refund {dinner}")
    assert "$60.00 to Bob" in question["text"] and "$40.00 to Carol" in question["text"]
    done = await confirm(shop, question)
    assert "Refunded $60.00 to Bob" in done["text"] and "Refunded $40.00 to Carol" in done["text"]
    # Each friend hears whose order they had paid into; Alice, that it went back to them.
    await shop.told(shop.bob, "Your payment of $60.00 for Alice's Team dinner was refunded")
    await shop.told(shop.carol, "Your payment of $40.00 for Alice's Team dinner was refunded")
    await shop.told(shop.alice, "Your order Team dinner, paid by Bob, was refunded to Bob ($60.00)")
    await shop.told(shop.alice, "Your order Team dinner, paid by Carol, was refunded to Carol ($40.00)")
    assert await charges(shop, dinner) == [(PaymentStatus.REFUNDED, 6000), (PaymentStatus.REFUNDED, 4000)]
    assert (await order_of(shop, dinner)).status == OrderStatus.REFUNDED


async def test_cancel_closes_the_request_edits_its_card_and_gives_chip_ins_back(shop: RunningShop) -> None:
    emu, admin = shop.emu, shop.admin.id
    group = emu.add_group("Friends", members=[shop.alice, shop.bob, shop.carol])
    dinner = await shop.new_link("/newlink 100 USD Team dinner")
    request = await ask_friend(shop, shop.alice, dinner, shares=2)
    card = await share_card(shop, shop.alice, request, group)
    await chip_in(shop, shop.bob, request, "30")
    await shop.told(shop.alice, "Bob chipped in")
    await refused(shop, f"/cancel {dinner}")
    assert (await order_of(shop, dinner)).status == OrderStatus.PENDING

    done = await say(shop, shop.admin, f"/cancel {dinner}")

    assert "Cancelled order #1, Team dinner" in done["text"]
    assert "requests closed: 1" in done["text"] and "Chip-ins given back to friends: 1" in done["text"]
    await emu.wait_for(lambda: "Cancelled" in current(shop, card)["text"])
    assert not current(shop, card).get("reply_markup")
    await shop.told(shop.bob, "Your payment of $30.00 has been refunded")
    assert (await order_of(shop, dinner)).status == OrderStatus.CANCELLED
    stored = await shop.daifu.request_views.by_token(request)
    assert stored is not None and stored.status == RequestStatus.CANCELLED
    logged = await events(shop, dinner)
    assert ("cancelled", admin) in logged and ("request_cancelled", admin) in logged

    assert "already cancelled" in (await say(shop, shop.admin, f"/cancel {dinner}"))["text"]
    tea = await shop.new_link("/newlink 5 USD Tea")
    await friend_pays_on_sandbox(shop, shop.bob, await ask_friend(shop, shop.alice, tea))
    assert "is paid and cannot be cancelled" in (await say(shop, shop.admin, f"/cancel {tea}"))["text"]
    assert "Usage: /cancel" in (await say(shop, shop.admin, "/cancel"))["text"]


async def test_api_keys_are_made_shown_once_and_revoked(shop: RunningShop) -> None:
    keys = shop.daifu.api_keys
    await refused(shop, "/apikey create Evil Corp")

    made = (await say(shop, shop.admin, "/apikey create Acme  Books"))["text"]

    assert "New API key for Acme Books" in made and "shown only this once" in made
    key = re.search(r"dfk_\S+", made).group(0)  # type: ignore[union-attr]
    assert re.search(r"whsec_\S+", made)
    shop_of_key = await keys.shop_for(key)
    assert shop_of_key is not None and shop_of_key.name == "Acme Books"
    async with shop.daifu.db.transaction() as session:
        stored = (await session.exec(select(ApiKey))).one()
        shops = (await session.exec(select(Shop.name))).all()
    assert stored.created_by == shop.admin.id and "Evil Corp" not in shops
    await refused(shop, f"/apikey revoke {stored.prefix}")
    assert await keys.shop_for(key) is not None

    assert "is revoked" in (await say(shop, shop.admin, f"/apikey revoke {stored.prefix}"))["text"]
    assert await keys.shop_for(key) is None
    assert "No active key" in (await say(shop, shop.admin, f"/apikey revoke {stored.prefix}"))["text"]
    assert "Usage: /apikey" in (await say(shop, shop.admin, "/apikey"))["text"]


async def test_a_refund_asked_before_a_restart_is_confirmed_after_it_once(shop: RunningShop) -> None:
    """The plan behind the Yes button is in the database, not in one process's memory: a tap that reaches
    another worker (or this one, restarted) still refunds, and only once."""
    coffee = await shop.new_link("/newlink 12.50 USD Coffee beans")
    await pay_on_sandbox(shop, shop.alice, coffee)
    question = await say(shop, shop.admin, f"/refund {coffee} 5")

    await shop.restart()

    taps = [shop.emu.click(shop.admin, question, "Yes, refund") for _ in range(2)]
    answers = await asyncio.gather(*taps)
    assert sorted("already answered" in (answer["text"] or "") for answer in answers) == [False, True]
    await shop.told(shop.alice, "Your payment of $5.00 has been refunded")
    assert await charges(shop, coffee) == [(PaymentStatus.SUCCEEDED, 500)]
    assert await refund_count(shop) == 1

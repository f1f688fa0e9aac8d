"""No item blocks its queue: a poisoned provider notice that fails every time it is applied does not keep the
housekeeping job from its other work (a refund to resume, an order to expire, a payment nobody was told of);
after a few tries it is parked with its last error, no longer tried, and shown to the admins in /providers. So is
a refund that fails every time it is resumed, and a row of the outbox that cannot be told; a person who blocked
the bot keeps no one else untold."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select, update

from emulator.state import User
from payments.base import Amount, ChargeOutcome, PaymentEvent
from payments.sandbox import SandboxGateway
from services.metrics import REGISTRY
from services.money import Money
from services.parking import PARK_AFTER_ATTEMPTS
from services.provider_notices import event_to_json
from services.telling_rows import Kind
from storage.models import (
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
    PayRequest,
    ProviderNotice,
    Refund,
    RequestMode,
    Telling,
    utcnow,
)
from tests.harness import RunningShop

A_WHILE_AGO = timedelta(minutes=5)


async def opened_checkout(shop: RunningShop, title: str) -> tuple[str, str]:
    """An order Alice opened a sandbox checkout for: (order token, checkout ref)."""
    order = await shop.daifu.orders.create(Money(700, "USD"), title, created_by=shop.admin.id)
    checkout = await shop.daifu.checkouts.start(order.token, "sandbox", payer_id=shop.alice.id)
    return order.token, checkout.checkout_ref


async def paid_but_untold(shop: RunningShop, title: str, payer: User | None = None) -> str:
    """An order paid on the sandbox whose worker died before anyone was told (the notice applied, not told)."""
    token, _ref = await opened_checkout(shop, title)
    gateway = shop.daifu.providers["sandbox"]
    assert isinstance(gateway, SandboxGateway)
    checkout = await shop.daifu.checkouts.start(token, "sandbox", payer_id=(payer or shop.alice).id)
    assert checkout.url is not None
    session = gateway.open_session(checkout.url.rsplit("/", 1)[1])
    assert session is not None
    headers, body = gateway.signed_notice(session, ChargeOutcome.SUCCEEDED)
    async with shop.another_worker() as other:
        reply = await other.notices.receive("sandbox", headers, body, remote=None)
    assert reply.status == 200
    return token


async def told_already(shop: RunningShop, token: str) -> None:
    """What the outbox holds for this order was told (by the worker, before it died)."""
    async with shop.daifu.db.transaction() as session:
        order = (await session.exec(select(Order).where(Order.token == token))).one()
        await session.exec(update(Telling).where(col(Telling.order_id) == order.id).values(done_at=utcnow()))


async def poisoned_notices(shop: RunningShop) -> list[int]:
    """Verified notices, kept, that fail every time they are applied: one names an amount no column can hold
    (the charge cannot be written), one's stored event cannot be read back."""
    _token, ref = await opened_checkout(shop, "Poisoned")
    too_big = PaymentEvent("sandbox", "evt_huge", ref, "ch_huge", ChargeOutcome.SUCCEEDED, Amount(10**30, "USD"))
    rows = [
        ProviderNotice(provider="sandbox", headers="{}", body="{}", event_id="evt_huge", event=event_to_json(too_big)),
        ProviderNotice(provider="sandbox", headers="{}", body="{}", event_id="evt_old", event='{"written by": "v0"}'),
    ]
    async with shop.daifu.db.transaction() as session:
        for row in rows:
            row.received_at = utcnow() - A_WHILE_AGO
            session.add(row)
        await session.flush()
        return [row.id for row in rows if row.id is not None]


async def refund_left_pending(shop: RunningShop, token: str) -> int:
    """The admin refunded the order and the worker died during the provider call: the part reserved, pending."""
    async with shop.daifu.db.transaction() as session:
        order = (await session.exec(select(Order).where(Order.token == token))).one()
        charge = (await session.exec(select(Payment).where(Payment.order_id == order.id, Payment.credited))).one()
        await session.exec(
            update(Payment).where(col(Payment.id) == charge.id).values(refunded_minor=charge.amount_minor)
        )
        refund = Refund(
            payment_id=charge.id or 0,
            amount_minor=charge.amount_minor,
            currency=charge.currency,
            status="pending",
            reason="shop_refund",
            actor_id=shop.admin.id,
            created_at=utcnow() - A_WHILE_AGO,
        )
        session.add(refund)
        await session.flush()
        assert refund.id is not None
        return refund.id


async def refund_through_a_provider_since_switched_off(shop: RunningShop) -> int:
    """A refund left pending of a charge taken by Alipay, which this shop no longer has: it fails every time."""
    _token, ref = await opened_checkout(shop, "Old alipay tea")
    async with shop.daifu.db.transaction() as session:
        charge = (await session.exec(select(Payment).where(Payment.checkout_ref == ref))).one()
        charge.provider, charge.status, charge.provider_ref = "alipay", PaymentStatus.SUCCEEDED, "2026120622001"
        charge.refunded_minor = charge.amount_minor
        session.add(charge)
        refund = Refund(
            payment_id=charge.id or 0,
            amount_minor=charge.amount_minor,
            currency=charge.currency,
            status="pending",
            reason="shop_refund",
            created_at=utcnow() - A_WHILE_AGO,
        )
        session.add(refund)
        await session.flush()
        assert refund.id is not None
        return refund.id


async def a_minute_later(shop: RunningShop, notice_ids: list[int]) -> None:
    """The poisoned notices' and refunds' last try was long enough ago to be tried again."""
    async with shop.daifu.db.transaction() as session:
        await session.exec(
            update(ProviderNotice)
            .where(col(ProviderNotice.id).in_(notice_ids))
            .values(processed_at=utcnow() - timedelta(minutes=2))
        )
        await session.exec(update(Refund).values(leased_until=utcnow() - timedelta(seconds=1)))


def parked_count(kind: str) -> float:
    return REGISTRY.get_sample_value("daifu_parked_total", {"kind": kind}) or 0.0


async def notices_state(shop: RunningShop, notice_ids: list[int]) -> list[tuple[str, int, str]]:
    async with shop.daifu.db.transaction() as session:
        rows = (
            await session.exec(
                select(ProviderNotice).where(col(ProviderNotice.id).in_(notice_ids)).order_by(col(ProviderNotice.id))
            )
        ).all()
    return [(row.status, row.attempts, row.error or "") for row in rows]


async def test_a_poisoned_notice_blocks_nothing_and_is_parked_for_the_admins(shop: RunningShop) -> None:
    daifu = shop.daifu
    await shop.emu.send_text(shop.alice, "/help")  # Alice is known to the bot, so she can be told things
    await shop.emu.next_bot_message(shop.alice)
    poisoned = await poisoned_notices(shop)
    stuck_refund = await refund_through_a_provider_since_switched_off(shop)
    refunded = await paid_but_untold(shop, "Refunded tea")
    await told_already(shop, refunded)
    refund_id = await refund_left_pending(shop, refunded)
    await paid_but_untold(shop, "Untold tea")
    await shop.lease_runs_out()
    due = await daifu.orders.create(Money(300, "USD"), "Expiring tea", created_by=shop.admin.id)
    async with daifu.db.transaction() as session:
        await session.exec(update(Order).where(col(Order.id) == due.id).values(expires_at=utcnow() - A_WHILE_AGO))

    await shop.run_housekeeping()

    # Every other item of the run was handled: the refund resumed, the order expired, the untold told.
    async with daifu.db.transaction() as session:
        refund = await session.get(Refund, refund_id)
        expired = await session.get(Order, due.id)
    assert refund is not None and refund.status == "done"
    assert expired is not None and expired.status == OrderStatus.EXPIRED
    await shop.told(shop.alice, "has been refunded")
    await shop.told(shop.alice, "Payment received")
    assert shop.times_told(shop.alice, "Payment received") == 1  # the untold one (the refunded one was told now)
    states = await notices_state(shop, poisoned)
    assert [(status, attempts) for status, attempts, _error in states] == [("failed", 1), ("failed", 1)]
    assert states[0][2].split(":")[0] in ("OverflowError", "DBAPIError")  # the charge cannot be written
    assert "KeyError" in states[1][2]

    parked_before = {kind: parked_count(kind) for kind in ("notice", "refund")}
    for _run in range(PARK_AFTER_ATTEMPTS - 1):
        await a_minute_later(shop, poisoned)
        await shop.run_housekeeping()
    states = await notices_state(shop, poisoned)
    assert [(status, attempts) for status, attempts, _error in states] == [("parked", PARK_AFTER_ATTEMPTS)] * 2
    await a_minute_later(shop, poisoned)
    await shop.run_housekeeping()
    assert await notices_state(shop, poisoned) == states  # parked: no longer tried
    async with daifu.db.transaction() as session:
        parked_refund = await session.get(Refund, stuck_refund)
    assert parked_refund is not None and parked_refund.status == "pending"  # the money stays reserved
    assert parked_refund.attempts == PARK_AFTER_ATTEMPTS and "KeyError" in (parked_refund.last_error or "")
    assert {kind: parked_count(kind) - parked_before[kind] for kind in parked_before} == {"notice": 2, "refund": 1}

    sent = await shop.emu.send_text(shop.admin, "/providers")
    reply = await shop.emu.wait_for(
        lambda: next((m for m in shop.emu.bot_messages(shop.admin) if m["message_id"] > sent["message_id"]), None)
    )
    text = reply["text"]
    assert "Parked after failing again and again" in text and "Provider notices: 2; refunds: 1" in text
    assert (
        f"sandbox notice #{poisoned[1]} since" in text and f"{PARK_AFTER_ATTEMPTS} tries, last error: KeyError" in text
    )
    assert f"sandbox notice #{poisoned[0]} since" in text
    assert f"refund #{stuck_refund} since" in text and "last error: KeyError: 'alipay'" in text


async def test_a_requester_who_blocked_the_bot_keeps_no_one_else_unreminded(shop: RunningShop) -> None:
    daifu = shop.daifu
    requests = []
    for person in (shop.alice, shop.bob):
        await shop.emu.send_text(person, "/help")
        await shop.emu.next_bot_message(person)
        token = await shop.new_link(f"/newlink 4 USD Tea for {person.first_name}")
        requests.append((await daifu.asking.ask(token, person.id, mode=RequestMode.SINGLE)).request)
    due = await daifu.orders.create(Money(300, "USD"), "Expiring tea", created_by=shop.admin.id)
    async with daifu.db.transaction() as session:
        await session.exec(
            update(PayRequest)
            .where(col(PayRequest.id).in_([request.id for request in requests]))
            .values(expires_at=utcnow() + timedelta(hours=1))
        )
        await session.exec(update(Order).where(col(Order.id) == due.id).values(expires_at=utcnow() - A_WHILE_AGO))
    shop.emu.block_bot(shop.alice)  # the first reminder fails with 403

    await shop.run_housekeeping()

    await shop.told(shop.bob, "is still open and expires at")
    async with daifu.db.transaction() as session:
        expired = await session.get(Order, due.id)
    assert expired is not None and expired.status == OrderStatus.EXPIRED


async def a_row_nobody_can_tell(shop: RunningShop, token: str) -> int:
    """A refund notice of the outbox about a refund whose reason this version does not know (written by a newer
    one): rendering it fails every time."""
    async with shop.daifu.db.transaction() as session:
        order = (await session.exec(select(Order).where(Order.token == token))).one()
        charge = (await session.exec(select(Payment).where(Payment.order_id == order.id, Payment.credited))).one()
        refund = Refund(payment_id=charge.id or 0, amount_minor=100, currency="USD", status="done", reason="whim")
        session.add(refund)
        await session.flush()
        row = Telling(
            kind=Kind.REFUNDED.value,
            chat_id=shop.alice.id,
            order_id=order.id,
            payment_id=charge.id,
            refund_id=refund.id,
            claimed_until=utcnow(),
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        return row.id


async def outbox_row(shop: RunningShop, row_id: int) -> Telling:
    async with shop.daifu.db.transaction() as session:
        row = await session.get(Telling, row_id)
    assert row is not None
    return row


async def rows_to(shop: RunningShop, person: User, kind: Kind) -> list[Telling]:
    async with shop.daifu.db.transaction() as session:
        found = select(Telling).where(Telling.chat_id == person.id, Telling.kind == kind.value)
        return list((await session.exec(found)).all())


async def test_an_outbox_row_that_cannot_be_told_is_parked_and_a_blocked_person_keeps_no_one_untold(
    shop: RunningShop,
) -> None:
    emu = shop.emu
    for person in (shop.admin, shop.alice, shop.bob):
        await emu.send_text(person, "/help")
        await emu.next_bot_message(person)
    alices = await paid_but_untold(shop, "Alice's tea")
    await paid_but_untold(shop, "Bob's tea", payer=shop.bob)
    broken = await a_row_nobody_can_tell(shop, alices)
    emu.block_bot(shop.bob)  # Bob's receipt fails with 403
    parked_before = parked_count("telling")
    await shop.lease_runs_out()

    await shop.run_housekeeping()

    await shop.told(shop.alice, "Payment received")
    await shop.told(shop.admin, "Bob paid $7.00")  # after Bob's receipt, which could not be sent
    [bobs_receipt] = await rows_to(shop, shop.bob, Kind.RECEIPT)
    assert bobs_receipt.done_at is not None and "Forbidden" in (bobs_receipt.last_error or "")
    row = await outbox_row(shop, broken)
    assert row.done_at is None and row.attempts == 1 and "ValueError" in (row.last_error or "")

    for _run in range(PARK_AFTER_ATTEMPTS):
        await shop.lease_runs_out()
        await shop.run_housekeeping()
    row = await outbox_row(shop, broken)
    assert row.done_at is None and row.attempts == PARK_AFTER_ATTEMPTS  # parked: no longer tried
    assert parked_count("telling") - parked_before == 1

    sent = await emu.send_text(shop.bob, "/help")  # writing to the bot unblocks it
    await shop.told(shop.bob, "/my", after=sent["message_id"])
    await shop.lease_runs_out()
    await shop.run_housekeeping()
    assert shop.times_told(shop.alice, "Payment received") == 1
    assert shop.times_told(shop.bob, "Payment received") == 0  # done: a person who blocked the bot is not chased

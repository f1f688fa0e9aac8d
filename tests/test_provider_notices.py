"""Provider notices are verified first and only then stored in full; one that failed to apply can be applied
again, and one left unapplied by a worker that died is applied by the housekeeping job."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import col, select, update

from payments.base import ChargeOutcome
from payments.sandbox import SIGNATURE_HEADER, SandboxGateway
from services.config import ShopRules
from services.daifu import Daifu
from services.money import Money
from services.provider_notices import event_to_json
from services.telling_rows import Kind
from storage.database import Database
from storage.models import OrderStatus, ProviderNotice, RejectedNotice, Telling, utcnow

# The payer's receipt, the admin's note, and the tidying of the messages that offered to pay.
TOLD_OF_A_PAYMENT = [Kind.RECEIPT, Kind.PAID_NOTE, Kind.TIDY]


@pytest.fixture
def daifu(db: Database) -> Daifu:
    rules = ShopRules(shop_name="Test shop", admin_ids=frozenset({1}), public_base_url="http://shop.test")
    return Daifu(db, rules, {"sandbox": SandboxGateway("secret", "http://shop.test")})


async def signed_payment(daifu: Daifu) -> tuple[str, dict[str, str], bytes]:
    order = await daifu.orders.create(Money(700, "USD"), "Tea", created_by=1)
    checkout = await daifu.checkouts.start(order.token, "sandbox", payer_id=1001)
    gateway = daifu.providers["sandbox"]
    assert isinstance(gateway, SandboxGateway) and checkout.url is not None
    session = gateway.open_session(checkout.url.rsplit("/", 1)[1])
    assert session is not None
    headers, body = gateway.signed_notice(session, ChargeOutcome.SUCCEEDED)
    return order.token, headers, body


async def recorded(daifu: Daifu) -> list[Kind]:
    """What the outbox says people are to be told, in order."""
    async with daifu.db.transaction() as session:
        return [Kind(row.kind) for row in (await session.exec(select(Telling).order_by(col(Telling.id)))).all()]


def tampered(signature: str) -> str:
    """The signature with its last hex digit changed; always a different one, so the forgery never matches."""
    last = signature[-1]
    return signature[:-1] + ("1" if last == "0" else "0")


async def test_a_notice_that_failed_is_kept_and_can_be_applied_again(
    daifu: Daifu, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, headers, body = await signed_payment(daifu)
    real_receive = daifu.payment_intake.receive

    async def database_hiccup(event: object) -> None:
        raise ConnectionError("the database went away for a moment")

    monkeypatch.setattr(daifu.payment_intake, "receive", database_hiccup)
    reply = await daifu.notices.receive("sandbox", headers, body, remote="203.0.113.9")
    assert reply.status >= 400 and await recorded(daifu) == []  # the provider will send it again
    async with daifu.db.transaction() as session:
        stored = (await session.exec(select(ProviderNotice))).one()
    assert stored.status == "failed" and "ConnectionError" in (stored.error or "")
    assert stored.body == body.decode() and json.loads(stored.headers)[SIGNATURE_HEADER] == headers[SIGNATURE_HEADER]
    assert stored.remote == "203.0.113.9" and stored.event_id is not None
    assert (await daifu.orders.by_token(token)).status == OrderStatus.PENDING  # type: ignore[union-attr]

    monkeypatch.setattr(daifu.payment_intake, "receive", real_receive)
    assert stored.id is not None
    await daifu.notices.reapply(stored.id)

    assert await recorded(daifu) == TOLD_OF_A_PAYMENT
    assert (await daifu.orders.by_token(token)).status == OrderStatus.PAID  # type: ignore[union-attr]
    async with daifu.db.transaction() as session:
        again = await session.get(ProviderNotice, stored.id)
    assert again is not None and again.status == "applied"
    await daifu.notices.reapply(stored.id)
    assert await recorded(daifu) == TOLD_OF_A_PAYMENT  # applied notices are not applied twice


async def test_a_forged_notice_is_kept_only_as_a_short_record(daifu: Daifu) -> None:
    _token, headers, body = await signed_payment(daifu)
    forged = dict(headers, **{SIGNATURE_HEADER: tampered(headers[SIGNATURE_HEADER])})
    reply = await daifu.notices.receive("sandbox", forged, body, remote="198.51.100.7")
    assert reply.status == 400 and await recorded(daifu) == []
    async with daifu.db.transaction() as session:
        assert (await session.exec(select(ProviderNotice))).all() == []  # neither its body nor its headers
        record = (await session.exec(select(RejectedNotice))).one()
    assert (record.provider, record.size, record.remote) == ("sandbox", len(body), "198.51.100.7")
    assert record.reason == "signature does not match"


async def stuck(daifu: Daifu, headers: dict[str, str], body: bytes, *, event: str | None = None) -> int:
    """A notice stored two minutes ago by a worker that died before applying it."""
    notice = ProviderNotice(
        provider="sandbox",
        headers=json.dumps(headers),
        body=body.decode(),
        event=event,
        received_at=utcnow() - timedelta(minutes=2),
    )
    async with daifu.db.transaction() as session:
        session.add(notice)
        await session.flush()
        assert notice.id is not None
        return notice.id


async def status_of(daifu: Daifu, notice_id: int) -> str:
    async with daifu.db.transaction() as session:
        notice = await session.get(ProviderNotice, notice_id)
    assert notice is not None
    return notice.status


async def test_a_notice_whose_worker_died_before_applying_it_is_applied_once_later(daifu: Daifu) -> None:
    token, headers, body = await signed_payment(daifu)
    # Lower-case header names, as some proxies pass them on: the stored notice still verifies.
    unverified = await stuck(daifu, {name.lower(): value for name, value in headers.items()}, body)
    fresh = await stuck(daifu, headers, body)
    async with daifu.db.transaction() as session:
        await session.exec(update(ProviderNotice).where(col(ProviderNotice.id) == fresh).values(received_at=utcnow()))

    await daifu.notices.resume()
    assert await recorded(daifu) == TOLD_OF_A_PAYMENT
    assert (await daifu.orders.by_token(token)).status == OrderStatus.PAID  # type: ignore[union-attr]
    assert await status_of(daifu, unverified) == "applied"
    assert await status_of(daifu, fresh) == "received"  # its worker may still be at it: left alone for now
    await daifu.notices.resume()
    assert await recorded(daifu) == TOLD_OF_A_PAYMENT

    # A notice stuck after it was verified is applied from its stored event: its signature may be too old by now.
    second_token, headers, body = await signed_payment(daifu)
    event = await daifu.providers["sandbox"].parse_notice(headers, body)
    verified = await stuck(daifu, {}, b"{}", event=event_to_json(event))
    await daifu.notices.resume()
    assert await recorded(daifu) == TOLD_OF_A_PAYMENT * 2 and await status_of(daifu, verified) == "applied"
    assert (await daifu.orders.by_token(second_token)).status == OrderStatus.PAID  # type: ignore[union-attr]


async def test_a_stuck_notice_that_does_not_verify_is_rejected_and_changes_nothing(daifu: Daifu) -> None:
    token, headers, body = await signed_payment(daifu)
    forged = await stuck(daifu, dict(headers, **{SIGNATURE_HEADER: tampered(headers[SIGNATURE_HEADER])}), body)
    await daifu.notices.resume()
    assert await recorded(daifu) == [] and await status_of(daifu, forged) == "rejected"
    assert (await daifu.orders.by_token(token)).status == OrderStatus.PENDING  # type: ignore[union-attr]

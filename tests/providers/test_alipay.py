"""Alipay precreate against the in-process fake: scan and pay, refunds, reconciliation, and every bad notice."""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payments.alipay import AlipayPrecreate, from_out_trade_no, to_out_trade_no
from payments.base import Amount, ChargeOutcome, CheckoutRef, CheckoutRequest, PaymentError
from services.links import qr_png
from storage.models import OrderStatus, PaymentStatus
from tests.harness import BOT_USERNAME, RunningShop, running_shop
from tests.providers.fake_alipay import FakeAlipay, Trade
from tests.providers.stored import charges, orphan_charges, stored_notices, tap_method

PROVIDERS = ["sandbox", "alipay"]
SUCCESS = (200, "success")
# What Alipay takes as out_trade_no: https://docs.open.alipay.com/api_1/alipay.trade.precreate
OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_]{1,64}")
# Checkout refs as new_token() writes them (22 characters of URL-safe base64), with "-" and "_" where an
# escape could go wrong: next to each other, doubled, before the digits 0 and 1, at either end, or all of it.
AWKWARD_REFS = ["-Ab_c-d__e--f_0-1_1-0_", "_-" * 11, "Z9_0-_1x--__y0_1-0abc-"]


@pytest.fixture
async def alipay() -> AsyncIterator[FakeAlipay]:
    async with FakeAlipay() as fake:
        yield fake


@pytest.fixture
async def shop(database_url: str, unused_tcp_port: int, alipay: FakeAlipay) -> AsyncIterator[RunningShop]:
    async with running_shop(database_url, unused_tcp_port, payment_providers=PROVIDERS, **alipay.settings()) as running:
        yield running


async def show_code(shop: RunningShop, alipay: FakeAlipay, token: str) -> tuple[dict[str, Any], Trade]:
    """Alice opens the order and taps Alipay: the QR code she is sent, and the trade behind it."""
    return await tap_method(shop, token, "Alipay"), alipay.latest()


def notify_url(shop: RunningShop) -> str:
    return f"{shop.web_url}/notify/alipay"


async def emu_refund(shop: RunningShop, note: dict[str, Any]) -> None:
    """The admin taps Refund under the payment's note, and confirms."""
    await shop.emu.click(shop.admin, note, "Refund")
    await shop.emu.wait_for(lambda: "Yes, refund" in str(shop.emu.chat_messages(shop.admin)[-1].get("reply_markup")))
    await shop.emu.click(shop.admin, note, "Yes, refund")


@pytest.fixture
def awkward_refs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """From now on daifu's checkouts get AWKWARD_REFS, in turn, as their checkout_ref; the refs handed out.

    (new_token() writes a "-" or a "_" into about half its refs anyway, but a test must not pass by chance.)"""
    handed_out: list[str] = []
    refs = iter(AWKWARD_REFS)

    def next_ref() -> str:
        handed_out.append(next(refs))
        return handed_out[-1]

    monkeypatch.setattr("services.checkout.new_token", next_ref)
    yield handed_out


async def test_a_shopper_pays_by_scanning_the_code_and_the_admin_refunds(shop: RunningShop, alipay: FakeAlipay) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 88 CNY Tea set")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await emu.next_bot_message(shop.alice)
    labels = [button["text"] for row in card["reply_markup"]["inline_keyboard"] for button in row]
    assert "Pay with Alipay (CN¥88.00)" in labels

    await emu.click(shop.alice, card, "Pay with Alipay")
    photo = await emu.next_bot_message(shop.alice)
    trade = alipay.latest()
    assert emu.file_bytes(photo["photo"][-1]["file_id"]) == qr_png(trade.qr_code)
    assert "Scan this code" in photo["caption"]
    assert (trade.total, trade.subject, trade.notify_url) == (8800, "Tea set", notify_url(shop))
    assert alipay.refused == []  # every request daifu made was signed with the app's key, in Beijing time

    assert await alipay.pay(trade.out_trade_no) == SUCCESS
    receipt = await shop.told(shop.alice, "Payment received")
    assert "CN¥88.00" in receipt["text"] and str(trade.trade_no) in receipt["text"]
    note = await shop.told(shop.admin, "Alice paid CN¥88.00")
    assert "via alipay" in note["text"]
    assert await stored_notices(shop, "alipay") == [("applied", None)]

    await emu_refund(shop, note)
    told = await shop.told(shop.alice, "has been refunded")
    assert "CN¥88.00" in told["text"]
    [(request_no, refunded)] = trade.refunds.items()
    assert request_no.startswith("daifu-refund-") and refunded == 8800
    assert trade.state == "TRADE_CLOSED"  # Alipay closes a trade refunded in full
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.REFUNDED


async def test_a_lost_notice_is_found_by_reconciliation(
    database_url: str, unused_tcp_port: int, alipay: FakeAlipay
) -> None:
    settings = alipay.settings() | {"payment_providers": PROVIDERS, "reconcile_after": 1}
    async with running_shop(database_url, unused_tcp_port, **settings) as shop:
        assert shop.runtime is not None
        application, jobs = shop.runtime.application, shop.runtime.application.job_queue
        assert jobs is not None
        [housekeeping] = jobs.get_jobs_by_name("housekeeping")
        token = await shop.new_link("/newlink 88 CNY Tea set")
        _photo, trade = await show_code(shop, alipay, token)
        await asyncio.sleep(1.1)
        await housekeeping.run(application)  # not scanned yet: Alipay says the trade does not exist
        assert alipay.calls.count("alipay.trade.query") == 1
        assert shop.times_told(shop.alice, "Payment received") == 0

        await alipay.pay(trade.out_trade_no, notify=False)  # paid, but the notice never arrives
        await housekeeping.run(application)

        receipt = await shop.told(shop.alice, "Payment received")
        assert str(trade.trade_no) in receipt["text"]
        await shop.told(shop.admin, "Alice paid CN¥88.00")
        order = await shop.daifu.orders.by_token(token)
        assert order is not None and order.status == OrderStatus.PAID
        assert await stored_notices(shop, "alipay") == []  # found by asking, not told


async def test_forged_and_foreign_notices_are_refused_and_a_replay_credits_once(
    shop: RunningShop, alipay: FakeAlipay
) -> None:
    token = await shop.new_link("/newlink 88 CNY Tea set")
    _photo, trade = await show_code(shop, alipay, token)
    await alipay.pay(trade.out_trade_no, notify=False)
    genuine = alipay.notice(trade.out_trade_no)
    bad = [
        alipay.forged_notice(trade.out_trade_no),
        genuine.replace(b"total_amount=88.00", b"total_amount=0.01"),  # changed after Alipay signed it
        alipay.notice(trade.out_trade_no, seller_id="2088000000000001"),  # signed, but for another seller
        alipay.notice(trade.out_trade_no, app_id="2021000000000999"),  # signed, but for another app
        b"notify_id=1&trade_status=TRADE_SUCCESS",  # not signed at all
    ]
    for body in bad:
        assert await alipay.deliver(body, url=notify_url(shop)) == (400, "fail")
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PENDING

    for _delivery in range(3):  # Alipay sends a notice again until it reads "success"; a captured one replays
        assert await alipay.deliver(genuine, url=notify_url(shop)) == SUCCESS
    await shop.told(shop.alice, "Payment received")
    await shop.told(shop.admin, "Alice paid")
    assert shop.times_told(shop.alice, "Payment received") == 1 and shop.times_told(shop.admin, "Alice paid") == 1
    assert len(await charges(shop)) == 1
    assert await stored_notices(shop, "alipay") == [
        ("rejected", "signature does not match"),
        ("rejected", "signature does not match"),
        ("rejected", "for another seller"),
        ("rejected", "for another app"),
        ("rejected", "unsigned"),
        ("applied", None),
        ("applied", None),
        ("applied", None),
    ]


async def test_a_notice_for_a_trade_daifu_never_opened_is_acknowledged_and_kept(
    shop: RunningShop, alipay: FakeAlipay
) -> None:
    await shop.emu.send_text(shop.admin, "/help")  # the admin's chat with the bot is open
    await shop.emu.next_bot_message(shop.admin)
    stranger = alipay.paid_stranger(notify_url(shop), 8800)
    assert await alipay.deliver(alipay.notice(stranger), url=notify_url(shop)) == SUCCESS
    # Money moved: the notice is applied as an orphan charge the admins are told of, credited to no order.
    assert await stored_notices(shop, "alipay") == [("applied", None)]
    assert await charges(shop) == []
    told = await shop.told(shop.admin, "for a checkout the bot does not know")
    assert "arrived via alipay" in told["text"] and "another app on the same account" in told["text"]
    assert await alipay.deliver(alipay.notice(stranger), url=notify_url(shop)) == SUCCESS  # again: nothing new
    assert [(o.provider, o.amount_minor, o.status) for o in await orphan_charges(shop)] == [
        ("alipay", 8800, "unclaimed")
    ]


async def test_a_trade_closed_unpaid_is_a_declined_payment(shop: RunningShop, alipay: FakeAlipay) -> None:
    token = await shop.new_link("/newlink 88 CNY Tea set")
    _photo, trade = await show_code(shop, alipay, token)
    alipay.scan(trade.out_trade_no).state = "TRADE_CLOSED"  # scanned, then left unpaid until it timed out

    assert await alipay.deliver(alipay.notice(trade.out_trade_no), url=notify_url(shop)) == SUCCESS

    told = await shop.told(shop.alice, "was declined")
    assert "not charged" in told["text"]
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PENDING  # another try stays possible
    assert await charges(shop) == []


async def test_money_that_does_not_match_the_order_goes_back(shop: RunningShop, alipay: FakeAlipay) -> None:
    token = await shop.new_link("/newlink 88 CNY Tea set")
    _photo, trade = await show_code(shop, alipay, token)

    assert await alipay.pay(trade.out_trade_no, amount=8000) == SUCCESS

    told = await shop.told(shop.alice, "did not match the order")
    assert "has been refunded" in told["text"]
    assert list(trade.refunds.values()) == [8000]  # all of it, and only what was taken
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PENDING
    assert await stored_notices(shop, "alipay") == [("applied", None)]


async def test_a_payment_for_a_cancelled_order_goes_back(shop: RunningShop, alipay: FakeAlipay) -> None:
    token = await shop.new_link("/newlink 88 CNY Tea set")
    _photo, trade = await show_code(shop, alipay, token)
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.id is not None

    await shop.daifu.closing.cancel(order.id, actor_id=shop.admin.id)
    # Nobody had scanned the code, so there was no trade to close: daifu cancelled it before it existed.
    assert alipay.calls[-2:] == ["alipay.trade.close", "alipay.trade.cancel"]
    assert trade.state == "TRADE_CLOSED"

    # ...but a payment that was completing at that very moment still arrives.
    assert await alipay.pay(trade.out_trade_no, force=True) == SUCCESS
    told = await shop.told(shop.alice, "closed before your payment arrived")
    assert "CN¥88.00 has been refunded" in told["text"]
    assert list(trade.refunds.values()) == [8800]
    [charge] = await charges(shop)
    assert charge.status == PaymentStatus.REFUNDED and not charge.credited
    cancelled = await shop.daifu.orders.by_token(token)
    assert cancelled is not None and cancelled.status == OrderStatus.CANCELLED


def bare_base64(pem: str) -> str:
    """A key the way Alipay's key tool writes it: no PEM armour, one line."""
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def direct_provider(alipay: FakeAlipay) -> AlipayPrecreate:
    """The adapter on its own, with keys as Alipay's key tool writes them, against the fake."""
    keys = alipay.keys
    return AlipayPrecreate(
        app_id=keys.app_id,
        app_private_key_pem=bare_base64(keys.app.private_pem),
        alipay_public_key_pem=bare_base64(keys.alipay.public_pem),
        seller_id=keys.seller_id,
        gateway=alipay.gateway,
        notify_url="https://shop.example/notify/alipay",
    )


async def test_answers_not_signed_by_alipay_are_not_trusted(alipay: FakeAlipay) -> None:
    keys = alipay.keys
    provider = direct_provider(alipay)
    request = CheckoutRequest(
        checkout_ref="ref_0123456789abcdefXYZ",
        order_token="order",
        title="茶具 Tea set",
        description="",
        amount=Amount(1250, "CNY"),
        expires_at=datetime.now(UTC) + timedelta(hours=2),
        return_url="https://shop.example/o/order",
    )
    try:
        assert not provider.capabilities.takes("USD") and provider.capabilities.takes("CNY")
        checkout = await provider.create_checkout(request)
        again = await provider.create_checkout(request)  # the same order asked for again: the same code
        assert checkout.qr_payload == again.qr_payload == alipay.latest().qr_code
        assert alipay.latest().total == 1250 and alipay.latest().subject == "茶具 Tea set"
        ref = CheckoutRef(request.checkout_ref, None, request.amount)
        assert await provider.query(ref) is None  # not scanned yet

        alipay.answer_key = keys.app.private_key  # someone other than Alipay answers
        with pytest.raises(PaymentError, match="signature does not match"):
            await provider.query(ref)
    finally:
        await provider.aclose()


async def test_a_checkout_ref_with_dashes_and_underscores_is_paid_queried_and_refunded(
    shop: RunningShop, alipay: FakeAlipay, awkward_refs: list[str]
) -> None:
    token = await shop.new_link("/newlink 88 CNY Tea set")
    _photo, trade = await show_code(shop, alipay, token)
    [ref] = awkward_refs
    assert "-" in ref and "_" in ref
    # Alipay was sent a value it takes, not the ref itself; the fake refuses any other, as Alipay does.
    assert trade.out_trade_no == to_out_trade_no(ref) != ref and OUT_TRADE_NO.fullmatch(trade.out_trade_no)
    assert alipay.refused == []

    assert await alipay.pay(trade.out_trade_no) == SUCCESS  # Alipay's signed notice names the trade its way
    receipt = await shop.told(shop.alice, "Payment received")
    assert str(trade.trade_no) in receipt["text"]
    note = await shop.told(shop.admin, "Alice paid CN¥88.00")
    assert await stored_notices(shop, "alipay") == [("applied", None)]  # not "unknown checkout"
    [charge] = await charges(shop)
    assert charge.checkout_ref == ref and charge.credited
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PAID

    event = await shop.daifu.providers["alipay"].query(CheckoutRef(ref, None, Amount(8800, "CNY")))
    assert event is not None and alipay.calls[-1] == "alipay.trade.query"
    assert (event.checkout_ref, event.charge_ref, event.outcome) == (ref, trade.trade_no, ChargeOutcome.SUCCEEDED)

    await emu_refund(shop, note)
    told = await shop.told(shop.alice, "has been refunded")
    assert "CN¥88.00" in told["text"]
    assert list(trade.refunds.values()) == [8800] and trade.state == "TRADE_CLOSED"
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.REFUNDED
    [charge] = await charges(shop)
    assert charge.status == PaymentStatus.REFUNDED
    assert alipay.refused == []


async def test_an_order_with_an_awkward_ref_is_closed_at_alipay(
    shop: RunningShop, alipay: FakeAlipay, awkward_refs: list[str]
) -> None:
    token = await shop.new_link("/newlink 88 CNY Tea set")
    _photo, trade = await show_code(shop, alipay, token)
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.id is not None

    await shop.daifu.closing.cancel(order.id, actor_id=shop.admin.id)
    # close and then cancel named the trade as precreate did, and Alipay took both.
    assert alipay.calls[-2:] == ["alipay.trade.close", "alipay.trade.cancel"] and alipay.refused == []
    assert trade.out_trade_no == to_out_trade_no(awkward_refs[0]) and trade.state == "TRADE_CLOSED"


def test_checkout_refs_map_to_out_trade_nos_alipay_takes_and_back() -> None:
    assert to_out_trade_no("AbC123xyz") == "AbC123xyz"  # nothing to escape: the ref as it is
    assert to_out_trade_no("a_b-c") == "a_0b_1c"
    assert to_out_trade_no("_-" * 16) == "_0_1" * 16  # the longest a 32-character ref can become: 64
    every_short = ["".join(chars) for size in range(1, 5) for chars in itertools.product("a01_-", repeat=size)]
    refs = [
        *AWKWARD_REFS,
        *["-", "_", "--", "__", "_0", "_1", "-0", "-1", "0_", "a_1b-0c", "x" * 64, "-" * 32, "_" * 32],
        *every_short,
        *(secrets.token_urlsafe(16) for _ in range(2000)),  # new_token()'s refs
        *(secrets.token_urlsafe(24) for _ in range(200)),  # 32 characters: the longest that always fit
    ]
    assert any("-" in ref and "_" in ref for ref in refs)
    made: dict[str, str] = {}
    for ref in refs:
        value = to_out_trade_no(ref)
        assert OUT_TRADE_NO.fullmatch(value), (ref, value)
        assert from_out_trade_no(value) == ref
        assert made.setdefault(value, ref) == ref, f"{ref!r} and {made[value]!r} share {value!r}"


def test_values_the_mapping_cannot_take_or_never_makes() -> None:
    for ref in ["", "a b", "a+b", "a/b", "a=", "é", "٣", "a\n", "-" * 33, "x" * 65]:
        with pytest.raises(ValueError):
            to_out_trade_no(ref)
    for value in ["", "_", "a_", "a_2", "a__0", "_a", "a-b", "a b", "a\n", "x" * 65]:
        assert from_out_trade_no(value) is None, value


async def test_the_fake_refuses_an_out_trade_no_as_alipay_does(alipay: FakeAlipay) -> None:
    """What daifu sent before refs were mapped: a ref with "-" (about half of them). Too long, too."""
    provider = direct_provider(alipay)
    biz = {"total_amount": "12.50", "subject": "Tea", "time_expire": "2099-01-01 00:00:00"}
    try:
        for method, value in [
            ("alipay.trade.precreate", "Ab-c_d"),
            ("alipay.trade.precreate", "x" * 65),
            ("alipay.trade.precreate", "茶"),
            ("alipay.trade.query", "Ab-c_d"),
            ("alipay.trade.close", "Ab-c_d"),
            ("alipay.trade.cancel", "Ab-c_d"),
        ]:
            answer = await provider._call(method, biz | {"out_trade_no": value})
            assert (answer["code"], answer["msg"]) == ("40004", "Business Failed"), method
            assert (answer["sub_code"], answer["sub_msg"]) == ("ACQ.INVALID_PARAMETER", "参数无效")
        assert alipay.trades == {} and len(alipay.refused) == 6
        answer = await provider._call("alipay.trade.precreate", biz | {"out_trade_no": "Ab_c_0d" + "x" * 57})
        assert answer["code"] == "10000"  # letters, digits and "_", 64 of them: taken
    finally:
        await provider.aclose()

"""WeChat Pay Native against the in-process fake: scan and pay, refunds, reconciliation, and every bad notice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import update

from payments.base import Amount, CheckoutRef, CheckoutRequest, PaymentError
from payments.wechat_pay import WeChatPayNative
from payments.wechat_pay_api import WeChatPayApi
from services.links import qr_png
from services.notices import ReturnReason
from storage.models import OrderStatus, PaymentStatus, Refund, utcnow
from tests.harness import BOT_USERNAME, RunningShop, running_shop
from tests.providers.fake_wechatpay import FakeWeChatPay, Trade
from tests.providers.stored import charges, orphan_charges, stored_notices, tap_method

PROVIDERS = ["sandbox", "wechatpay"]


@pytest.fixture
async def wechat() -> AsyncIterator[FakeWeChatPay]:
    async with FakeWeChatPay() as fake:
        yield fake


@pytest.fixture
async def shop(database_url: str, unused_tcp_port: int, wechat: FakeWeChatPay) -> AsyncIterator[RunningShop]:
    async with running_shop(database_url, unused_tcp_port, payment_providers=PROVIDERS, **wechat.settings()) as running:
        yield running


async def scan_code(shop: RunningShop, wechat: FakeWeChatPay, token: str) -> tuple[dict[str, Any], Trade]:
    """Alice opens the order and taps WeChat Pay: the QR code she is sent, and the trade behind it."""
    return await tap_method(shop, token, "WeChat Pay"), wechat.latest()


async def refunds_finish(shop: RunningShop) -> None:
    """Minutes later, the housekeeping job asks WeChat Pay how its PROCESSING refunds stand."""
    async with shop.daifu.db.transaction() as session:
        await session.exec(update(Refund).values(created_at=utcnow() - timedelta(minutes=3), leased_until=None))
    await shop.run_housekeeping()


def notify_url(shop: RunningShop) -> str:
    return f"{shop.web_url}/notify/wechatpay"


async def test_a_shopper_pays_by_scanning_the_code_and_the_admin_refunds(
    shop: RunningShop, wechat: FakeWeChatPay
) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 88 CNY Tea set")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await emu.next_bot_message(shop.alice)
    labels = [button["text"] for row in card["reply_markup"]["inline_keyboard"] for button in row]
    assert "Pay with WeChat Pay (CN¥88.00)" in labels

    await emu.click(shop.alice, card, "Pay with WeChat Pay")
    photo = await emu.next_bot_message(shop.alice)
    trade = wechat.latest()
    assert emu.file_bytes(photo["photo"][-1]["file_id"]) == qr_png(trade.code_url)
    assert "Scan this code" in photo["caption"]
    assert (trade.total, trade.currency, trade.description) == (8800, "CNY", "Tea set")
    assert trade.notify_url == notify_url(shop) and trade.time_expire.endswith("+08:00")
    assert wechat.refused == []  # every request daifu made was signed as the merchant

    status, body = await wechat.pay(trade.out_trade_no)  # type: ignore[misc]
    assert (status, body) == (204, "")
    receipt = await shop.told(shop.alice, "Payment received")
    assert "CN¥88.00" in receipt["text"] and str(trade.transaction_id) in receipt["text"]
    note = await shop.told(shop.admin, "Alice paid CN¥88.00")
    assert "via wechatpay" in note["text"]
    assert await stored_notices(shop, "wechatpay") == [("applied", None)]

    await emu.click(shop.admin, note, "Refund")
    await emu.wait_for(lambda: "Yes, refund" in str(emu.chat_messages(shop.admin)[-1].get("reply_markup")))
    await emu.click(shop.admin, note, "Yes, refund")
    # WeChat Pay answers PROCESSING: the payer hears nothing until it says the money is back.
    await shop.told(shop.admin, "pending at wechatpay")
    assert shop.times_told(shop.alice, "has been refunded") == 0
    await refunds_finish(shop)
    told = await shop.told(shop.alice, "has been refunded")
    assert "CN¥88.00" in told["text"]
    [refund] = trade.refunds.values()
    assert refund["amount"] == {"refund": 8800, "total": 8800, "currency": "CNY", "payer_refund": 8800}
    assert refund["out_refund_no"].startswith("daifu-refund-")
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.REFUNDED


async def test_a_lost_notice_is_found_by_reconciliation(
    database_url: str, unused_tcp_port: int, wechat: FakeWeChatPay
) -> None:
    settings = wechat.settings() | {"payment_providers": PROVIDERS, "reconcile_after": 1}
    async with running_shop(database_url, unused_tcp_port, **settings) as shop:
        assert shop.runtime is not None
        application, jobs = shop.runtime.application, shop.runtime.application.job_queue
        assert jobs is not None
        [housekeeping] = jobs.get_jobs_by_name("housekeeping")
        token = await shop.new_link("/newlink 88 CNY Tea set")
        _photo, trade = await scan_code(shop, wechat, token)
        await asyncio.sleep(1.1)
        await housekeeping.run(application)  # asked about it: not paid yet, so nothing happens
        assert ("GET", f"/v3/pay/transactions/out-trade-no/{trade.out_trade_no}") in wechat.calls
        assert shop.times_told(shop.alice, "Payment received") == 0

        await wechat.pay(trade.out_trade_no, notify=False)  # paid, but the notice never arrives
        await housekeeping.run(application)

        receipt = await shop.told(shop.alice, "Payment received")
        assert str(trade.transaction_id) in receipt["text"]
        await shop.told(shop.admin, "Alice paid CN¥88.00")
        order = await shop.daifu.orders.by_token(token)
        assert order is not None and order.status == OrderStatus.PAID
        assert await stored_notices(shop, "wechatpay") == []  # found by asking, not told


async def test_forged_probing_stale_and_garbled_notices_are_refused_and_a_replay_credits_once(
    shop: RunningShop, wechat: FakeWeChatPay
) -> None:
    token = await shop.new_link("/newlink 88 CNY Tea set")
    _photo, trade = await scan_code(shop, wechat, token)
    await wechat.pay(trade.out_trade_no, notify=False)
    bad = [
        wechat.forged_notice(trade.out_trade_no),
        wechat.probe_notice(trade.out_trade_no),
        wechat.stale_notice(trade.out_trade_no),
        wechat.notice(trade.out_trade_no, apiv3_key="0" * 32),  # does not decrypt with daifu's APIv3 key
    ]
    for headers, body in bad:
        status, answer = await wechat.deliver(headers, body, url=notify_url(shop))
        assert status >= 400 and '"code": "FAIL"' in answer
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PENDING

    headers, body = wechat.notice(trade.out_trade_no)
    for _delivery in range(3):  # WeChat Pay sends a notice again until it hears 2xx; a captured one replays
        assert await wechat.deliver(headers, body, url=notify_url(shop)) == (204, "")
    await shop.told(shop.alice, "Payment received")
    await shop.told(shop.admin, "Alice paid")
    assert shop.times_told(shop.alice, "Payment received") == 1 and shop.times_told(shop.admin, "Alice paid") == 1
    assert len(await charges(shop)) == 1
    stored = await stored_notices(shop, "wechatpay")
    assert [status for status, _error in stored] == ["rejected"] * 4 + ["applied"] * 3
    assert [error for _status, error in stored[:4]] == [
        "signature does not match, or the resource does not decrypt with the APIv3 key",
        "a signature probe",
        "timestamp outside the tolerance",
        "signature does not match, or the resource does not decrypt with the APIv3 key",
    ]


async def test_a_notice_for_a_trade_daifu_never_opened_is_acknowledged_and_kept(
    shop: RunningShop, wechat: FakeWeChatPay
) -> None:
    await shop.emu.send_text(shop.admin, "/help")  # the admin's chat with the bot is open
    await shop.emu.next_bot_message(shop.admin)
    stranger = wechat.paid_stranger(notify_url(shop), 8800)
    assert await wechat.deliver(*wechat.notice(stranger), url=notify_url(shop)) == (204, "")
    # Money moved: the notice is applied as an orphan charge the admins are told of, credited to no order.
    assert await stored_notices(shop, "wechatpay") == [("applied", None)]
    assert await charges(shop) == []
    told = await shop.told(shop.admin, "for a checkout the bot does not know")
    assert "arrived via wechatpay" in told["text"] and "another app on the same account" in told["text"]
    assert await wechat.deliver(*wechat.notice(stranger), url=notify_url(shop)) == (204, "")  # again: nothing new
    assert [(o.provider, o.amount_minor, o.status) for o in await orphan_charges(shop)] == [
        ("wechatpay", 8800, "unclaimed")
    ]


async def test_money_that_does_not_match_the_order_goes_back(shop: RunningShop, wechat: FakeWeChatPay) -> None:
    token = await shop.new_link("/newlink 88 CNY Tea set")
    _photo, trade = await scan_code(shop, wechat, token)

    assert await wechat.pay(trade.out_trade_no, amount=8000) == (204, "")
    await shop.told(shop.admin, "pending at wechatpay")
    await refunds_finish(shop)

    told = await shop.told(shop.alice, "did not match the order")
    assert "has been refunded" in told["text"]
    [refund] = trade.refunds.values()
    assert refund["amount"]["refund"] == 8000  # all of it, and only what was taken
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.PENDING
    assert await stored_notices(shop, "wechatpay") == [("applied", None)]


async def test_a_payment_for_a_cancelled_order_goes_back(shop: RunningShop, wechat: FakeWeChatPay) -> None:
    token = await shop.new_link("/newlink 88 CNY Tea set")
    _photo, trade = await scan_code(shop, wechat, token)
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.id is not None

    await shop.daifu.closing.cancel(order.id, actor_id=shop.admin.id)
    assert trade.state == "CLOSED"  # the code can no longer be paid
    assert ("POST", f"/v3/pay/transactions/out-trade-no/{trade.out_trade_no}/close") in wechat.calls

    # ...but a payment that was completing at that very moment still arrives.
    assert await wechat.pay(trade.out_trade_no, force=True) == (204, "")
    await shop.told(shop.admin, "pending at wechatpay")
    await refunds_finish(shop)
    told = await shop.told(shop.alice, "closed before your payment arrived")
    assert "CN¥88.00 has been refunded" in told["text"]
    assert [refund["amount"]["refund"] for refund in trade.refunds.values()] == [8800]
    [charge] = await charges(shop)
    assert charge.status == PaymentStatus.REFUNDED and not charge.credited
    cancelled = await shop.daifu.orders.by_token(token)
    assert cancelled is not None and cancelled.status == OrderStatus.CANCELLED


async def test_answers_not_signed_by_wechat_pay_are_not_trusted(wechat: FakeWeChatPay) -> None:
    keys = wechat.keys
    provider = WeChatPayNative(
        WeChatPayApi(
            mchid=keys.mchid,
            appid=keys.appid,
            private_key_pem=keys.merchant.private_pem,
            cert_serial_no=keys.merchant_serial_no,
            apiv3_key=keys.apiv3_key,
            platform_public_key_pem=keys.platform.public_pem,
            platform_public_key_id=keys.public_key_id,
            api_base=wechat.base_url,
            notify_url="https://shop.example/notify/wechatpay",
        )
    )
    request = CheckoutRequest(
        checkout_ref="ref_0123456789abcdefXYZ",
        order_token="order",
        title="茶具 Tea set",
        description="",
        amount=Amount(8800, "CNY"),
        expires_at=datetime.now(UTC) + timedelta(hours=2),
        return_url="https://shop.example/o/order",
    )
    try:
        assert not provider.capabilities.takes("USD") and provider.capabilities.takes("CNY")
        checkout = await provider.create_checkout(request)
        again = await provider.create_checkout(request)  # the same order asked for again: the same code
        assert checkout.qr_payload == again.qr_payload == wechat.latest().code_url
        ref = CheckoutRef(request.checkout_ref, None, request.amount)
        assert await provider.query(ref) is None  # NOTPAY

        wechat.answer_key = keys.merchant.private_key  # someone other than WeChat Pay answers
        with pytest.raises(PaymentError, match="signature does not match"):
            await provider.query(ref)
        with pytest.raises(PaymentError, match="signature does not match"):
            await provider.close(ref)
        assert wechat.latest().state == "CLOSED"  # the call went through; only its answer is doubted
    finally:
        await provider.aclose()


async def test_a_refund_wechat_pay_could_not_make_is_told_to_the_admins_only(
    shop: RunningShop, wechat: FakeWeChatPay
) -> None:
    token = await shop.new_link("/newlink 88 CNY Tea set")
    _photo, trade = await scan_code(shop, wechat, token)
    assert await wechat.pay(trade.out_trade_no) == (204, "")
    await shop.told(shop.alice, "Payment received")
    [charge] = await charges(shop)
    assert charge.id is not None
    wechat.refunds_finish_as = "ABNORMAL"  # the payer's account was closed: the money cannot go back there

    await shop.daifu.refunds.refund(charge.id, reason=ReturnReason.SHOP_REFUND, actor_id=shop.admin.id)
    await refunds_finish(shop)
    failed = await shop.told(shop.admin, "failed at wechatpay")
    assert "WeChat Pay says ABNORMAL" in failed["text"] and "CN¥88.00" in failed["text"]
    assert shop.times_told(shop.alice, "has been refunded") == 0
    [still] = await charges(shop)
    assert still.status == PaymentStatus.SUCCEEDED and still.refunded_minor == 0

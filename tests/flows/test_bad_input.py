"""Bad input gets a clear reply and changes nothing: tokens, amounts, currencies, stale taps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select, update

from emulator.errors import PaymentRefused
from services.checkout import MethodUnavailable
from services.order_states import move
from services.pay_requests import RequestRefused
from storage.models import Order, OrderStatus, RequestMode, RequestStatus, utcnow
from tests.flows.payforme_steps import ask_friend, attempts_and_holder, open_order
from tests.harness import BOT_USERNAME, RunningShop


async def order_count(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        return (await session.exec(select(func.count()).select_from(Order))).one()


def sent_besides_answers(shop: RunningShop) -> list[str]:
    return [method for method, _ in shop.emu.calls if method not in ("answerCallbackQuery", "getUpdates")]


async def start(shop: RunningShop, payload: str) -> dict:
    await shop.emu.send_text(shop.alice, f"/start {payload}")
    return await shop.emu.next_bot_message(shop.alice)


@pytest.mark.parametrize(
    ("arguments", "reply"),
    [
        ("0 USD Nothing", "more than zero"),
        ("-5 USD Less than nothing", "more than zero"),
        ("abc USD Coffee", "not an amount"),
        ("12.505 USD Coffee", "US Dollar (USD) does not have that many decimal places. Send, for example, 12.50."),
        ("1.5 JPY Coffee", "Japanese Yen (JPY) does not have that many decimal places"),
        ("1.5 XTR Stickers", "Stars (XTR) does not have that many decimal places. Send, for example, 80."),
        ("5 ABC Coffee", "ABC is not a currency I know"),
        ("99999999 USD Yacht", "too large"),
        ("5 USD", "Usage: /newlink"),
        ("5 USD " + "x" * 33, "1 to 32 characters"),
    ],
)
async def test_newlink_refuses_bad_arguments(shop: RunningShop, arguments: str, reply: str) -> None:
    await shop.emu.send_text(shop.admin, f"/newlink {arguments}")
    answer = await shop.emu.next_bot_message(shop.admin)
    assert reply in answer["text"]
    assert await order_count(shop) == 0


async def test_unknown_and_malformed_tokens(shop: RunningShop) -> None:
    assert "not known" in (await start(shop, "A" * 22))["text"]
    assert "not known" in (await start(shop, "bad!token"))["text"]
    assert "not known" in (await start(shop, "x" * 65))["text"]


async def test_expired_and_cancelled_orders_cannot_be_paid(shop: RunningShop) -> None:
    emu = shop.emu
    expiring = await shop.new_link("/newlink 5 USD Flowers")
    cancelled = await shop.new_link("/newlink 6 USD Cake")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={expiring}")
    card = await emu.next_bot_message(shop.alice)
    await emu.click(shop.alice, card, "Pay by card")
    invoice = await emu.next_bot_message(shop.alice)
    async with shop.daifu.db.transaction() as session:
        await session.exec(
            update(Order).where(Order.token == expiring).values(expires_at=utcnow() - timedelta(minutes=1))  # type: ignore[arg-type]
        )
        order = (await session.exec(select(Order).where(Order.token == cancelled))).one()
        assert order.id is not None
        await move(session, order.id, OrderStatus.CANCELLED, actor_id=shop.admin.id)

    assert "expired" in (await start(shop, expiring))["text"]
    assert "cancelled" in (await start(shop, cancelled))["text"]
    with pytest.raises(PaymentRefused, match="expired"):
        await emu.pay_invoice(shop.alice, invoice)
    # A tap on the card shown before it expired is refused too.
    answer = await emu.click(shop.alice, card, "sandbox")
    assert "expired" in answer["text"] and answer["show_alert"]

    assert await shop.daifu.orders.expire_due() != []
    status, page = await shop.get(f"/o/{expiring}")
    assert status == 200 and "expired" in page and "can no longer be paid" in page


async def test_tapping_an_old_card_of_a_paid_order(shop: RunningShop) -> None:
    emu = shop.emu
    token = await shop.new_link("/newlink 5 USD Flowers")
    await emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    old_card = await emu.next_bot_message(shop.alice)
    await emu.click(shop.alice, old_card, "Pay by card")
    await emu.pay_invoice(shop.alice, await emu.next_bot_message(shop.alice))
    await shop.told(shop.alice, "Payment received")

    answer = await emu.click(shop.alice, old_card, "Stars")

    assert "already been paid" in answer["text"]
    assert not emu.calls_to("sendInvoice")[1:]  # no second invoice was sent


async def test_an_order_offers_only_what_the_shop_allowed_for_it(shop: RunningShop) -> None:
    token = await shop.new_link("/newlink 5 USD Flowers")
    async with shop.daifu.db.transaction() as session:
        await session.exec(
            update(Order).where(Order.token == token).values(allowed_methods="sandbox", payforme_allowed=False)  # type: ignore[arg-type]
        )
    await shop.emu.open_link(shop.alice, f"https://t.me/{BOT_USERNAME}?start={token}")
    card = await shop.emu.next_bot_message(shop.alice)
    labels = [button["text"] for row in card["reply_markup"]["inline_keyboard"] for button in row]
    assert labels == ["Pay on the sandbox page ($5.00)"]
    # A hand-made tap on a method the shop left out is refused.
    with pytest.raises(MethodUnavailable):
        await shop.daifu.checkouts.start(token, "telegram", payer_id=shop.alice.id)
    with pytest.raises(RequestRefused):
        await shop.daifu.asking.ask(token, shop.alice.id, mode=RequestMode.SINGLE)


async def test_forged_and_stale_buttons_get_a_clear_answer_and_change_nothing(shop: RunningShop) -> None:
    """Buttons as an app shows them to someone who altered them, or kept them from an older version of the bot:
    under a feature's prefix or not, each tap is answered (the spinner stops) and nothing else happens."""
    emu, alice, bob = shop.emu, shop.alice, shop.bob
    token = await shop.new_link("/newlink 5 USD Flowers")
    request = await ask_friend(shop, alice, token)
    card = await open_order(shop, bob, token)
    before = sent_besides_answers(shop)
    stale, not_yours = "This button is no longer valid.", "Only the person who asked can do that."
    admins_only = "Sorry, only the shop's admins can do that."
    expected: dict[str, str | None] = {
        "pay:sandbox": stale,
        "pay:sandbox:": stale,
        f"pay:sandbox:{token}:x": stale,
        f"ask:all:{token}": stale,
        "askx:n:two": "That step is out of date. Open the order again to ask a friend.",
        "askx:skip": "That step is out of date. Open the order again to ask a friend.",
        f"rq:qr:{request}": not_yours,
        f"rq:cancel:{request}": not_yours,
        f"rq:delete:{request}": stale,
        f"rs:-1:1:{request}": stale,
        f"rp:sandbox:500:1:{request}:x": stale,
        "refund:yes:1": admins_only,
        "refund:yes:one": stale,
        "ty:1": "That button is out of date.",
        "ty:1:7": stale,
        "ar:y:0a1b2c3d4e5f": admins_only,
        "ao:0a1b2c3d4e5f:n:1": admins_only,
        "my:-1": stale,
        "lang:xx": None,  # answered without a word, as a tap on a language the bot does not speak always was
        "nl:cur:": "That step is out of date. Send /newlink to start again.",
        "nl:ok": "That step is out of date. Send /newlink to start again.",
        "gone:42": stale,
    }
    answers = {}
    for data in expected:
        shown = dict(card, reply_markup={"inline_keyboard": [[{"text": "Old", "callback_data": data}]]})
        answers[data] = (await emu.click(bob, shown, "Old", as_shown=True))["text"]

    assert answers == expected
    assert sent_besides_answers(shop) == before  # no message sent, edited or taken down; no invoice
    assert await attempts_and_holder(shop, request) == (0, None)
    order = await shop.daifu.orders.by_token(token)
    assert order is not None and order.status == OrderStatus.OPEN
    asked = await shop.daifu.request_views.by_token(request)
    assert asked is not None and asked.status == RequestStatus.OPEN

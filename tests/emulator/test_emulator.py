"""The Bot API emulator, driven by a real python-telegram-bot Application over real HTTP."""

from __future__ import annotations

import asyncio
import struct
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest
from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    LabeledPrice,
    Message,
    Update,
    WebAppInfo,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChosenInlineResultHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    PreCheckoutQueryHandler,
    filters,
)

from emulator import BotApiEmulator, NoAnswer, PaymentRefused

TOKEN = "123456:TEST"


def tiny_png(width: int = 2, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@dataclass
class Seen:
    """What the test bot's handlers received."""

    callbacks: list[CallbackQuery] = field(default_factory=list)
    chosen: list[Any] = field(default_factory=list)
    charges: list[str] = field(default_factory=list)


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator(token=TOKEN, bot_username="daifu_bot", bot_name="daifu")
    await emulator.start()
    yield emulator
    await emulator.stop()


def build_app(emu: BotApiEmulator, seen: Seen) -> Application:
    app = ApplicationBuilder().token(emu.token).base_url(emu.base_url).base_file_url(emu.base_file_url).build()
    pay_keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Pay 100", callback_data="pay")],
            [InlineKeyboardButton("Site", url="https://example.org/daifu")],
        ]
    )

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text(f"Hello! payload={' '.join(context.args or [])}", reply_markup=pay_keyboard)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text)

    async def invoice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_invoice(
            title="Lunch",
            description="Your share of lunch",
            payload="order-1",
            currency="XTR",
            prices=[LabeledPrice("Lunch", 100)],
        )

    async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        seen.callbacks.append(query)
        await query.answer("Paying", show_alert=True)
        await query.edit_message_text("Done")

    async def on_pre_checkout(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.pre_checkout_query
        assert query is not None
        if query.invoice_payload == "order-1":
            await query.answer(ok=True)
        else:
            await query.answer(ok=False, error_message="Sold out")

    async def on_paid(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.successful_payment is not None
        seen.charges.append(update.message.successful_payment.telegram_payment_charge_id)
        await update.message.reply_text("Thanks")

    async def on_inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.inline_query is not None
        content = InputTextMessageContent("<b>Split</b> 10", parse_mode=ParseMode.HTML)
        result = InlineQueryResultArticle("r1", "Split", content, reply_markup=pay_keyboard)
        await update.inline_query.answer([result], cache_time=0)

    async def on_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.chosen.append(update.chosen_inline_result)

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("invoice", invoice))
    app.add_handler(MessageHandler(filters.SUCCESSFUL_PAYMENT, on_paid))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & ~filters.VIA_BOT, echo))
    app.add_handler(CallbackQueryHandler(on_callback))
    app.add_handler(PreCheckoutQueryHandler(on_pre_checkout))
    app.add_handler(InlineQueryHandler(on_inline))
    app.add_handler(ChosenInlineResultHandler(on_chosen))
    return app


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def app(emu: BotApiEmulator, seen: Seen) -> AsyncIterator[Application]:
    application = build_app(emu, seen)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        yield application
        await application.updater.stop()
        await application.stop()


async def raw_call(emu: BotApiEmulator, method: str, token: str = TOKEN, **params: Any) -> tuple[int, Any]:
    base = emu.base_url.removesuffix("/bot")
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{base}/bot{token}/{method}", json=params) as r,
    ):
        return r.status, await r.json()


def edited_message(emu: BotApiEmulator, chat_id: int, index: int) -> dict[str, Any] | None:
    message = emu.chat_messages(chat_id)[index]
    return message if "edit_date" in message else None


# --- messages ---------------------------------------------------------------------------------------


async def test_echo_arrives(emu: BotApiEmulator, app: Application) -> None:
    alice = emu.add_user("Alice", username="alice")
    sent = await emu.send_text(alice, "hello there")
    reply = await emu.next_bot_message(alice)
    assert reply["text"] == "hello there"
    assert reply["from"]["is_bot"] is True and reply["from"]["username"] == "daifu_bot"
    assert reply["chat"] == {"id": alice.id, "type": "private", "first_name": "Alice", "username": "alice"}
    assert (sent["message_id"], reply["message_id"]) == (1, 2)
    assert [m["text"] for m in emu.chat_messages(alice)] == ["hello there", "hello there"]


async def test_deep_link_start_and_buttons(emu: BotApiEmulator, app: Application) -> None:
    alice = emu.add_user("Alice")
    start = await emu.open_link(alice, "https://t.me/daifu_bot?start=abc")
    assert isinstance(start, dict)
    assert start["text"] == "/start abc"
    assert start["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    greeting = await emu.next_bot_message(alice)
    assert greeting["text"] == "Hello! payload=abc"
    assert await emu.click(alice, greeting, "Site") == "https://example.org/daifu"
    answer = await emu.click(alice, greeting, "Pay")
    assert answer["text"] == "Paying" and answer["show_alert"] is True
    edited = await emu.wait_for(lambda: edited_message(emu, alice.id, 1))
    # No reply_markup in the edit: Telegram drops the keyboard.
    assert edited["text"] == "Done" and "reply_markup" not in edited


async def test_group_command_addressed_to_bot(emu: BotApiEmulator, app: Application) -> None:
    alice, bob = emu.add_user("Alice"), emu.add_user("Bob")
    group = emu.add_group("Friends", members=[alice, bob])
    sent = await emu.send_text(bob, "/start@daifu_bot x", chat=group)
    assert group.id < 0 and sent["chat"]["type"] == "group"
    assert sent["entities"] == [{"type": "bot_command", "offset": 0, "length": 16}]
    reply = await emu.next_bot_message(group)
    assert reply["text"] == "Hello! payload=x"


async def test_bot_api_errors_reach_ptb(emu: BotApiEmulator, app: Application) -> None:
    alice, stranger = emu.add_user("Alice"), emu.add_user("Stranger")
    await emu.send_text(alice, "hi")
    await emu.next_bot_message(alice)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await app.bot.edit_message_text("x", chat_id=alice.id, message_id=999)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await app.bot.edit_message_text("hi", chat_id=alice.id, message_id=2)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await app.bot.send_message(stranger.id, "hello?")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await app.bot.send_message(alice.id, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await app.bot.answer_callback_query("12345")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await app.bot.send_message(alice.id, "<b>open", parse_mode=ParseMode.HTML)
    emu.block_bot(alice)
    with pytest.raises(Forbidden, match=r"(?i)blocked"):
        await app.bot.send_message(alice.id, "still there?")


async def test_html_is_stored_as_plain_text(emu: BotApiEmulator, app: Application) -> None:
    alice = emu.add_user("Alice")
    await emu.send_text(alice, "/start")
    sent = await app.bot.send_message(alice.id, "<b>Total</b>: 5 ⭐", parse_mode=ParseMode.HTML)
    stored = emu.last_bot_message(alice)
    assert stored is not None and stored["text"] == "Total: 5 ⭐" == sent.text
    assert stored["entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    assert emu.source_text(stored) == "<b>Total</b>: 5 ⭐"


async def test_tg_time_becomes_a_date_time_entity(emu: BotApiEmulator, app: Application) -> None:
    alice = emu.add_user("Alice")
    await emu.send_text(alice, "/start")
    sent = await app.bot.send_message(
        alice.id, 'Expires <tg-time unix="1800000000" format="r">in 2 days</tg-time>', parse_mode=ParseMode.HTML
    )
    stored = emu.last_bot_message(alice)
    assert stored is not None and stored["text"] == "Expires in 2 days" == sent.text
    assert stored["entities"] == [
        {"type": "date_time", "offset": 8, "length": 9, "unix_time": 1800000000, "date_time_format": "r"}
    ]
    assert sent.entities[0].unix_time is not None and sent.entities[0].date_time_format == "r"


@pytest.mark.parametrize(
    "markup",
    [
        '<tg-time unix="soon">in 2 days</tg-time>',
        '<tg-time format="r">in 2 days</tg-time>',
        '<tg-time unix="1800000000" format="rt">in 2 days</tg-time>',
        '<tg-time unix="1800000000" format="tD">in 2 days</tg-time>',
    ],
)
async def test_a_malformed_tg_time_is_refused(emu: BotApiEmulator, app: Application, markup: str) -> None:
    alice = emu.add_user("Alice")
    await emu.send_text(alice, "/start")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await app.bot.send_message(alice.id, markup, parse_mode=ParseMode.HTML)


async def test_flood_limit_answers_retry_after(
    emu: BotApiEmulator,
    app: Application,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without this opt-in PTB 22 warns about RetryAfter's type as it builds one, and warnings fail tests.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    alice = emu.add_user("Alice")
    await emu.send_text(alice, "/start")
    emu.set_flood_limit(alice, 1, per_seconds=60)
    await emu.next_bot_message(alice)  # the /start reply used the one allowed message
    with pytest.raises(RetryAfter) as raised:
        await app.bot.send_message(alice.id, "one more")
    assert 50 < raised.value.retry_after.total_seconds() <= 60  # type: ignore[union-attr]


# --- updates ----------------------------------------------------------------------------------------


async def test_get_updates_offset_confirms(emu: BotApiEmulator) -> None:
    alice = emu.add_user("Alice")
    await emu.send_text(alice, "one")
    await emu.send_text(alice, "two")
    _, first = await raw_call(emu, "getUpdates")
    ids = [u["update_id"] for u in first["result"]]
    assert [u["message"]["text"] for u in first["result"]] == ["one", "two"]
    # Unconfirmed updates come again; confirmed ones never do.
    _, again = await raw_call(emu, "getUpdates")
    assert [u["update_id"] for u in again["result"]] == ids
    _, confirmed = await raw_call(emu, "getUpdates", offset=ids[-1] + 1)
    assert confirmed["result"] == []
    await emu.send_text(alice, "three")
    _, later = await raw_call(emu, "getUpdates", offset=ids[-1] + 1)
    assert [u["message"]["text"] for u in later["result"]] == ["three"]
    assert later["result"][0]["update_id"] == ids[-1] + 1


async def test_allowed_updates_filter(emu: BotApiEmulator) -> None:
    alice = emu.add_user("Alice")
    await emu.send_text(alice, "ignored")
    _, result = await raw_call(emu, "getUpdates", allowed_updates=["callback_query"])
    assert result["result"] == []
    # An empty list means every kind again; the message sent meanwhile was dropped for good.
    await emu.send_text(alice, "wanted")
    _, result = await raw_call(emu, "getUpdates", allowed_updates=[])
    assert [u["message"]["text"] for u in result["result"]] == ["wanted"]


async def test_long_poll_returns_when_an_update_arrives(emu: BotApiEmulator) -> None:
    alice = emu.add_user("Alice")
    poll = asyncio.create_task(raw_call(emu, "getUpdates", timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    started = time.monotonic()
    await emu.send_text(alice, "wake up")
    _, body = await poll
    assert time.monotonic() - started < 1.0
    assert body["result"][0]["message"]["text"] == "wake up"


async def test_ptb_gets_each_update_once(emu: BotApiEmulator, app: Application) -> None:
    alice = emu.add_user("Alice")
    for text in ("a", "b", "c"):
        await emu.send_text(alice, text)
    await emu.wait_for(lambda: len(emu.bot_messages(alice)) >= 3)
    await asyncio.sleep(0.2)  # time for a duplicate to show up, if one were delivered
    assert [m["text"] for m in emu.bot_messages(alice)] == ["a", "b", "c"]


async def test_wrong_token_and_unknown_method(emu: BotApiEmulator) -> None:
    status, body = await raw_call(emu, "getMe", token="999:WRONG")
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    status, body = await raw_call(emu, "noSuchMethod")
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    status, body = await raw_call(emu, "getme")  # method names are case-insensitive
    assert status == 200 and body["result"]["username"] == "daifu_bot" and body["result"]["id"] == 123456
    # Bot's context manager shuts its HTTP client down when initialising fails; a bare initialize() leaks it.
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=emu.base_url):
            pass


# --- files ------------------------------------------------------------------------------------------


async def test_send_photo_and_document_store_bytes(emu: BotApiEmulator, app: Application) -> None:
    alice = emu.add_user("Alice")
    await emu.send_text(alice, "/start")
    png = tiny_png(2, 3)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="again")]])
    sent = await app.bot.send_photo(
        alice.id, png, caption="<i>QR</i>", parse_mode=ParseMode.HTML, reply_markup=keyboard
    )
    photo = sent.photo[-1]
    assert (photo.width, photo.height, photo.file_size) == (2, 3, len(png))
    assert sent.caption == "QR" and sent.reply_markup == keyboard
    assert emu.file_bytes(photo.file_id) == png
    downloaded = await (await app.bot.get_file(photo.file_id)).download_as_bytearray()
    assert bytes(downloaded) == png
    doc = await app.bot.send_document(alice.id, b"id;amount\n1;100\n", filename="report.csv")
    assert doc.document is not None and doc.document.file_name == "report.csv"
    assert emu.file_bytes(doc.document.file_id) == b"id;amount\n1;100\n"
    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await app.bot.send_photo(alice.id, b"not an image")


# --- payments ---------------------------------------------------------------------------------------


async def test_invoice_validation(emu: BotApiEmulator, app: Application) -> None:
    alice = emu.add_user("Alice")
    await emu.send_text(alice, "/start")
    good: dict[str, Any] = {
        "chat_id": alice.id,
        "title": "Lunch",
        "description": "Your share",
        "payload": "p1",
        "currency": "XTR",
        "prices": [LabeledPrice("Lunch", 100)],
    }
    bad_cases: list[tuple[dict[str, Any], str]] = [
        ({"title": "x" * 33}, "TITLE_INVALID"),
        ({"description": "x" * 256}, "DESCRIPTION_INVALID"),
        ({"payload": "x" * 129}, "INVOICE_PAYLOAD_INVALID"),
        ({"provider_token": "stripe:123"}, "PAYMENT_PROVIDER_INVALID"),
        ({"prices": [LabeledPrice("A", 50), LabeledPrice("B", 50)]}, "STARS_INVOICE_INVALID"),
        ({"prices": []}, "CURRENCY_TOTAL_AMOUNT_INVALID"),
        ({"currency": "EUR"}, "PAYMENT_PROVIDER_INVALID"),
    ]
    for change, error in bad_cases:
        with pytest.raises(BadRequest, match=f"(?i){error}"):
            await app.bot.send_invoice(**{**good, **change})
    # An invoice's own keyboard must start with its Pay button.
    help_first = InlineKeyboardMarkup([[InlineKeyboardButton("Help", url="https://example.com")]])
    with pytest.raises(BadRequest, match=r"(?i)reply_markup_buy_empty"):
        await app.bot.send_invoice(**good, reply_markup=help_first)
    fiat = await app.bot.send_invoice(**{**good, "currency": "EUR", "provider_token": "stripe:123"})
    assert fiat.invoice is not None and fiat.invoice.total_amount == 100
    fractional = {**good, "prices": [{"label": "x", "amount": 1.5}]}
    status, body = await raw_call(emu, "sendInvoice", **fractional)
    assert status == 400 and body["description"] == "Bad Request: can't parse prices JSON object"


async def test_pay_invoice_round_trip(emu: BotApiEmulator, app: Application, seen: Seen) -> None:
    alice = emu.add_user("Alice")
    await emu.send_text(alice, "/invoice")
    invoice = await emu.next_bot_message(alice)
    assert invoice["invoice"] == {
        "title": "Lunch",
        "description": "Your share of lunch",
        "start_parameter": "",
        "currency": "XTR",
        "total_amount": 100,
    }
    tampered = await emu.pre_checkout(alice, invoice, payload="forged")
    assert tampered == {"ok": False, "error_message": "Sold out"}
    paid = await emu.pay_invoice(alice, invoice)
    payment = paid["successful_payment"]
    assert paid["from"]["id"] == alice.id and paid["chat"]["id"] == alice.id
    assert (payment["currency"], payment["total_amount"], payment["invoice_payload"]) == (
        "XTR",
        100,
        "order-1",
    )
    assert (await emu.next_bot_message(alice))["text"] == "Thanks"
    await emu.repeat_payment(paid)
    await emu.wait_for(lambda: len(seen.charges) == 2)
    assert seen.charges == [payment["telegram_payment_charge_id"]] * 2


async def test_invoice_link_and_refusal(emu: BotApiEmulator, app: Application) -> None:
    alice = emu.add_user("Alice")
    link = await app.bot.create_invoice_link(
        "Gift", "A gift", payload="gift-9", currency="XTR", prices=[LabeledPrice("Gift", 5)]
    )
    assert link.startswith("https://t.me/$")
    with pytest.raises(PaymentRefused, match="Sold out"):
        await emu.pay_invoice(alice, emu.invoice_from_link(link))
    assert emu.chat_messages(alice) == []


async def test_refund_star_payment_rules(emu: BotApiEmulator, app: Application) -> None:
    alice, bob = emu.add_user("Alice"), emu.add_user("Bob")
    await emu.send_text(alice, "/invoice")
    paid = await emu.pay_invoice(alice, await emu.next_bot_message(alice), telegram_payment_charge_id="stx-1")
    assert paid["successful_payment"]["telegram_payment_charge_id"] == "stx-1"
    with pytest.raises(BadRequest, match=r"(?i)CHARGE_ID_INVALID"):
        await app.bot.refund_star_payment(bob.id, "stx-1")
    with pytest.raises(BadRequest, match=r"(?i)CHARGE_ID_INVALID"):
        await app.bot.refund_star_payment(alice.id, "stx-unknown")
    assert await app.bot.refund_star_payment(alice.id, "stx-1") is True
    with pytest.raises(BadRequest, match=r"(?i)CHARGE_ALREADY_REFUNDED"):
        await app.bot.refund_star_payment(alice.id, "stx-1")
    assert emu.star_refunds == [
        {
            "user_id": alice.id,
            "currency": "XTR",
            "total_amount": 100,
            "invoice_payload": "order-1",
            "telegram_payment_charge_id": "stx-1",
        }
    ]
    assert "refunded_payment" in emu.chat_messages(alice)[-1]


async def test_pre_checkout_without_answer_times_out(emu: BotApiEmulator) -> None:
    alice = emu.add_user("Alice")
    link = emu.invoice_from_link
    status, body = await raw_call(
        emu,
        "createInvoiceLink",
        title="T",
        description="D",
        payload="p",
        currency="XTR",
        prices=[{"label": "x", "amount": 1}],
    )
    assert status == 200
    with pytest.raises(NoAnswer):
        await emu.pre_checkout(alice, link(body["result"]), timeout=0.1)
    # The query expired: a late answer is refused as Telegram does.
    _, updates = await raw_call(emu, "getUpdates")
    query_id = updates["result"][0]["pre_checkout_query"]["id"]
    status, body = await raw_call(emu, "answerPreCheckoutQuery", pre_checkout_query_id=query_id, ok=True)
    assert status == 400 and "query is too old" in body["description"]


# --- inline mode ------------------------------------------------------------------------------------


async def test_inline_result_edited_by_inline_message_id(emu: BotApiEmulator, app: Application, seen: Seen) -> None:
    alice, bob = emu.add_user("Alice"), emu.add_user("Bob")
    group = emu.add_group("Friends", members=[alice, bob], bot_member=False)
    results = await emu.inline_query(alice, "lunch", chat_type="group")
    assert [r["id"] for r in results] == ["r1"]
    posted = await emu.choose_inline_result(alice, results[0], chat=group)
    assert posted["text"] == "Split 10" and posted["via_bot"]["username"] == "daifu_bot"
    assert posted["from"]["id"] == alice.id and posted["entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    await emu.wait_for(lambda: seen.chosen)
    inline_id = seen.chosen[0].inline_message_id
    assert inline_id and seen.chosen[0].query == "lunch"
    answer = await emu.click(bob, posted, "Pay")
    assert answer["text"] == "Paying"
    tap = seen.callbacks[0]
    assert tap.inline_message_id == inline_id and tap.message is None and tap.from_user.id == bob.id
    edited = await emu.wait_for(lambda: edited_message(emu, group.id, 0))
    assert edited["text"] == "Done" and edited["message_id"] == posted["message_id"]
    assert ("editMessageText", {"inline_message_id": inline_id, "text": "Done"}) in emu.calls


async def test_mini_app_prepared_and_answered_messages(emu: BotApiEmulator, app: Application, seen: Seen) -> None:
    alice, bob = emu.add_user("Alice"), emu.add_user("Bob")
    group = emu.add_group("Friends", members=[alice, bob], bot_member=False)
    card = InlineQueryResultArticle(
        "card:1",
        "Lunch",
        InputTextMessageContent("<b>Split</b> 10", parse_mode=ParseMode.HTML),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Pay", callback_data="pay")]]),
    )
    prepared = await app.bot.save_prepared_inline_message(alice.id, card, allow_group_chats=True)
    assert prepared.expiration_date.timestamp() > time.time()
    with pytest.raises(LookupError):  # prepared for Alice alone
        await emu.share_prepared(bob, prepared.id, group)
    with pytest.raises(ValueError, match="users chat"):  # groups only
        await emu.share_prepared(alice, prepared.id, emu.add_direct_chat(alice, bob))
    posted = await emu.share_prepared(alice, prepared.id, group)
    assert posted["text"] == "Split 10" and posted["via_bot"]["username"] == "daifu_bot"
    assert posted["from"]["id"] == alice.id
    await emu.wait_for(lambda: seen.chosen)
    assert seen.chosen[0].result_id == "card:1" and seen.chosen[0].inline_message_id
    with pytest.raises(BadRequest, match=r"(?i)send_message_types_empty"):
        await app.bot.save_prepared_inline_message(alice.id, card)
    with pytest.raises(BadRequest, match=r"(?i)user_id_invalid"):
        await app.bot.save_prepared_inline_message(999_999, card, allow_user_chats=True)

    # web_app buttons: https pages, in private chats only.
    await emu.send_text(alice, "/start")
    app_button = InlineKeyboardMarkup([[InlineKeyboardButton("Open", web_app=WebAppInfo("https://shop.example/app"))]])
    await app.bot.send_message(alice.id, "The app", reply_markup=app_button)
    members = emu.add_group("Members", members=[alice, bob])
    with pytest.raises(BadRequest, match=r"(?i)button_type_invalid"):
        await app.bot.send_message(members.id, "The app", reply_markup=app_button)
    plain = InlineKeyboardMarkup([[InlineKeyboardButton("Open", web_app=WebAppInfo("http://shop.example/app"))]])
    with pytest.raises(BadRequest, match=r"(?i)only https links are allowed"):
        await app.bot.send_message(alice.id, "The app", reply_markup=plain)

    # A Mini App opened with a query_id answers it once, on the person's behalf, in their chat with the bot.
    signed = emu.mini_app_init_data(bob, with_query=True)
    query_id = dict(parse_qsl(signed))["query_id"]
    sent = await app.bot.answer_web_app_query(query_id, card)
    assert sent.inline_message_id
    assert emu.chat_messages(bob)[-1]["text"] == "Split 10"
    with pytest.raises(BadRequest, match=r"(?i)query_id_invalid"):
        await app.bot.answer_web_app_query(query_id, card)


async def test_subscribers_see_changes(emu: BotApiEmulator, app: Application) -> None:
    events: list[dict[str, Any]] = []
    unsubscribe = emu.subscribe(events.append)
    alice = emu.add_user("Alice")
    await emu.send_text(alice, "ping")
    await emu.next_bot_message(alice)
    await app.bot.delete_message(alice.id, 2)
    unsubscribe()
    assert [(e["type"], e["message_id"]) for e in events] == [("message", 1), ("message", 2), ("delete", 2)]
    assert [m["text"] for m in emu.chat_messages(alice)] == ["ping"]


async def test_other_methods_parse_in_ptb(emu: BotApiEmulator, app: Application) -> None:
    alice, bob = emu.add_user("Alice", username="alice"), emu.add_user("Bob")
    group = emu.add_group("Friends", members=[alice, bob], supergroup=True)
    await emu.send_text(alice, "/start")
    bot = app.bot
    assert await bot.set_my_commands([("pay", "Pay a bill")], language_code="en") is True
    assert [c.command for c in await bot.get_my_commands(language_code="en")] == ["pay"]
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Pay-Now", "x")])
    assert await bot.set_chat_menu_button(chat_id=alice.id) is True
    assert (await bot.get_chat_menu_button(alice.id)).type == "commands"
    full = await bot.get_chat(alice.id)
    assert (full.id, full.type, full.username) == (alice.id, "private", "alice")
    assert (await bot.get_chat(group.id)).title == "Friends"
    assert (await bot.get_chat_member(group.id, alice.id)).status == "creator"
    assert (await bot.get_chat_member(group.id, bot.id)).status == "member"
    assert await bot.send_chat_action(group.id, "typing") is True
    assert emu.chat(group).last_action == "typing"
    photo = await bot.send_photo(group.id, tiny_png(), caption="old")
    edited = await bot.edit_message_caption(group.id, photo.message_id, caption="*new*", parse_mode="MarkdownV2")
    assert isinstance(edited, Message) and edited.caption == "new" and edited.edit_date is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Open", url="https://example.org")]])
    marked = await bot.edit_message_reply_markup(group.id, photo.message_id, reply_markup=keyboard)
    assert isinstance(marked, Message) and marked.reply_markup == keyboard
    with pytest.raises(BadRequest, match=r"(?i)reserved"):
        await bot.send_message(group.id, "1.5", parse_mode="MarkdownV2")
    info = await bot.get_webhook_info()
    assert info.url == "" and info.pending_update_count >= 0


async def test_person_side_extras(emu: BotApiEmulator, app: Application) -> None:
    alice = emu.add_user("Alice")
    photo = await emu.send_photo(alice, tiny_png(4, 4), caption="receipt")
    assert photo["photo"][0]["width"] == 4 and photo["caption"] == "receipt"
    hello = await emu.send_text(alice, "helo")
    assert (await emu.next_bot_message(alice))["text"] == "helo"
    fixed = await emu.edit_text(alice, hello, "hello")
    assert fixed["text"] == "hello" and "edit_date" in fixed
    assert await emu.open_link(alice, "https://t.me/daifu_bot") is None  # chat already open, no payload
    quiet = emu.add_group("Quiet", members=[alice], privacy_mode=True)
    await emu.send_text(alice, "chatter", chat=quiet)
    await emu.send_text(alice, "/start@daifu_bot", chat=quiet)
    assert (await emu.next_bot_message(quiet))["text"] == "Hello! payload="
    # Privacy mode hid the chatter, so the bot (which echoes text) only answered the command.
    assert [m["text"] for m in emu.bot_messages(quiet)] == ["Hello! payload="]


# --- the bot's commands and descriptions: Telegram's limits -------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params", "refusal"),
    [
        ("setMyDescription", {"description": "x" * 513}, "BOT_DESCRIPTION_INVALID"),
        ("setMyDescription", {"description": "说" * 513, "language_code": "zh"}, "BOT_DESCRIPTION_INVALID"),
        ("setMyShortDescription", {"short_description": "说" * 121}, "BOT_ABOUT_INVALID"),
        ("setMyDescription", {"description": "hello", "language_code": "zh-hans"}, "invalid language code specified"),
        ("setMyCommands", {"commands": [{"command": "Help", "description": "d"}]}, "BOT_COMMAND_INVALID"),
        ("setMyCommands", {"commands": [{"command": "x" * 33, "description": "d"}]}, "BOT_COMMAND_INVALID"),
        ("setMyCommands", {"commands": [{"command": "help", "description": ""}]}, "BOT_COMMAND_DESCRIPTION_INVALID"),
        ("setMyCommands", {"commands": [{"command": "help", "description": "说" * 257}]}, "DESCRIPTION_INVALID"),
        ("setMyCommands", {"commands": [{"command": f"c{n}", "description": "d"} for n in range(101)]}, "TOO_MUCH"),
        ("setMyCommands", {"commands": [], "scope": {"type": "chat", "chat_id": 4242}}, "chat not found"),
    ],
)
async def test_commands_and_descriptions_over_telegrams_limits_are_refused(
    emu: BotApiEmulator, method: str, params: dict[str, Any], refusal: str
) -> None:
    status, answer = await raw_call(emu, method, **params)
    assert status == 400 and refusal in answer["description"]


async def test_descriptions_up_to_the_limits_are_kept_per_language(emu: BotApiEmulator) -> None:
    # Characters count, not bytes: 512 Chinese characters fit.
    assert (await raw_call(emu, "setMyDescription", description="说" * 512, language_code="zh"))[0] == 200
    assert (await raw_call(emu, "setMyShortDescription", short_description="x" * 120))[0] == 200
    assert (await raw_call(emu, "getMyDescription", language_code="zh"))[1]["result"] == {"description": "说" * 512}
    assert (await raw_call(emu, "getMyDescription"))[1]["result"] == {"description": ""}
    assert (await raw_call(emu, "getMyShortDescription"))[1]["result"] == {"short_description": "x" * 120}
    # An empty text removes the language's own.
    assert (await raw_call(emu, "setMyDescription", description="", language_code="zh"))[0] == 200
    assert (await raw_call(emu, "getMyDescription", language_code="zh"))[1]["result"] == {"description": ""}


async def test_star_ledger_lists_what_was_paid_and_refunded_oldest_first(emu: BotApiEmulator, app: Application) -> None:
    alice = emu.add_user("Alice")
    await emu.send_text(alice, "/invoice")
    await emu.pay_invoice(alice, await emu.next_bot_message(alice), telegram_payment_charge_id="stx-1")
    unseen = emu.stars_paid_unseen(alice, 7, payload="lost-update")
    await app.bot.refund_star_payment(alice.id, "stx-1")
    emu.refund_stars_elsewhere(unseen)

    ledger = (await app.bot.get_star_transactions()).transactions
    assert [(t.id, t.amount, t.source is not None) for t in ledger] == [
        ("stx-1", 100, True),
        (unseen, 7, True),
        ("stx-1", 100, False),
        (unseen, 7, False),
    ]
    assert ledger[0].source is not None and ledger[0].source.user.id == alice.id  # type: ignore[attr-defined]
    assert ledger[1].source.invoice_payload == "lost-update"  # type: ignore[union-attr]
    assert ledger[2].receiver is not None and ledger[2].receiver.transaction_type == "invoice_payment"  # type: ignore[attr-defined]
    page = (await app.bot.get_star_transactions(offset=1, limit=2)).transactions
    assert [t.id for t in page] == [unseen, "stx-1"]
    assert (await app.bot.get_star_transactions(offset=4)).transactions == ()
    with pytest.raises(BadRequest, match=r"(?i)LIMIT_INVALID"):
        await app.bot.get_star_transactions(limit=101)

    emu.drop_star_refund("stx-1")  # Telegram lost that refund: gone from the ledger, refundable again
    assert [t.id for t in (await app.bot.get_star_transactions()).transactions] == ["stx-1", unseen, unseen]
    assert await app.bot.refund_star_payment(alice.id, "stx-1") is True
    assert sum("refunded_payment" in m for m in emu.chat_messages(alice)) == 3

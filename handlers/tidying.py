"""Tidying what a finished order or request leaves in the chats: each message that still offers to pay, share,
cancel or chip in loses its buttons, and a one-line status takes their place ("Paid by Bob ✅ · Dec 7",
"Cancelled", "Expired"), in the language it was sent in. An invoice cannot be edited: a short note follows it; one
posted into a group through the chat picker, whose chat the bot never learns, has its Pay button relabelled with the
status line instead. The /requests list is drawn again as it is now.

A tidying is a row of the outbox (Kind.TIDY) the teller hands here. It takes the messages it tidies (no other
tidying of the same order edits them too); a message is done once it is tidied, or once Telegram refused the edit
for good (not modified, not found, too old, the person blocked the bot): such a refusal never holds up the outbox.
A passing failure (a 5xx, a lost connection, flood control) gives the messages not tidied back and raises, and the
row is tried again later with them.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime

from babel.dates import format_skeleton
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from handlers.context import DaifuContext
from handlers.my_requests import requests_list
from presentation.formatting import esc
from services.i18n import Gettext, gettext_for
from services.live_messages import CANCELLED, EXPIRED, PAID, LiveKind, Tidying
from services.read_models import LiveMessageInfo, RequestMode
from services.telling_rows import Claimed

log = logging.getLogger(__name__)


def short_date(moment: datetime, locale: str) -> str:
    """A day as people write it in their language: "Dec 7", "12月7日"."""
    return format_skeleton("MMMd", moment, locale=locale)


async def status_line(context: DaifuContext, tidying: Tidying, reason: str, chat_id: int | None, locale: str) -> str:
    """What the order or request came to, in one line (chat_id: whose chat it is shown in, if a private one)."""
    _ = gettext_for(locale)
    if reason == CANCELLED:
        return _("Cancelled")
    if reason == EXPIRED:
        return _("Expired")
    order, payment, request = tidying.order, tidying.payment, tidying.request
    day = order.paid_at or (payment.settled_at if payment is not None else None)
    date = short_date(day, locale) if day is not None else ""
    if request is not None and request.mode == RequestMode.SPLIT:
        line = _("Covered by friends ✅")
    elif payment is None:
        line = _("Paid ✅")
    elif payment is not None and payment.payer_id is not None and payment.payer_id == chat_id:
        line = _("Paid by you ✅")
    elif payment is not None and not payment.show_name:
        line = _("Paid by {name} ✅").format(name=_("a friend"))
    else:
        name = payment.payer_name or await context.daifu.users.name_of(payment.payer_id)
        line = _("Paid by {name} ✅").format(name=esc(name)) if name else _("Paid ✅")
    return f"{line} · {date}" if date else line


def invoice_note(reason: str, about_request: bool, _: Gettext) -> str:
    if reason == PAID:
        return _("This order is already paid.")
    if about_request:
        if reason == CANCELLED:
            return _("This request was cancelled: this invoice can no longer be paid.")
        return _("This request expired: this invoice can no longer be paid.")
    if reason == CANCELLED:
        return _("This order was cancelled: this invoice can no longer be paid.")
    return _("This order expired: this invoice can no longer be paid.")


async def tidy(context: DaifuContext, row: Claimed) -> None:
    """Tidy the messages of the finished order (or of the request, if the row names one)."""
    live = context.daifu.live_messages
    tidying = await live.tidying(
        order_id=row.order_id, request_id=row.request_id, payment_id=row.payment_id, written=row.written
    )
    if tidying is None:
        return
    reason = row.reason or PAID
    passing: TelegramError | None = None
    done: set[int] = set()
    try:
        for message in tidying.messages:
            try:
                await _tidy_one(context, tidying, message, reason, about_request=row.request_id is not None)
            except (BadRequest, Forbidden) as refusal:  # for good: trying again would be refused again
                log.info(
                    "could not tidy %s message %s in chat %s: %s", message.kind, message.id, message.chat_id, refusal
                )
            except TelegramError as error:  # kept for the next try; the other messages are tidied meanwhile
                passing = passing or error
                continue
            done.add(message.id)
    finally:
        # Whatever stops the loop, what was taken and not tidied goes back for the next try (a note under an invoice
        # is never sent twice: the ones done are not given back).
        await live.give_back([message for message in tidying.messages if message.id not in done])
    if passing is not None:
        raise passing


async def _tidy_one(
    context: DaifuContext, tidying: Tidying, message: LiveMessageInfo, reason: str, *, about_request: bool
) -> None:
    bot, locale = context.bot, message.locale
    _ = gettext_for(locale)
    if message.inline_message_id is not None:  # an invoice posted through the chat picker: any member may pay it
        status = html.unescape(await status_line(context, tidying, reason, None, locale))  # a label is plain text
        await bot.edit_buttons_unread(
            inline_message_id=message.inline_message_id,
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(status, pay=True)]]),
        )
        return
    chat_id, message_id = message.chat_id, message.message_id
    assert chat_id is not None and message_id is not None  # a message in a chat, sent there by the bot
    if message.kind == LiveKind.INVOICE:
        if reason == PAID and message.checkout_ref in tidying.settled:
            return  # this invoice is what paid it: Telegram shows it paid
        await bot.send_text(
            chat_id,
            invoice_note(reason, about_request, _),
            reply_parameters=ReplyParameters(message_id, allow_sending_without_reply=True),
        )
    elif message.kind == LiveKind.REQUEST_LIST:
        text, markup, _views = await requests_list(context, chat_id, locale, _)
        await bot.edit_text_unread(
            text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML, reply_markup=markup
        )
    else:
        status = await status_line(context, tidying, reason, chat_id, locale)
        text = f"{message.text}\n\n{status}" if message.text else status
        await bot.edit_text_unread(text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML)

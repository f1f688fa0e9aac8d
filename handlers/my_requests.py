"""/requests: a person's pay-for-me requests, with buttons to cancel an open one or share it again."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers.ask_friend import send_request_qr, send_share_kit
from handlers.common import speak
from handlers.context import DaifuContext
from handlers.cosmetic import cosmetic
from presentation.formatting import esc
from presentation.texts import request_refusal, when
from services.i18n import Gettext
from services.money import Money, format_money
from services.pay_requests import RequestRefused, RequestView
from storage.models import RequestMode, RequestStatus, utcnow

PREFIX = "rq"  # rq:cancel:<token> | rq:share:<token> | rq:qr:<token>


def status_words(view: RequestView, _: Gettext) -> str:
    now = utcnow()
    status = view.status(now)
    if status == RequestStatus.OPEN:
        holder = view.holder_now(now)
        return _("{name} is paying…").format(name=esc(holder)) if holder else _("open")
    return {
        RequestStatus.PAID: _("paid"),
        RequestStatus.CANCELLED: _("cancelled"),
        RequestStatus.EXPIRED: _("expired"),
    }[status]


async def list_requests(update: Update, context: DaifuContext) -> None:
    locale, _ = await speak(update, context)
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    views = await context.daifu.requests.list_for(user.id)
    if not views:
        await message.reply_text(
            _("You have not asked anyone to pay yet. Open an order and tap “Ask a friend to pay”.")
        )
        return
    lines, rows = [_("<b>Your requests</b>"), ""], []
    for number, view in enumerate(views, start=1):
        order, request = view.order, view.request
        line = f"{number}. <b>{esc(order.title)}</b> · {format_money(view.total, locale)} · {status_words(view, _)}"
        if request.mode == RequestMode.SPLIT:
            covered = format_money(Money(request.covered_minor, order.currency), locale)
            line += " · " + _("{covered} covered").format(covered=covered)
        lines.append(line)
        if view.status(utcnow()) == RequestStatus.OPEN:
            lines.append("   " + _("until {time}").format(time=when(request.expires_at, locale)))
            rows.append(
                [
                    InlineKeyboardButton(
                        _("Share {number} again").format(number=number), callback_data=f"{PREFIX}:share:{request.token}"
                    ),
                    InlineKeyboardButton(
                        _("Cancel {number}").format(number=number), callback_data=f"{PREFIX}:cancel:{request.token}"
                    ),
                ]
            )
    await message.reply_text(
        "\n".join(lines), parse_mode=ParseMode.HTML, reply_markup=InlineKeyboardMarkup(rows) if rows else None
    )


async def request_action(update: Update, context: DaifuContext) -> None:
    query, user = update.callback_query, update.effective_user
    if query is None or query.data is None or user is None:
        return
    locale, _ = await speak(update, context)
    _prefix, action, token = query.data.split(":", 2)
    requests = context.daifu.requests
    if action in ("share", "qr"):
        try:
            view = await requests.payable(token, holder="")
        except RequestRefused as refusal:
            await query.answer(request_refusal(refusal, locale, _), show_alert=True)
            return
        if view.request.requester_id != user.id:
            await query.answer(_("Only the person who asked can do that."), show_alert=True)
            return
        await query.answer()
        if action == "qr":
            await send_request_qr(context, user.id, view, _)
        else:
            await send_share_kit(context, user.id, view, locale, _)
        return
    try:
        await requests.cancel(token, user.id)
    except RequestRefused as refusal:
        await query.answer(request_refusal(refusal, locale, _), show_alert=True)
        return
    # The request is cancelled and what friends paid is given back already (friends, admins and cards are told of
    # it by the teller): the answer to the tap only tidies up (its failure is no error to report).
    await cosmetic(query.answer(_("Request cancelled.")), "answering a cancel tap")
    await context.bot.send_message(user.id, _("Request cancelled. Nothing more will be accepted for it."))


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CommandHandler("requests", list_requests),
        CallbackQueryHandler(request_action, pattern=f"^{PREFIX}:(cancel|share|qr):"),
    ]

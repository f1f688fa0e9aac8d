"""/requests: a person's pay-for-me requests, with buttons to cancel an open one or share it again; the kit a new
request comes with (a chat picker, its links, a QR code on a tap, a Cancel button); and reminding the friends who
opened one (a button of /my)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
    SwitchInlineQueryChosenChat,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers.callback_data import CallbackData
from handlers.common import qr_photo, speak
from handlers.context import DaifuContext
from handlers.cosmetic import cosmetic
from handlers.mini_app_buttons import open_in_app
from presentation.formatting import chat_time, esc
from presentation.texts import friends_reminded, reminded_lately, request_refusal, status_name
from services.friend_reminders import Reminded
from services.i18n import Gettext, gettext_for
from services.links import deep_link
from services.live_messages import LiveKind
from services.money import Money, format_money
from services.pay_requests import RequestRefused, RequestView
from services.read_models import LiveMessageInfo, RequestMode, RequestStatus, utcnow

log = logging.getLogger(__name__)


class RequestAction(StrEnum):
    CANCEL = "cancel"
    SHARE = "share"  # the kit again
    QR = "qr"
    REMIND = "remind"  # the friends who opened it, nudged (from /my)


@dataclass(frozen=True, slots=True)
class RequestTap(CallbackData):
    """What the requester does with their request, from /requests, /my or the kit:
    rq:<cancel|share|qr|remind>:<token>."""

    prefix: ClassVar[str] = "rq"
    action: RequestAction
    token: str


def share_button(view: RequestView, _: Gettext) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        _("Share in a chat"),
        switch_inline_query_chosen_chat=SwitchInlineQueryChosenChat(
            query=view.request.token, allow_user_chats=True, allow_group_chats=True
        ),
    )


async def send_share_kit(context: DaifuContext, chat_id: int, view: RequestView, locale: str, _: Gettext) -> None:
    """Everything the requester needs to pass the request on: chat picker, link, web page, and a QR code on a tap.

    The QR code is drawn only when asked for: most requests travel as a card in a chat, and a photo in every kit
    would cost a render and an upload each time for a code few people scan.
    """
    link = deep_link(context.bot.username, view.request.token)
    text = "\n".join(
        [
            _("Your request is ready: <b>{title}</b>, {amount}, until {time}.").format(
                title=esc(view.order.title),
                amount=format_money(view.total, locale),
                time=chat_time(view.request.expires_at, locale),
            ),
            _("Share it into a chat with the button below, or send this link: {link}").format(link=link),
            _("Friends without Telegram can pay on the web: {url}").format(
                url=context.daifu.rules.request_url(view.request.token)
            ),
        ]
    )
    token = view.request.token
    qr = InlineKeyboardButton(_("Show a QR code to scan"), callback_data=RequestTap(RequestAction.QR, token).pack())
    cancel = InlineKeyboardButton(_("Cancel request"), callback_data=RequestTap(RequestAction.CANCEL, token).pack())
    in_app = open_in_app(context.daifu.rules, ChatType.PRIVATE, token, _)  # the kit goes to the private chat
    markup = InlineKeyboardMarkup([[share_button(view, _)], *in_app, [qr], [cancel]])
    sent_id = await context.bot.send_text(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)
    await context.daifu.live_messages.remember(
        LiveKind.SHARE_KIT,
        chat_id=chat_id,
        message_id=sent_id,
        order_id=view.order.id,
        request_id=view.request.id,
        locale=locale,
        text=text,
    )


async def send_request_qr(context: DaifuContext, chat_id: int, view: RequestView, _: Gettext) -> None:
    link = deep_link(context.bot.username, view.request.token)
    await context.bot.send_photo(chat_id, qr_photo(link), caption=_("Let your friend scan this code with their phone."))


def status_words(view: RequestView, _: Gettext) -> str:
    now = utcnow()
    status = view.status(now)
    if status == RequestStatus.OPEN:
        holder = view.holder_now(now)
        return _("{name} is paying…").format(name=esc(holder)) if holder else _("open")
    return status_name(status, _)


async def requests_list(
    context: DaifuContext, user_id: int, locale: str, _: Gettext
) -> tuple[str, InlineKeyboardMarkup | None, list[RequestView]]:
    """The person's requests as /requests shows them: the text, the buttons of the open ones, and the requests."""
    views = await context.daifu.request_views.list_for(user_id)
    if not views:
        return _("You have not asked anyone to pay yet. Open an order and tap “Ask a friend to pay”."), None, views
    lines, rows = [_("<b>Your requests</b>"), ""], []
    for number, view in enumerate(views, start=1):
        order, request = view.order, view.request
        line = f"{number}. <b>{esc(order.title)}</b> · {format_money(view.total, locale)} · {status_words(view, _)}"
        if request.mode == RequestMode.SPLIT:
            covered = format_money(Money(request.covered_minor, order.currency), locale)
            line += " · " + _("{covered} covered").format(covered=covered)
        lines.append(line)
        if view.status(utcnow()) == RequestStatus.OPEN:
            lines.append("   " + _("until {time}").format(time=chat_time(request.expires_at, locale)))
            rows.append(
                [
                    InlineKeyboardButton(
                        _("Share {number} again").format(number=number),
                        callback_data=RequestTap(RequestAction.SHARE, request.token).pack(),
                    ),
                    InlineKeyboardButton(
                        _("Cancel {number}").format(number=number),
                        callback_data=RequestTap(RequestAction.CANCEL, request.token).pack(),
                    ),
                ]
            )
    return "\n".join(lines), InlineKeyboardMarkup(rows) if rows else None, views


async def list_requests(update: Update, context: DaifuContext) -> None:
    locale, _ = await speak(update, context)
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    text, markup, views = await requests_list(context, user.id, locale, _)
    sent = await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
    # Redrawn when one of its open requests is finished (handlers.tidying), so no Cancel stays up on a closed one.
    now = utcnow()
    await context.daifu.live_messages.remember_listed(
        LiveKind.REQUEST_LIST,
        chat_id=sent.chat_id,
        message_id=sent.message_id,
        locale=locale,
        subjects=[(view.order.id, view.request.id) for view in views if view.status(now) == RequestStatus.OPEN],
    )


async def request_action(update: Update, context: DaifuContext) -> None:
    query, user = update.callback_query, update.effective_user
    tap = RequestTap.unpack(query.data) if query else None
    if query is None or tap is None or user is None:
        return
    locale, _ = await speak(update, context)
    action, token = tap.action, tap.token
    if action in (RequestAction.SHARE, RequestAction.QR):
        try:
            view = await context.daifu.request_views.payable(token, holder="")
        except RequestRefused as refusal:
            await query.answer(request_refusal(refusal, locale, _), show_alert=True)
            return
        if view.request.requester_id != user.id:
            await query.answer(_("Only the person who asked can do that."), show_alert=True)
            return
        await query.answer()
        if action == RequestAction.QR:
            await send_request_qr(context, user.id, view, _)
        else:
            await send_share_kit(context, user.id, view, locale, _)
        return
    if action == RequestAction.REMIND:
        await remind_friends(update, context, token, locale, _)
        return
    try:
        await context.daifu.request_closing.cancel(token, user.id)
    except RequestRefused as refusal:
        await query.answer(request_refusal(refusal, locale, _), show_alert=True)
        return
    # The request is cancelled and what friends paid is given back already (friends, admins and cards are told of
    # it by the teller): the answer to the tap only tidies up (its failure is no error to report).
    await cosmetic(query.answer(_("Request cancelled.")), "answering a cancel tap")
    await context.bot.send_message(user.id, _("Request cancelled. Nothing more will be accepted for it."))


async def remind_friends(update: Update, context: DaifuContext, token: str, locale: str, _: Gettext) -> None:
    """Nudge the friends who opened the request under the offer they were shown (services.friend_reminders), and
    offer the requester the chat picker: a group's card cannot be posted beside, only shared again."""
    query, user = update.callback_query, update.effective_user
    assert query is not None and user is not None
    try:
        view = await context.daifu.request_views.view(token)
    except RequestRefused as refusal:
        await query.answer(request_refusal(refusal, locale, _), show_alert=True)
        return
    reminder = await context.daifu.friend_reminders.remind(view.request.id, user.id)
    if reminder.outcome == Reminded.CLOSED:
        text = _("Only the person who asked can do that.") if view.request.requester_id != user.id else None
        await query.answer(text or _("This request is no longer open."), show_alert=True)
        return
    if reminder.outcome == Reminded.TOO_SOON:
        await query.answer(reminded_lately(reminder.again_at or utcnow(), locale, _), show_alert=True)
        return
    reminded = await nudge_friends(context.bot, view, reminder.offers)
    await cosmetic(query.answer(), "answering a remind tap")
    said = friends_reminded(reminded, _) + "\n" + _("To remind a group, share the request there again:")
    await context.bot.send_message(user.id, said, reply_markup=InlineKeyboardMarkup([[share_button(view, _)]]))


async def nudge_friends(bot: Bot, view: RequestView, offers: Iterable[LiveMessageInfo]) -> int:
    """The reminder replied under each friend's offer (the Mini App's Remind sends it too, through bot/); how many
    friends it reached."""
    reminded = 0
    for offer in offers:
        if offer.chat_id is None or offer.message_id is None:  # not an offer said in a chat: nothing to reply under
            continue
        try:
            await bot.send_message(
                offer.chat_id,
                nudge_text(view, offer.locale),
                parse_mode=ParseMode.HTML,
                reply_parameters=ReplyParameters(offer.message_id, allow_sending_without_reply=True),
            )
        except (BadRequest, Forbidden) as refusal:  # they blocked the bot, or the chat is gone: the others still
            log.info("could not remind chat %s of request %s: %s", offer.chat_id, view.request.id, refusal)
            continue
        reminded += 1
    return reminded


def nudge_text(view: RequestView, locale: str) -> str:
    """The reminder a friend gets, in the language they were shown the request in."""
    _ = gettext_for(locale)
    return _(
        "⏰ {name} reminds you of <b>{title}</b> ({amount}): it still waits to be paid. "
        "The ways to pay are in the message above."
    ).format(
        name=esc(view.requester_name or _("A friend")),
        title=esc(view.order.title),
        amount=format_money(view.share or view.total, locale),
    )


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CommandHandler("requests", list_requests),
        CallbackQueryHandler(request_action, pattern=RequestTap.pattern()),
    ]

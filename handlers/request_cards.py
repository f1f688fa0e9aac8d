"""The request card: what a friend or a group sees of a pay-for-me request, redrawn as it moves on.

A card shows only the title, shop, amount, expiry, the requester's name and note: nothing else of the
order. Its button is a deep link, so a friend who taps it lands in a private chat with the bot.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, field
from typing import cast

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from handlers.context import DaifuContext
from presentation.formatting import chat_time, esc
from presentation.texts import split_lines
from services.i18n import Gettext, gettext_for
from services.links import app_link, deep_link
from services.money import Money, format_money
from services.pay_requests import RequestView
from services.read_models import CardInfo, RequestMode, RequestStatus, utcnow
from services.telling_rows import Charge

log = logging.getLogger(__name__)
BAR_WIDTH = 10
DIGEST_LENGTH = 10


def progress_bar(covered: int, total: int) -> str:
    filled = min(BAR_WIDTH, round(BAR_WIDTH * covered / total)) if total else 0
    return "▓" * filled + "░" * (BAR_WIDTH - filled)


async def contributor_names(context: DaifuContext, view: RequestView, _: Gettext) -> list[str]:
    names = []
    for payment in view.contributions:
        if not payment.show_name:
            names.append(_("someone"))
        elif payment.payer_name:
            names.append(payment.payer_name)
        else:
            names.append(await context.daifu.users.name_of(payment.payer_id))
    return names


async def card_text(context: DaifuContext, view: RequestView, locale: str, _: Gettext) -> str:
    order, request = view.order, view.request
    shop = context.daifu.rules.shop_name
    split = split_lines(view, shop, locale, _)
    if split:
        lines = [f"🙏 {split[0]}", *split[1:]]
    else:
        lines = [
            _("🙏 <b>{name}</b> asks: please pay for <b>{title}</b> at {shop}").format(
                name=esc(view.requester_name), title=esc(order.title), shop=esc(shop)
            ),
            _("Amount: {amount}").format(amount=format_money(view.total, locale)),
        ]
    if request.note:
        lines.append(_("Note: “{note}”").format(note=esc(request.note)))
    now = utcnow()
    status = view.status(now)
    if request.mode == RequestMode.SPLIT:
        covered = Money(request.covered_minor, order.currency)
        lines.append(
            f"{progress_bar(request.covered_minor, order.amount_minor)} "
            + _("{covered} of {total}").format(
                covered=format_money(covered, locale), total=format_money(view.total, locale)
            )
        )
        names = await contributor_names(context, view, _)
        if names:
            lines.append(_("Chipped in: {names}").format(names=esc(", ".join(names))))
    if status == RequestStatus.OPEN:
        holder = view.holder_now(now)
        if holder is not None and request.mode == RequestMode.SINGLE:
            lines.append(_("⏳ {name} is paying…").format(name=esc(holder)))
        lines.append(_("Until: {time}").format(time=chat_time(request.expires_at, locale)))
    elif status == RequestStatus.PAID:
        if request.mode == RequestMode.SPLIT:
            lines.append(_("Covered by friends ✅"))
        else:
            payer = await paid_by(context, view, _)
            lines.append(_("Paid by {name} ✅").format(name=esc(payer)))
    elif status == RequestStatus.CANCELLED:
        lines.append(_("Cancelled"))
    else:
        lines.append(_("Expired"))
    return "\n".join(lines)


async def paid_by(context: DaifuContext, view: RequestView, _: Gettext) -> str:
    payment = view.contributions[-1] if view.contributions else None
    if payment is None:
        return _("someone")
    if payment.payer_id is not None and payment.payer_id == view.request.requester_id:
        return _("{name} (themselves)").format(name=view.requester_name)
    return payment.payer_name or await context.daifu.users.name_of(payment.payer_id)


def card_markup(context: DaifuContext, view: RequestView, _: Gettext) -> InlineKeyboardMarkup | None:
    if view.status(utcnow()) != RequestStatus.OPEN:
        return None
    label = _("Pay for {name}") if view.request.mode == RequestMode.SINGLE else _("Chip in for {name}")
    # Where the shop registered its Mini App, the card opens it at the request (a group has no web_app buttons).
    short_name = context.daifu.rules.miniapp_short_name
    if short_name:
        url = app_link(context.bot.username, short_name, view.request.token)
    else:
        url = deep_link(context.bot.username, view.request.token)
    return InlineKeyboardMarkup([[InlineKeyboardButton(label.format(name=view.requester_name), url=url)]])


async def render_card(context: DaifuContext, view: RequestView) -> tuple[str, InlineKeyboardMarkup | None]:
    # Cards speak the requester's language: it is their request, shown to their friends.
    locale = await context.daifu.users.locale_of(view.request.requester_id)
    _ = gettext_for(locale)
    return await card_text(context, view, locale, _), card_markup(context, view, _)


def card_digest(text: str, markup: InlineKeyboardMarkup | None) -> str:
    """A short fingerprint of a drawn card, carried in the inline result's id to tell whether it is stale."""
    drawn = text + (markup.to_json() if markup else "")
    return hashlib.sha256(drawn.encode()).hexdigest()[:DIGEST_LENGTH]


# Changes to one request within this long of its last drawing are drawn together, as one more edit per card.
COALESCE_SECONDS = 1.0
_REDRAWS = "request_card_redraws"  # bot_data key


@dataclass
class _Redraw:
    """One request's cards being drawn, or resting after a drawing, in this process."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    changed: bool = False  # the request changed since the last drawing began
    drawn: tuple[str, str | None] | None = None  # what the cards were last drawn as (None: no card to draw)
    final: bool = False  # paid, cancelled or expired: nothing newer can ever be drawn


def _redraws(context: DaifuContext) -> dict[int, _Redraw]:
    return cast(dict[int, _Redraw], context.application.bot_data.setdefault(_REDRAWS, {}))


async def refresh_cards(
    context: DaifuContext, request_id: int, *, closed: bool = False, written: Charge | None = None
) -> None:
    """Edit every card of the request to show its state now; one edit per card, never a new message.

    The first change is drawn at once; changes in the second after it are drawn together once that second is
    over, with the state as it is then (ten payers in a second are two edits of each card, not ten). closed
    (the request was paid, cancelled or expired) is drawn at once: it is the last state, and people wait for it.

    Workers refresh a request's cards at once, and an edit drawn from an older state may reach Telegram after
    a newer one: so a second after drawing, the state is read again and drawn again while it differs.

    written: the charge that paid the request as its transaction wrote it (services.telling_rows.Claimed): the
    closed state, drawn without reading the request again.
    """
    redraws = _redraws(context)
    redraw = redraws.get(request_id)
    if redraw is not None:
        redraw.changed = True
        if closed:
            await _draw(context, request_id, redraw, written)
        return
    redraw = redraws[request_id] = _Redraw()
    try:
        await _draw(context, request_id, redraw, written)
    finally:
        if context.application.running:
            context.application.create_task(_rest_then_redraw(context, request_id, redraw, COALESCE_SECONDS))
        else:  # stopping: a task made now would not be waited for, so the last look is taken here
            await _rest_then_redraw(context, request_id, redraw, 0.0)


async def _rest_then_redraw(context: DaifuContext, request_id: int, redraw: _Redraw, rest: float) -> None:
    try:
        while not redraw.final and (redraw.changed or redraw.drawn is not None):
            await asyncio.sleep(rest)
            before, redraw.changed = redraw.drawn, False
            await _draw(context, request_id, redraw)
            if redraw.drawn == before and not redraw.changed:
                return
    finally:
        # Without a wait between the last look at changed and this: a change after it starts a drawing afresh.
        del _redraws(context)[request_id]


async def _draw(context: DaifuContext, request_id: int, redraw: _Redraw, written: Charge | None = None) -> None:
    """Read the request and its cards, and edit the cards if they would look different from the last drawing."""
    async with redraw.lock:
        found = await context.daifu.request_views.view_with_cards(request_id, written=written)
        if found is None or not found[1]:
            redraw.drawn = None  # no card was posted (a card posted later draws itself as it is then)
            return
        view, cards = found
        text, markup = await render_card(context, view)
        drawing = (text, markup.to_json() if markup else None)
        if drawing == redraw.drawn:
            return
        for card in cards:
            await edit_card(context, card, text, markup)
        redraw.drawn = drawing
        redraw.final = view.status(utcnow()) != RequestStatus.OPEN


async def edit_card(context: DaifuContext, card: CardInfo, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        if card.inline_message_id is not None:
            await context.bot.edit_text_unread(
                text, inline_message_id=card.inline_message_id, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        elif card.chat_id is not None and card.message_id is not None:
            await context.bot.edit_text_unread(
                text,
                chat_id=card.chat_id,
                message_id=card.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
    except BadRequest as error:
        if "not modified" not in str(error).lower():
            log.warning("could not update card %s of request %s: %s", card.id, card.request_id, error)
    except TelegramError as error:
        log.warning("could not update card %s of request %s: %s", card.id, card.request_id, error)

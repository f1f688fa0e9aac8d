"""The request card: what a friend or a group sees of a pay-for-me request, redrawn as it moves on.

A card shows only the title, shop, amount, expiry, the requester's name and note: nothing else of the
order. Its button is a deep link, so a friend who taps it lands in a private chat with the bot.
"""

from __future__ import annotations

import hashlib
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from handlers.common import esc
from handlers.context import DaifuContext
from handlers.texts import when
from services.i18n import Gettext, gettext_for
from services.links import deep_link
from services.money import Money, format_money
from services.pay_requests import RequestView
from storage.models import RequestCard, RequestMode, RequestStatus, utcnow

log = logging.getLogger(__name__)
BAR_WIDTH = 10
DIGEST_LENGTH = 10
REFRESH_ROUNDS = 4  # each round reads the request once more; two are enough unless it keeps changing


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
    lines = [
        _("🙏 <b>{name}</b> asks: please pay for <b>{title}</b> at {shop}").format(
            name=esc(view.requester_name), title=esc(order.title), shop=esc(context.daifu.rules.shop_name)
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
        lines.append(_("Until: {time}").format(time=when(request.expires_at, locale)))
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


async def refresh_cards(context: DaifuContext, request_id: int) -> None:
    """Edit every card of the request to show its state now; one edit per card, never a new message.

    Workers refresh a request's cards at once, and an edit drawn from an older state may reach Telegram after
    a newer one: so after editing, the state is read again, and while it differs from what was drawn the cards
    are drawn again. The last edit to land is then always followed by a read of the newest state.
    """
    requests = context.daifu.requests
    found = await requests.view_with_cards(request_id)
    if found is None or not found[1]:
        return  # no card was posted (a card posted later draws itself as it is then)
    view, cards = found
    drawn: tuple[str, str | None] | None = None
    for _round in range(REFRESH_ROUNDS):
        text, markup = await render_card(context, view)
        if drawn == (text, markup.to_json() if markup else None):
            return
        drawn = (text, markup.to_json() if markup else None)
        for card in cards:
            await edit_card(context, card, text, markup)
        if view.status(utcnow()) != RequestStatus.OPEN:
            return  # paid, cancelled or expired is the last state a request has: nothing newer can be drawn
        again = await requests.view_by_id(request_id)
        if again is None:
            return
        view = again


async def edit_card(context: DaifuContext, card: RequestCard, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        if card.inline_message_id is not None:
            await context.bot.edit_message_text(
                text, inline_message_id=card.inline_message_id, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        elif card.chat_id is not None and card.message_id is not None:
            await context.bot.edit_message_text(
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

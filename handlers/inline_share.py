"""Sharing a request through Telegram's chat picker: the inline answer becomes the card in that chat.

The requester's share button opens the picker with the request token as the inline query. The answer
offers the card (a deep-link button to pay in a private chat) and, where the shop takes Telegram's own
payments, an invoice any member of the chosen chat can pay; the hold is then checked at pre-checkout. Both are
remembered once posted: the card to be redrawn as the request moves on, the invoice to be marked finished with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultArticle,
    InputInvoiceMessageContent,
    InputTextMessageContent,
    Update,
)
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, ChosenInlineResultHandler, InlineQueryHandler

from handlers.callback_data import CallbackData
from handlers.checkout import addressed, invoice_fields
from handlers.common import speak, unless_query_gone
from handlers.context import DaifuContext
from handlers.request_cards import card_digest, edit_card, render_card
from presentation.texts import invoice_for_friend, method_label
from services.checkout import MethodUnavailable
from services.i18n import Gettext
from services.live_messages import LiveKind
from services.pay_requests import RequestRefused, RequestView
from services.providers import capabilities_of
from services.read_models import RequestMode, RequestStatus, utcnow

log = logging.getLogger(__name__)


# An inline result's id has a button's shape and 64-byte limit, and is built and read the same way.
@dataclass(frozen=True, slots=True)
class CardResult(CallbackData):
    """card:<request token>:<digest of the card as drawn> (cards offered by older versions had no digest)."""

    prefix: ClassVar[str] = "card"
    token: str
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class InvoiceResult(CallbackData):
    """invoice:<provider>:<request token>: posted as is, so never read back."""

    prefix: ClassVar[str] = "invoice"
    provider: str
    token: str


async def answer_share(update: Update, context: DaifuContext) -> None:
    query = update.inline_query
    if query is None:
        return
    with unless_query_gone("inline", query.id):
        await offer_cards(update, context, query)


async def offer_cards(update: Update, context: DaifuContext, query: InlineQuery) -> None:
    """The request's card to post, and for a single payer an invoice anyone in the chat can pay."""
    locale, _ = await speak(update, context)
    token = query.query.strip()
    daifu = context.daifu
    try:
        view = await daifu.request_views.view(token)
    except RequestRefused:  # not a request token, or an unknown one
        view = None
    # Only the requester shares their request: a forwarded token shows nothing to anyone else.
    if view is None or view.request.requester_id != query.from_user.id:
        await query.answer([], cache_time=0, is_personal=True)
        return
    request = view.request
    if view.status(utcnow()) != RequestStatus.OPEN:
        await query.answer([], cache_time=0, is_personal=True)
        return
    results: list[InlineQueryResultArticle] = [await card_result(context, view, _)]
    if request.mode == RequestMode.SINGLE:
        for provider in daifu.checkouts.methods_for(view.order):
            if not capabilities_of(provider, daifu.providers).paid_inside_telegram:
                continue
            try:
                checkout = await daifu.request_checkouts.group_invoice(view, provider)
            except MethodUnavailable:
                continue
            words = invoice_for_friend(view, view.total, daifu.rules.shop_name, locale, _)
            invoice = addressed(checkout, *words).invoice
            assert invoice is not None
            label = method_label(provider, checkout.amount, locale, _)
            results.append(
                InlineQueryResultArticle(
                    id=InvoiceResult(provider, token).pack(),
                    title=label,
                    description=_("An invoice anyone in the chat can pay for you"),
                    input_message_content=InputInvoiceMessageContent(**invoice_fields(invoice)),
                    # A keyboard of its own (the Pay button, first as Telegram wants it): only a message with one
                    # gets an inline id, the one handle the bot has to mark it finished later (handlers.tidying).
                    reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(label, pay=True)]]),
                )
            )
    await query.answer(results, cache_time=0, is_personal=True)


async def card_result(context: DaifuContext, view: RequestView, _: Gettext) -> InlineQueryResultArticle:
    """The request's card as an inline result: offered in the chat picker, and prepared for the Mini App's share
    sheet (bot.miniapp_port), so that both post the same card and card_posted remembers either."""
    text, markup = await render_card(context, view)
    return InlineQueryResultArticle(
        id=CardResult(view.request.token, card_digest(text, markup)).pack(),
        title=_("Ask to pay for {title}").format(title=view.order.title),
        description=_("A card with a button to pay for you"),
        input_message_content=InputTextMessageContent(text, parse_mode=ParseMode.HTML),
        reply_markup=markup,
    )


async def card_posted(update: Update, context: DaifuContext) -> None:
    """Remember where the card (or the invoice) went, so that it can be edited as the request moves on.

    Telegram tells the bot a card was posted only after the fact, maybe to another worker: if the request moved
    on meanwhile (someone paid, a refresh of its cards ran before this card was known), the card shows an older
    state and nothing else will edit it, so it is drawn again here.
    """
    chosen = update.chosen_inline_result
    if chosen is None or chosen.inline_message_id is None:
        return
    invoice = InvoiceResult.unpack(chosen.result_id)
    if invoice is not None:
        await invoice_posted(update, context, chosen.inline_message_id, invoice)
        return
    result = CardResult.unpack(chosen.result_id)
    if result is None:
        return
    daifu = context.daifu
    card = await daifu.request_cards.add_card(result.token, inline_message_id=chosen.inline_message_id)
    if card is None:
        return
    # Read after the card is written (its own transaction): a refresh that missed the card has changed the
    # request before this read, so the card is then drawn again here.
    view = await daifu.request_views.view_by_id(card.request_id)
    if view is None:
        return
    text, markup = await render_card(context, view)
    if card_digest(text, markup) != result.digest:
        await edit_card(context, card, text, markup)


async def invoice_posted(update: Update, context: DaifuContext, inline_message_id: str, result: InvoiceResult) -> None:
    """Remember an invoice posted into a chat, to be marked finished with its request (handlers.tidying)."""
    locale, _ = await speak(update, context)  # the requester's, as the invoice is written in
    try:
        view = await context.daifu.request_views.view(result.token)
    except RequestRefused:
        return
    await context.daifu.live_messages.remember_inline(
        LiveKind.INLINE_INVOICE,
        inline_message_id=inline_message_id,
        order_id=view.order.id,
        request_id=view.request.id,
        locale=locale,
    )


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [InlineQueryHandler(answer_share), ChosenInlineResultHandler(card_posted)]

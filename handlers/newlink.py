"""/newlink: an admin creates an order and gets its deep link, landing page and QR code.

With arguments (`/newlink 12.50 USD Coffee beans`) it is one step. Without, a guided flow asks for the
amount, the currency (buttons for the shop's usual ones), the title, then a confirmation. The step is kept
in the database (services.flows), so a restarted bot, or another worker, carries on at the same step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MaybeInaccessibleMessage, Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
)

from handlers.callback_data import CallbackData, any_button_under
from handlers.common import admin_only, qr_photo, speak
from handlers.context import DaifuContext, TextStep
from handlers.cosmetic import cosmetic
from handlers.guided_steps import step_buttons
from presentation.formatting import esc
from presentation.texts import bad_amount, currency_label, order_line
from services.amount_input import agree, amount_example, named_currency, read_amount, read_typed
from services.flows import Flow
from services.i18n import Gettext
from services.links import deep_link
from services.money import AmountProblem, InvalidAmount, Money, format_money, normalise_currency, to_minor
from services.orders import TITLE_MAX, InvalidTitle, chat_message_key
from services.read_models import OrderInfo

log = logging.getLogger(__name__)
STEP = "nl"  # the first word of every step's button: nl:cur:<code>, nl:ok, nl:cancel


@dataclass(frozen=True, slots=True)
class CurrencyTap(CallbackData):
    """One of the shop's usual currencies: nl:cur:<code>."""

    prefix: ClassVar[str] = f"{STEP}:cur"
    code: str


@dataclass(frozen=True, slots=True)
class CreateLinkTap(CallbackData):
    prefix: ClassVar[str] = f"{STEP}:ok"


@dataclass(frozen=True, slots=True)
class CancelLinkTap(CallbackData):
    prefix: ClassVar[str] = f"{STEP}:cancel"


def with_cancel(_: Gettext, rows: list[list[InlineKeyboardButton]] | None = None) -> InlineKeyboardMarkup:
    return step_buttons(CancelLinkTap(), _, rows or [])


async def reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, reply_markup=markup, parse_mode=ParseMode.HTML)


async def make_link(
    context: DaifuContext, asked_in: Message | MaybeInaccessibleMessage, amount: Money, title: str, creator_id: int
) -> OrderInfo:
    """The order asked for by this message (a /newlink command, or the confirmation tapped): made once, however
    often the message is handled (a redelivered update, a second tap)."""
    key = chat_message_key(asked_in.chat.id, asked_in.message_id)
    return await context.daifu.orders.create(amount, title, created_by=creator_id, asked_in=key)


async def send_link(context: DaifuContext, chat_id: int, order: OrderInfo, _: Gettext, locale: str) -> None:
    link = deep_link(context.bot.username, order.token)
    caption = "\n".join(
        [
            _("New checkout link for {order}:").format(order=order_line(order, locale, _)),
            link,
            _("Web page: {url}").format(url=context.daifu.rules.landing_url(order.token)),
            _("Share the link or let the shopper scan this QR code."),
        ]
    )
    try:
        await context.bot.send_photo(chat_id, qr_photo(link), caption=caption, parse_mode=ParseMode.HTML)
    except TelegramError as error:
        # The order is made: without its link the admin would ask again and make a second one. The links alone
        # do all the QR code does but be scanned; the web page shows the code too.
        log.warning("the QR code of order %s could not be sent (%s): sending its links as text", order.id, error)
        await context.bot.send_message(chat_id, caption, parse_mode=ParseMode.HTML)


FLOW = "newlink"


async def newlink(update: Update, context: DaifuContext) -> None:
    locale, _ = await speak(update, context)
    message = update.effective_message
    if message is None or update.effective_user is None or not await admin_only(update, context, _):
        return
    admin_id = update.effective_user.id
    if not context.args:
        await context.daifu.flows.begin(admin_id, FLOW, "amount")
        await reply(
            update,
            _("Let's create a checkout link. What is the amount? (for example {example})").format(
                example=amount_example("USD", locale)
            ),
            with_cancel(_),
        )
        return
    if len(context.args) < 3:
        await reply(
            update,
            _("Usage: /newlink AMOUNT CURRENCY TITLE, for example /newlink 12.50 USD Coffee beans"),
        )
        return
    amount_text, currency, *title_words = context.args
    try:
        try:
            currency = normalise_currency(currency)
        except InvalidAmount:
            # "/newlink $5 Coffee beans": the symbol names the currency, and every word after it is the title
            usual = context.daifu.rules.usual_currencies
            named = named_currency(read_typed(amount_text, locale).marker, locale, usual)
            if named is None:
                raise
            currency, title_words = named, [currency, *title_words]
        amount = read_amount(amount_text, currency, locale)
    except InvalidAmount as error:
        await reply(update, bad_amount(error, _, locale))
        return
    try:
        order = await make_link(context, message, amount, " ".join(title_words), admin_id)
    except InvalidTitle:
        await reply(update, _("The title must be 1 to {limit} characters.").format(limit=TITLE_MAX))
        return
    await send_link(context, message.chat_id, order, _, locale)


async def got_amount(update: Update, context: DaifuContext, flow: Flow) -> None:
    locale, _ = await speak(update, context)
    message, user = update.effective_message, update.effective_user
    assert message is not None and message.text is not None and user is not None
    currencies = context.daifu.rules.usual_currencies
    try:
        typed = read_typed(message.text, locale)
        named = named_currency(typed.marker, locale, currencies)
        if named is not None:  # "$5", "80 元": the currency is said, so its step is skipped
            read_amount(message.text, named, locale)
    except InvalidAmount as error:
        await reply(update, bad_amount(error, _, locale), with_cancel(_))
        return
    data = {"amount": str(typed.value), "marker": typed.marker}
    if named is not None:
        await got_currency(update, context, flow, named, data)
        return
    if not await context.daifu.flows.advance(user.id, FLOW, from_step="amount", to_step="currency", data=data):
        return
    buttons = [
        InlineKeyboardButton(currency_label(code, locale, _), callback_data=CurrencyTap(code).pack())
        for code in currencies
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    await reply(update, _("Which currency? Tap one, or type its code."), with_cancel(_, rows))


async def typed_currency(update: Update, context: DaifuContext, flow: Flow) -> None:
    message = update.effective_message
    await got_currency(update, context, flow, (message.text if message else "") or "")


async def tapped_currency(update: Update, context: DaifuContext) -> None:
    query, user = update.callback_query, update.effective_user
    tap = CurrencyTap.unpack(query.data) if query else None
    if query is None or tap is None or user is None:
        return
    flow = await context.daifu.flows.current(user.id)
    if flow is None or (flow.name, flow.step) != (FLOW, "currency"):
        await stale_button(update, context)
        return
    await cosmetic(query.answer(), "answering a currency tap")
    await got_currency(update, context, flow, tap.code)


async def got_currency(
    update: Update, context: DaifuContext, flow: Flow, code: str, typed: dict[str, str] | None = None
) -> None:
    """The currency tapped or typed (or named with the amount: typed holds that amount, and the flow is one step
    behind)."""
    locale, _ = await speak(update, context)
    assert update.effective_user is not None
    user_id, flows = update.effective_user.id, context.daifu.flows
    data = typed if typed is not None else flow.data
    try:
        currency = normalise_currency(code)
        agree(data.get("marker", ""), currency, locale)
        to_minor(Decimal(data["amount"]), currency)
    except InvalidAmount as error:
        # The amount, not the currency, must change
        back = error.problem in (AmountProblem.TOO_MANY_DECIMALS, AmountProblem.WRONG_CURRENCY)
        if back and typed is None:
            await flows.advance(user_id, FLOW, from_step="currency", to_step="amount", data={})
        await reply(update, bad_amount(error, _, locale), with_cancel(_))
        if back:
            await reply(update, _("Send the amount again."), with_cancel(_))
        return
    data = data | {"currency": currency}
    from_step = "amount" if typed is not None else "currency"
    if not await flows.advance(user_id, FLOW, from_step=from_step, to_step="title", data=data):
        return
    await reply(
        update,
        _("What is it for? Send a title of up to {limit} characters.").format(limit=TITLE_MAX),
        with_cancel(_),
    )


async def got_title(update: Update, context: DaifuContext, flow: Flow) -> None:
    locale, _ = await speak(update, context)
    message, user = update.effective_message, update.effective_user
    assert message is not None and message.text is not None and user is not None
    title = " ".join(message.text.split())
    if not 1 <= len(title) <= TITLE_MAX:
        await reply(update, _("The title must be 1 to {limit} characters.").format(limit=TITLE_MAX), with_cancel(_))
        return
    data = flow.data | {"title": title}
    if not await context.daifu.flows.advance(user.id, FLOW, from_step="title", to_step="confirm", data=data):
        return
    amount = to_minor(Decimal(data["amount"]), data["currency"])
    buttons = with_cancel(_, [[InlineKeyboardButton(_("Create link"), callback_data=CreateLinkTap().pack())]])
    await reply(
        update,
        _("Create a link for <b>{title}</b>, {amount}?").format(title=esc(title), amount=format_money(amount, locale)),
        buttons,
    )


async def confirm(update: Update, context: DaifuContext) -> None:
    locale, _ = await speak(update, context)
    query, user = update.callback_query, update.effective_user
    if query is None or user is None or query.message is None:
        return
    flows, chat_id = context.daifu.flows, query.message.chat.id
    flow = await flows.current(user.id)
    if flow is None or (flow.name, flow.step) != (FLOW, "confirm"):
        made = await context.daifu.orders.made_in(
            chat_message_key(chat_id, query.message.message_id), created_by=user.id
        )
        if made is None:
            await stale_button(update, context)
            return
        # This confirmation made its order already (a second tap, or this tap handled again after a crash that
        # came before its link was sent): the link again, no second order.
        await cosmetic(query.answer(), "answering a repeated Create link")
        await send_link(context, chat_id, made, _, locale)
        return
    amount = to_minor(Decimal(flow.data["amount"]), flow.data["currency"])
    # The order first, made once per confirmation message; then the flow ends. Taps at once on two workers
    # both find the one order; the one that ends the flow sends the link.
    order = await make_link(context, query.message, amount, flow.data["title"], user.id)
    if not await flows.end(user.id, FLOW, at_step="confirm"):
        await cosmetic(query.answer(), "answering a repeated Create link")
        return
    await cosmetic(query.answer(), "answering Create link")
    await send_link(context, chat_id, order, _, locale)
    await cosmetic(context.bot.take_buttons_off(query), "taking the buttons off a confirmed /newlink")


async def cancel(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    user = update.effective_user
    if user is None or not await context.daifu.flows.end(user.id, FLOW):
        await stale_button(update, context)
        return
    query = update.callback_query
    if query is not None:
        await cosmetic(query.answer(), "answering Cancel")
    await reply(update, _("Cancelled. No link was created."))
    if query is not None:
        await cosmetic(context.bot.take_buttons_off(query), "taking the buttons off a cancelled /newlink")


async def stale_button(update: Update, context: DaifuContext) -> None:
    """A /newlink button from a flow that already ended (or never reached that step)."""
    _locale, _ = await speak(update, context)
    if update.callback_query is not None:
        await update.callback_query.answer(
            _("That step is out of date. Send /newlink to start again."), show_alert=True
        )


TEXT_STEPS: dict[str, TextStep] = {"amount": got_amount, "currency": typed_currency, "title": got_title}


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CommandHandler("newlink", newlink),
        CallbackQueryHandler(tapped_currency, pattern=CurrencyTap.pattern()),
        CallbackQueryHandler(confirm, pattern=CreateLinkTap.pattern()),
        CallbackQueryHandler(cancel, pattern=CancelLinkTap.pattern()),
        CallbackQueryHandler(stale_button, pattern=any_button_under(STEP)),
    ]

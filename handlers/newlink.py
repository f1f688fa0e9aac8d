"""/newlink: an admin creates an order and gets its deep link, landing page and QR code.

With arguments (`/newlink 12.50 USD Coffee beans`) it is one step. Without, a guided conversation asks
for the amount, the currency (buttons for the shop's usual ones), the title, then a confirmation. Its
state is persisted (storage.persistence), so a bot restarted mid-way carries on at the same step.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)

from handlers.common import admin_only, esc, order_price, speak
from handlers.context import DaifuContext
from handlers.conversations import persistent_conversation
from handlers.texts import bad_amount
from services.i18n import Gettext
from services.links import deep_link, qr_png
from services.money import (
    AmountProblem,
    InvalidAmount,
    Money,
    format_money,
    normalise_currency,
    parse_decimal,
    to_minor,
)
from services.orders import TITLE_MAX, InvalidTitle

AMOUNT, CURRENCY, TITLE, CONFIRM = range(4)
PREFIX = "nl"
DRAFT = "newlink_draft"  # the draft order in user_data, persisted with it


def cancel_row(_: Gettext) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(_("Cancel"), callback_data=f"{PREFIX}:cancel")]


async def reply(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, reply_markup=markup, parse_mode=ParseMode.HTML)


async def send_link(
    message: Message, context: DaifuContext, amount: Money, title: str, creator_id: int, _: Gettext, locale: str
) -> None:
    order = await context.daifu.orders.create(amount, title, created_by=creator_id)
    link = deep_link(context.bot.username, order.token)
    caption = "\n".join(
        [
            _("New checkout link for <b>{title}</b>, {amount}:").format(
                title=esc(order.title), amount=order_price(order, locale)
            ),
            link,
            _("Web page: {url}").format(url=context.daifu.rules.landing_url(order.token)),
            _("Share the link or let the shopper scan this QR code."),
        ]
    )
    await message.reply_photo(qr_png(link), caption=caption, parse_mode=ParseMode.HTML)


async def newlink(update: Update, context: DaifuContext) -> int:
    locale, _ = await speak(update, context)
    message = update.effective_message
    if message is None or update.effective_user is None or not await admin_only(update, context, _):
        return ConversationHandler.END
    admin_id = update.effective_user.id
    if not context.args:
        context.user_data[DRAFT] = {}  # type: ignore[index]
        await reply(
            update,
            _("Let's create a checkout link. What is the amount? (for example 12.50)"),
            InlineKeyboardMarkup([cancel_row(_)]),
        )
        return AMOUNT
    if len(context.args) < 3:
        await reply(
            update,
            _("Usage: /newlink AMOUNT CURRENCY TITLE, for example /newlink 12.50 USD Coffee beans"),
        )
        return ConversationHandler.END
    amount_text, currency, *title_words = context.args
    try:
        amount = to_minor(parse_decimal(amount_text), normalise_currency(currency))
    except InvalidAmount as error:
        await reply(update, bad_amount(error, _))
        return ConversationHandler.END
    try:
        await send_link(message, context, amount, " ".join(title_words), admin_id, _, locale)
    except InvalidTitle:
        await reply(update, _("The title must be 1 to {limit} characters.").format(limit=TITLE_MAX))
    return ConversationHandler.END


async def got_amount(update: Update, context: DaifuContext) -> int:
    _locale, _ = await speak(update, context)
    message = update.effective_message
    assert message is not None and message.text is not None
    try:
        value = parse_decimal(message.text)
    except InvalidAmount as error:
        await reply(update, bad_amount(error, _), InlineKeyboardMarkup([cancel_row(_)]))
        return AMOUNT
    context.user_data[DRAFT] = {"amount": str(value)}  # type: ignore[index]
    currencies = context.daifu.rules.usual_currencies
    buttons = [InlineKeyboardButton(code, callback_data=f"{PREFIX}:cur:{code}") for code in currencies]
    rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)] + [cancel_row(_)]
    await reply(update, _("Which currency? Tap one, or type its code."), InlineKeyboardMarkup(rows))
    return CURRENCY


async def got_currency(update: Update, context: DaifuContext) -> int:
    _locale, _ = await speak(update, context)
    query = update.callback_query
    if query is not None:
        await query.answer()
        code = (query.data or "").rpartition(":")[2]
    else:
        code = (update.effective_message.text if update.effective_message else "") or ""
    draft = context.user_data.get(DRAFT) or {}  # type: ignore[union-attr]
    if "amount" not in draft:
        return await restart(update, _)
    try:
        currency = normalise_currency(code)
        to_minor(Decimal(draft["amount"]), currency)
    except InvalidAmount as error:
        await reply(update, bad_amount(error, _), InlineKeyboardMarkup([cancel_row(_)]))
        if error.problem == AmountProblem.TOO_MANY_DECIMALS:
            await reply(update, _("Send the amount again."), InlineKeyboardMarkup([cancel_row(_)]))
            return AMOUNT
        return CURRENCY
    draft["currency"] = currency
    context.user_data[DRAFT] = draft  # type: ignore[index]
    await reply(
        update,
        _("What is it for? Send a title of up to {limit} characters.").format(limit=TITLE_MAX),
        InlineKeyboardMarkup([cancel_row(_)]),
    )
    return TITLE


async def got_title(update: Update, context: DaifuContext) -> int:
    locale, _ = await speak(update, context)
    message = update.effective_message
    assert message is not None and message.text is not None
    title = " ".join(message.text.split())
    draft = context.user_data.get(DRAFT) or {}  # type: ignore[union-attr]
    if "currency" not in draft:
        return await restart(update, _)
    if not 1 <= len(title) <= TITLE_MAX:
        await reply(update, _("The title must be 1 to {limit} characters.").format(limit=TITLE_MAX))
        return TITLE
    draft["title"] = title
    context.user_data[DRAFT] = draft  # type: ignore[index]
    amount = to_minor(Decimal(draft["amount"]), draft["currency"])
    buttons = InlineKeyboardMarkup(
        [[InlineKeyboardButton(_("Create link"), callback_data=f"{PREFIX}:ok")], cancel_row(_)]
    )
    await reply(
        update,
        _("Create a link for <b>{title}</b>, {amount}?").format(title=esc(title), amount=format_money(amount, locale)),
        buttons,
    )
    return CONFIRM


async def confirm(update: Update, context: DaifuContext) -> int:
    locale, _ = await speak(update, context)
    query = update.callback_query
    assert query is not None
    draft = context.user_data.pop(DRAFT, None) or {}  # type: ignore[union-attr]
    if "title" not in draft:
        await query.answer()
        return await restart(update, _)
    await query.answer()
    await query.edit_message_reply_markup(None)
    assert isinstance(query.message, Message)
    amount = to_minor(Decimal(draft["amount"]), draft["currency"])
    await send_link(query.message, context, amount, draft["title"], query.from_user.id, _, locale)
    return ConversationHandler.END


async def restart(update: Update, _: Gettext) -> int:
    await reply(update, _("That step is out of date. Send /newlink to start again."))
    return ConversationHandler.END


async def cancel(update: Update, context: DaifuContext) -> int:
    _locale, _ = await speak(update, context)
    context.user_data.pop(DRAFT, None)  # type: ignore[union-attr]
    if update.callback_query is not None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_reply_markup(None)
    await reply(update, _("Cancelled. No link was created."))
    return ConversationHandler.END


async def stale_button(update: Update, context: DaifuContext) -> None:
    """A /newlink button from a conversation that already ended."""
    _locale, _ = await speak(update, context)
    if update.callback_query is not None:
        await update.callback_query.answer(
            _("That step is out of date. Send /newlink to start again."), show_alert=True
        )


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    text = filters.TEXT & ~filters.COMMAND
    conversation = persistent_conversation(
        "newlink",
        entry_points=[CommandHandler("newlink", newlink)],
        states={
            AMOUNT: [MessageHandler(text, got_amount)],
            CURRENCY: [
                CallbackQueryHandler(got_currency, pattern=f"^{PREFIX}:cur:"),
                MessageHandler(text, got_currency),
            ],
            TITLE: [MessageHandler(text, got_title)],
            CONFIRM: [CallbackQueryHandler(confirm, pattern=f"^{PREFIX}:ok$")],
        },
        fallbacks=[CallbackQueryHandler(cancel, pattern=f"^{PREFIX}:cancel$"), CommandHandler("cancel", cancel)],
    )
    return [conversation, CallbackQueryHandler(stale_button, pattern=f"^{PREFIX}:")]

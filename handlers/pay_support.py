"""/paysupport: how to reach the shop about a payment, the person's recent payments with a button to quote each to
the shop's admins, and the admins told that they asked (Telegram asks every bot that takes payments to answer it).

The admins hear of it through the outbox (services.pay_support), at most once in a while per person and payment:
asking again is answered, and the admins are not asked again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType, ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers.callback_data import CallbackData
from handlers.common import speak
from handlers.context import DaifuContext
from presentation.formatting import chat_time, esc, paid_amount
from presentation.texts import order_line
from services.config import ShopRules
from services.i18n import Gettext
from services.pay_support import Heard, PaidCharge

LABEL_TITLE = 24  # characters of an order's title on its button: the button shows the amount too


@dataclass(frozen=True, slots=True)
class QuoteTap(CallbackData):
    """A payment of one's own quoted to the shop: support:<payment id> (checked to be the tapper's)."""

    prefix: ClassVar[str] = "support"
    payment_id: int


def contact_line(rules: ShopRules, heard: Heard, _: Gettext) -> str:
    shop = esc(rules.shop_name)
    lines = []
    if rules.support_contact:
        lines.append(
            _("To reach {shop} about a payment, write to {contact}.").format(
                shop=shop, contact=esc(rules.support_contact)
            )
        )
    if heard == Heard.TOLD:
        lines.append(_("The shop's admins have been told you asked; they will contact you here in Telegram."))
    elif heard == Heard.ALREADY:
        lines.append(_("The shop's admins already know you asked; they will contact you here in Telegram."))
    elif not rules.support_contact:
        lines.append(_("Please contact {shop} directly about your payment.").format(shop=shop))
    return "\n".join(lines)


def charge_line(charge: PaidCharge, locale: str, _: Gettext) -> str:
    # The order by its number (its token is for /order): what the shop's admins find it by when it is quoted.
    return "• " + _("{order}, {paid} · {time}").format(
        order=order_line(charge.order, locale, _),
        paid=paid_words(charge, locale, _),
        time=chat_time(charge.payment.settled_at or charge.payment.created_at, locale),
    )


def paid_words(charge: PaidCharge, locale: str, _: Gettext) -> str:
    """ "paid", or "paid 1,250 ⭐" when it was paid in another currency than the order's (Stars)."""
    payment, order = charge.payment, charge.order
    if (payment.amount_minor, payment.currency) == (order.amount_minor, order.currency):
        return _("paid")
    return _("paid {amount}").format(amount=paid_amount(payment, locale))


def charge_button(charge: PaidCharge, locale: str) -> InlineKeyboardButton:
    title = charge.order.title
    short = title if len(title) <= LABEL_TITLE else title[: LABEL_TITLE - 1] + "…"
    label = f"{short} · {paid_amount(charge.payment, locale)}"
    return InlineKeyboardButton(label, callback_data=QuoteTap(charge.payment.id).pack())


async def pay_support(update: Update, context: DaifuContext) -> None:
    user, message, chat = update.effective_user, update.effective_message, update.effective_chat
    if user is None or message is None:
        return
    locale, _ = await speak(update, context)
    if chat is not None and chat.type != ChatType.PRIVATE:
        # A person's payments are theirs alone: not listed where others read.
        await message.reply_text(_("Send /paysupport to me in a private chat: your payments are listed there."))
        return
    rules = context.daifu.rules
    asked = await context.daifu.pay_support.ask(user.id)
    lines = [_("<b>Help with a payment</b>"), contact_line(rules, asked.heard, _), ""]
    markup = None
    if asked.charges:
        lines.append(_("Your recent payments. Tap one to send its details to the shop's admins:"))
        lines += [charge_line(charge, locale, _) for charge in asked.charges]
        markup = InlineKeyboardMarkup([[charge_button(charge, locale)] for charge in asked.charges])
    else:
        lines.append(_("You have made no payments here yet."))
    await message.reply_text("\n".join(lines), parse_mode=ParseMode.HTML, reply_markup=markup)


async def quote_payment(update: Update, context: DaifuContext) -> None:
    query, user = update.callback_query, update.effective_user
    tap = QuoteTap.unpack(query.data) if query else None
    if query is None or tap is None or user is None:
        return
    locale, _ = await speak(update, context)
    asked = await context.daifu.pay_support.quote(user.id, tap.payment_id)
    await query.answer()
    if asked.heard == Heard.NOT_YOURS:
        text = _("That payment is not one of yours.")
    else:
        (charge,) = asked.charges
        about = _("{order}, {paid}").format(
            order=order_line(charge.order, locale, _), paid=paid_words(charge, locale, _)
        )
        text = {
            Heard.TOLD: _("The shop's admins have the details of your payment ({about}). They will contact you here."),
            Heard.ALREADY: _("The shop's admins already have the details of your payment ({about})."),
            Heard.NO_ADMINS: _("Quote this payment when you contact the shop: {about}."),
        }[asked.heard].format(about=about)
    if query.message is not None:
        await context.bot.send_message(query.message.chat.id, text, parse_mode=ParseMode.HTML)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("paysupport", pay_support), CallbackQueryHandler(quote_payment, pattern=QuoteTap.pattern())]

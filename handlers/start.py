"""/start: a welcome, or (with a token from a deep link or QR code) the order and its payment methods."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CommandHandler

from handlers.ask_friend import AskMode, AskTap
from handlers.checkout import MethodTap
from handlers.common import speak
from handlers.context import DaifuContext
from handlers.friend_pays import show_request
from handlers.help import help_text
from handlers.introduction import MENU_LANGUAGES, introduce_to_admin
from handlers.mini_app_buttons import open_in_app, order_start
from presentation.texts import method_label, order_card, why_not
from services.live_messages import LiveKind
from services.orders import OrderNotPayable
from services.pay_requests import is_request_token


async def start(update: Update, context: DaifuContext) -> None:
    locale, _ = await speak(update, context)
    message = update.effective_message
    if message is None:
        return
    if not context.args:
        user = update.effective_user
        admin = context.daifu.rules.is_admin(user.id if user else None)
        await message.reply_text(help_text(_, admin=admin), parse_mode=ParseMode.HTML)
        if admin and user is not None:
            # Telegram refused the admin's own menu at start if they had not started the bot yet: now they have.
            for language_code in MENU_LANGUAGES:
                await introduce_to_admin(context.bot, user.id, language_code)
        return
    daifu = context.daifu
    if is_request_token(context.args[0]):
        await show_request(update, context, context.args[0])
        return
    try:
        order = await daifu.orders.payable(context.args[0])
    except OrderNotPayable as refusal:
        await message.reply_text(why_not(refusal.why, _))
        return
    buttons = []
    for provider in daifu.checkouts.methods_for(order):
        price = daifu.checkouts.price_in(order, provider)
        assert price is not None
        buttons.append(
            [
                InlineKeyboardButton(
                    method_label(provider, price, locale, _),
                    callback_data=MethodTap(provider, order.token).pack(),
                )
            ]
        )
    text = order_card(order, daifu.rules.shop_name, locale, _)
    if not buttons:
        text += "\n\n" + _("No payment method can take this currency right now. Please contact the shop.")
    elif order.payforme_allowed:
        buttons.append(
            [
                InlineKeyboardButton(_("Ask a friend to pay"), callback_data=AskTap(AskMode.ONE, order.token).pack()),
                InlineKeyboardButton(_("Split with friends"), callback_data=AskTap(AskMode.SPLIT, order.token).pack()),
            ]
        )
    if buttons:
        buttons += open_in_app(daifu.rules, message.chat.type, order_start(order.token), _)
    markup = InlineKeyboardMarkup(buttons) if buttons else None
    sent_id = await context.bot.send_text(
        message.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, in_reply_to=message
    )
    if buttons:  # its buttons go, and a status line comes, once the order is paid, cancelled or expired
        await daifu.live_messages.remember(
            LiveKind.ORDER_VIEW,
            chat_id=message.chat_id,
            message_id=sent_id,
            order_id=order.id,
            locale=locale,
            text=text,
        )


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("start", start)]

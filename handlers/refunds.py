"""An admin's Refund button under a payment note: ask to confirm, then refund through the provider."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler

from handlers.common import speak
from handlers.context import DaifuContext
from handlers.cosmetic import cosmetic
from handlers.refund_button import RefundStep, RefundTap
from presentation.texts import provider_down
from services.notices import ReturnReason
from services.providers import PaymentError
from services.refunds import RefundRefused


async def refund_button(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    tap = RefundTap.unpack(query.data) if query else None
    if query is None or tap is None or update.effective_user is None:
        return
    _locale, _ = await speak(update, context)
    if not context.daifu.rules.is_admin(update.effective_user.id):
        await query.answer(_("Sorry, only the shop's admins can do that."), show_alert=True)
        return
    if tap.step == RefundStep.ASK:
        yes = InlineKeyboardButton(_("Yes, refund"), callback_data=RefundTap(RefundStep.YES, tap.payment_id).pack())
        keep = InlineKeyboardButton(_("Keep it"), callback_data=RefundTap(RefundStep.NO, tap.payment_id).pack())
        await query.answer()
        await query.edit_message_reply_markup(InlineKeyboardMarkup([[yes, keep]]))
        return
    if tap.step == RefundStep.NO:
        await query.answer(_("Nothing was refunded."))
        await context.bot.take_buttons_off(query)
        return
    try:
        notice = await context.daifu.refunds.refund(
            tap.payment_id, reason=ReturnReason.SHOP_REFUND, actor_id=update.effective_user.id
        )
    except RefundRefused:
        await query.answer(_("This payment cannot be refunded (it may already be refunded)."), show_alert=True)
        return
    except PaymentError:
        await query.answer(provider_down(_), show_alert=True)
        return
    # The refund is made and recorded, and with it what the payer and the admins are told: these only tidy up.
    answer = _("Refund asked for: it is pending at the provider.") if notice.pending else _("Refunded.")
    await cosmetic(query.answer(answer), "answering a refund tap")
    await cosmetic(context.bot.take_buttons_off(query), "taking the refund buttons off")


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CallbackQueryHandler(refund_button, pattern=RefundTap.pattern())]

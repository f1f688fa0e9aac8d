"""/refund <order> [amount]: an admin gives money back through the provider that took it, after confirming.

Without an amount every charge of the order is refunded in turn (a chip-in has several); with one, only an
order paid in one charge, and the amount is read in that charge's currency. The plan waits in the database
(daifu.buttons) under a one-time id carried by the Yes button, so a second tap (or an old message) refunds nothing.
Refunds themselves go through daifu.refunds.refund, which never gives back more than was paid and turns a
card payment made through a provider token into a refund owed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from handlers.admin_common import admin_tapped, edit_quietly, named_order, reply_long, tapped_text
from handlers.callback_data import CallbackData
from handlers.common import admin_only, speak, unless_unchanged
from handlers.context import DaifuContext
from handlers.notices import payer_display_name
from presentation.formatting import esc
from presentation.texts import bad_amount
from services.amount_input import read_amount
from services.i18n import Gettext
from services.money import InvalidAmount, Money, format_money
from services.notices import PaymentReturned, ReturnReason
from services.providers import PaymentError, capabilities_of
from services.read_models import OrderInfo, OrderStatus, PaymentInfo
from services.refunds import RefundRefused

log = logging.getLogger(__name__)
BUTTON_KIND = "refund"  # the plan behind the Yes button, in daifu.buttons


class Answer(StrEnum):
    YES = "y"
    NO = "n"


@dataclass(frozen=True, slots=True)
class AnswerTap(CallbackData):
    """Yes, refund or Keep it: ar:<y|n>:<the plan's id in daifu.buttons>."""

    prefix: ClassVar[str] = "ar"
    answer: Answer
    plan_id: str


@dataclass(frozen=True, slots=True)
class RefundPlan:
    order_id: int
    payment_id: int | None = None  # None: every charge of the order, all that is left of each
    minor: int | None = None  # a part of that one charge


async def charge_line(context: DaifuContext, payment: PaymentInfo, amount: Money, locale: str, _: Gettext) -> str:
    line = _("{amount} to {payer} (payment #{number}, {provider})").format(
        amount=format_money(amount, locale),
        payer=esc(await payer_display_name(context.daifu, payment) or _("someone on the web page")),
        number=payment.id,
        provider=payment.provider,
    )
    if not capabilities_of(payment.provider, context.daifu.providers).refunds:  # given back at the provider
        line += "\n  " + _("a card payment: it will be recorded as owed, and you refund it at the provider")
    return "• " + line


def nothing_to_refund(order: OrderInfo, _: Gettext) -> str:
    if order.status in (OrderStatus.OPEN, OrderStatus.PENDING):
        text = _("Order #{number} is not paid. /cancel {number} closes it and gives back any chip-ins.")
    elif order.status == OrderStatus.REFUNDED:
        text = _("Order #{number} has already been refunded.")
    else:
        text = _("Nothing is left to refund on order #{number}.")
    return text.format(number=order.id)


async def plan_part(
    context: DaifuContext, order: OrderInfo, charges: list[PaymentInfo], typed: str, locale: str, _: Gettext
) -> tuple[RefundPlan | None, str]:
    """A partial refund, if it is possible: the plan, or None and why not."""
    if len(charges) > 1:
        lines = [
            _(
                "Order #{number} was paid in {count} payments (a chip-in): only an order paid in one payment "
                "can be refunded in part. Send /refund {number} to refund all of them:"
            ).format(number=order.id, count=len(charges))
        ]
        lines += [await charge_line(context, charge, charge.left_to_refund, locale, _) for charge in charges]
        return None, "\n".join(lines)
    charge = charges[0]
    try:
        amount = read_amount(typed, charge.currency, locale)
    except InvalidAmount as error:
        return None, bad_amount(error, _, locale)
    left = charge.left_to_refund
    if amount.minor > left.minor:
        return None, _("That is more than was paid: at most {amount} is left to refund on order #{number}.").format(
            amount=format_money(left, locale), number=order.id
        )
    whole = amount.minor == left.minor == charge.amount_minor
    if not whole and not capabilities_of(charge.provider, context.daifu.providers).partial_refunds:
        return None, _(
            "{provider} payments can only be refunded whole: send /refund {number} without an amount."
        ).format(provider=charge.provider, number=order.id)
    return RefundPlan(order.id, charge.id, amount.minor), ""


async def keep_plan(context: DaifuContext, admin_id: int, plan: RefundPlan) -> str:
    data = {"order_id": plan.order_id, "payment_id": plan.payment_id, "minor": plan.minor}
    return await context.daifu.buttons.keep(admin_id, BUTTON_KIND, data)


async def take_plan(context: DaifuContext, admin_id: int, plan_id: str) -> RefundPlan | None:
    """The plan behind a button, once: taking it is what makes a second tap harmless, on any worker."""
    stored = await context.daifu.buttons.take(plan_id, admin_id, BUTTON_KIND)
    if stored is None:
        return None
    return RefundPlan(int(stored["order_id"]), stored["payment_id"], stored["minor"])


async def ask_refund(update: Update, context: DaifuContext) -> None:
    locale, _ = await speak(update, context)
    message = update.effective_message
    if message is None or not await admin_only(update, context, _):
        return
    usage = _("Usage: /refund ORDER [AMOUNT], for example /refund 12 or /refund 12 2.50")
    order = await named_order(update, context, _, usage)
    if order is None:
        return
    charges = await context.daifu.order_lookup.charges_to_refund(order)
    if not charges:
        await message.reply_text(nothing_to_refund(order, _))
        return
    args = context.args or []
    plan = RefundPlan(order.id)
    if len(args) > 1:
        part, refusal = await plan_part(context, order, charges, args[1], locale, _)
        if part is None:
            await message.reply_text(refusal, parse_mode=ParseMode.HTML)
            return
        plan = part
        charges = [charge for charge in charges if charge.id == plan.payment_id]
    lines = [_("Refund order #{number}, <b>{title}</b>?").format(number=order.id, title=esc(order.title))]
    for charge in charges:
        amount = Money(plan.minor, charge.currency) if plan.minor is not None else charge.left_to_refund
        lines.append(await charge_line(context, charge, amount, locale, _))
    lines.append(_("The payers will be told."))
    assert update.effective_user is not None  # admin_only let the command through
    plan_id = await keep_plan(context, update.effective_user.id, plan)
    buttons = [
        InlineKeyboardButton(_("Yes, refund"), callback_data=AnswerTap(Answer.YES, plan_id).pack()),
        InlineKeyboardButton(_("Keep it"), callback_data=AnswerTap(Answer.NO, plan_id).pack()),
    ]
    await reply_long(message, lines, InlineKeyboardMarkup([buttons]))


async def carry_out(context: DaifuContext, plan: RefundPlan, admin_id: int, locale: str, _: Gettext) -> list[str]:
    """Refund what the plan says, charge by charge (the payers and admins are told); returns what happened."""
    daifu = context.daifu
    order = await context.daifu.order_lookup.find_order(str(plan.order_id))
    charges = await context.daifu.order_lookup.charges_to_refund(order) if order else []
    if plan.payment_id is not None:
        charges = [charge for charge in charges if charge.id == plan.payment_id]
    if order is None or not charges:
        return [nothing_to_refund(order, _) if order else _("Nothing was refunded.")]
    outcome: list[str] = []
    for charge in charges:
        part = Money(plan.minor, charge.currency) if plan.minor is not None else None
        try:
            notice = await daifu.refunds.refund(
                charge.id, reason=ReturnReason.SHOP_REFUND, actor_id=admin_id, amount=part
            )
        except RefundRefused as refused:
            outcome.append(
                _("Payment #{number} was not refunded: {why}").format(number=charge.id, why=esc(str(refused)))
            )
            continue
        except PaymentError as error:
            log.warning("refund of payment %s failed at %s: %s", charge.id, charge.provider, error)
            outcome.append(
                _("{provider} refused to refund payment #{number}: {why}").format(
                    provider=charge.provider, number=charge.id, why=esc(str(error))
                )
            )
            continue
        outcome.append(await refunded_line(context, notice, locale, _))
    return outcome


async def refunded_line(context: DaifuContext, notice: PaymentReturned, locale: str, _: Gettext) -> str:
    payer = esc(await payer_display_name(context.daifu, notice.payment) or _("someone on the web page"))
    amount = format_money(notice.amount, locale)
    if notice.owed:
        return _(
            "⚠️ {amount} to {payer} is recorded as owed: refund it yourself at {provider} (the bot cannot refund "
            "card payments)."
        ).format(amount=amount, payer=payer, provider=notice.payment.provider)
    if notice.pending:
        return _(
            "⏳ {provider} took the refund of {amount} to {payer} but has not finished it yet: you will be told."
        ).format(amount=amount, payer=payer, provider=notice.payment.provider)
    return _("↩️ Refunded {amount} to {payer} through {provider}.").format(
        amount=amount, payer=payer, provider=notice.payment.provider
    )


async def confirm_refund(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    tap = AnswerTap.unpack(query.data) if query else None
    if query is None or tap is None or update.effective_user is None:
        return
    locale, _ = await speak(update, context)
    if not await admin_tapped(update, context, _):
        return
    plan = await take_plan(context, update.effective_user.id, tap.plan_id)
    if plan is None:
        await query.answer(_("This refund was already answered or is out of date."), show_alert=True)
        with unless_unchanged():  # a double tap: the first tap took the buttons away already
            await context.bot.take_buttons_off(query)
        return
    await query.answer()
    question = tapped_text(update)
    if tap.answer == Answer.NO:
        await edit_quietly(update, f"{question}\n\n" + _("Nothing was refunded."))
        return
    outcome = await carry_out(context, plan, update.effective_user.id, locale, _)
    await edit_quietly(update, "\n".join([question, "", *outcome]))


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CommandHandler("refund", ask_refund),
        CallbackQueryHandler(confirm_refund, pattern=AnswerTap.pattern()),
    ]

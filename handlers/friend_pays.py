"""A friend opens a pay-for-me request (deep link, QR code, card button) and pays all of it, or a part."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import (
    BaseHandler,
    CallbackQueryHandler,
)

from handlers.callback_data import CallbackData
from handlers.checkout import addressed, send_checkout
from handlers.common import speak, unless_unchanged
from handlers.context import DaifuContext, TextStep
from handlers.guided_steps import cancel_step, step_buttons
from presentation.formatting import chat_time, esc
from presentation.texts import (
    bad_amount,
    invoice_for_friend,
    method_label,
    provider_down,
    request_refusal,
    split_lines,
)
from services.amount_input import read_amount
from services.checkout import MethodUnavailable
from services.flows import Flow
from services.i18n import Gettext
from services.live_messages import LiveKind
from services.money import InvalidAmount, Money, format_money
from services.pay_requests import RequestRefused, RequestView, telegram_holder
from services.providers import PaymentError
from services.read_models import RequestMode
from services.why_not import WhyNot

FLOW = "chip_in"  # the friend types the amount of their part


@dataclass(frozen=True, slots=True)
class PartTap(CallbackData):
    """Split: the part to pay (0: only the name toggled), and whether the card may show the friend's name:
    rs:<minor>:<show 1|0>:<request token>."""

    prefix: ClassVar[str] = "rs"
    minor: int
    show: bool
    token: str


@dataclass(frozen=True, slots=True)
class OtherAmountTap(CallbackData):
    """Split: the friend will type the amount: ra:<show 1|0>:<request token>."""

    prefix: ClassVar[str] = "ra"
    show: bool
    token: str


@dataclass(frozen=True, slots=True)
class PayPartTap(CallbackData):
    """A way to pay the part chosen: rp:<provider>:<minor>:<show 1|0>:<request token>."""

    prefix: ClassVar[str] = "rp"
    provider: str
    minor: int
    show: bool
    token: str


@dataclass(frozen=True, slots=True)
class CancelPartTap(CallbackData):
    """Split: the friend will not type an amount after all: rc."""

    prefix: ClassVar[str] = "rc"


def request_intro(context: DaifuContext, view: RequestView, locale: str, _: Gettext) -> str:
    order = view.order
    lines = split_lines(view, context.daifu.rules.shop_name, locale, _) or [
        _("<b>{name}</b> asks you to pay {amount} for <b>{title}</b> at {shop}.").format(
            name=esc(view.requester_name),
            amount=format_money(view.total, locale),
            title=esc(order.title),
            shop=esc(context.daifu.rules.shop_name),
        )
    ]
    if view.request.note:
        lines.append(_("Note: “{note}”").format(note=esc(view.request.note)))
    if view.request.mode == RequestMode.SPLIT:
        lines.append(
            _("Friends are chipping in: {remaining} of {total} is left.").format(
                remaining=format_money(view.remaining, locale), total=format_money(view.total, locale)
            )
        )
        if view.kept_minor:
            lines.append(
                _("{amount} more is being paid by friends right now.").format(amount=format_money(view.kept, locale))
            )
    lines.append(_("Until: {time}").format(time=chat_time(view.request.expires_at, locale)))
    return "\n".join(lines)


def method_buttons(
    context: DaifuContext, view: RequestView, part: Money, show: bool, locale: str, _: Gettext
) -> list[list[InlineKeyboardButton]]:
    checkouts = context.daifu.checkouts
    rows = []
    for provider in checkouts.methods_for(view.order):
        price = checkouts.charge_for(part, provider)
        if price is not None:
            data = PayPartTap(provider, part.minor, show, view.request.token).pack()
            rows.append([InlineKeyboardButton(method_label(provider, price, locale, _), callback_data=data)])
    return rows


def part_buttons(view: RequestView, show: bool, locale: str, _: Gettext) -> list[list[InlineKeyboardButton]]:
    """Split mode: a share, or all that is left, and whether the card may show the friend's name."""
    token, rows = view.request.token, []
    share = view.share
    if share is not None and share.minor < view.remaining.minor:
        label = _("Chip in a share ({amount})").format(amount=format_money(share, locale))
        rows.append([InlineKeyboardButton(label, callback_data=PartTap(share.minor, show, token).pack())])
    other = _("Another amount")
    rows.append([InlineKeyboardButton(other, callback_data=OtherAmountTap(show, token).pack())])
    if view.remaining.minor > 0:  # nothing, while friends paying right now keep all that is left
        label = _("Pay all that is left ({amount})").format(amount=format_money(view.remaining, locale))
        rows.append([InlineKeyboardButton(label, callback_data=PartTap(view.remaining.minor, show, token).pack())])
    toggle = _("Show my name on the card: yes") if show else _("Show my name on the card: no")
    rows.append([InlineKeyboardButton(toggle, callback_data=PartTap(0, not show, token).pack())])
    return rows


async def show_request(update: Update, context: DaifuContext, token: str) -> None:
    """What /start r_<token> shows: who asks, what for, and how to pay (or why not now)."""
    locale, _ = await speak(update, context)
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        return
    try:
        view = await context.daifu.request_views.payable(token, holder=telegram_holder(user.id))
    except RequestRefused as refusal:
        await message.reply_text(request_refusal(refusal, locale, _))
        return
    text = request_intro(context, view, locale, _)
    if user.id == view.request.requester_id:
        text += "\n\n" + _("This is your own request. If you pay it yourself, it is recorded as paid by you.")
    if view.request.mode == RequestMode.SPLIT:
        rows = part_buttons(view, True, locale, _)
    else:
        rows = method_buttons(context, view, view.total, True, locale, _)
    markup = InlineKeyboardMarkup(rows)
    sent_id = await context.bot.send_text(
        message.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, in_reply_to=message
    )
    await remember_offer(context, message.chat_id, sent_id, view, locale, text)


async def remember_offer(
    context: DaifuContext, chat_id: int, message_id: int, view: RequestView, locale: str, text: str
) -> None:
    """A request offered to a friend, tidied once the request is finished (handlers.tidying)."""
    await context.daifu.live_messages.remember(
        LiveKind.REQUEST_OFFER,
        chat_id=chat_id,
        message_id=message_id,
        order_id=view.order.id,
        request_id=view.request.id,
        locale=locale,
        text=text,
    )


async def choose_part(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    tap = PartTap.unpack(query.data) if query else None
    if query is None or tap is None or update.effective_user is None:
        return
    locale, _ = await speak(update, context)
    try:
        view = await context.daifu.request_views.payable(tap.token, holder=telegram_holder(update.effective_user.id))
    except RequestRefused as refusal:
        await query.answer(request_refusal(refusal, locale, _), show_alert=True)
        return
    await query.answer()
    if tap.minor == 0:  # the name toggle: redraw the choices
        text, rows = request_intro(context, view, locale, _), part_buttons(view, tap.show, locale, _)
    else:
        part = Money(min(tap.minor, view.remaining.minor), view.order.currency)
        text, rows = chip_in_offer(context, view, part, tap.show, locale, _)
    await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=InlineKeyboardMarkup(rows))


def chip_in_offer(
    context: DaifuContext, view: RequestView, part: Money, show: bool, locale: str, _: Gettext
) -> tuple[str, list[list[InlineKeyboardButton]]]:
    """The request, the part this friend chips in, and a button per way to pay it."""
    text = request_intro(context, view, locale, _) + "\n\n"
    text += _("You chip in {amount}. How do you want to pay?").format(amount=format_money(part, locale))
    return text, method_buttons(context, view, part, show, locale, _)


async def pay(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    user = update.effective_user
    tap = PayPartTap.unpack(query.data) if query else None
    if query is None or tap is None or user is None:
        return
    locale, _ = await speak(update, context)
    token = tap.token
    try:
        view = await context.daifu.request_views.payable(token, holder=telegram_holder(user.id))
        checkout = await context.daifu.request_checkouts.start_checkout(
            view,
            tap.provider,
            holder=telegram_holder(user.id),
            payer_name=user.first_name,
            payer_id=user.id,
            amount=Money(tap.minor, view.order.currency),
            show_name=tap.show,
        )
    except RequestRefused as refusal:
        await query.answer(request_refusal(refusal, locale, _), show_alert=True)
        if refusal.why == WhyNot.BEING_PAID:
            await offer_what_is_left(update, context, token, tap.show, locale, _)
        return
    except MethodUnavailable:
        await query.answer(_("That payment method is not available for this order any more."), show_alert=True)
        return
    except PaymentError:
        await query.answer(provider_down(_), show_alert=True)
        return
    await query.answer()
    part = Money(tap.minor, view.order.currency)
    words = invoice_for_friend(view, part, context.daifu.rules.shop_name, locale, _)
    await send_checkout(context, user.id, addressed(checkout, *words), locale, _)


async def offer_what_is_left(
    update: Update, context: DaifuContext, token: str, show: bool, locale: str, _: Gettext
) -> None:
    """Friends paying at once took part of what this friend chose: offer what is left instead (one more tap)."""
    query, user = update.callback_query, update.effective_user
    assert query is not None and user is not None
    try:
        view = await context.daifu.request_views.payable(token, holder=telegram_holder(user.id))
    except RequestRefused:
        return  # closed meanwhile: the alert said enough, and the offer's buttons fail the same way
    if view.remaining.minor > 0:
        text, rows = chip_in_offer(context, view, view.remaining, show, locale, _)
    else:
        text, rows = request_intro(context, view, locale, _), part_buttons(view, show, locale, _)
    with unless_unchanged():  # a second tap drew the same offer a moment ago: the alert said it all
        await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=InlineKeyboardMarkup(rows))


async def ask_amount(update: Update, context: DaifuContext) -> None:
    query = update.callback_query
    tap = OtherAmountTap.unpack(query.data) if query else None
    if query is None or tap is None or update.effective_user is None:
        return
    locale, _ = await speak(update, context)
    try:
        view = await context.daifu.request_views.payable(tap.token, holder=telegram_holder(update.effective_user.id))
    except RequestRefused as refusal:
        await query.answer(request_refusal(refusal, locale, _), show_alert=True)
        return
    await query.answer()
    # Kept as "1" or "0", as before: a flow begun before an upgrade is read after it by the same got_amount.
    flow_data = {"token": tap.token, "show": "1" if tap.show else "0"}
    await context.daifu.flows.begin(update.effective_user.id, FLOW, "amount", flow_data)
    await context.bot.send_message(
        update.effective_user.id,
        _("How much do you want to chip in? Send an amount up to {amount}.").format(
            amount=format_money(view.remaining, locale)
        ),
        reply_markup=step_buttons(CancelPartTap(), _),
    )


async def got_amount(update: Update, context: DaifuContext, flow: Flow) -> None:
    locale, _ = await speak(update, context)
    message, user = update.effective_message, update.effective_user
    if message is None or message.text is None or user is None:
        return
    try:
        view = await context.daifu.request_views.payable(flow.data["token"], holder=telegram_holder(user.id))
    except RequestRefused as refusal:
        await context.daifu.flows.end(user.id, FLOW)
        await message.reply_text(request_refusal(refusal, locale, _))
        return
    try:
        part = read_amount(message.text, view.order.currency, locale)
    except InvalidAmount as error:
        await message.reply_text(bad_amount(error, _, locale), reply_markup=step_buttons(CancelPartTap(), _))
        return
    if part.minor > view.remaining.minor:
        await message.reply_text(
            _("Only {amount} is left to cover. Send that or less.").format(amount=format_money(view.remaining, locale)),
            reply_markup=step_buttons(CancelPartTap(), _),
        )
        return
    await context.daifu.flows.end(user.id, FLOW)
    text, rows = chip_in_offer(context, view, part, flow.data["show"] == "1", locale, _)
    markup = InlineKeyboardMarkup(rows)
    sent_id = await context.bot.send_text(
        message.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup, in_reply_to=message
    )
    await remember_offer(context, message.chat_id, sent_id, view, locale, text)


async def cancel_part(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    await cancel_step(
        update,
        context,
        FLOW,
        out_of_date=_("That step is out of date. Open the request again to chip in."),
        cancelled=_("Cancelled. Nothing was paid."),
        what="a cancelled chip-in amount",
    )


TEXT_STEPS: dict[str, TextStep] = {"amount": got_amount}


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [
        CallbackQueryHandler(ask_amount, pattern=OtherAmountTap.pattern()),
        CallbackQueryHandler(choose_part, pattern=PartTap.pattern()),
        CallbackQueryHandler(pay, pattern=PayPartTap.pattern()),
        CallbackQueryHandler(cancel_part, pattern=CancelPartTap.pattern()),
    ]

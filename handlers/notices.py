"""What the teller (handlers.teller) says: receipts to payers, notes to the shop's admins and to requesters, refund
and decline notices. Each row of the outbox (services.telling) is one message, rendered from what the database
says when it is sent.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut

from handlers.context import DaifuContext
from handlers.refund_button import RefundStep, RefundTap
from handlers.thanks import ThanksTap
from presentation.formatting import chat_time, esc, order_price, paid_amount
from presentation.texts import order_line
from services.daifu import Daifu
from services.i18n import Gettext, gettext_for
from services.money import Money, format_money
from services.notices import ReturnReason
from services.providers import capabilities_of
from services.read_models import (
    OrderInfo,
    OrderStatus,
    OrphanChargeInfo,
    PaymentInfo,
    PaymentStatus,
    RefundInfo,
    RequestInfo,
    RequestMode,
)
from services.telling_delivery import Subjects
from services.telling_rows import AFTER_DONE, CHARGE_KINDS, COVERED, REFUND_KINDS, Charge, Claimed, Kind

log = logging.getLogger(__name__)
# A notice whose send failed for a passing reason is tried again, soon: 0.5 s, then 1 s later.
SEND_TRIES = 3
SEND_BACKOFF_SECONDS = 0.5


async def _send(
    context: DaifuContext, chat_id: int, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> str | None:
    """Send, trying again after a passing failure; None once sent, else why it was not (it is not tried again)."""
    for attempt in range(1, SEND_TRIES + 1):
        try:
            await context.bot.send_text(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=reply_markup)
            return None
        except TelegramError as error:
            if attempt < SEND_TRIES and _worth_another_try(error):
                await asyncio.sleep(SEND_BACKOFF_SECONDS * 2 ** (attempt - 1))
                continue
            # A person who blocked the bot must not stop the others from being told.
            log.warning("could not notify chat %s: %s", chat_id, error)
            return f"{type(error).__name__}: {error}"
    return None  # not reached: the last try returns


def _worth_another_try(error: TelegramError) -> bool:
    """A 5xx or a broken connection: Telegram most likely sent nothing, and a receipt or a refund notice lost to a
    moment's outage is worse than one sent twice. Not a time-out (the message may well have gone out), nor a
    refusal (BadRequest is a NetworkError in PTB; Forbidden: the person blocked the bot)."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest | TimedOut)


async def payer_display_name(daifu: Daifu, payment: PaymentInfo) -> str:
    return payment.payer_name or await daifu.users.name_of(payment.payer_id)


async def say(context: DaifuContext, row: Claimed, subjects: Subjects) -> str | None:
    """Send the message the row owes; None once sent (or if what it tells of is gone), else why it was not."""
    daifu, chat_id = context.daifu, row.chat_id
    if chat_id is None:
        return None
    if row.kind == Kind.SUPPORT_ASKED:
        quoted = subjects.charges.get(row.payment_id) if row.payment_id is not None else None
        return await _tell_support_asked(context, daifu, chat_id, int(row.detail or 0), quoted)
    if row.kind in CHARGE_KINDS:
        charge = subjects.charges.get(row.payment_id or 0)
        if charge is None:
            return None
        payment, order, request = charge
        if row.kind == Kind.DECLINED:
            return await _tell_payer_declined(context, daifu, order, chat_id)
        if row.kind == Kind.REQUESTER_NOTE:
            assert request is not None
            return await _tell_requester(context, daifu, request, order, payment, covered=row.reason == COVERED)
        for_name = ""
        if request is not None and payment.payer_id != request.requester_id:
            for_name = await daifu.users.name_of(request.requester_id)
        if row.kind == Kind.RECEIPT:
            return await _send_receipt(context, daifu, order, payment, for_name)
        covered = row.reason == COVERED and request is not None and request.mode == RequestMode.SPLIT
        return await _tell_admin(context, daifu, chat_id, order, payment, for_name, covered=covered)
    if row.kind in REFUND_KINDS:
        returned = subjects.refunds.get(row.refund_id or 0)
        if returned is None:
            return None
        if row.kind == Kind.REFUND_FAILED:
            return await _tell_refund_failed(context, daifu, chat_id, row, *returned)
        return await _ABOUT_A_REFUND[row.kind](context, daifu, chat_id, *returned)
    if row.kind == Kind.REQUEST_EXPIRED:
        closed = subjects.requests.get(row.request_id or 0)
        return await _tell_expired(context, daifu, chat_id, closed[1]) if closed is not None else None
    if row.kind == Kind.ORPHAN:
        orphan = subjects.orphans.get(row.orphan_id or 0)
        return await _tell_orphan(context, daifu, chat_id, orphan) if orphan is not None else None
    log.warning("nothing to say for a %s telling (%s)", row.kind.value, row.id)
    return None


async def _send_receipt(
    context: DaifuContext, daifu: Daifu, order: OrderInfo, payment: PaymentInfo, for_name: str
) -> str | None:
    if payment.payer_id is None:
        return None  # paid on the web by someone without Telegram: the provider's page was their receipt
    locale = await daifu.users.locale_of(payment.payer_id)
    _ = gettext_for(locale)
    receipt = [
        _("✅ Payment received. Thank you!"),
        _("Receipt for <b>{title}</b> at {shop}").format(title=esc(order.title), shop=esc(daifu.rules.shop_name)),
        _("Paid: {amount}").format(amount=paid_amount(payment, locale)),
        _("Order: #{number}").format(number=order.id),
        _("Payment reference: {reference}").format(reference=esc(payment.provider_ref or "")),
    ]
    chipped_in = payment.credit_minor is not None and payment.credit_minor < order.amount_minor
    if for_name:
        said = _("You chipped in for {name}.") if chipped_in else _("You paid for {name}.")
        receipt.insert(1, said.format(name=esc(for_name)))
    if payment.settled_at:
        receipt.append(_("Time: {time}").format(time=chat_time(payment.settled_at, locale)))
    if for_name:
        covered = not chipped_in or order.status in (OrderStatus.PAID, OrderStatus.REFUNDED)
        receipt += ["", what_happens_next(for_name, covered=covered, _=_)]
    return await _send(context, payment.payer_id, "\n".join(receipt))


def what_happens_next(for_name: str, *, covered: bool, _: Gettext) -> str:
    """What a friend who paid for someone else is told comes next: who hears of it, who gets the order, and where
    the receipt stays. covered: the order is paid in full now (by this payment, or with the other chip-ins)."""
    if covered:
        then = _(
            "What happens next: {name} and the shop have been told, and the shop delivers the order to {name}, "
            "not to you."
        )
    else:
        then = _(
            "What happens next: {name} has been told. Once friends have covered the whole order, the shop is told "
            "and delivers it to {name}, not to you."
        )
    return then.format(name=esc(for_name)) + "\n" + _("You can find this receipt again in /my.")


async def _tell_admin(
    context: DaifuContext,
    daifu: Daifu,
    admin_id: int,
    order: OrderInfo,
    payment: PaymentInfo,
    for_name: str,
    *,
    covered: bool = False,
) -> str | None:
    """covered: this chip-in finished covering a split, so the note says first that the order is fully paid."""
    payer = await payer_display_name(daifu, payment)
    # No Refund button where the provider cannot give money back through the bot (Telegram card payments).
    refundable = capabilities_of(payment.provider, daifu.providers).refunds
    locale = await daifu.users.locale_of(admin_id)
    _ = gettext_for(locale)
    text = _("💰 {payer} paid {amount} via {provider}: {order}.").format(
        payer=esc(payer or _("someone on the web page")),  # a shopper paying on the order's page gives no name
        amount=paid_amount(payment, locale),
        order=order_line(order, locale, _),
        provider=payment.provider,
    )
    if covered:
        text = _("✅ Fully paid by friends: {order}.").format(order=order_line(order, locale, _)) + "\n" + text
    if for_name:
        text += "\n" + _("Paid on behalf of {name}.").format(name=esc(for_name))
    markup = None
    if refundable:
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(_("Refund"), callback_data=RefundTap(RefundStep.ASK, payment.id).pack())]]
        )
    return await _send(context, admin_id, text, reply_markup=markup)


async def _tell_support_asked(
    context: DaifuContext, daifu: Daifu, admin_id: int, asker_id: int, quoted: Charge | None
) -> str | None:
    """To an admin: someone asked for help with a payment (/paysupport), and which, if they named one."""
    locale = await daifu.users.locale_of(admin_id)
    _ = gettext_for(locale)
    name, username = await daifu.users.name_of(asker_id), await daifu.users.username_of(asker_id)
    # A mention opens the person's profile, so the admin can write to them (their username too, where known).
    asker = f'<a href="tg://user?id={asker_id}">{esc(name)}</a> ({asker_id}{f", @{username}" if username else ""})'
    lines = [_("🆘 {person} asks for help with a payment (/paysupport).").format(person=asker)]
    if quoted is not None:
        payment, order, _request = quoted
        lines.append(
            _("About {order}: {amount} via {provider} on {time}, payment reference {reference}.").format(
                order=order_line(order, locale, _),
                amount=paid_amount(payment, locale),
                provider=payment.provider,
                time=chat_time(payment.settled_at or payment.created_at, locale),
                reference=esc(payment.provider_ref or "-"),
            )
        )
        lines.append(_("Its whole story: /order {number}").format(number=order.id))
    lines.append(_("They are waiting for an answer from you in Telegram."))
    return await _send(context, admin_id, "\n".join(lines))


async def _tell_requester(
    context: DaifuContext, daifu: Daifu, request: RequestInfo, order: OrderInfo, payment: PaymentInfo, *, covered: bool
) -> str | None:
    """covered: this payment paid what was left of the request. The total shown is the one now (friends' notes may
    be told out of order: two workers, a retried one), so it never goes backwards from one message to the next."""
    locale = await daifu.users.locale_of(request.requester_id)
    _ = gettext_for(locale)
    name = await payer_display_name(daifu, payment) if payment.show_name else _("A friend")
    amount = paid_amount(payment, locale)
    if payment.payer_id == request.requester_id:
        text = _("You paid your own request for <b>{title}</b> ({amount}).")
    elif request.mode == RequestMode.SPLIT:
        text = _("🎉 {name} chipped in {amount} for <b>{title}</b>: {covered} of {total} covered.")
    else:
        text = _("🎉 {name} paid for you: <b>{title}</b>, {amount}.")
    text = text.format(
        name=esc(name),
        amount=amount,
        title=esc(order.title),
        covered=format_money(Money(request.covered_minor, order.currency), locale),
        total=format_money(Money(order.amount_minor, order.currency), locale),
    )
    if request.mode == RequestMode.SPLIT and covered:
        text += "\n" + _("Your friends have covered the whole order. 🎉")
    markup = None
    if payment.payer_id is not None and payment.payer_id != request.requester_id:
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton(_("Say thanks"), callback_data=ThanksTap(payment.id).pack())]]
        )
    return await _send(context, request.requester_id, text, reply_markup=markup)


async def _tell_expired(context: DaifuContext, daifu: Daifu, requester_id: int, order: OrderInfo) -> str | None:
    _ = gettext_for(await daifu.users.locale_of(requester_id))
    text = _("⌛ Your request for <b>{title}</b> expired. Nothing more will be accepted for it.")
    return await _send(context, requester_id, text.format(title=esc(order.title)))


async def _tell_pending(
    context: DaifuContext, daifu: Daifu, admin_id: int, refund: RefundInfo, payment: PaymentInfo, order: OrderInfo
) -> str | None:
    """The provider took the refund but has not finished it: the payer hears nothing until it has."""
    locale = await daifu.users.locale_of(admin_id)
    _ = gettext_for(locale)
    text = _(
        "⏳ Refund of {amount} for {order} is pending at {provider}. "
        "You will be told when {provider} says it is done (the payer too) or failed."
    )
    amount = format_money(Money(refund.amount_minor, refund.currency), locale)
    order_text = order_line(order, locale, _)
    return await _send(context, admin_id, text.format(amount=amount, order=order_text, provider=payment.provider))


async def _tell_refund_failed(
    context: DaifuContext,
    daifu: Daifu,
    admin_id: int,
    row: Claimed,
    refund: RefundInfo,
    payment: PaymentInfo,
    order: OrderInfo,
) -> str | None:
    """To the admins only: the payer was never told the money was back, and it is not."""
    # What was asked to go back; for one that failed after it had succeeded, what the provider said it gave.
    minor = refund.amount_minor if row.reason == AFTER_DONE else refund.asked_minor or refund.amount_minor
    locale = await daifu.users.locale_of(admin_id)
    _ = gettext_for(locale)
    text = _(
        "❌ Refund of {amount} for {about} failed at {provider}: {why}\n"
        "The payer was not told it was refunded. Payment #{number} can be refunded again with /refund {order}, "
        "or the money returned another way."
    ).format(
        amount=format_money(Money(minor, refund.currency), locale),
        about=order_line(order, locale, _),
        provider=payment.provider,
        why=esc(row.detail or refund.error or "failed"),
        number=payment.id,
        order=order.id,
    )
    return await _send(context, admin_id, text)


def orphan_lines(charge: OrphanChargeInfo, payer: str, locale: str, _: Gettext) -> list[str]:
    """What the admins are shown of money no order was waiting for: what, from whom, the ids, what became of it."""
    lines = [
        _("⚠️ {amount} arrived via {provider} for a checkout the bot does not know (payload {payload}).").format(
            amount=format_money(Money(charge.amount_minor, charge.currency), locale),
            provider=charge.provider,
            payload=f"<code>{esc(charge.payload)}</code>",
        ),
        (
            _("Telegram charge id: {reference}")
            if capabilities_of(charge.provider).paid_inside_telegram
            else _("Provider charge id: {reference}")
        ).format(reference=f"<code>{esc(charge.charge_ref)}</code>"),
    ]
    if charge.provider_charge_ref:
        lines.append(
            _("Provider charge id: {reference}").format(reference=f"<code>{esc(charge.provider_charge_ref)}</code>")
        )
    if charge.payer_id is not None:
        lines.append(_("Payer: {name} (user id {id})").format(name=esc(payer), id=charge.payer_id))
    lines.append(_("Time: {time}").format(time=chat_time(charge.created_at, locale)))
    if charge.status == "refunded":
        lines.append(_("It was given back to the payer automatically."))
    elif charge.status == "owed":
        lines.append(_("The bot cannot refund card payments: refund it at the payment provider."))
    elif charge.status == "refund_failed":
        lines.append(
            _("Giving it back automatically failed: {why}. Refund it by hand.").format(why=esc(charge.error or ""))
        )
    elif charge.status == "refunding":
        lines.append(_("It is being given back; the provider has not finished yet."))
    else:
        lines.append(
            _(
                "It may belong to another app on the same account: look it up at {provider} "
                "and refund it there if it is not yours."
            ).format(provider=charge.provider)
        )
    return lines


async def _tell_orphan(context: DaifuContext, daifu: Daifu, admin_id: int, charge: OrphanChargeInfo) -> str | None:
    """To the admins: money that no order of daifu's was waiting for, and what became of it."""
    payer = await daifu.users.name_of(charge.payer_id)
    locale = await daifu.users.locale_of(admin_id)
    return await _send(context, admin_id, "\n".join(orphan_lines(charge, payer, locale, gettext_for(locale))))


async def _tell_payer_returned(
    context: DaifuContext, daifu: Daifu, payer_id: int, refund: RefundInfo, payment: PaymentInfo, order: OrderInfo
) -> str | None:
    reason = ReturnReason(refund.reason)
    locale = await daifu.users.locale_of(payer_id)
    _ = gettext_for(locale)
    why = {
        ReturnReason.ALREADY_PAID: _("The order had already been paid by someone else."),
        ReturnReason.ORDER_CLOSED: _("The order was closed before your payment arrived."),
        ReturnReason.REQUEST_CANCELLED: _("The request was cancelled, so your chip-in is given back."),
        ReturnReason.REQUEST_EXPIRED: _(
            "The request expired before friends covered the order, so your chip-in is given back."
        ),
        ReturnReason.COVERED: _("Friends covered the order before your chip-in arrived."),
        ReturnReason.AMOUNT_MISMATCH: _("The amount paid did not match the order."),
        ReturnReason.SHOP_REFUND: _("The shop refunded your payment."),
    }[reason]
    if reason == ReturnReason.ALREADY_PAID and order.payer_id == payment.payer_id:
        why = _("You had already paid for this order; this second payment goes back to you.")
    whole = payment.credit_minor is None or payment.credit_minor >= order.amount_minor
    if whole and reason == ReturnReason.REQUEST_CANCELLED:  # one friend paying it all, not a chip-in
        why = _("The request was cancelled before your payment arrived, so it is given back.")
    elif whole and reason == ReturnReason.REQUEST_EXPIRED:
        why = _("The request expired before your payment arrived, so it is given back.")
    if refund.status == "owed":
        then = _(
            "Your card payment of {amount} will be refunded by the shop through its payment provider; "
            "it usually reaches your card within a few business days."
        )
    else:
        then = _("Your payment of {amount} has been refunded.")
    amount = format_money(Money(refund.amount_minor, refund.currency), locale)
    lines = [f"<b>{esc(order.title)}</b>", why, then.format(amount=amount)]
    asker = await _asked_by_someone_else(daifu, payment) if reason == ReturnReason.SHOP_REFUND else None
    if asker is not None and refund.status != "owed":  # paid for a friend: say whose order it was
        lines[-1] = _("Your payment of {amount} for {name}'s {title} was refunded.").format(
            amount=amount, name=esc(asker), title=f"<b>{esc(order.title)}</b>"
        )
    return await _send(context, payer_id, "\n".join(lines))


async def _asked_by_someone_else(daifu: Daifu, payment: PaymentInfo) -> str | None:
    """The name of who asked friends to pay, when this payment was a friend's for them."""
    if payment.request_id is None:
        return None
    view = await daifu.request_views.view_by_id(payment.request_id)
    if view is None or view.request.requester_id == payment.payer_id:
        return None
    return view.requester_name


async def _tell_requester_refunded(
    context: DaifuContext, daifu: Daifu, requester_id: int, refund: RefundInfo, payment: PaymentInfo, order: OrderInfo
) -> str | None:
    """To whoever asked: the shop gave back what a friend paid for their order, to that friend."""
    locale = await daifu.users.locale_of(requester_id)
    _ = gettext_for(locale)
    name = await payer_display_name(daifu, payment) if payment.show_name else _("a friend")
    if refund.status == "owed":
        text = _("Your order <b>{title}</b>, paid by {name}, is being refunded to {name} by the shop ({amount}).")
    else:
        text = _("Your order <b>{title}</b>, paid by {name}, was refunded to {name} ({amount}).")
    amount = format_money(Money(refund.amount_minor, refund.currency), locale)
    return await _send(context, requester_id, text.format(title=esc(order.title), name=esc(name), amount=amount))


async def _tell_admin_returned(
    context: DaifuContext, daifu: Daifu, admin_id: int, refund: RefundInfo, payment: PaymentInfo, order: OrderInfo
) -> str | None:
    _ = gettext_for(await daifu.users.locale_of(admin_id))
    if payment.status == PaymentStatus.REFUND_OWED:
        text = _("⚠️ Refund owed: {amount} for {order} must be refunded at {provider}.")
    else:
        text = _("↩️ Refunded {amount} for {order} ({provider}).")
    locale = await daifu.users.locale_of(admin_id)
    amount = format_money(Money(refund.amount_minor, refund.currency), locale)
    order_text = order_line(order, locale, _)
    return await _send(context, admin_id, text.format(amount=amount, order=order_text, provider=payment.provider))


async def _tell_payer_declined(context: DaifuContext, daifu: Daifu, order: OrderInfo, payer_id: int) -> str | None:
    locale = await daifu.users.locale_of(payer_id)
    _ = gettext_for(locale)
    text = _("Your payment for <b>{title}</b> ({amount}) was declined. You were not charged; you can try again.")
    return await _send(context, payer_id, text.format(title=esc(order.title), amount=order_price(order, locale)))


# What the payer or an admin is told of a refund, by kind (but a failed one's, which says why: the row's detail).
_ABOUT_A_REFUND = {
    Kind.REFUNDED: _tell_payer_returned,
    Kind.REFUND_NOTE: _tell_admin_returned,
    Kind.REFUND_PENDING: _tell_pending,
    Kind.REQUESTER_REFUNDED: _tell_requester_refunded,
}

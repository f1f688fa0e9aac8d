"""/providers: each enabled payment provider, how it answered its last call, the notices and refunds parked after
failing again and again, the callbacks still owed to shops, and what Telegram's Stars ledger shows that daifu's
books do not (or the other way round)."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CommandHandler

from handlers.admin_common import clipped
from handlers.common import admin_only, speak
from handlers.context import DaifuContext
from presentation.formatting import esc
from presentation.texts import when
from services.callback_backlog import OutboxState
from services.i18n import Gettext
from services.provider_health import ParkedWork
from services.read_models import ProviderHealthInfo
from services.stars_ledger import LedgerState, UnmatchedTransaction, Why


def health_line(name: str, health: ProviderHealthInfo | None, locale: str, _: Gettext) -> str:
    if health is None:
        return "• " + _("{provider}: no calls yet").format(provider=name)
    if health.ok:
        return "• " + _("{provider}: ✅ answered at {time}").format(
            provider=name, time=when(health.last_call_at, locale)
        )
    return "• " + _("{provider}: ❌ failed at {time}: {error}").format(
        provider=name, time=when(health.last_call_at, locale), error=clipped(health.error or "")
    )


def outbox_lines(outbox: OutboxState, locale: str, _: Gettext) -> list[str]:
    lines = [
        _("<b>Callbacks to shops</b>"),
        _("Waiting to be delivered: {pending}; failing: {failing}").format(
            pending=outbox.pending, failing=outbox.failing
        ),
    ]
    for delivery in outbox.worst:
        lines.append(
            "• "
            + _("order #{number} {kind} → {url}: {attempts} attempts, last error: {error}; next try {time}").format(
                number=delivery.order_id,
                kind=esc(delivery.kind),
                url=esc(delivery.url),
                attempts=delivery.attempts,
                error=clipped(delivery.last_error or ""),
                time=when(delivery.next_attempt_at, locale),
            )
        )
    return lines


def parked_lines(parked: ParkedWork, locale: str, _: Gettext) -> list[str]:
    """What the housekeeping job stopped retrying: it needs an admin's eyes (and, once fixed, no longer shows)."""
    if not parked.notices and not parked.refunds:
        return []
    lines = [
        _("<b>Parked after failing again and again</b>"),
        _("Provider notices: {notices}; refunds: {refunds}").format(notices=parked.notices, refunds=parked.refunds),
    ]
    for item in parked.latest:
        if item.kind == "notice":
            head = _("{provider} notice #{number}").format(provider=esc(item.provider or ""), number=item.id)
        else:
            head = _("refund #{number}").format(number=item.id)
        lines.append(
            "• "
            + _("{item} since {time}: {attempts} tries, last error: {error}").format(
                item=head, time=when(item.since, locale), attempts=item.attempts, error=clipped(item.error)
            )
        )
    return lines


def _why_unmatched(note: str | None, _: Gettext) -> str:
    words: dict[str, str] = {
        Why.NOT_TAKEN_IN: _("a payment daifu could not take in"),
        Why.OTHER_AMOUNT: _("daifu recorded this charge with another amount"),
        Why.UNKNOWN_REFUND: _("a refund of a payment daifu does not know"),
        Why.TOO_OLD: _("a payment daifu never took in, too old to give back unasked"),
    }
    if note is not None and note.startswith(Why.ERROR):
        return _("matching it failed: {error}").format(error=clipped(note.removeprefix(Why.ERROR)))
    return words.get(note or "", clipped(note or ""))


def _unmatched_line(item: UnmatchedTransaction, locale: str, _: Gettext) -> str:
    if item.incoming:
        head = _("{amount} ⭐ received, {charge}").format(amount=item.amount, charge=esc(item.charge_id))
    else:
        head = _("{amount} ⭐ sent, {charge}").format(amount=item.amount, charge=esc(item.charge_id))
    who = _(" (user {id})").format(id=item.user_id) if item.user_id is not None else ""
    return "• " + _("{transaction}{who} at {time}: {why}").format(
        transaction=head, who=who, time=when(item.made_at, locale), why=_why_unmatched(item.note, _)
    )


def ledger_lines(ledger: LedgerState | None, locale: str, _: Gettext) -> list[str]:
    """Telegram's Stars ledger against daifu's books: only what an admin must look at, besides how far it was
    read."""
    if ledger is None:
        return []
    lines = [_("<b>Telegram's Stars ledger</b>")]
    if ledger.last_read_at is None:
        lines.append(_("Not read yet."))
    else:
        lines.append(
            _("{count} transactions read, the latest at {time}.").format(
                count=ledger.read, time=when(ledger.last_read_at, locale)
            )
        )
    if ledger.unmatched:
        lines.append(_("Not matched with daifu's books: {count}").format(count=ledger.unmatched))
        lines += [_unmatched_line(item, locale, _) for item in ledger.latest_unmatched]
    if ledger.refunds_missing:
        lines.append(
            _("Refunds daifu made that the ledger lacks (asked for again at each reading): {count}").format(
                count=ledger.refunds_missing
            )
        )
    if ledger.give_backs_missing:
        lines.append(
            _(
                "Stars for unknown checkouts daifu gave back that the ledger lacks (given back again at each "
                "reading): {count}"
            ).format(count=ledger.give_backs_missing)
        )
    if ledger.charges_missing:
        lines.append(
            _("Stars charges daifu recorded that the ledger lacks: {count} ({charges})").format(
                count=ledger.charges_missing, charges=esc(", ".join(ledger.charges_missing_ids))
            )
        )
    return lines


async def show_providers(update: Update, context: DaifuContext) -> None:
    locale, _ = await speak(update, context)
    message = update.effective_message
    if message is None or not await admin_only(update, context, _):
        return
    daifu = context.daifu
    health = await daifu.health.all()
    lines = [_("<b>Payment providers</b>")]
    lines += [health_line(name, health.get(name), locale, _) for name in daifu.providers]
    parked = parked_lines(await daifu.health.parked(), locale, _)
    lines += ["", *parked] if parked else []
    lines += ["", *outbox_lines(await context.daifu.callback_backlog.state(), locale, _)]
    ledger = ledger_lines(await daifu.stars_ledger.state(), locale, _)
    lines += ["", *ledger] if ledger else []
    await message.reply_text("\n".join(lines), parse_mode=ParseMode.HTML)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("providers", show_providers)]

"""The periodic reading of the bot's Stars ledger (services.stars_ledger does the matching): getStarTransactions
over PTB's Bot, as the service's port."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import Bot, TransactionPartner, TransactionPartnerUser
from telegram import StarTransaction as TelegramStarTransaction
from telegram.ext import JobQueue

from handlers.context import DaifuContext
from services.stars_ledger import StarTransaction

log = logging.getLogger(__name__)
# The ledger changes only when Stars move, and a payment's own update credits it at once: this reading is the
# safety net, not the path.
INTERVAL_SECONDS = 600
FIRST_SECONDS = 45


class BotStarLedger:
    """getStarTransactions as the ledger's pages."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def page(self, *, offset: int, limit: int) -> Sequence[StarTransaction]:
        answer = await self.bot.get_star_transactions(offset=offset, limit=limit)
        return [_transaction(t) for t in answer.transactions]


def _transaction(transaction: TelegramStarTransaction) -> StarTransaction:
    incoming = transaction.source is not None
    partner: TransactionPartner | None = transaction.source if incoming else transaction.receiver
    person = partner if isinstance(partner, TransactionPartnerUser) else None
    return StarTransaction(
        charge_id=transaction.id,
        amount=transaction.amount,
        made_at=transaction.date,
        incoming=incoming,
        partner=partner.type if partner is not None else "other",
        kind=person.transaction_type if person is not None else None,
        user_id=person.user.id if person is not None else None,
        payload=person.invoice_payload if person is not None else None,
    )


async def read_stars_ledger(context: DaifuContext) -> None:
    run = await context.daifu.stars_ledger.reconcile(BotStarLedger(context.bot))
    if run is not None and (run.unmatched or run.asked_again or run.give_backs_asked_again):
        log.warning(
            "Stars ledger: %d transactions read, %d not matched, %d refunds and %d orphan give-backs asked for again",
            run.read,
            run.unmatched,
            run.asked_again,
            run.give_backs_asked_again,
        )


def schedule(job_queue: JobQueue[DaifuContext]) -> None:
    job_queue.run_repeating(read_stars_ledger, interval=INTERVAL_SECONDS, first=FIRST_SECONDS, name="stars_ledger")

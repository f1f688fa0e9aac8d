"""Telegram's own Stars ledger read against daifu's books: every transaction matched by its charge id.

getStarTransactions lists the bot's Stars transactions oldest first and pages them by how many to skip, so
the ledger is read on from where the last reading stopped (a transaction made in the last few minutes waits
for the next reading: its own update may be on its way) and each transaction is kept with what it matched:
an incoming payment with daifu's charge (one daifu never took in goes through intake as its update would
have: credited, or an orphan given back), an outgoing refund with daifu's refund (one made outside daifu is
put on the books). Then a refund daifu finished, or an orphan charge it gave back, that the ledger still lacks
is asked for again (Telegram says so if the Stars went back already). What cannot be matched is kept for the
admins' /providers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import takewhile
from typing import Protocol

from payments.base import Amount, ChargeOutcome, PaymentError, PaymentEvent, PaymentProvider
from payments.currencies import STARS
from payments.telegram_invoice import TelegramStars
from services.money import Money
from services.orphan_charges import ask_to_give_back
from services.outside_refunds import GoneBack, OutsideRefunds
from services.payment_intake import PaymentIntake
from services.provider_health import ProviderHealthLog
from services.refunds import refund_request
from storage.database import Database
from storage.models import OrphanCharge, Payment, Refund, StarLedgerEntry, utcnow
from storage.queries.crediting import recorded_charge
from storage.queries.retention import release_job_lease, take_job_lease
from storage.queries.star_ledger import (
    charges_not_in_ledger,
    give_backs_not_in_ledger,
    keep_entries,
    latest_unmatched,
    ledger_summary,
    next_position,
    orphan_charge_of,
    refunds_not_in_ledger,
)

log = logging.getLogger(__name__)
PROVIDER = TelegramStars.name
PAGE = 100  # the most getStarTransactions gives at once
# A transaction this recent is left for a later reading: its own update (successful_payment, refunded_payment)
# may still be on its way, and takes it in as it always does.
ON_ITS_WAY = timedelta(minutes=5)
# A charge or a refund of daifu's is missing from the ledger only this long after it was made: by then the
# reading has gone past it.
SETTLE = timedelta(minutes=15)
# How far back daifu's charges, refunds and orphan give-backs are looked for in the ledger (asked for again,
# shown as missing).
LOOK_BACK = timedelta(days=30)
# A payment daifu never took in is taken in (credited, or given back as an orphan) only this soon after it was
# made: an older one is from before daifu's records (a database started afresh, another program on the same
# bot), and whether to give it back is the admins' call, not the first reading's.
TAKE_IN_WITHIN = timedelta(days=2)
RUN_LEASE = timedelta(minutes=10)
LEASE = "stars_ledger"
ASK_AGAIN_AT_MOST = 20  # refunds (and as many orphan give-backs) asked for again in one run


class Match(StrEnum):
    PAYMENT = "payment"  # a charge daifu took in
    REFUND = "refund"  # a refund daifu asked for
    OUTSIDE_REFUND = "outside_refund"  # a refund made outside daifu, put on the books
    ORPHAN = "orphan"  # money for a checkout daifu does not know, or its giving back
    OTHER = "other"  # not a payment of an invoice (a withdrawal, ads, a gift): none of daifu's business
    UNMATCHED = "unmatched"  # shown to the admins


class Why(StrEnum):
    """Why a transaction is unmatched, as kept in its note (the admins read it in their own words)."""

    NOT_TAKEN_IN = "not_taken_in"  # a payment of an invoice that intake could not take in
    OTHER_AMOUNT = "other_amount"  # daifu recorded its charge with another amount
    UNKNOWN_REFUND = "unknown_refund"  # a refund of a payment daifu does not know
    TOO_OLD = "too_old"  # a payment daifu never took in, too old to take in (or give back) unasked
    ERROR = "error: "  # matching it failed; the error follows


@dataclass(frozen=True, slots=True)
class StarTransaction:
    """A StarTransaction as the ledger lists it: its id (the charge id; a refund carries its payment's), the
    Stars it moved, and who it was with."""

    charge_id: str
    amount: int
    made_at: datetime
    incoming: bool
    partner: str  # the TransactionPartner's type: user, fragment, telegram_ads, ...
    kind: str | None = None  # a user partner's transaction_type: invoice_payment, gift_purchase, ...
    user_id: int | None = None
    payload: str | None = None  # the invoice payload of an incoming payment


class StarLedgerPages(Protocol):
    """getStarTransactions, as the bot calls it (bot/ implements it over PTB's Bot)."""

    async def page(self, *, offset: int, limit: int) -> Sequence[StarTransaction]: ...


@dataclass(frozen=True, slots=True)
class LedgerRun:
    read: int  # transactions read this run
    unmatched: int  # of them
    asked_again: int  # refunds the ledger lacked, asked for again
    give_backs_asked_again: int  # orphan charges given back that the ledger lacked, asked for again


@dataclass(frozen=True, slots=True)
class UnmatchedTransaction:
    charge_id: str
    incoming: bool
    amount: int
    user_id: int | None
    made_at: datetime
    note: str | None


@dataclass(frozen=True, slots=True)
class LedgerState:
    """The ledger's reading for /providers."""

    read: int
    last_read_at: datetime | None
    unmatched: int
    latest_unmatched: tuple[UnmatchedTransaction, ...]
    refunds_missing: int  # daifu's refunds the ledger lacks (asked for again each run)
    give_backs_missing: int  # orphan charges daifu gave back that the ledger lacks (asked for again each run)
    charges_missing: int  # daifu's Stars charges the ledger lacks
    charges_missing_ids: tuple[str, ...]


def _unmatched(note: str) -> tuple[Match, str]:
    return Match.UNMATCHED, note


def _of_invoices(transaction: StarTransaction) -> bool:
    """Whether the transaction may be a payment of an invoice or its refund (with a person, of an invoice)."""
    return transaction.partner == "user" and transaction.kind in (None, "invoice_payment")


class StarsLedger:
    def __init__(
        self,
        db: Database,
        providers: Mapping[str, PaymentProvider],
        intake: PaymentIntake,
        outside: OutsideRefunds,
        health: ProviderHealthLog,
    ) -> None:
        self.db = db
        self.providers = providers
        self.intake = intake
        self.outside = outside
        self.health = health

    async def reconcile(self, ledger: StarLedgerPages) -> LedgerRun | None:
        """Read the ledger on from where the last reading stopped (up to the transactions too recent to judge:
        the next reading takes them), match what is new, and ask again for the refunds it lacks. One worker at
        a time; None when Stars are off or another worker is at it."""
        if PROVIDER not in self.providers:
            return None
        now = utcnow()
        async with self.db.transaction() as session:
            if not await take_job_lease(session, name=LEASE, now=now, until=now + RUN_LEASE):
                return None
        try:
            read, unmatched = await self._read(ledger)
            # Only after the whole ledger was read: a refund is missing from it only then.
            asked = await self._ask_again_for_missing_refunds(now)
            given_back = await self._ask_again_for_missing_give_backs(now)
        finally:
            async with self.db.transaction() as session:
                await release_job_lease(session, name=LEASE)
        return LedgerRun(read, unmatched, asked, given_back)

    async def _read(self, ledger: StarLedgerPages) -> tuple[int, int]:
        async with self.db.transaction() as session:
            offset = await next_position(session)
        read = unmatched = 0
        settled_before = utcnow() - ON_ITS_WAY
        while True:
            try:
                page = await ledger.page(offset=offset, limit=PAGE)
            except Exception as error:
                await self.health.record(PROVIDER, ok=False, error=f"getStarTransactions: {error}"[:500])
                raise
            settled = list(takewhile(lambda transaction: transaction.made_at <= settled_before, page))
            entries = []
            for position, transaction in enumerate(settled, start=offset):
                matched, note = await self._match_alone(transaction)
                unmatched += matched == Match.UNMATCHED
                entries.append(
                    StarLedgerEntry(
                        position=position,
                        charge_id=transaction.charge_id[:255],
                        incoming=transaction.incoming,
                        amount=transaction.amount,
                        partner=transaction.partner[:32],
                        user_id=transaction.user_id,
                        made_at=transaction.made_at,
                        matched=matched.value,
                        note=note,
                    )
                )
            async with self.db.transaction() as session:
                await keep_entries(session, entries)
            read += len(settled)
            offset += len(settled)
            if len(page) < PAGE or len(settled) < len(page):
                break
        await self.health.record(PROVIDER, ok=True)
        return read, unmatched

    async def _match_alone(self, transaction: StarTransaction) -> tuple[Match, str | None]:
        """One transaction's match; one that cannot be matched for an error is shown with it, and the reading
        goes on (the same transaction would fail the same way at every reading)."""
        try:
            if transaction.incoming:
                return await self._match_payment(transaction)
            return await self._match_refund(transaction)
        except Exception as error:
            log.exception("Stars transaction %s could not be matched", transaction.charge_id)
            return _unmatched(f"{Why.ERROR}{type(error).__name__}: {error}"[:500])

    async def _match_payment(self, transaction: StarTransaction) -> tuple[Match, str | None]:
        found = await self._charge(transaction.charge_id)
        if found is None:
            if not _of_invoices(transaction) or transaction.user_id is None:
                return Match.OTHER, None
            if transaction.made_at < utcnow() - TAKE_IN_WITHIN:
                return _unmatched(Why.TOO_OLD)
            # Telegram took the payment and daifu never took in its update: in now, as the update would have
            # come in (credited to its checkout, or kept as an orphan and given back).
            log.warning("Stars payment %s is in the ledger but was never taken in", transaction.charge_id)
            await self.intake.receive(
                PaymentEvent(
                    provider=PROVIDER,
                    event_id=transaction.charge_id,
                    checkout_ref=transaction.payload or "",
                    charge_ref=transaction.charge_id,
                    outcome=ChargeOutcome.SUCCEEDED,
                    amount=Amount(transaction.amount, STARS),
                    payer_ref=str(transaction.user_id),
                )
            )
            found = await self._charge(transaction.charge_id)
        if found is None:
            return _unmatched(Why.NOT_TAKEN_IN)
        if not isinstance(found, Payment):
            return Match.ORPHAN, None
        payment = found
        if (payment.amount_minor, payment.currency) != (transaction.amount, STARS):
            return _unmatched(Why.OTHER_AMOUNT)
        return Match.PAYMENT, None

    async def _charge(self, charge_id: str) -> Payment | Match | None:
        """daifu's charge of this id, ORPHAN when it was kept as an orphan charge, or None."""
        async with self.db.transaction() as session:
            payment = await recorded_charge(session, provider=PROVIDER, charge_ref=charge_id)
            if payment is not None:
                return payment
            orphan = await orphan_charge_of(session, provider=PROVIDER, charge_ref=charge_id)
            return Match.ORPHAN if orphan is not None else None

    async def _match_refund(self, transaction: StarTransaction) -> tuple[Match, str | None]:
        if not _of_invoices(transaction):
            return Match.OTHER, None
        gone = await self.outside.went_back(
            provider=PROVIDER, charge_ref=transaction.charge_id, amount=Money(transaction.amount, STARS)
        )
        matches = {GoneBack.DAIFUS: Match.REFUND, GoneBack.OUTSIDE: Match.OUTSIDE_REFUND, GoneBack.ORPHAN: Match.ORPHAN}
        if gone in matches:
            return matches[gone], None
        return _unmatched(Why.UNKNOWN_REFUND)

    async def _ask_again_for_missing_refunds(self, now: datetime) -> int:
        """daifu's refunds the ledger lacks: refundStarPayment again under the same charge (Telegram answers that
        it was refunded already if the Stars did go back, and the refund shows at the next reading)."""
        async with self.db.transaction() as session:
            missing = await refunds_not_in_ledger(
                session,
                provider=PROVIDER,
                done_before=now - SETTLE,
                done_after=now - LOOK_BACK,
                limit=ASK_AGAIN_AT_MOST,
            )
        provider = self.providers[PROVIDER]
        asked = 0
        for refund_id in missing:
            async with self.db.transaction() as session:
                refund = await session.get(Refund, refund_id)
                payment = await session.get(Payment, refund.payment_id) if refund is not None else None
            if refund is None or payment is None or payment.provider_ref is None:
                continue
            log.warning(
                "refund %s of Stars charge %s is not in the ledger: asked again", refund_id, payment.provider_ref
            )
            try:
                await provider.refund(refund_request(payment, refund_id, Money(refund.amount_minor, refund.currency)))
            except PaymentError as error:  # asked again at the next reading, shown in /providers meanwhile
                log.warning("refund %s could not be asked for again: %s", refund_id, error)
                continue
            asked += 1
        return asked

    async def _ask_again_for_missing_give_backs(self, now: datetime) -> int:
        """Orphan charges daifu gave back that the ledger lacks: given back again under the same key, as
        orphan_charges gives them back (Telegram answers that they were refunded already if the Stars did go back,
        which counts as given back; the refund shows at the next reading)."""
        async with self.db.transaction() as session:
            missing = await give_backs_not_in_ledger(
                session,
                provider=PROVIDER,
                kept_before=now - SETTLE,
                kept_after=now - LOOK_BACK,
                limit=ASK_AGAIN_AT_MOST,
            )
        provider = self.providers[PROVIDER]
        asked = 0
        for charge_id in missing:
            async with self.db.transaction() as session:
                charge = await session.get(OrphanCharge, charge_id)
            if charge is None:
                continue
            log.warning(
                "orphan Stars charge %s was given back but is not in the ledger: asked again", charge.charge_ref
            )
            try:
                await ask_to_give_back(provider, charge)
            except PaymentError as error:  # asked again at the next reading, shown in /providers meanwhile
                log.warning("orphan charge %s could not be given back again: %s", charge_id, error)
                continue
            asked += 1
        return asked

    async def state(self, latest: int = 5) -> LedgerState | None:
        """What /providers shows of the ledger; None when Stars are off."""
        if PROVIDER not in self.providers:
            return None
        now = utcnow()
        async with self.db.transaction() as session:
            read, last_read_at, unmatched = await ledger_summary(session)
            rows = await latest_unmatched(session, limit=latest)
            refunds = await refunds_not_in_ledger(
                session, provider=PROVIDER, done_before=now - SETTLE, done_after=now - LOOK_BACK, limit=1000
            )
            give_backs = await give_backs_not_in_ledger(
                session, provider=PROVIDER, kept_before=now - SETTLE, kept_after=now - LOOK_BACK, limit=1000
            )
            charges, charge_ids = await charges_not_in_ledger(
                session, provider=PROVIDER, settled_before=now - SETTLE, settled_after=now - LOOK_BACK, limit=latest
            )
        if read == 0:
            charges, charge_ids = 0, []  # never read yet: nothing can be said to be missing from it
        shown = tuple(
            UnmatchedTransaction(row.charge_id, row.incoming, row.amount, row.user_id, row.made_at, row.note)
            for row in rows
        )
        return LedgerState(
            read, last_read_at, unmatched, shown, len(refunds), len(give_backs), charges, tuple(charge_ids)
        )

"""The bot's Telegram Stars ledger: every Stars payment and refund that really happened, in the order it
happened, as getStarTransactions reports it (StarTransaction objects, oldest first)."""

from __future__ import annotations

from typing import Any

from .errors import bad_request
from .params import Params
from .state import Payment, World

# getStarTransactions takes 1-100 a page, 100 when not asked.
MAX_LIMIT = 100


def _partner(w: World, payment: Payment, *, with_payload: bool) -> dict[str, Any]:
    partner: dict[str, Any] = {
        "type": "user",
        "transaction_type": "invoice_payment",
        "user": w.user(payment.user_id).to_api(),
    }
    if with_payload:
        partner["invoice_payload"] = payment.invoice_payload
    return partner


def record_payment(w: World, payment: Payment) -> None:
    """An incoming transaction: its id is the payment's telegram_payment_charge_id."""
    w.star_ledger.append(
        {
            "id": payment.telegram_payment_charge_id,
            "amount": payment.total_amount,
            "date": w.now(),
            "source": _partner(w, payment, with_payload=True),
        }
    )


def record_refund(w: World, payment: Payment) -> None:
    """An outgoing transaction: a refund carries the id of the payment it gives back."""
    w.star_ledger.append(
        {
            "id": payment.telegram_payment_charge_id,
            "amount": payment.total_amount,
            "date": w.now(),
            "receiver": _partner(w, payment, with_payload=False),
        }
    )


def drop_refund(w: World, charge_id: str) -> None:
    """Forget a refund as if it never happened (the test hook for a refund daifu recorded that Telegram lacks):
    its outgoing transaction goes, and the payment can be refunded again."""
    before = len(w.star_ledger)
    w.star_ledger[:] = [t for t in w.star_ledger if not (t["id"] == charge_id and "receiver" in t)]
    payment = w.payments.get(charge_id)
    if before == len(w.star_ledger) or payment is None:
        raise ValueError(f"no refund of {charge_id!r} in the Stars ledger")
    payment.refunded = False


async def get_star_transactions(w: World, p: Params) -> Any:
    offset = p.get_int("offset") or 0
    limit = p.get_int("limit")
    limit = MAX_LIMIT if limit is None else limit
    if offset < 0:
        raise bad_request("OFFSET_INVALID")
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_request("LIMIT_INVALID")
    return {"transactions": [dict(t) for t in w.star_ledger[offset : offset + limit]]}

"""What a web payer's receipts are read from: the attempt with its order and request, and the charges one browser
made towards a request."""

from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Payment, PaymentStatus

# Money moved: the receipt stays, whatever became of the charge afterwards (a refund is said on it).
_MONEY_MOVED = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.REFUND_OWED)
_CHARGES_OF_HOLDER = (
    select(Payment)
    .where(
        col(Payment.request_id) == bindparam("request_id"),
        col(Payment.holder) == bindparam("holder"),
        col(Payment.status).in_(_MONEY_MOVED),
    )
    .order_by(col(Payment.id))
    .limit(20)
)


async def charges_of_holder(session: AsyncSession, *, request_id: int, holder: str) -> list[Payment]:
    """The charges one payer (a browser, "web:<id>") made towards a request, oldest first."""
    keys = {"request_id": request_id, "holder": holder}
    return list((await session.exec(_CHARGES_OF_HOLDER, params=keys)).all())

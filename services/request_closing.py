"""Closing pay-for-me requests: cancelled by the requester, expired, or closed with their order; parts paid go back."""

from __future__ import annotations

import contextlib
import logging

from sqlmodel import col, select, update

from services.notices import PaymentReturned, ReturnReason
from services.order_states import record_event
from services.pay_requests import RequestRefused
from services.refunds import RefundRefused, Refunds
from services.request_views import RequestViews
from services.telling import Tellings
from services.why_not import WhyNot, why_request_closed
from storage.database import Database
from storage.models import Payment, PaymentStatus, PayRequest, RequestStatus, utcnow


class RequestClosing:
    def __init__(self, db: Database, views: RequestViews, refunds: Refunds, tellings: Tellings) -> None:
        self.db = db
        self.views = views
        self.refunds = refunds
        self.tellings = tellings

    async def cancel(self, token: str, requester_id: int) -> None:
        request = await self.views.by_token(token)
        if request is None:
            raise RequestRefused(WhyNot.UNKNOWN_REQUEST)
        if request.requester_id != requester_id:
            raise RequestRefused(WhyNot.NOT_REQUESTER)
        if await self.close(request.id, RequestStatus.CANCELLED, actor_id=requester_id) is None:
            raise RequestRefused(why_request_closed(request, utcnow()) or WhyNot.REQUEST_CANCELLED)

    async def expire_due(self) -> None:
        now = utcnow()
        async with self.db.transaction() as session:
            due = (
                await session.exec(
                    select(PayRequest.id).where(
                        PayRequest.status == RequestStatus.OPEN, col(PayRequest.expires_at) <= now
                    )
                )
            ).all()
        for request_id in due:
            assert request_id is not None
            try:  # each request alone: one that cannot be closed must not keep the others open
                await self.close(request_id, RequestStatus.EXPIRED, actor_id=None)
            except Exception:
                logging.getLogger(__name__).exception("expiring pay request %s failed", request_id)

    async def close(
        self, request_id: int, status: RequestStatus, *, actor_id: int | None
    ) -> list[PaymentReturned] | None:
        """Close an open request (its cards and, if it expired, its requester are told); give back every part
        friends paid into it: those refunds, or None if it was not open."""
        async with self.db.transaction() as session:
            closed = await session.exec(
                update(PayRequest)
                .where(col(PayRequest.id) == request_id, col(PayRequest.status) == RequestStatus.OPEN)
                .values(status=status, holder=None, holder_name=None, hold_until=None)
            )
            if closed.rowcount != 1:
                return None
            request = await session.get(PayRequest, request_id, populate_existing=True)
            assert request is not None
            await self.tellings.request_closed(session, request, status)
            await record_event(
                session, request.order_id, f"request_{status.value}", actor_id=actor_id, request_id=request_id
            )
            parts = (
                await session.exec(
                    select(Payment.id).where(
                        Payment.request_id == request_id,
                        col(Payment.credited).is_(True),
                        Payment.status == PaymentStatus.SUCCEEDED,
                    )
                )
            ).all()
        returned: list[PaymentReturned] = []
        why = ReturnReason.REQUEST_EXPIRED if status == RequestStatus.EXPIRED else ReturnReason.REQUEST_CANCELLED
        for payment_id in parts:
            assert payment_id is not None
            with contextlib.suppress(RefundRefused):  # refunded by someone else meanwhile
                returned.append(await self.refunds.refund(payment_id, reason=why, actor_id=actor_id))
        return returned

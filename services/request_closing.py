"""Closing pay-for-me requests: cancelled by the requester, expired, or closed with their order; parts paid go back."""

from __future__ import annotations

import contextlib
import logging

from services.notices import PaymentReturned, ReturnReason
from services.order_states import record_event
from services.pay_requests import RequestRefused
from services.refunds import RefundRefused, Refunds
from services.request_views import RequestViews
from services.telling import Tellings
from services.why_not import WhyNot, why_request_closed
from storage.database import Database
from storage.models import PayRequest, RequestStatus, utcnow
from storage.queries.charges import credited_parts
from storage.queries.pay_requests import close_open_request, open_requests_past_time


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
            due = await open_requests_past_time(session, now=now)
        for request_id in due:
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
            if not await close_open_request(session, request_id=request_id, status=status):
                return None
            request = await session.get(PayRequest, request_id, populate_existing=True)
            assert request is not None
            await self.tellings.request_closed(session, request, status)
            await record_event(
                session, request.order_id, f"request_{status.value}", actor_id=actor_id, request_id=request_id
            )
            parts = await credited_parts(session, request_id=request_id)
        returned: list[PaymentReturned] = []
        why = ReturnReason.REQUEST_EXPIRED if status == RequestStatus.EXPIRED else ReturnReason.REQUEST_CANCELLED
        for payment_id in parts:
            with contextlib.suppress(RefundRefused):  # refunded by someone else meanwhile
                returned.append(await self.refunds.refund(payment_id, reason=why, actor_id=actor_id))
        return returned

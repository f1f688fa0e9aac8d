"""Reminding requesters: open pay-for-me requests about to expire, each claimed for one reminder."""

from __future__ import annotations

from sqlmodel import col, select, update

from services.config import ShopRules
from services.pay_requests import RequestView
from services.request_views import RequestViews
from storage.database import Database
from storage.models import PayRequest, RequestStatus, utcnow


class RequestReminders:
    def __init__(self, db: Database, rules: ShopRules, views: RequestViews) -> None:
        self.db = db
        self.rules = rules
        self.views = views

    async def reminders_due(self) -> list[RequestView]:
        """Open requests about to expire whose requester was not reminded yet; each is claimed once."""
        now = utcnow()
        async with self.db.transaction() as session:
            due = (
                await session.exec(
                    select(PayRequest.id).where(
                        PayRequest.status == RequestStatus.OPEN,
                        col(PayRequest.reminded_at).is_(None),
                        col(PayRequest.expires_at) > now,
                        col(PayRequest.expires_at) <= now + self.rules.payforme_reminder,
                    )
                )
            ).all()
        views = []
        for request_id in due:
            async with self.db.transaction() as session:
                claimed = await session.exec(
                    update(PayRequest)
                    .where(col(PayRequest.id) == request_id, col(PayRequest.reminded_at).is_(None))
                    .values(reminded_at=now)
                )
            if claimed.rowcount == 1 and request_id is not None:
                view = await self.views.view_by_id(request_id)
                if view is not None:
                    views.append(view)
        return views

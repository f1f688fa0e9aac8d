"""Reminding requesters: open pay-for-me requests about to expire, each claimed for one reminder."""

from __future__ import annotations

from services.config import ShopRules
from services.pay_requests import RequestView
from services.request_views import RequestViews
from storage.database import Database
from storage.models import utcnow
from storage.queries.pay_requests import claim_reminder, requests_to_remind


class RequestReminders:
    def __init__(self, db: Database, rules: ShopRules, views: RequestViews) -> None:
        self.db = db
        self.rules = rules
        self.views = views

    async def reminders_due(self) -> list[RequestView]:
        """Open requests about to expire whose requester was not reminded yet; each is claimed once."""
        now = utcnow()
        async with self.db.transaction() as session:
            due = await requests_to_remind(session, now=now, expiring_by=now + self.rules.payforme_reminder)
        views = []
        for request_id in due:
            async with self.db.transaction() as session:
                claimed = await claim_reminder(session, request_id=request_id, now=now)
            if claimed:
                view = await self.views.view_by_id(request_id)
                if view is not None:
                    views.append(view)
        return views

"""Reminding friends of a request, when its requester asks (/my, or the Mini App): each friend who opened it in a
chat with the bot and has not paid is nudged under the offer they were shown, at most once per REMIND_EVERY for a
request.

A card shared into a group through the chat picker is an inline message: the bot may edit it but not post beside it,
and an edit notifies nobody. So a group is reminded by sharing the request there again, which the requester is
offered alongside (handlers.my_orders).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from services.live_messages import LiveKind
from services.read_models import LiveMessageInfo, RequestInfo
from storage.database import Database
from storage.models import PayRequest, RequestStatus, utcnow
from storage.queries.charges import contributions_to
from storage.queries.live_messages import live_messages_of_kind
from storage.queries.pay_requests import claim_friends_reminder

REMIND_EVERY = timedelta(minutes=30)


def may_remind(request: RequestInfo, now: datetime) -> bool:
    """Whether its requester may remind its friends now, as far as time goes (it is open, and they were not
    reminded lately); whether any friend is there to remind is found when they do."""
    if request.status != RequestStatus.OPEN or request.expires_at <= now:
        return False
    return request.friends_reminded_at is None or request.friends_reminded_at <= now - REMIND_EVERY


class Reminded(StrEnum):
    SENT = "sent"  # the offers are the friends to nudge now
    NOBODY = "nobody"  # no friend has opened it in a chat with the bot (or all who did have paid)
    TOO_SOON = "too_soon"  # reminded lately: again at `again_at`
    CLOSED = "closed"  # not an open request of this person's


@dataclass(frozen=True, slots=True)
class FriendReminder:
    outcome: Reminded
    request: RequestInfo | None = None
    offers: list[LiveMessageInfo] = field(default_factory=list)  # one per friend: the newest offer they were shown
    again_at: datetime | None = None


class FriendReminders:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def remind(self, request_id: int, requester_id: int) -> FriendReminder:
        """Claim a reminder of the request's friends for its requester, with the offers to reply under."""
        now = utcnow()
        async with self.db.transaction() as session:
            request = await session.get(PayRequest, request_id, populate_existing=True)
            if request is None or request.requester_id != requester_id:
                return FriendReminder(Reminded.CLOSED)
            info = RequestInfo.of(request)
            if request.status != RequestStatus.OPEN or request.expires_at <= now:
                return FriendReminder(Reminded.CLOSED, info)
            paid = {payment.payer_id for payment in await contributions_to(session, request_id=request_id)}
            newest: dict[int, LiveMessageInfo] = {}
            for row in await live_messages_of_kind(session, request_id=request_id, kind=LiveKind.REQUEST_OFFER.value):
                # An offer is said in a private chat, never posted through the chat picker: it has a chat.
                if row.chat_id is not None and row.chat_id != requester_id and row.chat_id not in paid:
                    newest[row.chat_id] = LiveMessageInfo.of(row)  # oldest first: the newest stays
            if not newest:
                return FriendReminder(Reminded.NOBODY, info)
            claimed = await claim_friends_reminder(
                session, request_id=request_id, requester_id=requester_id, now=now, quiet_since=now - REMIND_EVERY
            )
            if not claimed:
                last = request.friends_reminded_at or now
                return FriendReminder(Reminded.TOO_SOON, info, again_at=last + REMIND_EVERY)
        return FriendReminder(Reminded.SENT, info, list(newest.values()))

"""Provider notices, the way careful shops take them: stored raw first, then verified, then applied once.

Every notice is kept as it arrived (headers, body, source, time) before anything else happens, so a
notice that failed can be looked at and applied again, and one whose worker died before applying it is
applied by the housekeeping job (resume). Applying is idempotent on the provider's charge id
(services.settlement), so a repeated notice changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from multidict import CIMultiDict
from sqlmodel import col, select, update

from payments.base import Amount, ChargeOutcome, InvalidNotice, NoticeReply, PaymentEvent, PaymentProvider
from services.notices import Notice
from services.settlement import Settlements, UnknownCheckout
from storage.database import Database
from storage.models import ProviderNotice, utcnow

log = logging.getLogger(__name__)
# A notice is applied within a second of its arrival; one still not applied after this long lost its worker.
RESUME_AFTER = timedelta(minutes=1)
GIVE_UP_RESUMING_AFTER = timedelta(days=1)
RESUME_BATCH = 100


def event_to_json(event: PaymentEvent) -> str:
    return json.dumps(dataclasses.asdict(event) | {"extra": dict(event.extra)})


def event_from_json(text: str) -> PaymentEvent:
    data = json.loads(text)
    amount = data.pop("amount")
    return PaymentEvent(
        **{k: v for k, v in data.items() if k != "outcome"},
        outcome=ChargeOutcome(data["outcome"]),
        amount=Amount(amount["minor"], amount["currency"]),
    )


class NoticeDesk:
    def __init__(self, db: Database, providers: Mapping[str, PaymentProvider], settlements: Settlements) -> None:
        self.db = db
        self.providers = providers
        self.settlements = settlements

    async def receive(
        self, provider_name: str, headers: Mapping[str, str], body: bytes, *, remote: str | None
    ) -> tuple[NoticeReply, list[Notice]]:
        """Store, verify, apply; the reply tells the provider whether to send the notice again."""
        provider = self.providers[provider_name]
        notice_id = await self._store(provider_name, headers, body, remote)
        try:
            event = await provider.parse_notice(headers, body)
        except InvalidNotice as error:
            log.warning("refused %s notice %s from %s: %s", provider_name, notice_id, remote, error)
            await self._mark(notice_id, "rejected", error=str(error))
            return provider.acknowledge(False, "invalid notice"), []
        await self._mark(notice_id, "received", event=event)
        return await self._apply(notice_id, provider, event)

    async def reapply(self, notice_id: int) -> list[Notice]:
        """Apply a notice that failed before (its verified event was kept); idempotent like the first time."""
        async with self.db.transaction() as session:
            notice = await session.get(ProviderNotice, notice_id)
        if notice is None or notice.event is None or notice.status != "failed":
            return []
        _reply, notices = await self._apply(notice_id, self.providers[notice.provider], event_from_json(notice.event))
        return notices

    async def resume(self) -> list[Notice]:
        """Notices stored but never applied (the worker died in between, and the provider may never send
        them again): verify them if that was not done, and apply them now."""
        now = utcnow()
        async with self.db.transaction() as session:
            stuck = (
                await session.exec(
                    select(ProviderNotice.id)
                    .where(
                        ProviderNotice.status == "received",
                        col(ProviderNotice.received_at) <= now - RESUME_AFTER,
                        col(ProviderNotice.received_at) > now - GIVE_UP_RESUMING_AFTER,
                        col(ProviderNotice.provider).in_(list(self.providers)),
                    )
                    .order_by(col(ProviderNotice.id))
                    .limit(RESUME_BATCH)
                )
            ).all()
        notices: list[Notice] = []
        for notice_id in stuck:
            assert notice_id is not None
            notices += await self._resume(notice_id, now)
        return notices

    async def _resume(self, notice_id: int, now: datetime) -> list[Notice]:
        processed_at = col(ProviderNotice.processed_at)
        unclaimed = processed_at.is_(None) | (processed_at <= now - RESUME_AFTER)
        async with self.db.transaction() as session:
            # processed_at is the claim while it is resumed: one worker at a time, and again if that one dies.
            claimed = await session.exec(
                update(ProviderNotice)
                .where(col(ProviderNotice.id) == notice_id, col(ProviderNotice.status) == "received", unclaimed)
                .values(processed_at=now)
            )
            notice = await session.get(ProviderNotice, notice_id)
        if claimed.rowcount != 1 or notice is None:
            return []
        provider = self.providers[notice.provider]
        log.warning("resuming %s notice %s, left unapplied since %s", notice.provider, notice_id, notice.received_at)
        if notice.event is not None:
            event = event_from_json(notice.event)
        else:
            try:
                headers = CIMultiDict(json.loads(notice.headers))
                event = await provider.parse_notice(headers, notice.body.encode())
            except InvalidNotice as error:
                await self._mark(notice_id, "rejected", error=str(error))
                return []
            await self._mark(notice_id, "received", event=event)
        _reply, notices = await self._apply(notice_id, provider, event)
        return notices

    async def _apply(
        self, notice_id: int, provider: PaymentProvider, event: PaymentEvent
    ) -> tuple[NoticeReply, list[Notice]]:
        try:
            notices = await self.settlements.receive(event)
        except UnknownCheckout:
            # Nothing daifu opened: sending it again would not change that. Kept for the admins to see.
            log.warning("%s notice %s names an unknown checkout %s", provider.name, notice_id, event.checkout_ref)
            await self._mark(notice_id, "ignored", error="unknown checkout")
            return provider.acknowledge(True), []
        except Exception as error:
            log.exception("%s notice %s could not be applied", provider.name, notice_id)
            await self._mark(notice_id, "failed", error=f"{type(error).__name__}: {error}")
            return provider.acknowledge(False, "try again later"), []
        await self._mark(notice_id, "applied")
        return provider.acknowledge(True), notices

    async def _store(self, provider: str, headers: Mapping[str, str], body: bytes, remote: str | None) -> int:
        notice = ProviderNotice(
            provider=provider,
            remote=remote,
            headers=json.dumps(dict(headers)),
            body=body.decode("utf-8", errors="replace"),
        )
        async with self.db.transaction() as session:
            session.add(notice)
            await session.flush()
            assert notice.id is not None
            return notice.id

    async def _mark(
        self, notice_id: int, status: str, *, error: str | None = None, event: PaymentEvent | None = None
    ) -> None:
        values: dict[str, object] = {"status": status, "error": error}
        if event is not None:
            values |= {"event_id": event.event_id, "event": event_to_json(event)}
        if status != "received":
            values["processed_at"] = utcnow()
        async with self.db.transaction() as session:
            await session.exec(update(ProviderNotice).where(col(ProviderNotice.id) == notice_id).values(**values))

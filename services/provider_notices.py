"""Provider notices, the way careful shops take them: stored raw first, then verified, then applied once.

Every notice is kept as it arrived (headers, body, source, time) before anything else happens, so a
notice that failed can be looked at and applied again. Applying is idempotent on the provider's charge
id (services.settlement), so a repeated notice changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping

from sqlmodel import col, update

from payments.base import Amount, ChargeOutcome, InvalidNotice, NoticeReply, PaymentEvent, PaymentProvider
from services.notices import Notice
from services.settlement import Settlements, UnknownCheckout
from storage.database import Database
from storage.models import ProviderNotice, utcnow

log = logging.getLogger(__name__)


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

"""Provider notices: verified first, then kept in full, then applied once.

Only a notice that verifies is kept as it arrived (headers, body, source, time, and its event), before it is
applied, so one whose worker died before applying it is applied by the housekeeping job (resume), and one
that failed is tried again a few times and then parked for the admins. A notice that fails verification is
kept only as a short record (time, provider, size, source, why) and counted: strangers cannot fill the
database with forged notices. Applying is idempotent on the provider's charge id (services.crediting), so a
repeated notice changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from multidict import CIMultiDict

from payments.base import Amount, ChargeOutcome, InvalidNotice, NoticeReply, PaymentEvent, PaymentProvider
from services.crediting import UnknownCheckout
from services.metrics import PARKED, REJECTED_NOTICES
from services.parking import PARK_AFTER_ATTEMPTS, error_text, storable
from services.payment_intake import PaymentIntake
from storage.database import Database
from storage.models import ProviderNotice, RejectedNotice, utcnow
from storage.queries.provider_notices import claim_notice, mark_notice, notices_to_resume

log = logging.getLogger(__name__)
# A notice is applied within a second of its arrival; one still not applied after this long lost its worker.
RESUME_AFTER = timedelta(minutes=1)
GIVE_UP_RESUMING_AFTER = timedelta(days=1)
RESUME_BATCH = 100
RETRIED = ("received", "failed")  # the statuses the housekeeping job applies (again)
REASON_CHARS = 200


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
    def __init__(self, db: Database, providers: Mapping[str, PaymentProvider], payment_intake: PaymentIntake) -> None:
        self.db = db
        self.providers = providers
        self.payment_intake = payment_intake

    async def receive(
        self, provider_name: str, headers: Mapping[str, str], body: bytes, *, remote: str | None
    ) -> NoticeReply:
        """Verify, store, apply; the reply tells the provider whether to send the notice again."""
        provider = self.providers[provider_name]
        try:
            event = await provider.parse_notice(headers, body)
        except InvalidNotice as error:
            reason = str(error)
        except Exception as error:  # a verifier must refuse what it cannot read, not fail: this one failed
            log.exception("the %s verifier failed on a notice from %s", provider_name, remote)
            reason = error_text(error)
        else:
            notice_id = await self._store(provider_name, headers, body, remote, event)
            return await self._apply(notice_id, provider, event)
        await self._reject(provider_name, body, remote, reason)
        reply = provider.acknowledge(False, "invalid notice")
        # What the sender got wrong is a 4xx; a 5xx would say the fault was daifu's (WeChat Pay takes either).
        return reply if reply.status < 500 else dataclasses.replace(reply, status=400)

    async def reapply(self, notice_id: int) -> None:
        """Apply a notice that failed before (its verified event was kept); idempotent like the first time."""
        async with self.db.transaction() as session:
            notice = await session.get(ProviderNotice, notice_id)
        if notice is None or notice.event is None or notice.status != "failed":
            return
        await self._apply(notice_id, self.providers[notice.provider], event_from_json(notice.event))

    async def resume(self) -> None:
        """Notices kept but not applied (the worker died in between, and the provider may never send them
        again) or whose applying failed: apply them now. Each alone: one that fails is logged and counted, and
        the others go on; after PARK_AFTER_ATTEMPTS failures it is parked, no longer tried."""
        now = utcnow()
        async with self.db.transaction() as session:
            stuck = await notices_to_resume(
                session,
                statuses=RETRIED,
                providers=list(self.providers),
                received_before=now - RESUME_AFTER,
                received_after=now - GIVE_UP_RESUMING_AFTER,
                limit=RESUME_BATCH,
            )
        for notice_id in stuck:
            try:
                await self._resume(notice_id, now)
            except Exception as error:
                log.exception("resuming provider notice %s failed", notice_id)
                await self._failed(notice_id, error)

    async def _resume(self, notice_id: int, now: datetime) -> None:
        async with self.db.transaction() as session:
            # processed_at is the claim while it is resumed: one worker at a time, and again if that one dies.
            claimed = await claim_notice(
                session, notice_id=notice_id, statuses=RETRIED, now=now, claimed_before=now - RESUME_AFTER
            )
            notice = await session.get(ProviderNotice, notice_id)
        if not claimed or notice is None:
            return
        provider = self.providers[notice.provider]
        log.warning("resuming %s notice %s, left unapplied since %s", notice.provider, notice_id, notice.received_at)
        if notice.event is not None:
            event = event_from_json(notice.event)
        else:
            # Kept unverified, before notices were verified first: verify it now; if it fails, keep no more of
            # it than of any other rejected notice.
            try:
                headers = CIMultiDict(json.loads(notice.headers))
                event = await provider.parse_notice(headers, notice.body.encode())
            except InvalidNotice as error:
                await self._mark(notice_id, "rejected", error=storable(str(error), REASON_CHARS), forget=True)
                return
            await self._mark(notice_id, "received", event=event)
        await self._apply(notice_id, provider, event)

    async def _failed(self, notice_id: int, error: Exception) -> None:
        """Record a failed try; the one that reaches PARK_AFTER_ATTEMPTS parks the notice."""
        async with self.db.transaction() as session:
            notice = await session.get(ProviderNotice, notice_id)
        if notice is None:
            return
        parked = notice.attempts >= PARK_AFTER_ATTEMPTS
        if parked:
            log.error("parked %s notice %s after %d tries: %s", notice.provider, notice_id, notice.attempts, error)
            PARKED.labels(kind="notice").inc()
        await self._mark(notice_id, "parked" if parked else "failed", error=error_text(error))

    async def _apply(self, notice_id: int, provider: PaymentProvider, event: PaymentEvent) -> NoticeReply:
        try:
            await self.payment_intake.receive(event)
        except UnknownCheckout:
            # Nothing daifu opened: sending it again would not change that. Kept for the admins to see.
            log.warning("%s notice %s names an unknown checkout %s", provider.name, notice_id, event.checkout_ref)
            await self._mark(notice_id, "ignored", error="unknown checkout")
            return provider.acknowledge(True)
        except Exception as error:
            log.exception("%s notice %s could not be applied", provider.name, notice_id)
            await self._failed(notice_id, error)
            return provider.acknowledge(False, "try again later")
        await self._mark(notice_id, "applied")
        return provider.acknowledge(True)

    async def _store(
        self, provider: str, headers: Mapping[str, str], body: bytes, remote: str | None, event: PaymentEvent
    ) -> int:
        notice = ProviderNotice(
            provider=provider,
            remote=remote,
            headers=json.dumps(dict(headers)),
            body=body.decode("utf-8", errors="replace"),
            event_id=event.event_id,
            event=event_to_json(event),
            attempts=1,  # applied right away
        )
        async with self.db.transaction() as session:
            session.add(notice)
            await session.flush()
            assert notice.id is not None
            return notice.id

    async def _reject(self, provider: str, body: bytes, remote: str | None, reason: str) -> None:
        log.warning("refused a %s notice of %d bytes from %s: %s", provider, len(body), remote, reason)
        REJECTED_NOTICES.labels(provider=provider).inc()
        record = RejectedNotice(
            provider=provider,
            size=len(body),
            remote=storable(remote, 64) if remote is not None else None,
            reason=storable(reason, REASON_CHARS),
        )
        async with self.db.transaction() as session:
            session.add(record)

    async def _mark(
        self,
        notice_id: int,
        status: str,
        *,
        error: str | None = None,
        event: PaymentEvent | None = None,
        forget: bool = False,
    ) -> None:
        values: dict[str, object] = {"status": status, "error": error}
        if event is not None:
            values |= {"event_id": event.event_id, "event": event_to_json(event)}
        if forget:
            values |= {"headers": "{}", "body": ""}
        if status != "received":
            values["processed_at"] = utcnow()
        async with self.db.transaction() as session:
            await mark_notice(session, notice_id=notice_id, values=values)

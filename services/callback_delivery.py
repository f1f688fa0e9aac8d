"""Delivering the callback outbox (services.callback_outbox) to shops: signed POSTs, retried with backoff.

Everything lives in the callback_deliveries table, so a restart loses nothing: a row is claimed with a
lease by one conditional UPDATE (the database decides, so two workers or two processes never send the same
row at once; a worker that dies mid-send leaves a lease that simply runs out), POSTed, then marked delivered
or rescheduled. Delivery is at least once: shops de-duplicate on the Daifu-Event-Id header. Only public
addresses are called (services.callback_targets: the URL's host as aiohttp reads it, the resolver's answers and
the address of every socket opened): a refused one is a failed attempt like any other.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp

from services.callback_targets import (
    BadCallbackUrl,
    NotPublicAddress,
    PublicOnlyResolver,
    connect_host,
    public_socket,
    spelled_kind,
)
from services.redaction import remember
from storage.database import Database
from storage.models import utcnow
from storage.queries.callbacks import callbacks_with_secrets, due_callbacks, lease_callbacks, record_try
from storage.secrets import unseal

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
LEASE = timedelta(seconds=60)  # well over the timeout: a lease never runs out under a live sender
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)  # retried at least this long after the event
GAVE_UP = "gave up: "  # last_error of a delivery that will not be tried again
NEVER = datetime(9999, 1, 1, tzinfo=UTC)  # next_attempt_at of those, which keeps them out of the due index
BATCH = 100
IN_FLIGHT = 8  # POSTs at once, so one slow shop does not hold up the others for the whole timeout


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The Daifu-Signature header: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backoff(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: 30 s, 1 min, 2 min, ... doubling up to an hour."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_WAIT)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    order_id: int
    event_id: str
    url: str
    payload: str
    attempts: int
    created_at: datetime
    secret: str | None


@dataclass(frozen=True, slots=True)
class DeliveryRun:
    delivered: int = 0
    failed: int = 0
    gave_up: int = 0


async def deliver_due(
    db: Database,
    *,
    clock: Callable[[], datetime] = utcnow,
    client: aiohttp.ClientSession | None = None,
    limit: int = BATCH,
    private_allowed: bool = False,
) -> DeliveryRun:
    """POST every callback that is due now; called by the bot's periodic job (handlers.callback_job).

    Only public addresses are called unless private_allowed (CALLBACK_ALLOW_PRIVATE_ADDRESSES). A client handed
    in connects wherever its own connector lets it; the URL's spelled-out address is checked all the same.
    """
    claimed = await _claim(db, clock(), limit)
    if not claimed:
        return DeliveryRun()
    allowed = private_allowed
    own_client = client is None
    resolver = None if allowed or not own_client else PublicOnlyResolver()
    session = client or aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
        connector=public_connector(resolver) if resolver is not None else None,
    )
    gate = asyncio.Semaphore(IN_FLIGHT)
    by_order: dict[int, list[Claimed]] = defaultdict(list)
    for row in sorted(claimed, key=lambda row: row.id):
        by_order[row.order_id].append(row)

    async def in_turn(rows: list[Claimed]) -> list[str]:
        # One order's events go one after another, oldest first, so a shop sees paid before refunded
        # (unless a retry reorders them: the payload's order status is the truth, not arrival order).
        outcomes = []
        for row in rows:
            async with gate:
                error = await _post(session, row, private_allowed=allowed)
            outcomes.append(await _record(db, row, error, clock()))
        return outcomes

    try:
        groups = await asyncio.gather(*(in_turn(rows) for rows in by_order.values()))
    finally:
        if own_client:
            await session.close()
        if resolver is not None:  # a connector closes only the resolver it made itself
            await resolver.close()
    outcomes = [outcome for group in groups for outcome in group]
    return DeliveryRun(outcomes.count("delivered"), outcomes.count("failed"), outcomes.count("gave_up"))


def public_connector(resolver: PublicOnlyResolver) -> aiohttp.TCPConnector:
    """A connector that reaches public addresses only: names through the resolver, every socket through
    public_socket (addresses spelled in a URL skip the resolver, so the socket is where those are caught)."""
    return aiohttp.TCPConnector(resolver=resolver, socket_factory=public_socket)


async def _claim(db: Database, now: datetime, limit: int) -> list[Claimed]:
    async with db.transaction() as session:
        ids = await due_callbacks(session, now=now, limit=limit)
    if not ids:
        return []
    async with db.transaction() as session:
        mine = await lease_callbacks(session, ids=ids, now=now, until=now + LEASE)
        if not mine:
            return []
        rows = await callbacks_with_secrets(session, ids=mine)
        return [
            Claimed(row.id, row.order_id, row.event_id, row.url, row.payload, row.attempts, row.created_at, secret)
            for row, stored in rows
            if row.id is not None
            for secret in [_readable(stored)]
        ]


def _readable(stored: str | None) -> str | None:
    """A shop's callback secret in clear (stored encrypted when SECRETS_KEY is set), kept off the logs."""
    if stored is None:
        return None
    secret = unseal(stored, what="a shop's callback secret")
    remember(secret)
    return secret


async def _post(client: aiohttp.ClientSession, row: Claimed, *, private_allowed: bool) -> str | None:
    """None if the shop took it (2xx); otherwise what went wrong, for last_error."""
    if not row.secret:
        return "the shop has no callback secret: create an API key for it"
    # Judged on the host as aiohttp will read it (the connector's socket check stands behind this one).
    try:
        host = connect_host(row.url)
    except BadCallbackUrl as error:
        return f"refused: the callback URL cannot be read ({error})"
    kind = None if private_allowed else spelled_kind(host)
    if kind is not None:
        return f"refused: {host} is not a public address ({kind})"
    body = row.payload.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "daifu-callbacks/1",
        "Daifu-Event-Id": row.event_id,
        "Daifu-Signature": signature(row.secret, body, int(time.time())),
    }
    try:
        # No redirects: a callback goes where the shop said, and a 3xx is not an acknowledgement.
        async with client.post(row.url, data=body, headers=headers, allow_redirects=False) as answer:
            if 200 <= answer.status < 300:
                return None
            text = (await answer.content.read(200)).decode("utf-8", "replace")
            return f"HTTP {answer.status}: {text}".strip()
    except TimeoutError:
        return f"no answer within {TIMEOUT_SECONDS} s"
    except Exception as error:  # any failure (refused, bad URL, TLS) is the shop's to fix; we retry
        if isinstance(error, aiohttp.ClientConnectorError) and isinstance(error.os_error, NotPublicAddress):
            return f"refused: {error.os_error}"  # no public address for the host, or a socket to a private one
        return f"{type(error).__name__}: {error}"


async def _record(db: Database, row: Claimed, error: str | None, now: datetime) -> str:
    attempts = row.attempts + 1
    if error is None:
        values: dict[str, object] = {"delivered_at": now, "attempts": attempts, "leased_until": None}
        outcome = "delivered"
    elif now - row.created_at >= GIVE_UP_AFTER:
        values = {"attempts": attempts, "leased_until": None, "next_attempt_at": NEVER}
        values["last_error"] = f"{GAVE_UP}after {attempts} attempts over {GIVE_UP_AFTER}; last: {error}"
        outcome = "gave_up"
        log.warning("callback %s to %s: %s", row.event_id, row.url, values["last_error"])
    else:
        values = {"attempts": attempts, "leased_until": None, "last_error": error}
        values["next_attempt_at"] = now + backoff(attempts)
        outcome = "failed"
        log.info("callback %s to %s failed (attempt %d): %s", row.event_id, row.url, attempts, error)
    async with db.transaction() as session:
        await record_try(session, delivery_id=row.id, values=values)
    return outcome

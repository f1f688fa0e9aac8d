"""Retention: finished Telegram updates, messages told and rejected notices older than their settings are pruned, in
batches, by one worker at a time; unfinished updates, messages not told yet and verified notices (money records)
are never touched."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import col, select

import services.retention
from bot.settings import Settings
from services.retention import LEASE_NAME, Retention, RetentionPolicy
from storage.database import Database
from storage.migrate import alembic_config
from storage.models import JobLease, LiveMessage, ProviderNotice, RejectedNotice, TelegramUpdate, Telling, utcnow
from tests.harness import RunningShop

POLICY = RetentionPolicy(updates=timedelta(days=7), rejected_notices=timedelta(days=30))


async def add_updates(db: Database, first_id: int, count: int, *, age: timedelta, done: bool) -> None:
    at = utcnow() - age
    async with db.transaction() as session:
        for update_id in range(first_id, first_id + count):
            session.add(TelegramUpdate(update_id=update_id, payload="{}", received_at=at, done_at=at if done else None))


async def update_ids(db: Database) -> list[int]:
    async with db.transaction() as session:
        return list(
            (await session.exec(select(TelegramUpdate.update_id).order_by(col(TelegramUpdate.update_id)))).all()
        )


async def test_what_is_past_its_retention_is_pruned_and_nothing_else(db: Database) -> None:
    await add_updates(db, 1, 3, age=timedelta(days=8), done=True)  # pruned
    await add_updates(db, 10, 2, age=timedelta(days=6), done=True)  # kept: not old enough
    await add_updates(db, 20, 2, age=timedelta(days=40), done=False)  # kept: never finished, still work to do
    async with db.transaction() as session:
        for days in (31, 29):
            session.add(
                RejectedNotice(
                    provider="sandbox",
                    size=61440,
                    reason="signature does not match",
                    received_at=utcnow() - timedelta(days=days),
                )
            )
        for status in ("applied", "received", "parked"):  # money records, however old
            session.add(
                ProviderNotice(
                    provider="sandbox",
                    headers="{}",
                    body="{}",
                    status=status,
                    received_at=utcnow() - timedelta(days=400),
                )
            )

    pruned = await Retention(db, POLICY).run()

    assert (pruned.updates, pruned.rejected_notices, pruned.left, pruned.ran) == (3, 1, False, True)
    assert await update_ids(db) == [10, 11, 20, 21]
    async with db.transaction() as session:
        kept = (await session.exec(select(RejectedNotice))).all()
        notices = (await session.exec(select(ProviderNotice.status))).all()
    assert [utcnow() - record.received_at < timedelta(days=30) for record in kept] == [True]
    assert sorted(notices) == ["applied", "parked", "received"]
    assert await Retention(db, POLICY).run() == services.retention.Pruned(0, 0, left=False)


async def test_messages_told_go_with_the_finished_updates(db: Database) -> None:
    long_ago = utcnow() - timedelta(days=8)
    async with db.transaction() as session:
        for kind, done_at in (("receipt", long_ago), ("paid_note", utcnow()), ("card", None)):
            session.add(Telling(kind=kind, created_at=long_ago, claimed_until=long_ago, done_at=done_at))

    pruned = await Retention(db, POLICY).run()

    assert pruned.told == 1
    async with db.transaction() as session:
        kept = (await session.exec(select(Telling.kind).order_by(col(Telling.id)))).all()
    assert list(kept) == ["paid_note", "card"]  # told lately, and not told yet (a parked row is kept for a look)


async def test_messages_left_to_tidy_long_after_their_order_ended_are_forgotten(db: Database) -> None:
    async with db.transaction() as session:
        for message_id, days in ((1, 31), (2, 2)):
            at = utcnow() - timedelta(days=days)
            session.add(
                LiveMessage(kind="order_view", chat_id=7, message_id=message_id, order_id=1, locale="en", created_at=at)
            )

    await Retention(db, POLICY).run()

    async with db.transaction() as session:
        kept = (await session.exec(select(LiveMessage.message_id))).all()
    assert list(kept) == [2]  # a message of an order that may still be paid stays, to be tidied when it is


async def test_a_backlog_is_pruned_in_batches_over_several_runs(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services.retention, "MAX_BATCHES", 2)
    await add_updates(db, 1, 2500, age=timedelta(days=9), done=True)

    first = await Retention(db, POLICY).run()
    assert (first.updates, first.left) == (2000, True)  # two statements of 1000, then the run stops
    second = await Retention(db, POLICY).run()
    assert (second.updates, second.left) == (500, False)
    assert await update_ids(db) == []


async def test_one_worker_at_a_time(db: Database) -> None:
    await add_updates(db, 1, 5, age=timedelta(days=9), done=True)
    async with db.transaction() as session:  # another worker is pruning
        session.add(JobLease(name=LEASE_NAME, leased_until=utcnow() + timedelta(minutes=5)))

    assert (await Retention(db, POLICY).run()).ran is False
    assert len(await update_ids(db)) == 5

    async with db.transaction() as session:  # that worker died: its lease runs out
        lease = await session.get(JobLease, LEASE_NAME)
        assert lease is not None
        lease.leased_until = utcnow() - timedelta(seconds=1)
        session.add(lease)
    assert (await Retention(db, POLICY).run()).updates == 5
    assert (await Retention(db, POLICY).run()).ran is True  # released at the end of each run


async def test_the_retention_job_runs_in_the_bot(shop: RunningShop) -> None:
    await add_updates(shop.daifu.db, 1, 2, age=timedelta(days=8), done=True)
    await add_updates(shop.daifu.db, 5, 1, age=timedelta(days=8), done=False)
    assert shop.runtime is not None and shop.runtime.application.job_queue is not None
    (job,) = shop.runtime.application.job_queue.get_jobs_by_name("prune")
    await job.run(shop.runtime.application)
    assert await update_ids(shop.daifu.db) == [5]


@pytest.mark.parametrize("spelled", ["604800", "P7D", "PT168H"])
def test_retention_settings_take_seconds_or_iso_8601(spelled: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAIN_UPDATES", spelled)
    monkeypatch.setenv("RETAIN_REJECTED_NOTICES", spelled)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.retain_updates == settings.retain_rejected_notices == timedelta(days=7)


def test_retention_defaults_and_the_least_for_updates(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.retain_updates, settings.retain_rejected_notices) == (timedelta(days=7), timedelta(days=30))
    # Telegram retries an update for about a day: pruning one sooner could handle it twice.
    monkeypatch.setenv("RETAIN_UPDATES", "PT12H")
    with pytest.raises(ValueError, match="retain_updates"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def _migrate_with_an_old_rejected_notice(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, "fbfa65b4db33")
    connection.execute(
        text(
            "INSERT INTO provider_notices (provider, headers, body, received_at, status, error) VALUES "
            "('sandbox', :headers, :body, :at, 'rejected', 'signature does not match'),"
            "('sandbox', '{}', '{}', :at, 'applied', NULL)"
        ),
        {"headers": '{"Sandbox-Signature": "forged"}', "body": "x" * 60_000, "at": utcnow()},
    )
    command.upgrade(config, "head")


async def test_notices_kept_in_full_before_are_cut_to_short_records(db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(_migrate_with_an_old_rejected_notice)
    async with db.transaction() as session:
        statuses = (await session.exec(select(ProviderNotice.status))).all()
        records = (await session.exec(select(RejectedNotice))).all()
    assert statuses == ["applied"]
    assert [(record.provider, record.size, record.reason) for record in records] == [
        ("sandbox", 60_000, "signature does not match")
    ]

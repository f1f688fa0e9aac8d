"""The outbox of what people must be told (services.telling), on both databases: a row is held by one worker at a
time, workers claiming at once never both get one, a row whose worker died is claimable again once its lease has
run out, and the doorbell hands the teller what a commit recorded, after the commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import col, select, update

from services.config import ShopRules
from services.daifu import Daifu
from services.telling import Tellings
from services.telling_delivery import tell_at_the_end
from services.telling_rows import Claimed, Kind
from storage.database import Database
from storage.models import Telling, utcnow

ADMINS = frozenset({1, 2})


@pytest.fixture
def daifu(db: Database) -> Daifu:
    rules = ShopRules(shop_name="Test shop", admin_ids=ADMINS, public_base_url="http://shop.test")
    return Daifu(db, rules, {})


@pytest.fixture
async def handed(daifu: Daifu) -> AsyncIterator[list[list[Claimed]]]:
    """The batches the doorbell hands a teller (this one tells them at once, by doing nothing)."""
    batches: list[list[Claimed]] = []

    async def teller() -> None:
        while True:
            batch = await daifu.tellings.doorbell.next_batch()
            batches.append(batch.rows)
            batch.done()

    answering = asyncio.create_task(teller())
    await asyncio.sleep(0)  # at the doorbell
    yield batches
    answering.cancel()
    await asyncio.gather(answering, return_exceptions=True)


async def redraws(tellings: Tellings, count: int) -> None:
    """Cards of `count` requests to redraw, each recorded in a transaction of its own by a worker that dies."""
    for request_id in range(1, count + 1):
        async with tellings.db.transaction() as session:
            await tellings.card_changed(session, request_id)


async def lease_runs_out(db: Database) -> None:
    async with db.transaction() as session:
        await session.exec(
            update(Telling).where(col(Telling.done_at).is_(None)).values(claimed_until=utcnow() - timedelta(seconds=1))
        )


async def test_a_row_is_held_by_its_worker_until_its_lease_runs_out(daifu: Daifu, handed: list[list[Claimed]]) -> None:
    async with daifu.db.transaction() as session:
        await daifu.tellings.card_changed(session, 7)
        await asyncio.sleep(0.01)
        assert handed == []  # not before the commit: the teller must see the change
    await asyncio.sleep(0.01)
    [[recorded]] = handed

    assert await daifu.tellings.leases.claim_due() == []  # its worker holds it

    await lease_runs_out(daifu.db)  # that worker died
    [claimed] = await daifu.tellings.leases.claim_due()
    assert (claimed.id, claimed.kind, claimed.request_id) == (recorded.id, Kind.CARD, 7)
    assert await daifu.tellings.leases.claim_due() == []  # held again, by the worker that claimed it

    daifu.tellings.leases.told([claimed.id])
    await daifu.tellings.leases.close()  # the marks written (they wait a moment to be written with others)
    await lease_runs_out(daifu.db)
    assert await daifu.tellings.leases.claim_due() == []  # told: never again


async def test_nothing_is_recorded_or_rung_when_the_change_rolls_back(
    daifu: Daifu, handed: list[list[Claimed]]
) -> None:
    with pytest.raises(RuntimeError):
        async with daifu.db.transaction() as session:
            await daifu.tellings.card_changed(session, 7)
            raise RuntimeError("the change failed")
    async with daifu.db.transaction() as session:
        assert (await session.exec(select(Telling))).all() == []
    await asyncio.sleep(0.01)
    assert handed == []


async def test_workers_claiming_at_once_never_both_get_a_row(db: Database, daifu: Daifu) -> None:
    await redraws(daifu.tellings, 60)
    await lease_runs_out(db)
    second_db = Database(db.url)  # another worker: its own engine and connections
    try:
        others = Tellings(second_db, ADMINS)

        async def drain(tellings: Tellings) -> list[int]:
            claimed: list[int] = []
            while rows := await tellings.leases.claim_due(limit=7):
                claimed += [row.id for row in rows]
                await asyncio.sleep(0)
            return claimed

        mine, theirs = await asyncio.gather(drain(daifu.tellings), drain(others))
    finally:
        await second_db.dispose()
    assert not set(mine) & set(theirs)
    assert len(mine) + len(theirs) == 60


async def test_a_lease_is_renewed_only_by_the_worker_that_holds_it(daifu: Daifu) -> None:
    await redraws(daifu.tellings, 2)
    await lease_runs_out(daifu.db)
    rows = await daifu.tellings.leases.claim_due()
    kept = await daifu.tellings.leases.keep(rows)
    assert [row.id for row in kept] == [row.id for row in rows]
    assert kept[0].claimed_until > rows[0].claimed_until

    # Its lease ran out and another worker claimed the rows: the first worker's hold is gone.
    await lease_runs_out(daifu.db)
    taken = await daifu.tellings.leases.claim_due()
    assert [row.id for row in taken] == [row.id for row in rows]
    assert await daifu.tellings.leases.keep(kept) == []


async def test_a_change_records_all_its_rows_at_once_one_per_person(daifu: Daifu, handed: list[list[Claimed]]) -> None:
    async with daifu.db.transaction() as session:
        await daifu.tellings.orphan_charged(session, 3)
    await asyncio.sleep(0.01)
    assert [sorted((row.kind, row.chat_id) for row in batch) for batch in handed] == [
        [(Kind.ORPHAN, 1), (Kind.ORPHAN, 2)]
    ]


async def test_what_an_update_records_is_handed_over_when_it_is_done_and_it_waits_for_it(
    daifu: Daifu, handed: list[list[Claimed]]
) -> None:
    async with tell_at_the_end():
        async with daifu.db.transaction() as session:
            await daifu.tellings.card_changed(session, 7)
        async with daifu.db.transaction() as session:
            await daifu.tellings.orphan_charged(session, 3)
        await asyncio.sleep(0.01)
        assert handed == []  # the handlers first say what they say
    # One batch, told in the order recorded, and told by the time the block is left.
    assert [[row.kind for row in batch] for batch in handed] == [[Kind.CARD, Kind.ORPHAN, Kind.ORPHAN]]


async def test_with_no_teller_the_rows_wait_for_their_lease_and_nobody_waits_for_them(daifu: Daifu) -> None:
    async with tell_at_the_end(), daifu.db.transaction() as session:
        await daifu.tellings.card_changed(session, 7)
    assert await daifu.tellings.leases.claim_due() == []  # held, as if by a worker that died
    await lease_runs_out(daifu.db)
    assert [row.request_id for row in await daifu.tellings.leases.claim_due()] == [7]

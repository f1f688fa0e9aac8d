"""The outbox of what people must be told (services.telling), on both databases: a row is held by one worker at a
time, workers claiming at once never both get one, and a row whose worker died is claimable again once its lease
has run out."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import col, select, update

from services.config import ShopRules
from services.daifu import Daifu
from services.telling import Kind, Tellings
from storage.database import Database
from storage.models import Telling, utcnow

ADMINS = frozenset({1, 2})


@pytest.fixture
def daifu(db: Database) -> Daifu:
    rules = ShopRules(shop_name="Test shop", admin_ids=ADMINS, public_base_url="http://shop.test")
    return Daifu(db, rules, {})


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


async def test_a_row_is_held_by_its_worker_until_its_lease_runs_out(daifu: Daifu) -> None:
    rung: list[list[int]] = []
    daifu.tellings.doorbell.listen(lambda rows: rung.append([row.id for row in rows]))
    async with daifu.db.transaction() as session:
        await daifu.tellings.card_changed(session, 7)
        assert rung == []  # not before the commit: the teller must see the change
    assert len(rung) == 1 and len(rung[0]) == 1

    assert await daifu.tellings.claim_due() == []  # its worker holds it

    await lease_runs_out(daifu.db)  # that worker died
    [claimed] = await daifu.tellings.claim_due()
    assert (claimed.id, claimed.kind, claimed.request_id) == (rung[0][0], Kind.CARD, 7)
    assert await daifu.tellings.claim_due() == []  # held again, by the worker that claimed it

    daifu.tellings.told([claimed.id])
    await daifu.tellings.close()  # the marks written (they wait a moment to be written with others)
    await lease_runs_out(daifu.db)
    assert await daifu.tellings.claim_due() == []  # told: never again


async def test_nothing_is_recorded_or_rung_when_the_change_rolls_back(daifu: Daifu) -> None:
    rung: list[object] = []
    daifu.tellings.doorbell.listen(rung.append)
    with pytest.raises(RuntimeError):
        async with daifu.db.transaction() as session:
            await daifu.tellings.card_changed(session, 7)
            raise RuntimeError("the change failed")
    async with daifu.db.transaction() as session:
        assert (await session.exec(select(Telling))).all() == []
    assert rung == []


async def test_workers_claiming_at_once_never_both_get_a_row(db: Database, daifu: Daifu) -> None:
    await redraws(daifu.tellings, 60)
    await lease_runs_out(db)
    second_db = Database(db.url)  # another worker: its own engine and connections
    try:
        others = Tellings(second_db, ADMINS)

        async def drain(tellings: Tellings) -> list[int]:
            claimed: list[int] = []
            while rows := await tellings.claim_due(limit=7):
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
    rows = await daifu.tellings.claim_due()
    kept = await daifu.tellings.keep(rows)
    assert [row.id for row in kept] == [row.id for row in rows]
    assert kept[0].claimed_until > rows[0].claimed_until

    # Its lease ran out and another worker claimed the rows: the first worker's hold is gone.
    await lease_runs_out(daifu.db)
    taken = await daifu.tellings.claim_due()
    assert [row.id for row in taken] == [row.id for row in rows]
    assert await daifu.tellings.keep(kept) == []


async def test_a_change_records_all_its_rows_at_once_one_per_person(daifu: Daifu) -> None:
    rung: list[list[tuple[Kind, int | None]]] = []
    daifu.tellings.doorbell.listen(lambda rows: rung.append([(row.kind, row.chat_id) for row in rows]))
    async with daifu.db.transaction() as session:
        await daifu.tellings.orphan_charged(session, 3)
    assert sorted(rung[0]) == [(Kind.ORPHAN, 1), (Kind.ORPHAN, 2)]

"""The webhook's update inbox: updates finished together are marked done together, and nothing finished is
handed back to PTB as unfinished (nothing applied twice), while nothing unfinished is forgotten."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlmodel import col, func, select, update

from services.done_marks import DoneMarks
from services.update_inbox import RECOVER_AFTER, UpdateInbox
from storage.database import Database
from storage.models import TelegramUpdate, utcnow


async def age_everything(db: Database) -> None:
    """As if the updates had arrived long enough ago to count as lost with a crashed worker, and any lease on
    them had run out."""
    long_ago = utcnow() - RECOVER_AFTER * 2
    async with db.transaction() as session:
        await session.exec(update(TelegramUpdate).values(received_at=long_ago, leased_until=long_ago))


async def test_an_update_a_live_worker_is_still_handling_is_not_taken_for_lost(db: Database) -> None:
    slow, other = UpdateInbox(db), UpdateInbox(db)
    assert await slow.accept(5, json.dumps({"update_id": 5}))  # a provider call that takes its time
    assert await slow.accept(6, json.dumps({"update_id": 6}))
    marks = DoneMarks(slow, every=60)
    marks.add(6)  # finished, its done mark not written yet
    await age_everything(db)
    assert await slow.unfinished() == []  # its own recovery job takes neither

    await slow.renew_leases()  # the worker renews them, every RENEW_LEASES_SECONDS
    assert await other.unfinished() == []  # so no other worker takes them up
    await marks.flush()

    await age_everything(db)  # the slow worker died: its lease ran out
    assert [payload["update_id"] for payload in await other.unfinished()] == [5]


async def test_updates_arriving_together_are_each_accepted_once_even_when_delivered_twice_at_once(db: Database) -> None:
    inbox = UpdateInbox(db)
    assert await inbox.accept(7, json.dumps({"update_id": 7}))
    # A burst: 40 updates, each delivered twice at the same moment, and a retry of one written before.
    deliveries = [update_id for update_id in range(100, 140) for _copy in range(2)] + [7]
    accepted = await asyncio.gather(*(inbox.accept(i, json.dumps({"update_id": i})) for i in deliveries))
    new = [update_id for update_id, fresh in zip(deliveries, accepted, strict=True) if fresh]
    assert sorted(new) == list(range(100, 140))  # every update once; neither copy of a pair lost
    async with db.transaction() as session:
        assert (await session.exec(select(func.count()).select_from(TelegramUpdate))).one() == 41


async def test_finished_updates_are_marked_done_in_one_batch_and_never_recovered(db: Database) -> None:
    inbox = UpdateInbox(db)
    for update_id in range(1, 6):
        assert await inbox.accept(update_id, json.dumps({"update_id": update_id}))
    assert not await inbox.accept(3, json.dumps({"update_id": 3}))  # Telegram's retry of one of them

    marks = DoneMarks(inbox, every=60)  # nothing is written until flushed
    for update_id in (1, 2, 4):
        marks.add(update_id)
    async with db.transaction() as session:
        assert (await session.exec(select(TelegramUpdate).where(col(TelegramUpdate.done_at).is_not(None)))).all() == []
    await marks.close()  # what a SIGTERM does after PTB finished the updates in hand

    await age_everything(db)
    restarted = UpdateInbox(db)  # the worker came back after a crash
    recovered = await restarted.unfinished()
    assert sorted(payload["update_id"] for payload in recovered) == [3, 5]


async def test_marks_are_written_by_themselves_a_moment_later(db: Database) -> None:
    inbox = UpdateInbox(db)
    assert await inbox.accept(9, json.dumps({"update_id": 9}))
    marks = DoneMarks(inbox, every=0.01)
    marks.add(9)
    assert marks._flushing is not None
    await marks._flushing
    await age_everything(db)
    assert await inbox.unfinished() == []


async def test_an_update_finished_while_a_batch_is_being_written_is_marked_too(db: Database) -> None:
    inbox = UpdateInbox(db)
    for update_id in (1, 2):
        assert await inbox.accept(update_id, json.dumps({"update_id": update_id}))
    marks = DoneMarks(inbox, every=0.01)
    write = inbox.done

    async def write_while_another_finishes(*update_ids: int) -> None:
        if 1 in update_ids:
            marks.add(2)  # PTB finishes update 2 while the batch with update 1 is on its way to the database
        await write(*update_ids)

    inbox.done = write_while_another_finishes  # type: ignore[method-assign]
    marks.add(1)
    assert marks._flushing is not None
    await marks._flushing  # and then no update comes for a while: the last one must not wait for it

    await age_everything(db)
    assert await inbox.unfinished() == []


async def test_a_failed_write_fails_every_update_in_it_and_the_next_ones_are_written(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = UpdateInbox(db)
    real_write = inbox._write

    async def database_gone(batch: object) -> set[int]:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(inbox, "_write", database_gone)
    failed = await asyncio.gather(
        *(inbox.accept(i, json.dumps({"update_id": i})) for i in (1, 2)), return_exceptions=True
    )
    assert [type(error) for error in failed] == [ConnectionError, ConnectionError]  # the webhook answers 500

    monkeypatch.setattr(inbox, "_write", real_write)
    assert await inbox.accept(1, json.dumps({"update_id": 1}))  # Telegram's retry is taken as new: nothing was kept


async def test_stopping_lets_a_batch_of_marks_on_its_way_finish(db: Database) -> None:
    inbox = UpdateInbox(db)
    assert await inbox.accept(11, json.dumps({"update_id": 11}))
    marks = DoneMarks(inbox, every=0.01)
    writing, go_on = asyncio.Event(), asyncio.Event()
    write = inbox.done

    async def slow_write(*update_ids: int) -> None:
        writing.set()
        await go_on.wait()  # the database takes its time
        await write(*update_ids)

    inbox.done = slow_write  # type: ignore[method-assign]
    marks.add(11)
    await writing.wait()
    closing = asyncio.create_task(marks.close())  # SIGTERM while the batch is on its way
    await asyncio.sleep(0.05)
    assert not closing.done()  # it waits for the write instead of breaking it off
    go_on.set()
    await closing
    await age_everything(db)
    assert await inbox.unfinished() == []  # the mark reached the database: nothing handled again

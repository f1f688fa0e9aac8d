"""The webhook's update inbox: updates finished together are marked done together, and nothing finished is
handed back to PTB as unfinished (nothing applied twice), while nothing unfinished is forgotten."""

from __future__ import annotations

from sqlmodel import col, select, update

from services.update_inbox import RECOVER_AFTER, DoneMarks, UpdateInbox
from storage.database import Database
from storage.models import TelegramUpdate, utcnow


async def age_everything(db: Database) -> None:
    """As if the updates had arrived long enough ago to count as lost with a crashed worker."""
    async with db.transaction() as session:
        await session.exec(update(TelegramUpdate).values(received_at=utcnow() - RECOVER_AFTER * 2))


async def test_finished_updates_are_marked_done_in_one_batch_and_never_recovered(db: Database) -> None:
    inbox = UpdateInbox(db)
    for update_id in range(1, 6):
        assert await inbox.accept(update_id, {"update_id": update_id})
    assert not await inbox.accept(3, {"update_id": 3})  # Telegram's retry of one of them

    marks = DoneMarks(inbox, every=60)  # nothing is written until flushed
    for update_id in (1, 2, 4):
        marks.add(update_id)
    async with db.transaction() as session:
        assert (await session.exec(select(TelegramUpdate).where(col(TelegramUpdate.done_at).is_not(None)))).all() == []
    await marks.close()  # what a SIGTERM does after PTB finished the updates in hand

    await age_everything(db)
    recovered = await inbox.unfinished()
    assert sorted(payload["update_id"] for payload in recovered) == [3, 5]


async def test_marks_are_written_by_themselves_a_moment_later(db: Database) -> None:
    inbox = UpdateInbox(db)
    assert await inbox.accept(9, {"update_id": 9})
    marks = DoneMarks(inbox, every=0.01)
    marks.add(9)
    assert marks._flushing is not None
    await marks._flushing
    await age_everything(db)
    assert await inbox.unfinished() == []


async def test_an_update_finished_while_a_batch_is_being_written_is_marked_too(db: Database) -> None:
    inbox = UpdateInbox(db)
    for update_id in (1, 2):
        assert await inbox.accept(update_id, {"update_id": update_id})
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

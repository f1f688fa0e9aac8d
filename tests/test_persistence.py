"""PTB's state in daifu's database, written by several workers at once."""

from __future__ import annotations

import asyncio

from storage.database import Database
from storage.models import PersistedState
from storage.persistence import SQLModelPersistence


async def test_two_workers_saving_a_new_chat_at_once_both_succeed(db: Database) -> None:
    # Each worker keeps its own persistence; both see the chat for the first time and write it together.
    workers = [SQLModelPersistence(db) for _ in range(2)]
    await asyncio.gather(*(worker.update_chat_data(42, {"seen_by": n}) for n, worker in enumerate(workers)))

    saved = (await SQLModelPersistence(db).get_chat_data())[42]
    assert saved in ({"seen_by": 0}, {"seen_by": 1})


async def test_unchanged_and_empty_data_is_not_written_again(db: Database) -> None:
    persistence = SQLModelPersistence(db)
    await persistence.update_user_data(7, {})  # someone who never had data: nothing to store
    await persistence.update_user_data(8, {"lang": "zh"})
    assert set((await SQLModelPersistence(db).get_user_data()).keys()) == {8}

    # Someone else (an admin's cleanup, another worker) changes the row; this process still holds the value
    # it wrote, so handing the same value over again writes nothing, and a new value is written.
    async with db.transaction() as session:
        row = await session.get(PersistedState, ("user", "8"))
        assert row is not None
        row.data = '{"lang": "en"}'
        session.add(row)
    await persistence.update_user_data(8, {"lang": "zh"})
    assert (await SQLModelPersistence(db).get_user_data())[8] == {"lang": "en"}
    await persistence.update_user_data(8, {"lang": "fr"})
    assert (await SQLModelPersistence(db).get_user_data())[8] == {"lang": "fr"}

    await persistence.drop_user_data(8)
    await persistence.update_user_data(8, {"lang": "fr"})  # after a drop the same value is a change again
    assert (await SQLModelPersistence(db).get_user_data())[8] == {"lang": "fr"}

"""PTB's state in daifu's database, written by several workers at once."""

from __future__ import annotations

import asyncio

from storage.database import Database
from storage.persistence import SQLModelPersistence


async def test_two_workers_saving_a_new_chat_at_once_both_succeed(db: Database) -> None:
    # Each worker keeps its own persistence; both see the chat for the first time and write it together.
    workers = [SQLModelPersistence(db) for _ in range(2)]
    await asyncio.gather(*(worker.update_chat_data(42, {"seen_by": n}) for n, worker in enumerate(workers)))

    saved = (await SQLModelPersistence(db).get_chat_data())[42]
    assert saved in ({"seen_by": 0}, {"seen_by": 1})

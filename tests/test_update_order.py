"""One worker takes many people's updates at once but each person's in order: a slow step of one shopper
does not hold up another's pre-checkout answer, and a shopper's own tap never overtakes their /start."""

from __future__ import annotations

import asyncio

from telegram import Update

from bot.update_order import OnePersonAtATime


def message_from(user_id: int, update_id: int) -> Update:
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": {"id": user_id, "type": "private"},
                "from": {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"},
                "text": f"update {update_id}",
            },
        },
        None,
    )


async def test_one_persons_updates_keep_their_order_and_others_do_not_wait() -> None:
    processor = OnePersonAtATime()
    finished: list[int] = []
    release_slow = asyncio.Event()

    async def handle(update_id: int, slow: bool = False) -> None:
        if slow:
            await release_slow.wait()
        else:
            await asyncio.sleep(0)
        finished.append(update_id)

    # Alice's first update is slow (say, a provider call); her second must wait for it, Bob's must not.
    alice_first = asyncio.create_task(processor.process_update(message_from(1, 1), handle(1, slow=True)))
    alice_second = asyncio.create_task(processor.process_update(message_from(1, 2), handle(2)))
    bob = asyncio.create_task(processor.process_update(message_from(2, 3), handle(3)))
    await asyncio.wait_for(bob, timeout=5)
    assert finished == [3]

    release_slow.set()
    await asyncio.wait_for(asyncio.gather(alice_first, alice_second), timeout=5)
    assert finished == [3, 1, 2]
    assert processor.current_concurrent_updates == 0


def pre_checkout_from(user_id: int, update_id: int) -> Update:
    return Update.de_json(
        {
            "update_id": update_id,
            "pre_checkout_query": {
                "id": str(update_id),
                "from": {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"},
                "currency": "USD",
                "total_amount": 1250,
                "invoice_payload": "order:1",
            },
        },
        None,
    )


async def test_a_pre_checkout_query_is_answered_while_the_same_persons_tap_is_still_running() -> None:
    processor = OnePersonAtATime()
    tap_done = asyncio.Event()

    async def tap() -> None:  # sent the invoice, and is still editing the request's cards
        await tap_done.wait()

    async def answer() -> None:
        await asyncio.sleep(0)

    tapping = asyncio.create_task(processor.process_update(message_from(1, 1), tap()))
    await asyncio.wait_for(processor.process_update(pre_checkout_from(1, 2), answer()), timeout=5)
    assert not tapping.done()
    tap_done.set()
    await tapping

"""Telegram's flood control: a 429 with retry_after is honoured, the message goes out after it, once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import RunningShop, running_shop


@pytest.fixture
async def limited(
    database_url: str, unused_tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningShop]:
    # PTB 22 warns about its RetryAfter's float seconds unless told to use timedelta; warnings fail tests.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    async with running_shop(database_url, unused_tcp_port, rate_limiter=True) as shop:
        yield shop


async def test_a_429_is_waited_out_and_the_reply_still_arrives_once(limited: RunningShop) -> None:
    shop, emu = limited, limited.emu
    emu.set_flood_limit(shop.alice, 1, per_seconds=1.0)

    await emu.send_text(shop.alice, "/help")
    await emu.send_text(shop.alice, "/my")
    await shop.told(shop.alice, "no orders yet")

    replies = emu.bot_messages(shop.alice)
    assert [("/my - " in m["text"], "no orders yet" in m["text"]) for m in replies] == [(True, False), (False, True)]
    refused = [error for error in emu.errors if error[2].startswith("Too Many Requests")]
    assert len(refused) == 1  # one refusal, then a wait of retry_after: no resend before it, no busy loop
    assert replies[1]["date"] - replies[0]["date"] >= 1

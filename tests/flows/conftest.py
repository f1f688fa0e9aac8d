"""Fixtures the flow tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from tests.flows.test_request_web_page import WebFriend
from tests.harness import RunningShop


@pytest.fixture
async def friends(shop: RunningShop) -> AsyncIterator[Callable[[], WebFriend]]:
    """Friends without Telegram, each a browser of their own (cookies apart), closed after the test."""
    opened: list[WebFriend] = []

    def new_friend() -> WebFriend:
        opened.append(WebFriend(shop))
        return opened[-1]

    yield new_friend
    for friend in opened:
        await friend.client.close()

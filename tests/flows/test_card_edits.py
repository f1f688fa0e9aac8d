"""Many changes to one request within a second are a couple of edits of each of its cards, not one per change
per card; and every card ends showing the request as it is at the end."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from storage.models import RequestMode
from tests.flows.payforme_steps import current, share_card
from tests.flows.test_request_web_page import WebFriend, ask
from tests.harness import RunningShop

CARDS = 20


async def share_everywhere(shop: RunningShop, token: str, cards: int) -> list[dict[str, Any]]:
    """Alice shares the request into as many groups."""
    groups = [shop.emu.add_group(f"Group {n}", members=[shop.alice]) for n in range(cards)]
    return [await share_card(shop, shop.alice, token, group) for group in groups]


def edits_per_card(shop: RunningShop) -> Counter[str]:
    return Counter(str(call.get("inline_message_id")) for call in shop.emu.calls_to("editMessageText"))


async def test_ten_posts_on_a_request_shared_into_many_cards(
    shop: RunningShop, friends: Callable[[], WebFriend]
) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans")
    cards = await share_everywhere(shop, request.token, CARDS)
    wei = friends()

    for _ in range(10):  # as fast as one browser can, each renewing the hold
        status, _page, checkout = await wei.start_paying(request.token, "Wei")
        assert status == 303 and checkout
    await shop.emu.wait_for(lambda: all("Wei is paying" in current(shop, card)["text"] for card in cards))
    await wei.pay_on_sandbox(checkout)

    await shop.emu.wait_for(lambda: all("Paid by Wei ✅" in current(shop, card)["text"] for card in cards))
    edits = edits_per_card(shop)
    assert len(edits) == CARDS
    assert max(edits.values()) <= 3, edits  # "is paying", perhaps once more, then "Paid by"; not eleven


async def test_chip_ins_at_once_end_with_every_card_showing_all_of_them(
    shop: RunningShop, friends: Callable[[], WebFriend]
) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans", mode=RequestMode.SPLIT, shares=5)
    cards = await share_everywhere(shop, request.token, CARDS // 2)
    names = [f"Friend {n}" for n in range(6)]

    async def chip_in(name: str) -> None:
        friend = friends()
        status, _page, checkout = await friend.start_paying(request.token, name, amount="1.00")
        assert status == 303 and checkout
        await friend.pay_on_sandbox(checkout)

    await asyncio.gather(*(chip_in(name) for name in names))

    def final(card: dict[str, Any]) -> bool:
        text = current(shop, card)["text"]
        return "$6.00 of $12.50" in text and all(name in text for name in names)

    await shop.emu.wait_for(lambda: all(final(card) for card in cards))
    await asyncio.sleep(1.5)  # a redraw still to come would land now, and is counted
    assert all(final(card) for card in cards)
    edits = edits_per_card(shop)
    assert len(edits) == len(cards)
    assert max(edits.values()) <= 3, edits  # six chip-ins in a second or two: not six edits of each card

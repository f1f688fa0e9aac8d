"""Steps the pay-for-me tests share: asking, sharing into a group, a friend opening the request."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, func, select

from emulator.state import Chat, User
from storage.models import Payment, PayRequest
from tests.harness import BOT_USERNAME, RunningShop

REQUEST_LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=(r_[A-Za-z0-9_-]+)")


async def open_order(shop: RunningShop, person: User, token: str) -> dict[str, Any]:
    await shop.emu.open_link(person, f"https://t.me/{BOT_USERNAME}?start={token}")
    return await shop.emu.next_bot_message(person)


async def ask_friend(
    shop: RunningShop, person: User, order_token: str, *, note: str | None = None, shares: int | None = None
) -> str:
    """The person asks friends to pay the order (split into shares if given); returns the request token."""
    emu = shop.emu
    start = shop.last_message_id(person)
    card = await open_order(shop, person, order_token)
    await emu.click(person, card, "Split with friends" if shares else "Ask a friend to pay")
    if shares:
        await emu.click(person, await emu.next_bot_message(person), str(shares))
    prompt = await shop.told(person, "Add a note", after=start)
    if note is None:
        await emu.click(person, prompt, "Skip")
    else:
        await emu.send_text(person, note)
    kit = await shop.told(person, "Your request is ready", after=start)
    match = REQUEST_LINK.search(kit["text"])
    assert match, kit["text"]
    return match.group(1)


async def share_card(shop: RunningShop, person: User, request_token: str, chat: Chat) -> dict[str, Any]:
    """Share the request into a chat through the chat picker; returns the card as posted there."""
    results = await shop.emu.inline_query(person, request_token, chat_type="group")
    card = next(r for r in results if r["id"].startswith("card:"))
    return await shop.emu.choose_inline_result(person, card, chat=chat)


async def open_request(shop: RunningShop, friend: User, request_token: str, *, timeout: float = 5.0) -> dict[str, Any]:
    await shop.emu.open_link(friend, f"https://t.me/{BOT_USERNAME}?start={request_token}")
    return await shop.emu.next_bot_message(friend, timeout=timeout)


def current(shop: RunningShop, message: dict[str, Any]) -> dict[str, Any]:
    """The message as it is now (cards are edited in place)."""
    chat_id = message["chat"]["id"]
    return next(m for m in shop.emu.chat_messages(chat_id) if m["message_id"] == message["message_id"])


async def attempts_and_holder(shop: RunningShop, request_token: str) -> tuple[int, str | None]:
    """How many checkouts were opened through any request, and who holds this one now."""
    async with shop.daifu.db.transaction() as session:
        attempts = (
            await session.exec(select(func.count()).select_from(Payment).where(col(Payment.request_id).is_not(None)))
        ).one()
        holder = (await session.exec(select(PayRequest.holder).where(col(PayRequest.token) == request_token))).one()
    return int(attempts), holder

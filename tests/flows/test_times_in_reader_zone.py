"""Expiry and payment times are shown by each reader's app in their own time zone: a date_time entity, with
the relative words inside for apps too old for it; never seconds and "UTC" next to a Pay button."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from presentation.formatting import in_words
from storage.models import Order, PayRequest
from tests.flows.payforme_steps import ask_friend, open_order, open_request, share_card
from tests.harness import RunningShop


def date_times(message: dict[str, Any]) -> list[tuple[str, int, str]]:
    """The date_time entities of a message: (the text they cover, the moment, the format)."""
    text = message.get("text") or message.get("caption") or ""
    wide = text.encode("utf-16-le")
    return [
        (
            wide[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le"),
            e["unix_time"],
            e["date_time_format"],
        )
        for e in message.get("entities", message.get("caption_entities", []))
        if e["type"] == "date_time"
    ]


async def test_the_order_card_and_the_friends_offer_show_the_expiry_in_the_readers_time(shop: RunningShop) -> None:
    token = await shop.new_link("/newlink 12.50 USD Coffee beans")
    card = await open_order(shop, shop.alice, token)
    async with shop.daifu.db.transaction() as session:
        order = (await session.exec(select(Order).where(col(Order.token) == token))).one()
    expires = order.expires_at if order.expires_at.tzinfo else order.expires_at.replace(tzinfo=UTC)
    [(words, unix, shown)] = date_times(card)
    assert unix == int(expires.timestamp()) and shown == "wdt"
    assert words.startswith("in ") and "UTC" not in card["text"]

    request = await ask_friend(shop, shop.alice, token)
    offer = await open_request(shop, shop.bob, request)
    async with shop.daifu.db.transaction() as session:
        asked = (await session.exec(select(PayRequest).where(col(PayRequest.token) == request))).one()
    until = asked.expires_at if asked.expires_at.tzinfo else asked.expires_at.replace(tzinfo=UTC)
    [(words, unix, _shown)] = date_times(offer)
    assert unix == int(until.timestamp()) and words.startswith("in ")
    assert "UTC" not in offer["text"]

    group = shop.emu.add_group("Friends", members=[shop.alice, shop.bob])
    posted = await share_card(shop, shop.alice, request, group)
    assert [unix for _words, unix, _shown in date_times(posted)] == [int(until.timestamp())]


async def test_a_chinese_reader_gets_the_relative_words_in_chinese(shop: RunningShop) -> None:
    wei = shop.emu.add_user("Wei", language_code="zh-hans")
    token = await shop.new_link("/newlink 80 CNY 茶叶")
    card = await open_order(shop, wei, token)
    [(words, _unix, _shown)] = date_times(card)
    assert "后" in words  # "…后": after some time, in Chinese


def test_a_moment_just_past_is_in_the_past_in_the_words_for_older_apps() -> None:
    now = datetime(2026, 12, 7, 10, 0, 30, tzinfo=UTC)
    assert in_words(now - timedelta(seconds=5), "en", now) == "5 seconds ago"  # a receipt's payment time
    assert in_words(now, "en", now) == "1 second ago"
    assert in_words(now + timedelta(hours=23, seconds=20), "en", now) == "in 23 hours"
    assert in_words(now - timedelta(minutes=90), "zh_Hans", now) == "2小时前"

"""Only money: /newlink refuses ISO 4217 codes no one pays with (funds, metals, units of account, testing and
"no currency"), with a reply that says so and no order made; Stars and real currencies still make links."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlmodel import func, select

from bot.settings import Settings
from storage.models import Order
from tests.harness import RunningShop

# ISO 4217's list of codes that are not money: funds (bond-market and indexed units), precious metals, the
# IMF's SDR and other units of account, the testing code and "no currency".
NOT_MONEY = [
    *["BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"],  # funds
    *["XAU", "XAG", "XPT", "XPD"],  # precious metals
    *["XDR", "XSU", "XUA", "XBA", "XBB", "XBC", "XBD"],  # SDR and units of account
    *["XTS", "XXX"],  # testing, no currency
]


async def order_count(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        return (await session.exec(select(func.count()).select_from(Order))).one()


async def test_newlink_refuses_every_code_that_is_not_money(shop: RunningShop) -> None:
    replies = {}
    for code in [*NOT_MONEY, "xau", "DEM"]:  # typed in lower case; a currency no longer in use
        await shop.emu.send_text(shop.admin, f"/newlink 5 {code} Gold bar")
        replies[code] = (await shop.emu.next_bot_message(shop.admin))["text"]

    expected = "{} is not money anyone can pay with"
    assert {code: text for code, text in replies.items() if not text.startswith(expected.format(code.upper()))} == {}
    assert "Use a currency such as USD" in replies["XAU"]
    assert await order_count(shop) == 0


async def test_the_guided_newlink_refuses_a_typed_code_that_is_not_money(shop: RunningShop) -> None:
    emu, admin = shop.emu, shop.admin
    await emu.send_text(admin, "/newlink")
    await emu.next_bot_message(admin)
    await emu.send_text(admin, "12")
    await emu.next_bot_message(admin)  # which currency?
    await emu.send_text(admin, "XTS")

    assert (await emu.next_bot_message(admin))["text"].startswith("XTS is not money anyone can pay with")
    await emu.send_text(admin, "CNY")  # the step waits for a currency still
    assert "What is it for?" in (await emu.next_bot_message(admin))["text"]


async def test_stars_and_real_currencies_still_make_links(shop: RunningShop) -> None:
    for command in ("/newlink 50 XTR Stickers", "/newlink 5 USD Coffee", "/newlink 30 CNY Tea"):
        assert await shop.new_link(command)
    assert await order_count(shop) == 3


def test_a_shop_cannot_be_configured_to_offer_what_is_not_money() -> None:
    for code in NOT_MONEY:
        with pytest.raises(ValidationError, match=f"not a currency people pay in: {code}"):
            Settings(_env_file=None, shop_currencies=f"USD,{code}")  # type: ignore[call-arg]
        with pytest.raises(ValidationError, match=f"not a currency people pay in: {code}"):
            Settings(_env_file=None, default_currency=code)  # type: ignore[call-arg]
    assert Settings(_env_file=None, shop_currencies="usd,XTR,cny").shop_currencies == ["USD", "XTR", "CNY"]  # type: ignore[call-arg]

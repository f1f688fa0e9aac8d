"""Ways into the Mini App from the chat, for a shop on https with its app registered at @BotFather: the menu button,
"Open in the app" on the order, the share kit and /my (private chats only), and request cards opening the app by
its direct link. A shop on plain http (every other test's) shows none of them."""

from __future__ import annotations

from typing import Any

from emulator.state import User
from tests.flows.payforme_steps import ask_friend, open_order, share_card
from tests.harness import BOT_USERNAME, RunningShop, running_shop

SITE = "https://pay.example"


def web_apps(message: dict[str, Any]) -> list[tuple[str, str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(button["text"], button["web_app"]["url"]) for row in rows for button in row if "web_app" in button]


async def my_list(shop: RunningShop, person: User) -> dict[str, Any]:
    await shop.emu.send_text(person, "/my")
    return await shop.told(person, "Your orders")


async def test_the_app_opens_from_the_menu_the_order_the_kit_my_and_group_cards(
    database_url: str, unused_tcp_port: int
) -> None:
    async with running_shop(database_url, unused_tcp_port, public_base_url=SITE, miniapp_short_name="pay") as shop:
        emu, alice, bob = shop.emu, shop.alice, shop.bob
        assert emu.world.default_menu_button == {
            "type": "web_app",
            "text": "Bean There",
            "web_app": {"url": f"{SITE}/app"},
        }
        cake = await shop.new_link("/newlink 10 USD Birthday cake")
        card = await open_order(shop, alice, cake)
        assert web_apps(card) == [("Open in the app", f"{SITE}/app?startapp=o_{cake}")]

        token = await ask_friend(shop, alice, cake, shares=2)
        kit = await shop.told(alice, "Your request is ready")
        assert web_apps(kit) == [("Open in the app", f"{SITE}/app?startapp={token}")]
        listed = await my_list(shop, alice)
        assert web_apps(listed) == [("Open in the app", f"{SITE}/app")]
        await emu.click(alice, listed, "1. Birthday cake")
        detail = await shop.told(alice, "Your request to friends is open")
        assert web_apps(detail) == [("Open in the app", f"{SITE}/app?startapp={token}")]

        # In a group a card has no web_app button (Telegram allows none there): its link opens the app directly.
        friends = emu.add_group("Friends", [alice, bob])
        posted = await share_card(shop, alice, token, friends)
        [[button]] = posted["reply_markup"]["inline_keyboard"]
        assert button["url"] == f"https://t.me/{BOT_USERNAME}/pay?startapp={token}"
        assert web_apps(posted) == []

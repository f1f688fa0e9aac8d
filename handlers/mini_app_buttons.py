"""Ways into the Mini App from the chat: an "Open in the app" button (private chats only, as Telegram allows
web_app buttons there alone) and the bot's menu button, both where the shop's site is https."""

from __future__ import annotations

from telegram import Bot, InlineKeyboardButton, MenuButtonWebApp, WebAppInfo
from telegram.constants import ChatType

from services.config import ShopRules
from services.i18n import Gettext

MENU_BUTTON_TEXT_MAX = 64


def order_start(token: str) -> str:
    """The app's start parameter for an order; a request's is its token as it is (it begins with r_)."""
    return f"o_{token}"


def open_in_app(
    rules: ShopRules, chat_type: str | None, start: str | None, _: Gettext
) -> list[list[InlineKeyboardButton]]:
    """A row with the button opening the app at this order or request; none where it cannot be opened."""
    url = rules.mini_app_url(start)
    if url is None or chat_type != ChatType.PRIVATE:
        return []
    return [[InlineKeyboardButton(_("Open in the app"), web_app=WebAppInfo(url))]]


async def set_menu_button(bot: Bot, rules: ShopRules) -> bool:
    """The menu button beside the message field opens the app (every private chat); False where it cannot."""
    url = rules.mini_app_url()
    if url is None:
        return False
    # One text for every language (Telegram's menu button has none per language): the shop's own name.
    text = rules.shop_name[:MENU_BUTTON_TEXT_MAX]
    return await bot.set_chat_menu_button(menu_button=MenuButtonWebApp(text, WebAppInfo(url)))

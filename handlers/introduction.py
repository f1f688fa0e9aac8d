"""The bot introduces itself to Telegram: the command menu "/" shows (everyone's commands in English and Chinese,
and the admins' too in each admin's private chat), and the descriptions of an empty chat and of the bot's profile.

Sent at every start, from the one list /help reads (handlers.command_list) and from the same catalogs as every
message, so a new command or a new translation reaches the menu with the next start. None of it is needed to take
payments: a call Telegram refuses or cannot take is logged as a warning, and the bot goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import BadRequest, TelegramError

from handlers.command_list import commands_for
from handlers.mini_app_buttons import set_menu_button
from services.config import ShopRules
from services.i18n import DEFAULT_LOCALE, Gettext, gettext_for

log = logging.getLogger(__name__)
# Telegram's language_code (None: everyone whose language has no menu of its own) -> daifu's locale.
MENU_LANGUAGES: dict[str | None, str] = {None: DEFAULT_LOCALE, "zh": "zh_Hans"}


def menu(_: Gettext, *, admin: bool) -> list[BotCommand]:
    return [BotCommand(command.name, _(command.description)) for command in commands_for(admin=admin)]


DESCRIPTION_MAX = 512  # Telegram's limits, in characters
SHORT_DESCRIPTION_MAX = 120


def description(_: Gettext, shop_name: str) -> str:
    """What an empty chat with the bot shows, above its Start button."""
    text = _(
        "{shop} takes payments in this chat. Open a checkout link or scan its QR code to see an order and pay it, "
        "or ask friends to pay it for you. Send /help to see what I can do, /paysupport for help with a payment."
    ).format(shop=shop_name)
    return _clipped(text, DESCRIPTION_MAX)


def short_description(_: Gettext, shop_name: str) -> str:
    """What the bot's profile and a shared link to it show."""
    return _clipped(
        _("{shop}: pay in this chat, or ask friends to pay for you.").format(shop=shop_name), SHORT_DESCRIPTION_MAX
    )


def _clipped(text: str, limit: int) -> str:
    # A long SHOP_NAME must not cost the bot its description: Telegram refuses a text over the limit whole.
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def introduce(bot: Bot, rules: ShopRules) -> None:
    """Set the menus and descriptions; each call that fails is logged and the others are made all the same."""
    if rules.mini_app_url() is not None:
        await _tried("the menu button (the Mini App)", set_menu_button(bot, rules))
    for language_code, locale in MENU_LANGUAGES.items():
        _ = gettext_for(locale)
        language = language_code or "default"
        everyone = menu(_, admin=False)
        await _tried(f"the command menu ({language})", bot.set_my_commands(everyone, language_code=language_code))
        for admin_id in sorted(rules.admin_ids):
            await introduce_to_admin(bot, admin_id, language_code)
        await _tried(
            f"the description ({language})",
            bot.set_my_description(description(_, rules.shop_name), language_code=language_code),
        )
        await _tried(
            f"the short description ({language})",
            bot.set_my_short_description(short_description(_, rules.shop_name), language_code=language_code),
        )


async def introduce_to_admin(bot: Bot, admin_id: int, language_code: str | None) -> None:
    """An admin's own menu, in their private chat: everyone's commands and the admins'. Telegram refuses it until
    the admin has started a chat with the bot, so their /start sets it too (handlers.start)."""
    _ = gettext_for(MENU_LANGUAGES[language_code])
    await _tried(
        f"the admin menu of {admin_id} ({language_code or 'default'})",
        bot.set_my_commands(menu(_, admin=True), scope=BotCommandScopeChat(admin_id), language_code=language_code),
        # Nothing is wrong: the admin has not opened the bot yet (a new shop), and their /start sets it.
        fine_if=("chat not found", f"admin {admin_id} has not started the bot yet: their menu is set at their /start"),
    )


async def _tried(what: str, call: Awaitable[bool], *, fine_if: tuple[str, str] | None = None) -> None:
    """fine_if: the words of a refusal that means nothing is wrong, and what it means (logged as information)."""
    try:
        await call
    except TelegramError as error:  # refused, timed out, unreachable: the bot works without it
        if fine_if is not None and isinstance(error, BadRequest) and fine_if[0] in error.message.lower():
            log.info("%s", fine_if[1])
            return
        log.warning("could not set %s: %s", what, error)
    except Exception:  # a bug here must not stop the start either (nor go unseen in its background task)
        log.exception("could not set %s", what)

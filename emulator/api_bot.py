"""Bot API methods about the bot itself: identity, receiving updates, commands, descriptions and the menu button."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from .api_common import Method
from .errors import ApiError, bad_request
from .params import Params
from .state import World

COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
LANGUAGE_CODE_RE = re.compile(r"[a-z]{2}")  # ISO 639-1, or empty for everyone without a language of their own
MAX_COMMANDS = 100
MAX_DESCRIPTION = 512
MAX_SHORT_DESCRIPTION = 120
SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
MENU_BUTTONS = frozenset({"commands", "web_app", "default"})
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"


async def get_me(w: World, p: Params) -> Any:
    return {
        **w.bot_user(),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": w.supports_inline_queries,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


async def get_updates(w: World, p: Params) -> Any:
    if w.webhook is not None:
        raise ApiError(409, WEBHOOK_CONFLICT)
    offset = p.get_int("offset")
    limit = min(max(p.get_int("limit") or 100, 1), 100)
    timeout = max(p.get_int("timeout") or 0, 0)
    allowed = p.get_json("allowed_updates")
    if isinstance(allowed, list):
        w.updates.allowed_updates = [str(kind) for kind in allowed]
    if offset is not None:
        w.updates.confirm(offset)
    # Only one getUpdates may wait at a time: a newer one ends the older, as in Telegram.
    me = object()
    w.poller = me
    w.notifier.notify()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        batch = w.updates.ready(limit)
        if batch:
            return batch
        if w.poller is not me:
            raise ApiError(409, POLL_CONFLICT)
        remaining = deadline - loop.time()
        if remaining <= 0 or w.stopping:
            return []
        await w.notifier.wait(remaining)


SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


async def set_webhook(w: World, p: Params) -> Any:
    url = p.get_str("url") or ""
    if not url:
        w.webhook = None
        return True
    if not url.startswith("https://") and not (w.allow_http_webhooks and url.startswith("http://")):
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = p.get_str("secret_token") or ""
    if secret and not SECRET_TOKEN.fullmatch(secret):
        raise bad_request("bad webhook: secret token contains unallowed characters")
    if p.get_bool("drop_pending_updates"):
        w.updates.drop_all()
    allowed = p.get_json("allowed_updates")
    if isinstance(allowed, list):
        w.updates.allowed_updates = [str(kind) for kind in allowed]
    # The emulator's WebhookPusher delivers to it while it is set.
    w.webhook = {"url": url, "max_connections": p.get_int("max_connections") or 40, "secret_token": secret}
    w.notifier.notify()
    return True


async def delete_webhook(w: World, p: Params) -> Any:
    w.webhook = None
    if p.get_bool("drop_pending_updates"):
        w.updates.drop_all()
    return True


async def get_webhook_info(w: World, p: Params) -> Any:
    info: dict[str, Any] = {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": w.updates.pending_count,
    }
    if w.webhook is not None:
        info.update(w.webhook)
    if w.updates.allowed_updates:
        info["allowed_updates"] = list(w.updates.allowed_updates)
    return info


def _language_code(p: Params) -> str:
    code = p.get_str("language_code") or ""
    if code and not LANGUAGE_CODE_RE.fullmatch(code):
        raise bad_request("invalid language code specified")
    return code


def _commands_key(w: World, p: Params) -> tuple[str, str]:
    scope = p.get_json("scope") or {"type": "default"}
    if not isinstance(scope, dict) or scope.get("type") not in SCOPES:
        raise bad_request("can't parse BotCommandScope JSON object")
    if scope["type"].startswith("chat"):
        if "chat_id" not in scope:
            raise bad_request("chat_id is empty")
        # A chat the bot cannot see (a person who never started it) is refused, as Telegram does.
        w.find_chat(scope["chat_id"])
    return json.dumps(scope, sort_keys=True), _language_code(p)


async def set_my_commands(w: World, p: Params) -> Any:
    commands = p.get_json("commands")
    if not isinstance(commands, list):
        raise bad_request("can't parse commands JSON object")
    if len(commands) > MAX_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    for command in commands:
        if not isinstance(command, dict) or not COMMAND_RE.fullmatch(str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    key = _commands_key(w, p)
    if commands:
        w.commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
    else:
        w.commands.pop(key, None)
    return True


async def get_my_commands(w: World, p: Params) -> Any:
    return list(w.commands.get(_commands_key(w, p), []))


async def delete_my_commands(w: World, p: Params) -> Any:
    w.commands.pop(_commands_key(w, p), None)
    return True


def _description(p: Params, name: str, limit: int, too_long: str) -> str:
    text = p.get_str(name) or ""
    if len(text) > limit:  # Telegram counts characters, not bytes: a Chinese text has as many as an English one
        raise bad_request(too_long)
    return text


async def set_my_description(w: World, p: Params) -> Any:
    text = _description(p, "description", MAX_DESCRIPTION, "BOT_DESCRIPTION_INVALID")
    _keep(w.descriptions, _language_code(p), text)
    return True


async def get_my_description(w: World, p: Params) -> Any:
    return {"description": w.descriptions.get(_language_code(p), "")}


async def set_my_short_description(w: World, p: Params) -> Any:
    text = _description(p, "short_description", MAX_SHORT_DESCRIPTION, "BOT_ABOUT_INVALID")
    _keep(w.short_descriptions, _language_code(p), text)
    return True


async def get_my_short_description(w: World, p: Params) -> Any:
    return {"short_description": w.short_descriptions.get(_language_code(p), "")}


def _keep(texts: dict[str, str], language_code: str, text: str) -> None:
    """An empty text removes the language's own, as in Telegram (the default one shows instead)."""
    if text:
        texts[language_code] = text
    else:
        texts.pop(language_code, None)


def _menu_button(w: World, p: Params) -> dict[str, Any]:
    button = p.get_json("menu_button") or {"type": "default"}
    if not isinstance(button, dict) or button.get("type") not in MENU_BUTTONS:
        raise bad_request("can't parse menu button JSON object")
    if button["type"] == "web_app":
        url = str((button.get("web_app") or {}).get("url", ""))
        allowed = ("https://", "http://") if w.test_environment else ("https://",)
        if not button.get("text") or not url.startswith(allowed):
            raise bad_request("BUTTON_URL_INVALID")
    return button


async def set_chat_menu_button(w: World, p: Params) -> Any:
    button = _menu_button(w, p)
    if p.has("chat_id"):
        chat = w.find_chat(p.chat_id())
        if chat.type != "private":
            raise bad_request("chat not found")
        chat.menu_button = button
    else:
        w.default_menu_button = {"type": "commands"} if button["type"] == "default" else button
    return True


async def get_chat_menu_button(w: World, p: Params) -> Any:
    if p.has("chat_id"):
        chat = w.find_chat(p.chat_id())
        if chat.menu_button is not None and chat.menu_button["type"] != "default":
            return chat.menu_button
    return w.default_menu_button


async def close(w: World, p: Params) -> Any:
    return True


async def log_out(w: World, p: Params) -> Any:
    return True


METHODS: dict[str, Method] = {
    "getMe": get_me,
    "getUpdates": get_updates,
    "setWebhook": set_webhook,
    "deleteWebhook": delete_webhook,
    "getWebhookInfo": get_webhook_info,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
    "setMyDescription": set_my_description,
    "getMyDescription": get_my_description,
    "setMyShortDescription": set_my_short_description,
    "getMyShortDescription": get_my_short_description,
    "setChatMenuButton": set_chat_menu_button,
    "getChatMenuButton": get_chat_menu_button,
    "close": close,
    "logOut": log_out,
}

"""Pieces shared by the Bot API methods: text rules, replies, keyboards and edit targets."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import bad_request, forbidden
from .formatting import Entity, render, utf16_len
from .markup import has_web_app_button, inline_keyboard, validate_markup
from .params import Params
from .state import Chat, StoredMessage, World

Method = Callable[[World, Params], Awaitable[Any]]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)


def render_text(p: Params, field: str = "text") -> tuple[str, list[Entity], str]:
    """(plain text, entities, source) of a message text; Telegram's limits and errors apply."""
    source = p.get_str(field) or ""
    text, entities = render(source, p.get_str("parse_mode"), p.get_json("entities"))
    if not text:
        raise bad_request("message text is empty")
    if utf16_len(text) > TEXT_LIMIT:
        raise bad_request("message is too long")
    return text, entities, source


def render_caption(p: Params) -> tuple[str, list[Entity], str]:
    """Like render_text, but a caption may be empty."""
    source = p.get_str("caption") or ""
    text, entities = render(source, p.get_str("parse_mode"), p.get_json("caption_entities"))
    if utf16_len(text) > CAPTION_LIMIT:
        raise bad_request("message caption is too long")
    return text, entities, source


def caption_content(p: Params) -> tuple[dict[str, Any], str]:
    text, entities, source = render_caption(p)
    content: dict[str, Any] = {}
    if text:
        content["caption"] = text
    if entities:
        content["caption_entities"] = entities
    if p.get_bool("show_caption_above_media"):
        content["show_caption_above_media"] = True
    return content, source


def post_bot_message(
    w: World, chat: Chat, p: Params, content: dict[str, Any], source_text: str | None = None
) -> dict[str, Any]:
    """Post a message from the bot with the common send options; returns the API Message."""
    markup = validate_markup(p.get_json("reply_markup"), http_web_apps=w.test_environment)
    if chat.type != "private" and has_web_app_button(markup):
        raise bad_request("BUTTON_TYPE_INVALID")
    content = {**content, **_reply_to(chat, p)}
    if p.get_bool("protect_content"):
        content["has_protected_content"] = True
    if inline_keyboard(markup) is not None:
        content["reply_markup"] = markup
    w.check_flood(chat.id)
    stored = w.post(chat, content, source_text=source_text)
    if markup is not None and "inline_keyboard" not in markup:
        # Reply keyboards belong to the chat's input field, not to the message.
        chat.reply_keyboard = None if markup.get("remove_keyboard") else markup
    return copy.deepcopy(stored.data)


def _reply_to(chat: Chat, p: Params) -> dict[str, Any]:
    params = p.get_json("reply_parameters") or {}
    if not isinstance(params, dict):
        raise bad_request("can't parse reply parameters JSON object")
    message_id = params.get("message_id", p.get_int("reply_to_message_id"))
    if message_id is None:
        return {}
    allow_without = params.get("allow_sending_without_reply", p.get_bool("allow_sending_without_reply"))
    target = chat.messages.get(int(message_id))
    if target is None:
        if allow_without:
            return {}
        raise bad_request("message to be replied not found")
    # A replied-to message is embedded one level deep only.
    replied = {k: v for k, v in target.data.items() if k != "reply_to_message"}
    return {"reply_to_message": copy.deepcopy(replied)}


def edit_target(w: World, p: Params) -> tuple[StoredMessage, bool]:
    """The message an edit method names, and whether it was named by inline_message_id."""
    inline_id = p.get_str("inline_message_id")
    if inline_id:
        where = w.inline_messages.get(inline_id)
        stored = w.message(*where) if where else None
        if stored is None:
            raise bad_request("MESSAGE_ID_INVALID")
        return stored, True
    chat = w.find_chat(p.chat_id())
    if chat.user is not None and chat.user.blocked_bot:
        raise forbidden("bot was blocked by the user")
    message_id = p.get_int("message_id")
    if message_id is None:
        raise bad_request("message identifier is not specified")
    stored = chat.messages.get(message_id)
    if stored is None:
        raise bad_request("message to edit not found")
    if not stored.from_bot:
        raise bad_request("message can't be edited")
    return stored, False


def apply_edit(
    w: World, stored: StoredMessage, inline: bool, new: dict[str, Any], source_text: str | None = None
) -> Any:
    """Replace the fields in new (None removes one); answers as the edit methods do."""
    if all(stored.data.get(key) == value for key, value in new.items()):
        raise bad_request(NOT_MODIFIED)
    w.check_flood(stored.chat_id)
    changes = {key: value for key, value in new.items() if value is not None}
    removed = tuple(key for key, value in new.items() if value is None)
    w.edit(stored, changes, remove=removed, source_text=source_text)
    # Inline messages are not visible to the bot, so Telegram answers just True for them.
    return True if inline else copy.deepcopy(stored.data)


def edit_markup(w: World, p: Params) -> dict[str, Any] | None:
    markup = validate_markup(p.get_json("reply_markup"), http_web_apps=w.test_environment)
    if markup is not None and "inline_keyboard" not in markup:
        raise bad_request("inline keyboard expected")
    return markup

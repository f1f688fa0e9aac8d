"""Bot API methods about messages, chats and files."""

from __future__ import annotations

from typing import Any

from .api_common import (
    Method,
    apply_edit,
    caption_content,
    edit_markup,
    edit_target,
    post_bot_message,
    render_caption,
    render_text,
)
from .errors import bad_request
from .media import StoredFile, guess_mime_type, image_size
from .params import Params, Upload
from .state import World

MEDIA_FIELDS = ("photo", "document", "video", "animation", "audio", "voice")
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
WRONG_FILE = "wrong file identifier/HTTP URL specified"


async def send_message(w: World, p: Params) -> Any:
    chat = w.chat_for_sending(p.chat_id())
    text, entities, source = render_text(p)
    content: dict[str, Any] = {"text": text}
    if entities:
        content["entities"] = entities
    preview = p.get_json("link_preview_options")
    if isinstance(preview, dict) and preview:
        content["link_preview_options"] = preview
    return post_bot_message(w, chat, p, content, source)


async def send_photo(w: World, p: Params) -> Any:
    chat = w.chat_for_sending(p.chat_id())
    photo = p.file("photo")
    if isinstance(photo, Upload):
        size = image_size(photo.data)
        if size is None:
            raise bad_request("IMAGE_PROCESS_FAILED")
        stored = w.files.add(
            photo.data,
            "photo",
            file_name=photo.filename,
            mime_type=guess_mime_type(photo.filename, photo.content_type),
            size=size,
        )
    else:
        stored = _existing_file(w, photo, "photo")
    content, source = caption_content(p)
    content["photo"] = [stored.photo_size()]
    if p.get_bool("has_spoiler"):
        content["has_media_spoiler"] = True
    return post_bot_message(w, chat, p, content, source)


async def send_document(w: World, p: Params) -> Any:
    chat = w.chat_for_sending(p.chat_id())
    document = p.file("document")
    if isinstance(document, Upload):
        if not document.data:
            raise bad_request("file must be non-empty")
        name = document.filename or "file"
        stored = w.files.add(
            document.data, "document", file_name=name, mime_type=guess_mime_type(name, document.content_type)
        )
    else:
        stored = _existing_file(w, document, "document")
    content, source = caption_content(p)
    content["document"] = stored.document()
    return post_bot_message(w, chat, p, content, source)


def _existing_file(w: World, reference: str | None, kind: str) -> StoredFile:
    if not reference:
        raise bad_request(f"there is no {kind} in the request")
    if reference.startswith(("http://", "https://")):
        # The emulator has no internet to fetch from; Telegram would download the URL.
        raise bad_request(WRONG_FILE)
    stored = w.files.get(reference)
    if stored is None:
        raise bad_request(WRONG_FILE)
    if stored.kind != kind:
        raise bad_request(f"can't use file of type {stored.kind.capitalize()} as {kind.capitalize()}")
    return stored


async def edit_message_text(w: World, p: Params) -> Any:
    stored, inline = edit_target(w, p)
    if "text" not in stored.data:
        raise bad_request("there is no text in the message to edit")
    text, entities, source = render_text(p)
    # Leaving reply_markup out of an edit removes the keyboard, as in Telegram.
    new = {"text": text, "entities": entities or None, "reply_markup": edit_markup(w, p)}
    return apply_edit(w, stored, inline, new, source)


async def edit_message_caption(w: World, p: Params) -> Any:
    stored, inline = edit_target(w, p)
    if not any(field in stored.data for field in MEDIA_FIELDS):
        raise bad_request("there is no caption in the message to edit")
    text, entities, source = render_caption(p)
    new = {"caption": text or None, "caption_entities": entities or None, "reply_markup": edit_markup(w, p)}
    return apply_edit(w, stored, inline, new, source)


async def edit_message_reply_markup(w: World, p: Params) -> Any:
    stored, inline = edit_target(w, p)
    return apply_edit(w, stored, inline, {"reply_markup": edit_markup(w, p)})


async def delete_message(w: World, p: Params) -> Any:
    chat = w.find_chat(p.chat_id())
    stored = chat.messages.get(p.require_int("message_id"))
    if stored is None:
        raise bad_request("message to delete not found")
    # In groups a bot deletes others' messages only as an admin; in private chats it may.
    if not stored.from_bot and chat.type != "private" and not chat.bot_admin:
        raise bad_request("message can't be deleted")
    w.delete(stored)
    return True


async def send_chat_action(w: World, p: Params) -> Any:
    chat = w.chat_for_sending(p.chat_id())
    action = p.get_str("action")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    chat.last_action = action
    w.emit({"type": "chat_action", "chat_id": chat.id, "action": action})
    return True


async def get_chat(w: World, p: Params) -> Any:
    chat = w.find_chat(p.chat_id())
    return {
        **chat.to_api(),
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


async def get_chat_member(w: World, p: Params) -> Any:
    chat = w.find_chat(p.chat_id())
    user_id = p.require_int("user_id")
    if user_id == w.bot_id:
        if chat.bot_admin:
            return _administrator(w.bot_user())
        return {"status": "member" if chat.bot_member else "left", "user": w.bot_user()}
    user = w.users.get(user_id)
    if user is None:
        raise bad_request("user not found")
    if not chat.has_member(user):
        return {"status": "left", "user": user.to_api()}
    if chat.members and chat.members[0] is user:
        # The first member of a group made it.
        return {"status": "creator", "user": user.to_api(), "is_anonymous": False}
    return {"status": "member", "user": user.to_api()}


def _administrator(user: dict[str, Any]) -> dict[str, Any]:
    rights = (
        "can_manage_chat",
        "can_delete_messages",
        "can_manage_video_chats",
        "can_restrict_members",
        "can_change_info",
        "can_invite_users",
        "can_pin_messages",
    )
    denied = (
        "can_be_edited",
        "is_anonymous",
        "can_promote_members",
        "can_post_stories",
        "can_edit_stories",
        "can_delete_stories",
    )
    return {
        "status": "administrator",
        "user": user,
        **dict.fromkeys(rights, True),
        **dict.fromkeys(denied, False),
    }


async def get_file(w: World, p: Params) -> Any:
    stored = w.files.get(p.require_str("file_id"))
    if stored is None:
        raise bad_request("invalid file_id")
    return stored.file()


METHODS: dict[str, Method] = {
    "sendMessage": send_message,
    "sendPhoto": send_photo,
    "sendDocument": send_document,
    "editMessageText": edit_message_text,
    "editMessageCaption": edit_message_caption,
    "editMessageReplyMarkup": edit_message_reply_markup,
    "deleteMessage": delete_message,
    "sendChatAction": send_chat_action,
    "getChat": get_chat,
    "getChatMember": get_chat_member,
    "getFile": get_file,
}

"""Parameters of one Bot API call, whichever way they were sent.

Bot API clients send parameters as a JSON body, as a query string, as a urlencoded form or as
multipart/form-data. In the form encodings every value is a string, and object-typed fields
(``reply_markup``, ``prices``...) are JSON text inside that string, so values are normalised here
once: the methods and the call log then see the same Python types whatever the client chose.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import bad_request

INT_FIELDS = frozenset(
    {
        "message_id",
        "user_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "reply_to_message_id",
        "message_thread_id",
        "max_tip_amount",
        "subscription_period",
        "photo_size",
        "photo_width",
        "photo_height",
        "max_connections",
        "from_chat_id",
    }
)
BOOL_FIELDS = frozenset(
    {
        "ok",
        "show_alert",
        "is_personal",
        "drop_pending_updates",
        "disable_notification",
        "protect_content",
        "allow_paid_broadcast",
        "allow_sending_without_reply",
        "disable_web_page_preview",
        "show_caption_above_media",
        "has_spoiler",
        "disable_content_type_detection",
        "need_name",
        "need_phone_number",
        "need_email",
        "need_shipping_address",
        "send_phone_number_to_provider",
        "send_email_to_provider",
        "is_flexible",
    }
)
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "prices",
        "results",
        "result",
        "commands",
        "scope",
        "allowed_updates",
        "reply_parameters",
        "link_preview_options",
        "menu_button",
        "suggested_tip_amounts",
        "button",
        "media",
    }
)
_INT_RE = re.compile(r"-?\d+")


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart field."""

    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    """Normalised parameters with typed accessors that fail the way the Bot API does."""

    def __init__(self, raw: dict[str, Any], uploads: dict[str, Upload] | None = None) -> None:
        self.uploads = uploads or {}
        self.values: dict[str, Any] = {
            name: _normalise(name, value) for name, value in raw.items() if value is not None
        }

    def as_dict(self) -> dict[str, Any]:
        """What the call log keeps: the normalised values, and uploads described, not copied."""
        described = {
            name: {"filename": up.filename, "content_type": up.content_type, "size": len(up.data)}
            for name, up in self.uploads.items()
        }
        return {**self.values, **described}

    def has(self, name: str) -> bool:
        return name in self.values or name in self.uploads

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, (dict, list)):
            raise bad_request(f'field "{name}" must be of type String')
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def require_str(self, name: str) -> str:
        value = self.get_str(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        return value

    def get_int(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise bad_request(f'field "{name}" must be of type Integer')

    def require_int(self, name: str) -> int:
        value = self.get_int(name)
        if value is None:
            raise bad_request(f"{name} is empty")
        return value

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        return default if value is None else bool(value)

    def get_json(self, name: str) -> Any:
        return self.values.get(name)

    def chat_id(self) -> int | str:
        value = self.values.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            return int(value) if _INT_RE.fullmatch(value) else value
        raise bad_request("chat not found")

    def file(self, name: str) -> Upload | str | None:
        """An uploaded file, or the string (file_id or URL) sent instead; ``attach://x`` resolves to x."""
        if name in self.uploads:
            return self.uploads[name]
        value = self.get_str(name)
        if value and value.startswith("attach://"):
            attached = self.uploads.get(value.removeprefix("attach://"))
            if attached is None:
                raise bad_request(f"file of field {name} not found")
            return attached
        return value


def _normalise(name: str, value: Any) -> Any:
    if name == "chat_id" and isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    if name in INT_FIELDS:
        if isinstance(value, str):
            if value == "":
                return None
            if not _INT_RE.fullmatch(value.strip()):
                raise bad_request(f'field "{name}" must be of type Integer')
            return int(value)
        return value
    if name in BOOL_FIELDS and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0", ""):
            return False
        raise bad_request(f'field "{name}" must be of type Boolean')
    if name in JSON_FIELDS and isinstance(value, str):
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            what = "reply keyboard markup" if name == "reply_markup" else name.replace("_", " ")
            raise bad_request(f"can't parse {what} JSON object") from None
    return value

"""Keyboards: checking what the bot sends, and finding the button a person taps."""

from __future__ import annotations

from typing import Any

from .errors import bad_request

# A button does exactly one of these things when tapped.
BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def validate_markup(markup: Any, *, http_web_apps: bool = False) -> dict[str, Any] | None:
    """Check reply_markup the way Telegram does; returns it unchanged (or None when absent).

    http_web_apps: web_app buttons may open http pages, as Telegram's test environment allows (the playground)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
        for row in rows:
            for button in row:
                _validate_button(button, http_web_apps)
        return markup
    if "keyboard" in markup or "remove_keyboard" in markup or "force_reply" in markup:
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def _validate_button(button: Any, http_web_apps: bool) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
    if not button["text"]:
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [name for name in BUTTON_ACTIONS if name in button]
    if not actions:
        raise bad_request("text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise bad_request("can't parse inline keyboard button: only one button action can be specified")
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
        raise bad_request("BUTTON_DATA_INVALID")
    url = button.get("url")
    if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
        raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    web_app = button.get("web_app")
    if web_app is not None:
        app_url = str(web_app.get("url", "")) if isinstance(web_app, dict) else ""
        if not app_url.startswith("https://") and not (http_web_apps and app_url.startswith("http://")):
            raise bad_request(
                f"inline keyboard button Web App URL '{app_url}' is invalid: Only HTTPS links are allowed"
            )


def has_web_app_button(markup: dict[str, Any] | None) -> bool:
    """Telegram shows web_app buttons in private chats only."""
    rows = (markup or {}).get("inline_keyboard") or []
    return any("web_app" in button for row in rows for button in row)


def inline_keyboard(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """The part of reply_markup that a Message carries: only inline keyboards are shown on messages."""
    return markup if markup is not None and "inline_keyboard" in markup else None


def find_button(
    markup: dict[str, Any] | None, text: str | None = None, callback_data: str | None = None
) -> dict[str, Any]:
    """The button whose text equals text (else contains it, ignoring case), or whose callback_data matches."""
    buttons = [button for row in (markup or {}).get("inline_keyboard", []) for button in row]
    if callback_data is not None:
        matches = [b for b in buttons if b.get("callback_data") == callback_data]
    elif text is not None:
        matches = [b for b in buttons if b["text"] == text] or [
            b for b in buttons if text.casefold() in b["text"].casefold()
        ]
    else:
        raise ValueError("name the button by text or callback_data")
    shown = [b["text"] for b in buttons]
    if not matches:
        raise LookupError(f"no button {text or callback_data!r} among {shown}")
    if len(matches) > 1:
        raise LookupError(f"button {text!r} is ambiguous among {shown}")
    return matches[0]

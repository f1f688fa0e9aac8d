"""Bot API answers to people's queries: callback button taps and inline queries."""

from __future__ import annotations

from typing import Any

from .api_common import Method
from .api_payments import build_invoice, check_buy_button
from .errors import QUERY_TOO_OLD, bad_request
from .formatting import render, utf16_len
from .markup import inline_keyboard, validate_markup
from .params import Params
from .state import PendingQuery, World

RESULT_TYPES = frozenset(
    {
        "article",
        "photo",
        "gif",
        "mpeg4_gif",
        "video",
        "audio",
        "voice",
        "document",
        "location",
        "venue",
        "contact",
        "game",
        "sticker",
    }
)


def _open_query(w: World, query_id: str, kind: str) -> PendingQuery:
    query = w.queries.get(query_id)
    # An answered or expired query is as unknown to Telegram as a made-up id.
    if query is None or query.kind != kind or query.expired or query.answer is not None:
        raise bad_request(QUERY_TOO_OLD)
    return query


async def answer_callback_query(w: World, p: Params) -> Any:
    query = _open_query(w, p.require_str("callback_query_id"), "callback")
    text = p.get_str("text")
    if text is not None and utf16_len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query.answer = {
        "text": text,
        "show_alert": p.get_bool("show_alert"),
        "url": p.get_str("url"),
        "cache_time": p.get_int("cache_time") or 0,
    }
    w.emit({"type": "callback_answer", "user_id": query.user_id, "answer": query.answer})
    return True


async def answer_inline_query(w: World, p: Params) -> Any:
    query = _open_query(w, p.require_str("inline_query_id"), "inline")
    results = p.get_json("results")
    if not isinstance(results, list):
        raise bad_request("can't parse inline query results JSON object")
    if len(results) > 50:
        raise bad_request("RESULTS_TOO_MUCH")
    seen: set[str] = set()
    for result in results:
        validate_result(w, result, seen)
    query.answer = {
        "results": results,
        "next_offset": p.get_str("next_offset") or "",
        "cache_time": p.get_int("cache_time"),
        "is_personal": p.get_bool("is_personal"),
        "button": p.get_json("button"),
    }
    return True


def validate_result(w: World, result: Any, seen: set[str]) -> None:
    if not isinstance(result, dict) or result.get("type") not in RESULT_TYPES:
        raise bad_request("can't parse inline query result JSON object")
    result_id = str(result.get("id") or "")
    if not 1 <= len(result_id.encode("utf-8")) <= 64:
        raise bad_request("RESULT_ID_INVALID")
    if result_id in seen:
        raise bad_request("RESULT_ID_DUPLICATE")
    seen.add(result_id)
    validate_markup(result.get("reply_markup"))
    content = result.get("input_message_content")
    if result["type"] == "article":
        if not result.get("title"):
            raise bad_request("ARTICLE_TITLE_EMPTY")
        if not isinstance(content, dict):
            raise bad_request("MESSAGE_EMPTY")
    if result["type"] == "photo" and "photo_file_id" in result and w.files.get(result["photo_file_id"]) is None:
        raise bad_request("wrong file identifier/HTTP URL specified")
    if isinstance(content, dict):
        _validate_content(content)
        if "payload" in content:
            check_buy_button(inline_keyboard(result.get("reply_markup")))


def _validate_content(content: dict[str, Any]) -> None:
    # Telegram checks the message a result would send when the answer arrives, not when it is chosen.
    if "message_text" in content:
        text, _ = render(str(content["message_text"]), content.get("parse_mode"), content.get("entities"))
        if not text:
            raise bad_request("MESSAGE_EMPTY")
        if utf16_len(text) > 4096:
            raise bad_request("MESSAGE_TOO_LONG")
    elif "payload" in content and "currency" in content:
        build_invoice(content)


METHODS: dict[str, Method] = {
    "answerCallbackQuery": answer_callback_query,
    "answerInlineQuery": answer_inline_query,
}

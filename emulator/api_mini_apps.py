"""Bot API methods for Mini Apps: a message prepared for the app's share sheet, and the answer to an app's session.

savePreparedInlineMessage keeps an inline result for one person, for the chat types allowed; the person sends it
with shareMessage (People.share_prepared). answerWebAppQuery sends a result on behalf of the person who opened the
app with a query_id (People.mini_app_init_data(with_query=True)), once, into their chat with the bot.
"""

from __future__ import annotations

import secrets
from typing import Any

from .api_common import Method
from .api_queries import validate_result
from .errors import bad_request
from .params import Params
from .people import People
from .state import PreparedMessage, World

PREPARED_LIFETIME = 24 * 3600  # seconds; Telegram's is not documented, and what daifu prepares is used at once
CHAT_TYPES = {
    "allow_user_chats": "users",
    "allow_bot_chats": "bots",
    "allow_group_chats": "groups",
    "allow_channel_chats": "channels",
}


def _result(w: World, p: Params) -> dict[str, Any]:
    result = p.get_json("result")
    validate_result(w, result, set())
    assert isinstance(result, dict)
    return result


async def save_prepared_inline_message(w: World, p: Params) -> Any:
    user_id = p.require_int("user_id")
    if user_id not in w.users:
        raise bad_request("USER_ID_INVALID")
    result = _result(w, p)
    allowed = frozenset(kind for param, kind in CHAT_TYPES.items() if p.get_bool(param))
    if not allowed:
        raise bad_request("SEND_MESSAGE_TYPES_EMPTY")
    prepared_id = secrets.token_urlsafe(12)
    expires_at = w.now() + PREPARED_LIFETIME
    w.prepared_messages[prepared_id] = PreparedMessage(user_id, result, allowed, expires_at)
    return {"id": prepared_id, "expiration_date": expires_at}


async def answer_web_app_query(w: World, p: Params) -> Any:
    query_id = p.require_str("web_app_query_id")
    user_id = w.web_app_queries.get(query_id)
    if user_id is None:
        raise bad_request("QUERY_ID_INVALID")
    result = _result(w, p)
    del w.web_app_queries[query_id]  # answered once
    person = w.user(user_id)
    stored = People(w).post_inline(person, result, w.chats[person.id], "")
    return {"inline_message_id": stored.inline_message_id} if stored.inline_message_id else {}


METHODS: dict[str, Method] = {
    "savePreparedInlineMessage": save_prepared_inline_message,
    "answerWebAppQuery": answer_web_app_query,
}

"""Mini App init data as Telegram makes it: the signed query string `Telegram.WebApp.initData` hands the app.

Signed with the emulated bot's token as core.telegram.org/bots/webapps describes, so daifu's check runs unchanged
against it. Telegram also adds an Ed25519 `signature` for third parties, with a key only Telegram holds: the emulator
puts random bytes of the right size in its place (nobody here checks it), covered by the hash like any field.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any
from urllib.parse import urlencode

from .state import User


def user_json(user: User) -> str:
    """The `user` field: the WebAppUser object, as compact JSON like Telegram's."""
    fields: dict[str, Any] = {"id": user.id, "first_name": user.first_name}
    if user.last_name:
        fields["last_name"] = user.last_name
    if user.username:
        fields["username"] = user.username
    if user.language_code:
        fields["language_code"] = user.language_code
    if user.is_premium:
        fields["is_premium"] = True
    fields["allows_write_to_pm"] = True
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def sign_init_data(token: str, fields: dict[str, str]) -> str:
    """The fields with their `hash` added, as a query string in the order given (Telegram's is not sorted)."""
    check = "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    signed = dict(fields, hash=hmac.new(secret, check.encode(), hashlib.sha256).hexdigest())
    return urlencode(signed)


def init_data(
    token: str,
    user: User,
    *,
    auth_date: int,
    start_param: str | None = None,
    chat_type: str = "sender",
    query_id: str | None = None,
) -> str:
    """What a Mini App opened by `user` gets as initData (opened from a direct link when start_param is given)."""
    fields = {"user": user_json(user), "chat_instance": str(secrets.randbelow(10**18)), "chat_type": chat_type}
    if query_id is not None:
        fields = {"query_id": query_id, **fields}
    if start_param is not None:
        fields["start_param"] = start_param
    fields["auth_date"] = str(auth_date)
    fields["signature"] = base64.urlsafe_b64encode(secrets.token_bytes(64)).decode().rstrip("=")
    return sign_init_data(token, fields)

"""Who calls the Mini App's API: the person Telegram signed into the app, from `Authorization: tma <initData>`.

Checked as Telegram documents (core.telegram.org/bots/webapps, "Validating data received via the Mini App"):
secret = HMAC_SHA256(key="WebAppData", msg=bot token); the init data is good when
hex(HMAC_SHA256(key=secret, msg=data-check string)) equals its `hash`, the data-check string being every other
received field as `key=value`, sorted by key, joined with "\n". That includes `signature` (Bot API 8.0): it is
Telegram's Ed25519 signature for third parties, and Telegram's own hash covers it like any other field.

Written here rather than taken from a library: it is some twenty lines of the standard library, and the packages
that do it add a dependency for less than they bring (each also parses the payload into its own types).
The init data is a credential for up to MINIAPP_AUTH_MAX_AGE: it is never logged, and neither is the reason
it was refused alongside it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

SCHEME = "tma"
MAX_INIT_DATA = 4096  # Telegram's is a few hundred characters; more is not from Telegram
# A client clock a little ahead of Telegram's is normal; a sign-in dated further ahead is not Telegram's.
FUTURE_SLACK_SECONDS = 60
HEX_HASH = re.compile(r"[0-9a-f]{64}")


class NotSignedIn(Exception):
    """Why the call carries no acceptable sign-in, in plain words for its 401 answer."""


@dataclass(frozen=True, slots=True)
class MiniAppUser:
    id: int
    first_name: str
    username: str | None
    language_code: str | None


def secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def data_check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{key}={value}" for key, value in sorted(fields.items()) if key != "hash")


def check_init_data(init_data: str, bot_token: str, *, max_age: float, now: float) -> MiniAppUser:
    """The person the init data names, if Telegram signed it for this bot no longer than max_age seconds ago."""
    if not init_data or len(init_data) > MAX_INIT_DATA:
        raise NotSignedIn("the sign-in from Telegram is missing or too long")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeError):
        raise NotSignedIn("the sign-in from Telegram cannot be read") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):  # a repeated field: which one would be checked is a parser's guess
        raise NotSignedIn("the sign-in from Telegram cannot be read")
    given = fields.get("hash", "")
    if not HEX_HASH.fullmatch(given):
        raise NotSignedIn("the sign-in from Telegram is not signed")
    try:
        expected = hmac.new(secret_key(bot_token), data_check_string(fields).encode(), hashlib.sha256).hexdigest()
    except UnicodeError:  # undecodable bytes smuggled into a field
        raise NotSignedIn("the sign-in from Telegram cannot be read") from None
    if not hmac.compare_digest(expected, given):
        raise NotSignedIn("the sign-in was not signed by Telegram for this bot")
    try:
        signed_at = int(fields["auth_date"])
        user = json.loads(fields["user"])
        person = MiniAppUser(
            id=_integer(user["id"]),
            first_name=str(user.get("first_name", "")),
            username=str(user["username"]) if user.get("username") else None,
            language_code=str(user["language_code"]) if user.get("language_code") else None,
        )
    except (KeyError, ValueError, TypeError, AttributeError):
        raise NotSignedIn("the sign-in from Telegram names no person") from None
    if now - signed_at > max_age:
        raise NotSignedIn("the sign-in from Telegram has expired: open the app again")
    if signed_at - now > FUTURE_SLACK_SECONDS:
        raise NotSignedIn("the sign-in from Telegram is dated in the future")
    return person


def _integer(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("not an integer")
    return value


def init_data_of(authorization: str | None) -> str:
    """The init data of an `Authorization: tma <initData>` header."""
    if not authorization:
        raise NotSignedIn("open this from Telegram: the call carries no sign-in")
    scheme, _, init_data = authorization.strip().partition(" ")
    if scheme.lower() != SCHEME:
        raise NotSignedIn("the call must be signed in with Telegram's init data (Authorization: tma ...)")
    return init_data.strip()

"""Telegram calls that only tidy up (answering a tap, taking buttons off a step already taken): their failure
loses nothing, so it is logged and never raised. A step does its work first, then these."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from telegram.error import BadRequest, TelegramError

log = logging.getLogger(__name__)


async def cosmetic(call: Awaitable[Any], what: str) -> None:
    try:
        await call
    except BadRequest as error:
        # "message is not modified", "query is too old": a repeat or a late answer, nothing wrong.
        log.info("%s: Telegram said %s", what, error.message)
    except TelegramError as error:  # 5xx, timeouts, 429s: the work is done and recorded already
        log.warning("%s failed: %s", what, error)

"""Counting and timing every update, for /metrics: a clock started before all handlers, read after."""

from __future__ import annotations

import time
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, TypeHandler

from services.metrics import HANDLER_SECONDS, UPDATES

FIRST_GROUP = -1_000_000
LAST_GROUP = 999_999  # before the webhook's done marker (bot.webhook.LAST_GROUP)
_started: dict[int, float] = {}


def kind_of(update: Update) -> str:
    return next((kind for kind in Update.ALL_TYPES if getattr(update, kind, None) is not None), "other")


async def start_clock(update: Update, _context: object) -> None:
    if len(_started) > 10_000:  # updates stopped early never read their clock: do not let them pile up
        _started.clear()
    _started[id(update)] = time.perf_counter()


async def read_clock(update: Update, _context: object) -> None:
    kind = kind_of(update)
    UPDATES.labels(kind).inc()
    started = _started.pop(id(update), None)
    if started is not None:
        HANDLER_SECONDS.labels(kind).observe(time.perf_counter() - started)


def grouped_handlers() -> list[tuple[int, BaseHandler[Any, Any, Any]]]:
    return [(FIRST_GROUP, TypeHandler(Update, start_clock)), (LAST_GROUP, TypeHandler(Update, read_clock))]

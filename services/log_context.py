"""The order and request a piece of work concerns, for every log line written while doing it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_order_id: ContextVar[int | None] = ContextVar("order_id", default=None)
_request_id: ContextVar[int | None] = ContextVar("request_id", default=None)


@contextmanager
def about(*, order_id: int | None = None, request_id: int | None = None) -> Iterator[None]:
    tokens = []
    if order_id is not None:
        tokens.append((_order_id, _order_id.set(order_id)))
    if request_id is not None:
        tokens.append((_request_id, _request_id.set(request_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current_ids() -> dict[str, int]:
    ids = {"order_id": _order_id.get(), "request_id": _request_id.get()}
    return {key: value for key, value in ids.items() if value is not None}

"""Reading JSON that comes from outside: nesting deeper than any real request is a refusal, not a crash.

Python's json parser recurses once per level, so a body nested a few thousand deep raises RecursionError
(a 500 with a traceback) and shallower but still absurd nesting makes every later walk over the value
costly. Every route that reads JSON from a client goes through read_json.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32  # an order or a playground action is two or three levels deep


class BadJson(ValueError):
    """The text is not JSON; the message says so, for the client."""


class JsonTooDeep(BadJson):
    """The JSON is nested deeper than allowed; the message gives the limit, for the client."""


def read_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonTooDeep(f"the JSON is nested too deeply (at most {max_depth} levels)") from None
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8
        raise BadJson("the body is not valid JSON") from None
    if _deeper_than(value, max_depth):
        raise JsonTooDeep(f"the JSON is nested too deeply (at most {max_depth} levels)")
    return value


def _deeper_than(value: Any, max_depth: int) -> bool:
    # A loop, not recursion: the value may be exactly as deep as the parser allowed.
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False

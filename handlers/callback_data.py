"""Typed callback data: what a button carries, built and read from one small frozen dataclass per kind of tap.

A codec is a frozen dataclass with a prefix and typed fields::

    @dataclass(frozen=True, slots=True)
    class MethodTap(CallbackData):
        prefix: ClassVar[str] = "pay"
        provider: str
        token: str

    InlineKeyboardButton(label, callback_data=MethodTap("stars", token).pack())  # "pay:stars:<token>"
    CallbackQueryHandler(choose_method, pattern=MethodTap.pattern())
    tap = MethodTap.unpack(query.data)  # MethodTap(provider="stars", token=...), or None

The prefix and the fields are joined by ":". A field is an int (digits), a bool ("1" or "0"), a StrEnum (one of
its values) or a str (any text without ":"); fields typed `X | None = None` come last, and are left out from the
first that is None. A prefix of several words ("askx:n") names one step of a feature whose buttons share the first
word. Packing refuses a string over Telegram's 64 bytes, or one that would not read back as the same value (a str
holding ":", a negative int): a button that could not work is never sent. Unpacking answers None for anything
else (foreign, malformed, forged): such a string matches no codec's pattern either, so it reaches the feature's
catch-all (any_button_under) or handlers.fallback, and is answered as an out-of-date button.

Hand-written because PTB has no typed callback data that outlives the process: its arbitrary_callback_data keeps
the objects behind the buttons in memory (or in a persistence), so a tap after a restart, or on a second worker,
finds nothing. These strings carry all a tap needs (or the short id of what daifu.buttons keeps in the database)
and read the same on any worker, any day. A codec's strings never change shape, so that buttons sent before an
upgrade work after it (tests/test_callback_data.py pins them).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from enum import StrEnum
from typing import Any, ClassVar, Self

SEPARATOR = ":"
MAX_BYTES = 64  # Telegram refuses a button whose callback_data is longer (in UTF-8)
PREFIX_SHAPE = re.compile(r"[a-z]+(?::[a-z]+)*")


class BadCallbackData(ValueError):
    """A button that could not work: its data is over Telegram's limit, or would not read back as written."""


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """How one field of a codec is written and read."""

    name: str
    regex: str
    read: Callable[[str], object]
    write: Callable[[Any], str]
    optional: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    fields: tuple[Field, ...]
    pattern: re.Pattern[str]


def field_of(name: str, hint: Any) -> Field:
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = True
    if hint is bool:  # before int: a bool is an int
        return Field(name, "[01]", lambda text: text == "1", lambda value: "1" if value else "0", optional)
    if hint is int:
        return Field(name, "[0-9]+", int, str, optional)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        values = "|".join(re.escape(member.value) for member in hint)
        return Field(name, values, hint, str, optional)
    if hint is str:
        return Field(name, f"[^{SEPARATOR}]+", str, str, optional)
    raise TypeError(f"callback data field {name!r}: {hint!r} is not an int, bool, StrEnum or str")


SHAPES: dict[type[CallbackData], Shape] = {}


def shape_of(codec: type[CallbackData]) -> Shape:
    """Read once per codec, when first used (its module is whole by then, so its annotations resolve)."""
    if codec not in SHAPES:
        SHAPES[codec] = read_shape(codec)
    return SHAPES[codec]


def read_shape(codec: type[CallbackData]) -> Shape:
    name = codec.__name__
    if not dataclasses.is_dataclass(codec):
        raise TypeError(f"{name} must be a dataclass")
    prefix = getattr(codec, "prefix", None)
    if not isinstance(prefix, str) or not PREFIX_SHAPE.fullmatch(prefix):
        raise TypeError(f"{name}.prefix must be lowercase words joined by {SEPARATOR!r}, not {prefix!r}")
    hints = typing.get_type_hints(codec)
    fields = tuple(field_of(field.name, hints[field.name]) for field in dataclasses.fields(codec))
    optional = [field.optional for field in fields]
    if optional != sorted(optional):
        raise TypeError(f"{name}: the optional fields must come last")
    regex = ""
    for field in reversed(fields):  # each optional field holds the rest: "ty:5" or "ty:5:w"
        regex = f"{SEPARATOR}({field.regex}){regex}"
        if field.optional:
            regex = f"(?:{regex})?"
    # \Z, not $: PTB matches from the start, and $ would let a trailing newline through.
    return Shape(fields, re.compile(re.escape(prefix) + regex + r"\Z"))


class CallbackData:
    """The base of every codec: subclasses are frozen dataclasses with a `prefix: ClassVar[str]`."""

    prefix: ClassVar[str]

    @classmethod
    def pattern(cls) -> re.Pattern[str]:
        """For CallbackQueryHandler: matches exactly the strings unpack reads."""
        return shape_of(cls).pattern

    @classmethod
    def unpack(cls, data: str | None) -> Self | None:
        """The tap this string stands for, or None if it is not one of this codec's (foreign, malformed, forged)."""
        if data is None:
            return None
        shape = shape_of(cls)
        match = shape.pattern.match(data)
        if match is None:
            return None
        texts = zip(shape.fields, match.groups(), strict=True)  # one group per field
        values = [None if text is None else field.read(text) for field, text in texts]
        make: Callable[..., Self] = cls
        return make(*values)

    def pack(self) -> str:
        """The button's callback_data; raises BadCallbackData rather than build one that could not work."""
        shape = shape_of(type(self))
        words = [self.prefix]
        for field in shape.fields:
            value = getattr(self, field.name)
            if value is None and field.optional:
                break
            words.append(field.write(value))
        data = SEPARATOR.join(words)
        if len(data.encode()) > MAX_BYTES:
            raise BadCallbackData(f"{data!r} is over Telegram's {MAX_BYTES} bytes of callback data")
        if type(self).unpack(data) != self:
            raise BadCallbackData(f"{self!r} would not read back from {data!r}")
        return data


def any_button_under(word: str) -> re.Pattern[str]:
    """Every button of a feature whose codecs' prefixes start with this word: registered after those codecs, it
    catches the ones none of them reads (from an older version of the bot, or forged) to answer them as stale."""
    return re.compile(re.escape(word) + SEPARATOR)

"""Links people open and the QR codes of them (segno), in the formats the chat and the web page need."""

from __future__ import annotations

import io

import segno


def deep_link(bot_username: str, token: str) -> str:
    return f"https://t.me/{bot_username}?start={token}"


def app_link(bot_username: str, short_name: str, start: str) -> str:
    """A direct link to the bot's Mini App, opening it at an order or request (start_param)."""
    return f"https://t.me/{bot_username}/{short_name}?startapp={start}"


def qr_png(data: str, *, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    # Telegram re-encodes every photo it gets, so squeezing the file buys nothing: fast deflate saves the time.
    segno.make(data, error="m").save(buffer, kind="png", scale=scale, border=4, compresslevel=1)
    return buffer.getvalue()


def qr_svg(data: str, *, scale: int = 6) -> bytes:
    buffer = io.BytesIO()
    segno.make(data, error="m").save(buffer, kind="svg", scale=scale, border=4, xmldecl=False)
    return buffer.getvalue()

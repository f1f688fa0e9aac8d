"""Reading a posted form that comes from outside: bytes that are not the form's encoding are a refusal.

aiohttp decodes a urlencoded body as it parses it, so a body with bytes that are not UTF-8 raises out of
`request.post()`, and so do the many ways a multipart body can be malformed: without this, a 500 for anyone
who sends them. daifu's pages post small urlencoded forms only, so nothing else is read at all.
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy


class BadForm(ValueError):
    """The body is not a form daifu can read."""


FORM = "application/x-www-form-urlencoded"


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    if request.content_type != FORM:
        raise BadForm(f"a form is sent as {FORM}")
    try:
        return await request.post()
    except ValueError as error:  # UnicodeDecodeError among them
        raise BadForm(f"the form could not be read: {type(error).__name__}") from None

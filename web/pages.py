"""Rendering HTML pages (Jinja2, autoescaped) in the visitor's language."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from aiohttp import web
from babel import Locale, negotiate_locale
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.i18n import DEFAULT_LOCALE, LOCALE_NAMES, gettext_for

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)
STYLESHEET = (Path(__file__).with_name("static") / "daifu.css").read_bytes()
# The stylesheet's address changes with its content, so browsers may keep it for long.
STYLESHEET_URL = f"/static/daifu.css?v={hashlib.sha256(STYLESHEET).hexdigest()[:12]}"
TEMPLATES.globals["stylesheet"] = STYLESHEET_URL
# Accept-Language tags the pages understand, mapped to daifu's catalogs.
_TAGS = {"en": "en", "zh": "zh_Hans", "zh_CN": "zh_Hans", "zh_Hans": "zh_Hans", "zh_SG": "zh_Hans"}


def visitor_locale(request: web.Request) -> str:
    wanted = []
    for part in request.headers.get("Accept-Language", "").split(","):
        tag = part.split(";")[0].strip().replace("-", "_")
        if tag:
            wanted.append(tag)
    chosen = negotiate_locale(wanted, list(_TAGS), sep="_")
    return _TAGS.get(chosen or "", DEFAULT_LOCALE)


def render(request: web.Request, template: str, *, http_status: int = 200, **values: Any) -> web.Response:
    locale = values.pop("locale", None) or visitor_locale(request)
    assert locale in LOCALE_NAMES
    html = TEMPLATES.get_template(template).render(
        _=gettext_for(locale), html_lang=str(Locale.parse(locale)).replace("_", "-"), **values
    )
    return web.Response(text=html, status=http_status, content_type="text/html")


async def stylesheet(_request: web.Request) -> web.Response:
    return web.Response(
        body=STYLESHEET, content_type="text/css", charset="utf-8", headers={"Cache-Control": "public, max-age=86400"}
    )


def message_page(
    request: web.Request,
    heading: str,
    message: str,
    *,
    status: int = 200,
    back_url: str = "",
    back_label: str = "",
) -> web.Response:
    return render(
        request,
        "message.html",
        http_status=status,
        heading=heading,
        message=message,
        back_url=back_url,
        back_label=back_label,
    )


def unknown_link_page(request: web.Request) -> web.Response:
    """What an address with a token daifu does not know gets: the same 404 page for every kind of link."""
    _ = gettext_for(visitor_locale(request))
    return message_page(
        request,
        _("Unknown link"),
        _("This link is not known. Check it, or ask the shop for a new one."),
        status=404,
    )


def cross_site_refusal(request: web.Request) -> web.Response:
    """What a browser gets for a form another site made it send: nothing was done."""
    _ = gettext_for(visitor_locale(request))
    return message_page(
        request,
        _("Not sent from this site"),
        _("Another website sent this form, so nothing happened. Open your link and use the buttons there."),
        status=403,
    )

"""The Mini App's page at /app: one HTML shell, its script, styles and words; the screens are drawn by the script.

The page is plain files (no build step). It talks to daifu only through /app/api/ (web/miniapp_api.py), signed in
by the init data Telegram's `telegram-web-app.js` hands it. Its policy allows scripts from daifu and
https://telegram.org only (no inline script at all) and lets only Telegram's web clients frame it.

Offline (the playground, the browser tests) telegram.org cannot be reached: with MINIAPP_LOCAL_SDK daifu serves its
own stand-in for Telegram's script (web/static/app/telegram-web-app.js) speaking the same postMessage protocol to
the page around it, and lets its own pages frame the app (the playground's phone pane is such a page).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web.pages import TEMPLATES
from web.security import CSP_HEADER

APP_FILES = Path(__file__).with_name("static") / "app"
TELEGRAM_SDK = "https://telegram.org/js/telegram-web-app.js"
LOCAL_SDK = "/app/static/telegram-web-app.js"
# Telegram's web clients (web.telegram.org/k/, /a/ and their kin on subdomains) show a Mini App in a frame.
TELEGRAM_WEB_CLIENTS = ("https://web.telegram.org", "https://*.web.telegram.org")
# What the page may load, by name: nothing else under web/static/app/ is served (the stand-in only offline).
FILE_TYPES = {".js": "text/javascript", ".css": "text/css", ".json": "application/json"}
EMPTY_STYLE_HASH = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
PAGE_FILES = ("app.js", "app.css", "words/en.json", "words/zh_Hans.json")


def page_policy(*, local_sdk: bool) -> str:
    ancestors = [*TELEGRAM_WEB_CLIENTS, *(["'self'"] if local_sdk else [])]
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self' https://telegram.org",
            # Telegram's script adds an empty <style> to the page inside a web client's frame (for styles the client
            # may send later): the hash of the empty text allows that element and no inline style with anything in it.
            f"style-src 'self' '{EMPTY_STYLE_HASH}'",
            "img-src 'self' data:",  # the new link's QR code is daifu's own SVG
            "connect-src 'self'",
            "frame-ancestors " + " ".join(ancestors),
            "base-uri 'none'",
            "object-src 'none'",
            "form-action 'none'",
        ]
    )


class MiniAppPage:
    def __init__(self, *, local_sdk: bool = False) -> None:
        self.local_sdk = local_sdk
        self.policy = page_policy(local_sdk=local_sdk)
        self.files = {name: (APP_FILES / name).read_bytes() for name in PAGE_FILES}
        if local_sdk:
            self.files["telegram-web-app.js"] = (APP_FILES / "telegram-web-app.js").read_bytes()
        self.html = TEMPLATES.get_template("miniapp.html").render(sdk=LOCAL_SDK if local_sdk else TELEGRAM_SDK)

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/app", self.page),
            web.get("/app/", self.page),
            web.get("/app/static/{name:.+}", self.file),
        ]

    async def page(self, _request: web.Request) -> web.Response:
        # The init data travels in the URL's fragment, which browsers never send: nothing to keep out of logs here.
        return web.Response(
            text=self.html,
            content_type="text/html",
            headers={CSP_HEADER: self.policy, "Cache-Control": "no-cache"},
        )

    async def file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = self.files.get(name)
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=body,
            content_type=FILE_TYPES[Path(name).suffix],
            charset="utf-8",
            headers={"Cache-Control": "no-cache", CSP_HEADER: self.policy},
        )

"""The playground's HTTP side, mounted on daifu's own web server: the page, its files, and a small JSON API.

The API acts as a person (``person`` is their user id) in a chat they are in; every answer is JSON,
errors included (``{"error": ...}`` with 400, 403, 404, or 504 when the bot did not answer in time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from emulator import Chat, NoAnswer, User
from services.i18n import LOCALE_NAMES
from web.json_input import read_json

from .actions import PersonActions
from .app_pane import THEMES, launch_url, own_app_path
from .events import EventStreams
from .guard import PAGE_POLICY, PlaygroundGuard
from .views import MessageViews
from .words import page_locale, words_for
from .world import NotYourChat, PlaygroundWorld

STATIC = Path(__file__).with_name("static")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")
IMAGE_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8", "image/jpeg"), (b"GIF8", "image/gif"))


def answers_json(handler: Handler) -> Handler:
    """Turn what went wrong into a JSON error the page can show, instead of aiohttp's HTML 500 page."""

    @wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except NoAnswer:
            return web.json_response({"error": words_for(page_locale(request))["no_answer"]}, status=504)
        except NotYourChat as error:
            return web.json_response({"error": str(error)}, status=403)
        except LookupError as error:
            return web.json_response({"error": str(error).strip("'\"")}, status=404)
        except (ValueError, TypeError, NotImplementedError) as error:
            return web.json_response({"error": str(error)}, status=400)

    return wrapped


async def json_body(request: web.Request) -> dict[str, Any]:
    body = read_json(await request.read())  # its BadJson is a ValueError: a 400 with its message
    if not isinstance(body, dict):
        raise ValueError("send a JSON object")
    return body


def field(body: dict[str, Any], name: str, kind: type[T]) -> T:
    value = body.get(name)
    # JSON true is no person id or message id, though Python's bool is an int.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{name} must be a {kind.__name__}")
    return value


def content_type(data: bytes, declared: str | None) -> str:
    """What a browser needs to show the file: bots often upload photos as application/octet-stream."""
    for signature, image_type in IMAGE_SIGNATURES:
        if data.startswith(signature):
            return image_type
    return declared or "application/octet-stream"


class PlaygroundRoutes:
    def __init__(self, world: PlaygroundWorld, guard: PlaygroundGuard) -> None:
        self.world = world
        self.guard = guard
        self.views = MessageViews(world.emu)
        self.actions = PersonActions(world, self.views)
        self.streams = EventStreams(world.emu, self.views)

    def install(self, app: web.Application) -> None:
        """Add the playground to daifu's web application (Runtime.start(extra_web=...))."""
        app.middlewares.append(self.guard.middleware)
        app.router.add_get("/playground", self.page)
        app.router.add_get("/playground/", self.page)
        app.router.add_static("/playground/static", STATIC)
        api = {
            "world": self.describe,
            "messages": self.messages,
            "events": self.streams.stream,
        }
        for name, handler in api.items():
            app.router.add_get(f"/playground/api/{name}", answers_json(handler))
        app.router.add_get("/playground/api/files/{file_id}", answers_json(self.file))
        actions = {
            "language": self.language,
            "send": self.send,
            "tap": self.tap,
            "link": self.link,
            "scan": self.scan,
            "inline": self.inline,
            "choose": self.choose,
            "pay": self.pay,
            "app": self.app,
            "share_prepared": self.share_prepared,
        }
        for name, handler in actions.items():
            app.router.add_post(f"/playground/api/{name}", answers_json(handler))
        # Open pages hold a stream each; they must end for the server to stop without waiting.
        app.on_shutdown.append(self.streams.close_all)

    # --- reading ------------------------------------------------------------------------------------

    async def page(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(
            STATIC / "playground.html", headers={"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_POLICY}
        )

    async def describe(self, request: web.Request) -> web.Response:
        locale = page_locale(request)
        return web.json_response(
            self.world.describe() | {"locale": locale, "locales": LOCALE_NAMES, "words": words_for(locale)}
        )

    async def messages(self, request: web.Request) -> web.Response:
        """Every chat's messages as they are now (the page loads them once, then follows the events)."""
        locale = page_locale(request)
        chats = {
            str(chat.id): [self.views.message(m, locale) for m in self.world.emu.chat_messages(chat)]
            for chat in self.world.chats()
        }
        return web.json_response({"chats": chats})

    async def file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        stored = self.world.emu.world.files.get(file_id)
        if stored is None:
            raise KeyError(f"no file {file_id}")
        return web.Response(
            body=stored.data,
            content_type=content_type(stored.data, stored.mime_type),
            headers={"Cache-Control": "max-age=3600"},  # files never change under their id
        )

    # --- acting -------------------------------------------------------------------------------------

    async def language(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        locale = field(body, "locale", str)
        if locale not in LOCALE_NAMES:
            raise ValueError(f"locale must be one of {', '.join(LOCALE_NAMES)}")
        self.world.speak(locale)
        return web.json_response({"locale": locale, "words": words_for(locale)})

    async def send(self, request: web.Request) -> web.Response:
        person, chat, body = await self._acting(request)
        return web.json_response(await self.actions.send(person, chat, field(body, "text", str)))

    async def tap(self, request: web.Request) -> web.Response:
        person, chat, body = await self._acting(request)
        message_id, row, column = (field(body, name, int) for name in ("message", "row", "column"))
        return web.json_response(await self.actions.tap(person, chat, message_id, row, column, page_locale(request)))

    async def link(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        person = self.world.person(field(body, "person", int))
        return web.json_response(await self.actions.open_link(person, field(body, "url", str), page_locale(request)))

    async def scan(self, request: web.Request) -> web.Response:
        """Someone (``scanner``) points their phone at a QR code in a chat the page shows (``person``'s)."""
        person, chat, body = await self._acting(request)
        scanner = self.world.person(field(body, "scanner", int)) if "scanner" in body else person
        return web.json_response(
            await self.actions.scan(scanner, chat, field(body, "message", int), page_locale(request))
        )

    async def inline(self, request: web.Request) -> web.Response:
        person, chat, body = await self._acting(request)
        return web.json_response(await self.actions.inline_results(person, chat, field(body, "query", str)))

    async def choose(self, request: web.Request) -> web.Response:
        person, chat, body = await self._acting(request)
        return web.json_response(await self.actions.choose_result(person, chat, field(body, "result", str)))

    async def pay(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        person = self.world.person(field(body, "person", int))
        if "link" in body:
            return web.json_response(await self.actions.pay_link(person, field(body, "link", str)))
        chat = self.world.chat_of(person, field(body, "chat", int))
        return web.json_response(await self.actions.pay_message(person, chat, field(body, "message", int)))

    async def app(self, request: web.Request) -> web.Response:
        """Where the phone pane opens the Mini App for a person: the menu button's app (``start``: a direct link's
        start parameter) or a web_app button's (``url``), with init data signed for them, in a theme."""
        body = await json_body(request)
        person = self.world.person(field(body, "person", int))
        theme = body.get("theme", "light")
        if theme not in THEMES:
            raise ValueError(f"theme must be one of {', '.join(THEMES)}")
        start = field(body, "start", str) if body.get("start") is not None else None
        path = "/app"
        if body.get("url") is not None:
            own = own_app_path(field(body, "url", str), self.guard.origin)
            if own is None:
                return web.json_response({"open_url": body["url"]})
            path = own
        return web.json_response(
            {"url": launch_url(self.world.emu, person, start_param=start, theme=theme, path=path), "theme": theme}
        )

    async def share_prepared(self, request: web.Request) -> web.Response:
        """The app's shareMessage: the person picked a chat in the share sheet; Telegram posts the prepared message."""
        person, chat, body = await self._acting(request)
        prepared_id = field(body, "prepared", str)
        posted = await self.world.emu.share_prepared(person, prepared_id, chat)
        return web.json_response({"open_chat": chat.id, "sent": posted["message_id"]})

    async def _acting(self, request: web.Request) -> tuple[User, Chat, dict[str, Any]]:
        """Who acts, in which chat (they must be in it), and the rest of what they sent."""
        body = await json_body(request)
        person = self.world.person(field(body, "person", int))
        return person, self.world.chat_of(person, field(body, "chat", int)), body

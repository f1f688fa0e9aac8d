"""The HTTP side: Bot API routes (``/bot<token>/<method>``) and file downloads, as aiohttp handlers."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import BodyPartReader, hdrs, web

from . import api_bot, api_messages, api_mini_apps, api_payments, api_queries
from .api_common import Method
from .errors import ApiError, bad_request
from .faults import NO_RESULT, Fault
from .params import Params, Upload
from .state import World

log = logging.getLogger(__name__)

METHODS: dict[str, Method] = {
    **api_bot.METHODS,
    **api_messages.METHODS,
    **api_payments.METHODS,
    **api_queries.METHODS,
    **api_mini_apps.METHODS,
}
# Telegram matches method names case-insensitively.
_BY_LOWER_NAME = {name.lower(): (name, method) for name, method in METHODS.items()}
# Telegram's own upload limit for bots (documents up to 50 MB).
MAX_UPLOAD = 50 * 1024 * 1024


def build_app(world: World) -> web.Application:
    app = web.Application(client_max_size=MAX_UPLOAD)
    server = _Routes(world)
    app.router.add_route("*", "/bot{token}/{method}", server.call)
    app.router.add_get("/file/bot{token}/{file_path:.+}", server.download)
    app.router.add_route("*", "/{anything:.*}", _not_found)
    return app


async def _not_found(request: web.Request) -> web.Response:
    # Telegram answers every unknown path with its JSON error object, not an HTML page.
    return _error(ApiError(404, "Not Found"))


def _error(error: ApiError) -> web.Response:
    return web.json_response(error.to_json(), status=error.code)


class _Routes:
    def __init__(self, world: World) -> None:
        self.world = world

    async def call(self, request: web.Request) -> web.Response:
        w = self.world
        if request.match_info["token"] != w.token:
            return _error(ApiError(401, "Unauthorized"))
        found = _BY_LOWER_NAME.get(request.match_info["method"].lower())
        if found is None:
            return _error(ApiError(404, "Not Found"))
        name, method = found
        params: dict[str, Any] = {}
        try:
            parsed = await read_params(request)
            params = parsed.as_dict()
            w.calls.append((name, params))
            fault = w.faults.pick(name, params)
            if fault is not None and not fault.performed:
                return await self._fail(name, params, fault)
            result = await method(w, parsed)
            if fault is not None:
                return await self._fail(name, params, fault)
        except ApiError as error:
            w.errors.append((name, params, error.description))
            return _error(error)
        except Exception as error:
            # An emulator bug must read as one, not as a Telegram answer a bot should handle.
            log.exception("emulator failed in %s", name)
            w.errors.append((name, params, repr(error)))
            return _error(ApiError(500, f"Internal Server Error: emulator bug: {error!r}"))
        finally:
            # Whatever the bot did may be what a waiting test is looking for.
            w.notifier.notify()
        return web.json_response({"ok": True, "result": result})

    async def _fail(self, name: str, params: dict[str, Any], fault: Fault) -> web.Response:
        """Answer a call as a fault the test asked for (see faults.py)."""
        if fault.hang:
            await asyncio.sleep(fault.hang)  # the bot may have given up meanwhile: then nobody reads the answer
        if fault.result is not NO_RESULT:
            return web.json_response({"ok": True, "result": fault.result})
        self.world.errors.append((name, params, f"injected: {fault.description}"))
        if fault.body is not None:
            return web.Response(status=fault.status, body=fault.body, content_type="text/html")
        return _error(ApiError(fault.status, fault.description, retry_after=fault.retry_after))

    async def download(self, request: web.Request) -> web.StreamResponse:
        stored = None
        if request.match_info["token"] == self.world.token:
            stored = self.world.files.by_path(request.match_info["file_path"])
        if stored is None:
            return _error(ApiError(404, "Not Found"))
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")


async def read_params(request: web.Request) -> Params:
    """Parameters from the query string and a JSON, urlencoded or multipart body."""
    raw: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if not request.body_exists:
        return Params(raw)
    content_type = request.content_type
    if content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                data = bytes(await part.read(decode=True))
                uploads[part.name] = Upload(part.filename, part.headers.get(hdrs.CONTENT_TYPE), data)
            else:
                raw[part.name] = await part.text()
    elif content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        raw.update({key: value for key, value in form.items() if isinstance(value, str)})
    else:
        body = await request.read()
        if body.strip():
            try:
                decoded = json.loads(body)
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(decoded, dict):
                raise bad_request("can't parse JSON object")
            raw.update(decoded)
    return Params(raw, uploads)

"""How the bot's calls reach the Bot API: PTB's request interface, carried by aiohttp instead of httpx.

Why hand-written: PTB ships only an httpx transport, and the benchmark showed httpx's client spending more CPU
than anything else in daifu, with one to two Bot API calls per update (docs/benchmarks.md). aiohttp is already
here for the web server. PTB's own contrib package has a similar class, but it is not published on PyPI, so it
cannot be a pinned dependency.

PTB keeps every Telegram-specific part (turning parameters into JSON values, parsing answers, RetryAfter,
errors); this class only moves bytes, and maps aiohttp's failures onto PTB's TimedOut and NetworkError as
HTTPXRequest does.
"""

from __future__ import annotations

import json
from typing import cast

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

Seconds = float | None
# What PTB hands a transport for each timeout: seconds, None (no limit), or BaseRequest.DEFAULT_NONE (not given,
# "use yours"). Typed as object because PTB names that type only in a private module; wider than PTB's own
# declaration, so still a valid override.
GivenSeconds = object
JSON_BODY = {"Content-Type": "application/json"}


class AiohttpBotRequest(BaseRequest):
    """One aiohttp session with a pool of keep-alive connections to the Bot API server."""

    __slots__ = ("_connect", "_media_write", "_pool", "_pool_size", "_read", "_session", "_write")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: Seconds = 5.0,
        write_timeout: Seconds = 5.0,
        connect_timeout: Seconds = 5.0,
        pool_timeout: Seconds = 1.0,
        media_write_timeout: Seconds = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read, self._write, self._connect, self._pool = read_timeout, write_timeout, connect_timeout, pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> Seconds:
        return self._read

    async def initialize(self) -> None:
        # The session belongs to the running loop, so it is made here rather than in __init__.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                timeout=aiohttp.ClientTimeout(total=None),
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _timeout(
        self,
        read: GivenSeconds,
        write: GivenSeconds,
        connect: GivenSeconds,
        pool: GivenSeconds,
        files: bool,
    ) -> aiohttp.ClientTimeout:
        def chosen(value: GivenSeconds, default: Seconds) -> Seconds:
            # PTB's documented test for "not given" (BaseRequest.DEFAULT_NONE).
            return default if value is BaseRequest.DEFAULT_NONE else cast(Seconds, value)

        read_s = chosen(read, self._read)
        write_s = chosen(write, self._media_write if files else self._write)
        connect_s = chosen(connect, self._connect)
        pool_s = chosen(pool, self._pool)
        # aiohttp has no write timeout of its own; a slow upload is bounded by the whole request's time instead.
        total = None if read_s is None or write_s is None else read_s + write_s + (connect_s or 0) + (pool_s or 0)
        waiting = None if connect_s is None or pool_s is None else connect_s + pool_s
        return aiohttp.ClientTimeout(total=total, connect=waiting, sock_connect=connect_s, sock_read=read_s)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: GivenSeconds = BaseRequest.DEFAULT_NONE,
        write_timeout: GivenSeconds = BaseRequest.DEFAULT_NONE,
        connect_timeout: GivenSeconds = BaseRequest.DEFAULT_NONE,
        pool_timeout: GivenSeconds = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpBotRequest is not initialized")
        files = bool(request_data and request_data.contains_files)
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, pool_timeout, files)
        body: aiohttp.FormData | bytes | None = None
        headers = None
        if request_data is not None and files:
            # Like HTTPXRequest: the parameters as form fields beside the files, in one multipart body.
            body = aiohttp.FormData(request_data.json_parameters)
            for name, (filename, content, mimetype) in request_data.multipart_data.items():
                body.add_field(name, content, filename=filename, content_type=mimetype)
        elif request_data is not None:
            # A JSON body, which the Bot API takes for every call without files: one json.dumps (in C) of the
            # parameters, nested objects as they are. HTTPXRequest's url-encoded form quotes every value in Python
            # (urllib), CPU spent again on every call; aiohttp's FormData spends more still.
            body = json.dumps(request_data.parameters, ensure_ascii=False).encode()
            headers = JSON_BODY
        try:
            async with self._session.request(method, url, data=body, headers=headers, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as error:  # asyncio.TimeoutError is this same class from Python 3.11
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{error.__class__.__name__}: {error}") from error

"""Cutting off clients that hold the web server's connections: slow bodies, and too many connections at once.

Slow headers need nothing here: aiohttp closes a connection that has not sent a whole request within its
keep-alive timeout (counted from connecting, and from each answer), so the runtime sets that timeout to
WEB_HEADER_TIMEOUT. A body, once the headers are in, is the handler's to read and has no deadline in
aiohttp; `body_deadline` gives it one. And a client that opens connection after connection is stopped by
`CappedSite` at WEB_MAX_CONNECTIONS_PER_ADDRESS.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from web.client_address import client_address

log = logging.getLogger(__name__)


class BodyTimeout(web.HTTPRequestTimeout):
    """The client did not send its whole body in time."""


def body_deadline(seconds: float) -> Middleware:
    """A middleware: a request whose body is not all in `seconds` after its headers gets 408 and is cut off.

    The reader of the body (request.read, request.post, request.content) gets BodyTimeout instead of
    waiting on; whatever the handler made of it, the client is answered 408 and its connection closed.
    """

    @web.middleware
    async def deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists or request.content.is_eof():
            return await handler(request)
        timed_out = False

        def expire() -> None:
            nonlocal timed_out
            if not request.content.is_eof():
                timed_out = True
                request.content.set_exception(BodyTimeout())

        timer = asyncio.get_running_loop().call_later(seconds, expire)
        try:
            response = await handler(request)
        except BodyTimeout:
            pass
        else:
            if not timed_out:
                return response
        finally:
            timer.cancel()
        log.info("cut off %s: its body to %s took longer than %s s", client_address(request), request.path, seconds)
        return await _answer_and_close(request)

    return deadline


async def _answer_and_close(request: web.Request) -> web.StreamResponse:
    answer = web.Response(status=408, text="The request body came too slowly.\n", headers={"Connection": "close"})
    answer.force_close()
    await answer.prepare(request)
    await answer.write_eof()
    # Without this aiohttp would go on reading ("lingering") the rest of the trickle for ten more seconds.
    request.protocol.force_close()
    return answer


class _OpenConnections:
    """How many connections each address holds now; said once in the log when one reaches the cap."""

    def __init__(self, cap: int, uncapped: Callable[[str], bool]) -> None:
        self.cap = cap
        self.uncapped = uncapped
        self.by_address: Counter[str] = Counter()
        self.told: set[str] = set()

    def admit(self, address: str) -> bool:
        if self.cap and self.by_address[address] >= self.cap and not self.uncapped(address):
            if address not in self.told:
                self.told.add(address)
                log.warning("%s holds %s connections, the most one address may; new ones are closed", address, self.cap)
            return False
        self.by_address[address] += 1
        return True

    def release(self, address: str) -> None:
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]
        self.told.discard(address)


class _CappedConnection(asyncio.Protocol):
    """One connection: handed to aiohttp if its address has room, otherwise closed as it arrives."""

    def __init__(self, inner: asyncio.Protocol, connections: _OpenConnections) -> None:
        self.inner = inner
        self.connections = connections
        self.address: str | None = None  # set once admitted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self.connections.admit(address):
            transport.close()
            return
        self.address = address
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.address is None:
            return
        self.connections.release(self.address)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.address is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.address is not None else None

    def pause_writing(self) -> None:
        if self.address is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.address is not None:
            self.inner.resume_writing()


def _nobody(_address: str) -> bool:
    return False


class CappedSite(web.BaseSite):
    """aiohttp's TCPSite, with at most `max_per_address` open connections from one address (0: no cap).

    `uncapped` names addresses the cap does not apply to: a reverse proxy carries everyone's connections.
    """

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        max_per_address: int,
        uncapped: Callable[[str], bool] = _nobody,
    ) -> None:
        super().__init__(runner)
        self.host = host
        self.port = port
        self.connections = _OpenConnections(max_per_address, uncapped)

    @property
    def name(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None

        def connection() -> asyncio.Protocol:
            return _CappedConnection(server(), self.connections)

        self._server = await asyncio.get_running_loop().create_server(
            connection, self.host, self.port, backlog=self._backlog, reuse_address=True
        )

"""Why daifu could not start, in one line the operator can act on.

What stops a start is most often outside the code: a token Telegram refuses, a Bot API server or a database out
of reach, a port in use. Each is caught where it happens (getMe, the database's first connection, the listener)
and becomes a StartFailure whose message is that line, with no secret in it: the database URL is shown without
its password, the bot's token never. Anything not mapped here is a bug, and goes through logging with its
traceback.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidRequestError
from telegram.error import BadRequest, InvalidToken, NetworkError, TimedOut

EXAMPLE_URLS = "sqlite+aiosqlite:///./daifu.db or postgresql+asyncpg://user:password@host/name"


class StartFailure(Exception):
    """A start stopped by its settings or its machine; str() is the line to print."""


@contextmanager
def database_at(url: str) -> Iterator[None]:
    """Around making the engine and its first connection (the schema's upgrade)."""
    try:
        yield
    except (ArgumentError, InvalidRequestError, ImportError) as error:
        # The URL itself is not shown: unparsed, its password cannot be told from the rest.
        raise StartFailure(
            f"DATABASE_URL is not a database URL daifu can use (an async driver is needed: {EXAMPLE_URLS})"
        ) from error
    except (OSError, DBAPIError) as error:
        # A DBAPIError with a statement is a query that failed on a database that was reached: not this.
        if isinstance(error, DBAPIError) and error.statement is not None:
            raise
        raise StartFailure(
            f"cannot use the database at DATABASE_URL ({shown(url)}): {database_reason(error, url)}"
        ) from error


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def database_reason(error: BaseException, url: str) -> str:
    if isinstance(error, socket.gaierror):
        reason = "its host name does not resolve"
    elif isinstance(error, ConnectionRefusedError):
        reason = "the connection was refused (is the server running, on that port?)"
    elif isinstance(error, TimeoutError):
        reason = "no answer in time"
    elif isinstance(error, DBAPIError):
        reason = str(error.orig).strip().splitlines()[0] if error.orig is not None else type(error).__name__
    else:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
    password = make_url(url).password
    return reason.replace(password, "***") if password else reason


@contextmanager
def bot_api_at(base_url: str) -> Iterator[None]:
    """Around the first Bot API call (getMe, in PTB's initialize)."""
    try:
        yield
    except InvalidToken as error:
        raise StartFailure(
            "Telegram refused TELEGRAM_BOT_TOKEN (revoked, mistyped, or for another Bot API server): "
            "get the current token from @BotFather and put it in the environment or in .env"
        ) from error
    except NetworkError as error:
        if isinstance(error, BadRequest):
            raise
        raise StartFailure(
            f"cannot reach the Bot API server at {server_of(base_url)} ({bot_api_reason(error)}): "
            "check the network, or TELEGRAM_API_BASE_URL"
        ) from error


def server_of(url: str) -> str:
    """scheme://host[:port] of a URL, without any user or password in it."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def bot_api_reason(error: NetworkError) -> str:
    if isinstance(error, TimedOut):
        return "no answer in time"
    cause = error.__cause__
    cause = getattr(cause, "os_error", cause)  # aiohttp's connection errors carry the socket's own
    if isinstance(cause, socket.gaierror):
        return "its host name does not resolve"
    if isinstance(cause, ConnectionRefusedError):
        return "the connection was refused"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return "no connection"


@contextmanager
def webhook_at(url: str) -> Iterator[None]:
    """Around setWebhook: Telegram refuses an address it cannot use (not HTTPS, not public, a bad port)."""
    try:
        yield
    except BadRequest as error:
        raise StartFailure(
            f"Telegram refused the webhook address {url} ({error.message}): PUBLIC_BASE_URL must be a public "
            "HTTPS address (port 443, 80, 88 or 8443) that reaches this server"
        ) from error


@contextmanager
def listening_on(host: str, port: int, *, named: str = "WEB") -> Iterator[None]:
    """Around opening a listener: the public web server (WEB_HOST, WEB_PORT) or the operations one (named="OPS")."""
    host_setting, port_setting = f"{named}_HOST", f"{named}_PORT"
    try:
        yield
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            line = (
                f"{port_setting} {port} is in use on {host} by another program: stop it, "
                f"or set {port_setting} to a free port"
            )
        elif error.errno == errno.EACCES:
            line = f"not allowed to listen on {port_setting} {port} (ports below 1024 need privileges): set another"
        else:
            line = (
                f"cannot listen on {host_setting} {host}, {port_setting} {port}: "
                f"{error.strerror or type(error).__name__}"
            )
        raise StartFailure(line) from error


def invalid_settings(error: ValidationError) -> str:
    """Which settings are wrong and why, one line each; pydantic's own rendering would echo the values, secrets
    among them."""
    problems = [
        f"  {'.'.join(str(part) for part in problem['loc']).upper() or 'settings'}: {problem['msg']}"
        for problem in error.errors(include_input=False)
    ]
    return "the settings are not valid:\n" + "\n".join(problems)

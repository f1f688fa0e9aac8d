"""Running the playground: the real daifu, unchanged, polling an emulated Telegram in the same process.

The emulator serves the Bot API on a loopback port of its own; daifu's web server (the order pages, the
sandbox checkout) also serves the playground page. SQLite keeps daifu's data, fresh at every start
(the people and chats live in the emulator's memory, so yesterday's orders would have no one to show them).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy.engine import make_url

from bot.runtime import Runtime
from bot.settings import Settings
from emulator import BotApiEmulator
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.secrets import get_or_create_secret

from .guard import PlaygroundGuard
from .routes import PlaygroundRoutes
from .world import PlaygroundWorld

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./daifu-playground.db"
BOT_TOKEN = "7000000001:PLAYGROUND"  # the emulator's; it never leaves this process
BOT_USERNAME = "daifu_bot"
# Telegram's test-mode token shape: invoices show and are paid in the emulator, no money moves.
PROVIDER_TOKEN = "284685063:TEST:playground"
SHOP_NAME = "Bean There"
# Stored in the playground's own database, so that a fresh start never wipes a database that is not one.
MARKER = "playground_database"


class NotAPlaygroundDatabase(RuntimeError):
    """The file to reset holds a database the playground did not make."""


class Playground:
    """The emulator, the cast of people, and daifu running against them; start() then stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        database_url: str = DEFAULT_DATABASE_URL,
        *,
        public_base_url: str | None = None,
        fresh: bool = True,
        mini_app_cards: bool = False,
    ) -> None:
        self.host = host
        self.mini_app_cards = mini_app_cards
        self.port = port
        self.database_url = database_url
        # A browser on this machine reaches a server bound to every address at the loopback one.
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.public_base_url = (public_base_url or f"http://{shown_host}:{port}").rstrip("/")
        self.fresh = fresh
        # Telegram's test environment: the Mini App opens over the playground's plain http.
        self.emu = BotApiEmulator(token=BOT_TOKEN, bot_username=BOT_USERNAME, bot_name="daifu", test_environment=True)
        self.world = PlaygroundWorld(self.emu)
        self.runtime: Runtime | None = None

    @property
    def url(self) -> str:
        return f"{self.public_base_url}/playground"

    def settings(self) -> Settings:
        """daifu's settings for the playground; nothing is read from the environment or .env, so a real
        bot's token, database or keys can never end up in here."""
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            telegram_bot_token=SecretStr(self.emu.token),
            telegram_api_base_url=self.emu.base_url,
            telegram_api_file_url=self.emu.base_file_url,
            database_url=self.database_url,
            public_base_url=self.public_base_url,
            web_host=self.host,
            web_port=self.port,
            # No operations listener: nothing scrapes a playground, and a second fixed port could be taken.
            ops_port=0,
            admin_ids=[self.world.cast.admin.id],
            payment_providers=["sandbox", "telegram", "stars"],
            telegram_provider_token=SecretStr(PROVIDER_TOKEN),
            stars_rates={"USD": Decimal(50)},
            shop_name=SHOP_NAME,
            # The emulator has no flood limits to respect; the limiter would only slow a busy group down.
            rate_limiter=False,
            # One person's browser on this machine is every visitor: the web side's per-address buckets would
            # only get in the way of a quick hand (and of the browser tests).
            web_rate_per_address=1_000,
            web_burst_per_address=10_000,
            web_form_rate_per_address=1_000,
            web_form_burst_per_address=10_000,
            # No telegram.org here: the Mini App loads daifu's stand-in for Telegram's script, in the phone pane.
            miniapp_local_sdk=True,
            # As if registered with @BotFather: request cards in groups open the app (t.me/<bot>/app?startapp=)
            # rather than the chat with the bot.
            miniapp_short_name="app" if self.mini_app_cards else None,
        )

    def routes(self) -> PlaygroundRoutes:
        return PlaygroundRoutes(self.world, PlaygroundGuard(self.public_base_url))

    async def start(self) -> None:
        await prepare_database(self.database_url, fresh=self.fresh)
        await self.emu.start(host="127.0.0.1", port=0)
        try:
            self.runtime = await Runtime.assemble(self.settings())
            # A short long-poll: stopping waits for the poll in flight, and on loopback polling is cheap.
            await self.runtime.start(poll_timeout=1, extra_web=self.routes().install)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None
        await self.emu.stop()


async def prepare_database(database_url: str, *, fresh: bool) -> None:
    """Start from an empty SQLite file (if fresh) that is marked as the playground's, schema upgraded."""
    if fresh:
        empty_sqlite_file(database_url)
    db = Database(database_url)
    try:
        await upgrade_to_head(db)
        await get_or_create_secret(db, MARKER)
    finally:
        await db.dispose()


def empty_sqlite_file(database_url: str) -> None:
    """Delete the playground's SQLite file (with its WAL files), after checking that it is the playground's."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite") or url.database in (None, "", ":memory:"):
        raise ValueError(f"the playground keeps its data in an SQLite file, such as {DEFAULT_DATABASE_URL}")
    path = Path(str(url.database))
    if not path.exists():
        return
    if not is_playground_database(path):
        raise NotAPlaygroundDatabase(
            f"{path} is not a playground database, so the playground will not empty it; "
            "choose another file for the playground"
        )
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)


def is_playground_database(path: Path) -> bool:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            row = connection.execute("SELECT 1 FROM app_secrets WHERE name = ?", (MARKER,)).fetchone()
    except sqlite3.DatabaseError:  # not a database, or one without daifu's tables
        return False
    return row is not None


def announce(url: str) -> None:
    print(
        f"daifu playground: open {url} in your browser. The real bot is running against a pretend Telegram\n"
        "on this computer: no token, no internet needed. Ctrl+C stops it.",
        flush=True,
    )


async def run_playground(
    host: str = "127.0.0.1",
    port: int = 8080,
    database_url: str = DEFAULT_DATABASE_URL,
    *,
    public_base_url: str | None = None,
    fresh: bool = True,
    mini_app_cards: bool = False,
    on_ready: Callable[[str], None] = announce,
) -> None:
    """Run the playground until Ctrl+C or SIGTERM (then return) or until cancelled; on_ready gets its URL."""
    playground = Playground(
        host, port, database_url, public_base_url=public_base_url, fresh=fresh, mini_app_cards=mini_app_cards
    )
    await playground.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    watched = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # no signals here (Windows, threads)
            loop.add_signal_handler(signum, stop.set)
            watched.append(signum)
    try:
        on_ready(playground.url)
        await stop.wait()
    finally:
        for signum in watched:
            loop.remove_signal_handler(signum)
        await playground.stop()

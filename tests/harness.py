"""The real bot, running against the Bot API emulator and a real database, with people to act in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import aiohttp
from sqlmodel import col, update

from bot.runtime import Runtime
from bot.settings import Settings
from emulator import BotApiEmulator
from emulator.state import User
from services.daifu import Daifu
from storage.database import Database
from storage.models import Telling, utcnow
from tests.limits import UNTHROTTLED
from tests.ports import free_port

BOT_USERNAME = "daifu_bot"


class RunningShop:
    """daifu as a shop runs it, plus an admin (Ada) and shoppers (Alice, Bob, Carol) in the emulator.

    A second worker of the same shop passes the first as `same_people_as`, so both know the same people.
    """

    def __init__(
        self,
        emu: BotApiEmulator,
        database_url: str,
        port: int,
        *,
        same_people_as: RunningShop | None = None,
        **settings: Any,
    ) -> None:
        self.emu = emu
        emu.world.allow_http_webhooks = True  # webhook-mode tests serve the bot on plain loopback HTTP
        if same_people_as is not None:
            people = same_people_as
            self.admin, self.alice, self.bob, self.carol = people.admin, people.alice, people.bob, people.carol
        else:
            self.admin = emu.add_user("Ada", username="ada_admin", language_code="en")
            self.alice = emu.add_user("Alice", username="alice", language_code="en")
            self.bob = emu.add_user("Bob", username="bob", language_code="en")
            self.carol = emu.add_user("Carol", username="carol", language_code="en")
        defaults: dict[str, Any] = {
            "telegram_bot_token": emu.token,
            "telegram_api_base_url": emu.base_url,
            "telegram_api_file_url": emu.base_file_url,
            "database_url": database_url,
            "public_base_url": f"http://127.0.0.1:{port}",
            "web_host": "127.0.0.1",
            "web_port": port,
            # The operations listener on a port of its own: tests run side by side, and 9090 may be taken.
            "ops_port": free_port(),
            "admin_ids": [self.admin.id],
            "payment_providers": ["sandbox", "telegram", "stars"],
            "telegram_provider_token": "284685063:TEST:daifu",
            "stars_rates": {"USD": 50},
            "shop_name": "Bean There",
            "rate_limiter": False,
            # The tests' shop backends listen on 127.0.0.1 (tests/api/test_callback_targets.py turns this off).
            "callback_allow_private_addresses": True,
            **UNTHROTTLED,
        }
        self.settings = Settings(_env_file=None, **(defaults | settings))  # type: ignore[call-arg]
        self.runtime: Runtime | None = None

    @property
    def daifu(self) -> Daifu:
        assert self.runtime is not None
        return self.runtime.daifu

    @property
    def web_url(self) -> str:
        return self.settings.public_base_url

    @property
    def ops_url(self) -> str:
        """The operations listener (/metrics, /readyz, /healthz)."""
        return f"http://{self.settings.ops_host}:{self.settings.ops_port}"

    async def start(self) -> None:
        self.runtime = await Runtime.assemble(self.settings)
        try:
            await self.runtime.start(poll_timeout=1)
        except BaseException:
            # As serve_forever does: what the failed start opened is closed here, not left to the garbage
            # collector, whose "unclosed" warnings would then fail whichever later test it ran in.
            await self.stop()
            raise
        if self.runtime.introduction is not None:
            await self.runtime.introduction  # its calls are done before a test counts the bot's

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
            self.runtime = None

    @asynccontextmanager
    async def daifu_db(self) -> AsyncIterator[Database]:
        """The shop's database while the bot is stopped."""
        db = Database(self.settings.database_url)
        try:
            yield db
        finally:
            await db.dispose()

    @asynccontextmanager
    async def another_worker(self) -> AsyncIterator[Daifu]:
        """daifu's services as a second worker of this shop has them, one that dies before telling anyone what
        it changed: what it records in the outbox waits for its lease to run out (lease_runs_out)."""
        db = Database(self.settings.database_url)
        try:
            yield Daifu(db, self.daifu.rules, self.daifu.providers)
        finally:
            await db.dispose()

    async def lease_runs_out(self) -> None:
        """Time passes until the outbox's rows not yet told are free to be claimed again (their worker died)."""
        async with self.daifu.db.transaction() as session:
            await session.exec(
                update(Telling)
                .where(col(Telling.done_at).is_(None))
                .values(claimed_until=utcnow() - timedelta(seconds=1))
            )

    async def all_told(self) -> None:
        """Until the teller has told what was recorded outside an update (by a test calling a service, say)."""
        assert self.runtime is not None and self.runtime.teller is not None
        # Messages waiting to be remembered first: one whose order is finished already records its own tidying.
        await self.runtime.daifu.live_messages.flush()
        await self.runtime.teller.settle()

    async def run_housekeeping(self) -> None:
        """Run the periodic job (expiry, reminders, reconciliation, callbacks) now instead of waiting."""
        assert self.runtime is not None and self.runtime.application.job_queue is not None
        (job,) = self.runtime.application.job_queue.get_jobs_by_name("housekeeping")
        await job.run(self.runtime.application)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    # -- people's actions that go through the web rather than the chat -------------------------------

    async def get(self, path_or_url: str, **kwargs: Any) -> tuple[int, str]:
        url = path_or_url if path_or_url.startswith("http") else self.web_url + path_or_url
        async with aiohttp.ClientSession() as client, client.get(url, **kwargs) as answer:
            return answer.status, await answer.text()

    async def get_bytes(self, path: str) -> tuple[int, str, bytes]:
        async with aiohttp.ClientSession() as client, client.get(self.web_url + path) as answer:
            return answer.status, answer.content_type, await answer.read()

    async def post(self, url: str, *, data: Any = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
        async with aiohttp.ClientSession() as client, client.post(url, data=data, headers=headers) as answer:
            return answer.status, await answer.text()

    async def told(self, person: User, words: str, *, after: int = 0) -> dict[str, Any]:
        """The bot's latest message to this person that says these words (waiting for it if need be).

        after: only messages with a higher message_id count (see last_message_id).
        """

        def find() -> dict[str, Any] | None:
            for message in reversed(self.emu.bot_messages(person)):
                if message["message_id"] > after and words in message.get("text", message.get("caption", "")):
                    return message
            return None

        found: dict[str, Any] = await self.emu.wait_for(find)
        return found

    def last_message_id(self, person: User) -> int:
        messages = self.emu.chat_messages(person)
        return messages[-1]["message_id"] if messages else 0

    def times_told(self, person: User, words: str) -> int:
        return sum(words in m.get("text", m.get("caption", "")) for m in self.emu.bot_messages(person))

    # -- common steps -----------------------------------------------------------------------------------

    async def new_link(self, command: str) -> str:
        """The admin sends /newlink ...; returns the order token from the deep link the bot replied with."""
        sent = await self.emu.send_text(self.admin, command)
        marker = f"https://t.me/{BOT_USERNAME}?start="

        def link_reply() -> str | None:
            for message in self.emu.bot_messages(self.admin):
                if message["message_id"] > sent["message_id"] and marker in message.get("caption", ""):
                    return str(message["caption"])
            return None

        caption = await self.emu.wait_for(link_reply)
        return str(caption.split(marker, 1)[1].split()[0])


@asynccontextmanager
async def running_shop(database_url: str, port: int, **settings: Any) -> AsyncIterator[RunningShop]:
    """daifu with an admin and shoppers; settings override the defaults (e.g. payment_providers=[...])."""
    async with BotApiEmulator(token="123456:TEST-daifu", bot_username=BOT_USERNAME, bot_name="daifu") as emu:
        shop = RunningShop(emu, database_url, port, **settings)
        await shop.start()
        try:
            yield shop
        finally:
            await shop.stop()

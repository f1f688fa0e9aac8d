"""BotApiEmulator: the server's lifecycle plus what tests and the playground read back."""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from .api_payments import STARS, give_back_stars
from .faults import Faults
from .people import ChatRef, MessageRef, People
from .server import build_app
from .stars_ledger import drop_refund, record_payment
from .state import Chat, FloodLimit, Payment, Subscriber, User, World
from .webhook_pusher import WebhookPusher


class BotApiEmulator(People):
    """A local Telegram for one bot: HTTP Bot API for the bot, person actions and inspection for tests."""

    def __init__(
        self,
        token: str = "123456:TEST",
        bot_username: str = "daifu_bot",
        bot_name: str = "daifu",
        *,
        supports_inline_queries: bool = True,
        test_environment: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            World(
                token,
                bot_username,
                bot_name,
                supports_inline_queries=supports_inline_queries,
                test_environment=test_environment,
                clock=clock,
            )
        )
        self._runner: web.AppRunner | None = None
        self.webhooks = WebhookPusher(self.world)
        self.base_url = ""
        self.base_file_url = ""

    @property
    def token(self) -> str:
        return self.world.token

    # --- lifecycle --------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """The aiohttp app with the Bot API routes, for serving it some other way (say, in a playground)."""
        return build_app(self.world)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the Bot API on host:port (0 picks a free port); sets base_url and base_file_url."""
        self.world.stopping = False
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self.webhooks.start()
        bound_host, bound_port = runner.addresses[0][:2]
        netloc = f"[{bound_host}]:{bound_port}" if ":" in bound_host else f"{bound_host}:{bound_port}"
        self.base_url = f"http://{netloc}/bot"
        self.base_file_url = f"http://{netloc}/file/bot"

    async def stop(self) -> None:
        # Pending long polls end at once instead of holding the shutdown for their timeout.
        self.world.stopping = True
        self.world.notifier.notify()
        await self.webhooks.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiEmulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- reading back -----------------------------------------------------------------------------

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """Every Bot API call so far, in order, as (method, normalised parameters)."""
        return self.world.calls

    @property
    def errors(self) -> list[tuple[str, dict[str, Any], str]]:
        """Every call answered with an error, as (method, parameters, description)."""
        return self.world.errors

    @property
    def star_refunds(self) -> list[dict[str, Any]]:
        return self.world.star_refunds

    @property
    def star_ledger(self) -> list[dict[str, Any]]:
        """The bot's Stars transactions as getStarTransactions reports them, oldest first."""
        return copy.deepcopy(self.world.star_ledger)

    # --- the Stars ledger's odd cases -------------------------------------------------------------

    def stars_paid_unseen(self, user: User | int, amount: int, *, payload: str = "chk_never_seen") -> str:
        """A Stars payment the bot never heard of (its successful_payment lost): in the ledger and refundable,
        no update delivered. Returns its charge id."""
        person = self.world.user(user)
        charge_id = "stx" + secrets.token_hex(16)
        payment = Payment(person.id, STARS, amount, payload, charge_id, "")
        self.world.payments[charge_id] = payment
        record_payment(self.world, payment)
        return charge_id

    def add_star_transaction(self, transaction: dict[str, Any]) -> None:
        """Any StarTransaction, exactly as given, at the end of the ledger (a withdrawal, a refund nobody made)."""
        self.world.star_ledger.append(copy.deepcopy(transaction))

    def refund_stars_elsewhere(self, charge_id: str, *, update_lost: bool = False) -> None:
        """The bot's owner gives a Stars payment back outside the bot's code (another client of the same bot):
        the ledger's refund and the refunded_payment service message, as refundStarPayment makes them.
        update_lost: the message is in the chat, its update never reaches the bot."""
        payment = self.world.payments[charge_id]
        if payment.refunded:
            raise ValueError(f"{charge_id!r} was refunded already")
        give_back_stars(self.world, payment, deliver=not update_lost)

    def drop_star_refund(self, charge_id: str) -> None:
        """Telegram loses a refund: its outgoing transaction leaves the ledger and the payment is refundable again."""
        drop_refund(self.world, charge_id)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params in self.world.calls if name == method]

    def chat(self, chat: ChatRef) -> Chat:
        return self.world.chat(chat)

    def chat_messages(self, chat: ChatRef) -> list[dict[str, Any]]:
        """The chat as people see it now: every message from both sides, in order, edits applied."""
        return [copy.deepcopy(m.data) for m in self.world.chat(chat).messages.values()]

    def bot_messages(self, chat: ChatRef) -> list[dict[str, Any]]:
        return [copy.deepcopy(m.data) for m in self.world.chat(chat).messages.values() if m.from_bot]

    def last_bot_message(self, chat: ChatRef) -> dict[str, Any] | None:
        messages = self.bot_messages(chat)
        return messages[-1] if messages else None

    async def next_bot_message(self, chat: ChatRef, timeout: float = 5.0) -> dict[str, Any]:
        """The first bot message in chat after the latest person action there (or the one last returned).

        Each call moves on by one message, so a bot's two replies are read by two calls; NoAnswer on timeout.
        """
        target = self.world.chat(chat)

        def newer() -> Any:
            after = self.world.cursors.get(target.id, 0)
            return next((m for m in target.messages.values() if m.from_bot and m.message_id > after), None)

        stored = await self.world.notifier.wait_for(newer, timeout, f"a bot message in chat {target.id}")
        self.world.cursors[target.id] = stored.message_id
        return copy.deepcopy(stored.data)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until predicate() is truthy (re-checked whenever anything changes); returns its value."""
        return await self.world.notifier.wait_for(predicate, timeout)

    def source_text(self, message: MessageRef) -> str | None:
        """The text or caption exactly as sent, markup (e.g. HTML tags) included."""
        return self.world.stored(message).source_text

    def file_bytes(self, file_id: str) -> bytes:
        stored = self.world.files.get(file_id)
        if stored is None:
            raise KeyError(f"no file {file_id!r}")
        return stored.data

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call callback(event) on every change; returns a function that unsubscribes.

        Events: {"type": "message" | "edit", "chat_id", "message_id", "message"},
        {"type": "delete", "chat_id", "message_id"}, {"type": "chat_action", "chat_id", "action"},
        {"type": "callback_answer", "user_id", "answer"}.
        """
        return self.world.subscribe(callback)

    def set_flood_limit(self, chat: ChatRef, max_messages: int | None, per_seconds: float = 1.0) -> None:
        """Answer 429 "retry after N" past max_messages per per_seconds in chat (None: no limit)."""
        chat_id = self.world.chat(chat).id
        if max_messages is None:
            self.world.flood.pop(chat_id, None)
        else:
            self.world.flood[chat_id] = FloodLimit(max_messages, per_seconds)

    @property
    def faults(self) -> Faults:
        """Tell chosen methods to fail (see faults.py)."""
        return self.world.faults

    def deliver_raw(self, update: dict[str, Any]) -> dict[str, Any]:
        """Put an update into the stream exactly as given, malformed or not (its update_id is the next one);
        getUpdates and the webhook deliver it like any other. Returns it with its update_id."""
        return self.world.deliver_raw(update)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates the bot has not confirmed yet."""
        return self.world.updates.pending

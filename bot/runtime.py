"""Assembling daifu from settings and running it: database, providers, services, PTB, web server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from aiohttp import web

from bot.logs import secrets_of
from bot.miniapp_port import PtbBotApi
from bot.polling import JournaledPolling
from bot.settings import Settings
from bot.start_failures import bot_api_at, database_at, listening_on, webhook_at
from bot.telegram_app import ALLOWED_UPDATES, DaifuApplication, add_user_throttle, build_application
from bot.update_journal import LAST_GROUP, UpdateJournal
from bot.webhook import TelegramWebhook
from handlers.context import attach
from handlers.introduction import introduce
from handlers.teller import Teller
from payments.base import ProviderContext
from payments.registry import build_providers
from services.app_secrets import app_secret
from services.config import ShopRules
from services.daifu import Daifu
from services.person_throttle import PersonThrottle
from services.redaction import remember as remember_secrets
from services.update_inbox import RENEW_LEASES_SECONDS, UpdateInbox
from storage.database import Database
from storage.migrate import upgrade_to_head
from storage.secrets import check_readable, use_keys
from web.client_address import in_networks, parse_networks
from web.miniapp_api import MiniAppApi
from web.rate_limit import Rate, WebLimits
from web.server import build_ops_app, build_web_app
from web.slow_clients import CappedSite

log = logging.getLogger(__name__)
INBOX_RECOVERY_SECONDS = 30
INTRODUCTION_WAIT_SECONDS = 5


def shop_rules(settings: Settings) -> ShopRules:
    return ShopRules(
        shop_name=settings.shop_name,
        admin_ids=frozenset(settings.admin_ids),
        public_base_url=settings.public_base_url,
        default_currency=settings.default_currency,
        usual_currencies=tuple(dict.fromkeys([settings.default_currency, *settings.shop_currencies])),
        order_ttl=settings.order_ttl,
        stars_rates=settings.stars_rates,
        payforme_ttl=settings.payforme_ttl,
        payforme_hold=settings.payforme_hold,
        payforme_hold_max=settings.payforme_hold_max,
        payforme_max_open=settings.payforme_max_open,
        payforme_reminder=settings.payforme_reminder,
        reconcile_after=settings.reconcile_after,
        callback_private_allowed=settings.callback_allow_private_addresses,
        support_contact=settings.support_contact,
        terms_url=settings.terms_url,
        terms_text=settings.terms_text,
        miniapp_short_name=settings.miniapp_short_name,
        miniapp_over_http=settings.miniapp_local_sdk,
    )


def web_limits(settings: Settings) -> WebLimits:
    return WebLimits(
        per_address=Rate(settings.web_rate_per_address, settings.web_burst_per_address),
        forms_per_address=Rate(settings.web_form_rate_per_address, settings.web_form_burst_per_address),
        per_api_key=Rate(settings.api_rate_per_key, settings.api_burst_per_key),
        unthrottled_paths=frozenset({"/healthz", settings.webhook_path}),
    )


@dataclass
class Runtime:
    settings: Settings
    db: Database
    application: DaifuApplication
    daifu: Daifu
    web_runner: web.AppRunner | None = None
    ops_runner: web.AppRunner | None = None
    journal: UpdateJournal | None = None
    polling: JournaledPolling | None = None
    teller: Teller | None = None
    introduction: asyncio.Task[None] | None = None

    @classmethod
    async def assemble(cls, settings: Settings) -> Runtime:
        remember_secrets(*secrets_of(settings))
        use_keys(settings.secrets_keys)
        with database_at(settings.database_url):
            db = Database(settings.database_url)
        try:
            return await cls._assemble_on(db, settings)
        except BaseException:  # a failed start leaves no connection open
            await db.dispose()
            raise

    @classmethod
    async def _assemble_on(cls, db: Database, settings: Settings) -> Runtime:
        with database_at(settings.database_url):
            await upgrade_to_head(db)
        await check_readable(db)  # a wrong SECRETS_KEY stops the start with a clear message, not later
        application = build_application(settings)

        async def kept_secret(name: str) -> str:
            secret = await app_secret(db, name)
            remember_secrets(secret)  # made at run time: the logs must not show it either
            return secret

        context = ProviderContext(
            public_base_url=settings.public_base_url,
            kept_secret=kept_secret,
            refund_star_payment=lambda user_id, charge_id: application.bot.refund_star_payment(user_id, charge_id),
        )
        providers = await build_providers(settings.payment_providers, settings, context)
        daifu = Daifu(db, shop_rules(settings), providers)
        attach(application, daifu)
        return cls(settings, db, application, daifu)

    def _miniapp_api(self) -> MiniAppApi:
        settings = self.settings
        assert settings.telegram_bot_token is not None
        # The chat's per-person pace holds in the app too: the same person, however they reach daifu.
        throttle = PersonThrottle(
            rate=settings.throttle_user_rate, burst=settings.throttle_user_burst, pause=settings.throttle_user_pause
        )
        return MiniAppApi(
            self.daifu,
            settings.telegram_bot_token.get_secret_value(),
            max_age=settings.miniapp_auth_max_age,
            throttle=throttle,
            bot_api=PtbBotApi(self.application),
        )

    async def start(
        self, *, poll_timeout: int = 10, extra_web: Callable[[web.Application], None] | None = None
    ) -> None:
        """Start PTB (initialise, handlers, polling) and the web server.

        extra_web may add routes to the web application before it starts (the playground does).
        """
        with bot_api_at(self.settings.telegram_api_base_url):
            await self.application.initialize()
        await self.application.start()
        # Before any update or web request: what they record is told at once.
        self.teller = Teller(self.application)
        self.teller.start()
        # Before updates are taken: a port in use stops the start before Telegram is told of a webhook.
        await self._serve_operations()
        # The menus and descriptions, set before the first update is taken; but they are not needed to take payments:
        # if Telegram is slow to take them, the start goes on and they are finished in the background.
        self.introduction = asyncio.create_task(introduce(self.application.bot, self.daifu.rules), name="introduce")
        await asyncio.wait({self.introduction}, timeout=INTRODUCTION_WAIT_SECONDS)
        web_app = build_web_app(
            self.daifu,
            lambda: self.application.bot.username,
            web_limits(self.settings),
            trusted_proxies=parse_networks(self.settings.trusted_proxies),
            body_timeout=self.settings.web_body_timeout.total_seconds(),
            miniapp=self._miniapp_api(),
            miniapp_local_sdk=self.settings.miniapp_local_sdk,
        )
        journal = self.journal = UpdateJournal(self.application, UpdateInbox(self.db))
        self.application.add_handler(journal.done_marker(), group=LAST_GROUP)
        add_user_throttle(self.application, self.settings, journal.done_marks.add)
        if self.application.job_queue is not None:

            async def recover(_context: object) -> None:
                await journal.requeue_unfinished()

            async def renew_leases(_context: object) -> None:
                await journal.inbox.renew_leases()

            self.application.job_queue.run_repeating(recover, interval=INBOX_RECOVERY_SECONDS, first=1)
            self.application.job_queue.run_repeating(
                renew_leases, interval=RENEW_LEASES_SECONDS, first=RENEW_LEASES_SECONDS, name="renew update leases"
            )
        if self.settings.run_mode == "webhook":
            await self._receive_by_webhook(web_app, journal)
        else:
            self.polling = JournaledPolling(
                self.application.bot, journal, timeout=poll_timeout, allowed_updates=ALLOWED_UPDATES
            )
            await self.polling.start()
        if extra_web is not None:
            extra_web(web_app)
        # A connection that has not sent a whole request this long after connecting (or after its last answer)
        # is closed: that is aiohttp's keep-alive timeout, and the deadline for slow headers.
        header_timeout = self.settings.web_header_timeout.total_seconds()
        self.web_runner = web.AppRunner(web_app, access_log=None, keepalive_timeout=header_timeout)
        await self.web_runner.setup()
        with listening_on(self.settings.web_host, self.settings.web_port):
            await CappedSite(
                self.web_runner,
                self.settings.web_host,
                self.settings.web_port,
                max_per_address=self.settings.web_max_connections_per_address,
                # A reverse proxy carries everyone's connections: the cap is for clients, not for it.
                uncapped=partial(in_networks, networks=parse_networks(self.settings.trusted_proxies)),
            ).start()
        log.info(
            "daifu is running as @%s; web side at %s",
            self.application.bot.username,
            self.settings.public_base_url,
        )

    async def _serve_operations(self) -> None:
        """/metrics, /readyz and /healthz on OPS_HOST:OPS_PORT, in this process and event loop (nothing if 0)."""
        host, port = self.settings.ops_host, self.settings.ops_port
        if not port:
            return
        self.ops_runner = web.AppRunner(build_ops_app(self.daifu, self.application.bot.get_me), access_log=None)
        await self.ops_runner.setup()
        with listening_on(host, port, named="OPS"):
            await web.TCPSite(self.ops_runner, host, port).start()
        log.info("operations endpoints (/metrics, /readyz, /healthz) at http://%s:%s", host, port)

    async def _receive_by_webhook(self, web_app: web.Application, journal: UpdateJournal) -> None:
        secret = (
            self.settings.webhook_secret.get_secret_value()
            if self.settings.webhook_secret
            else await app_secret(self.db, "webhook_secret")
        )
        remember_secrets(secret)
        web_app.add_routes(TelegramWebhook(journal, secret).routes(self.settings.webhook_path))
        url = self.settings.public_base_url + self.settings.webhook_path
        with webhook_at(url):
            # Pending updates are never dropped: among them may be payments.
            await self.application.bot.set_webhook(
                url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False
            )

    async def stop(self) -> None:
        if self.introduction is not None:
            self.introduction.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.introduction
            self.introduction = None
        for runner in (self.ops_runner, self.web_runner):
            if runner is not None:
                await runner.cleanup()
        self.ops_runner = self.web_runner = None
        if self.polling is not None:
            await self.polling.stop()
        if self.application.running:
            await self.application.stop()  # the updates in hand are finished first
        await self.daifu.live_messages.close()  # the messages they sent, written down before the teller stops
        if self.teller is not None:
            await self.teller.stop()  # what the web requests and jobs in hand recorded, told or let go
            self.teller = None
        if self.journal is not None:
            await self.journal.close()
        await self.application.shutdown()
        # A start refused at getMe left the application uninitialised, which PTB's shutdown then takes as
        # nothing to close; the bot's own shutdown closes its HTTP sessions all the same.
        await self.application.bot.shutdown()
        for provider in self.daifu.providers.values():
            # Providers holding an HTTP session (Stripe's client, the aiohttp ones) close it here.
            closer = getattr(provider, "aclose", None)
            if closer is not None:
                await closer()
        await self.db.dispose()


async def serve_forever(settings: Settings) -> None:
    runtime = await Runtime.assemble(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await runtime.start()
    except BaseException:  # a refused token, say: close what was opened, then let the CLI report it
        await runtime.stop()
        raise
    # Everything made at start (PTB, SQLAlchemy's mappers, Babel's data, the handlers) lives as long as the
    # process: frozen, Python's full collections no longer walk it. Walking it was a stall every update in
    # flight waited out, and the pre-checkout answer's p99 showed it (docs/benchmarks.md).
    gc.collect()
    gc.freeze()
    try:
        await stop.wait()
    finally:
        log.info("stopping: finishing the updates in hand")
        await runtime.stop()

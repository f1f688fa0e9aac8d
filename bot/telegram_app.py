"""Wiring of the PTB Application: the Bot API address, rate limiting, every handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, ContextTypes

from bot import stars_ledger_job
from bot.bot_api_transport import AiohttpBotRequest
from bot.settings import Settings
from bot.update_order import OnePersonAtATime
from handlers import (
    admin_commands,
    ask_friend,
    callback_job,
    checkout,
    fallback,
    flow_router,
    friend_pays,
    help,
    inline_share,
    language,
    my_orders,
    my_requests,
    newlink,
    pay_support,
    refunded_payment,
    refunds,
    retention_job,
    start,
    stats_job,
    terms,
    thanks,
    update_metrics,
    whoami,
)
from handlers.context import DaifuContext
from handlers.daifu_bot import DaifuBot
from handlers.errors import on_error
from handlers.expiry import INTERVAL_SECONDS, housekeeping
from handlers.throttle import GROUP as THROTTLE_GROUP
from handlers.throttle import UserThrottle
from services.person_throttle import PersonThrottle
from services.retention import RetentionPolicy

# Everything daifu handles; pre_checkout_query above all: a missing one makes every payment time out.
ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.CALLBACK_QUERY,
    Update.PRE_CHECKOUT_QUERY,
    Update.INLINE_QUERY,
    Update.CHOSEN_INLINE_RESULT,
]

FLOOD_RETRIES = 3
DaifuApplication = Application[Any, DaifuContext, Any, Any, Any, Any]


def build_application(settings: Settings) -> DaifuApplication:
    assert settings.telegram_bot_token is not None
    # On a 429 the limiter waits the retry_after Telegram gave, then sends again (never sooner, no busy loop).
    rate_limiter = AIORateLimiter(max_retries=FLOOD_RETRIES) if settings.rate_limiter else None
    bot = DaifuBot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.file_base_url,
        request=AiohttpBotRequest(),
        # getUpdates waits up to its long-poll timeout for an answer; PTB adds that to this read timeout.
        get_updates_request=AiohttpBotRequest(connection_pool_size=1),
        rate_limiter=rate_limiter,  # type: ignore[arg-type]
    )
    builder = (
        ApplicationBuilder()
        .bot(bot)
        .context_types(ContextTypes(context=DaifuContext))
        .concurrent_updates(OnePersonAtATime())
    )
    # Updates come in through daifu's own web server (bot.webhook) or its own polling loop (bot.polling), both
    # journaled before Telegram hears they arrived; PTB's updater confirms them before they are handled.
    builder = builder.updater(None)
    application: DaifuApplication = builder.build()
    features = [start, help, whoami, pay_support, terms, newlink, ask_friend, checkout, friend_pays, inline_share]
    features += [my_orders, my_requests]
    features += [refunded_payment]
    # fallback last: in the same group as the features, it gets only what none of them took.
    for feature in (*features, language, refunds, thanks, flow_router, admin_commands, fallback):
        application.add_handlers(feature.handlers())
    for group, handler in update_metrics.grouped_handlers():
        application.add_handler(handler, group=group)
    application.add_error_handler(on_error)
    if application.job_queue is not None:
        application.job_queue.run_repeating(housekeeping, interval=INTERVAL_SECONDS, first=5)
        callback_job.schedule(application.job_queue)
        stats_job.schedule(application.job_queue)
        stars_ledger_job.schedule(application.job_queue)
        retention_job.schedule(
            application.job_queue, RetentionPolicy(settings.retain_updates, settings.retain_rejected_notices)
        )
    return application


def add_user_throttle(application: DaifuApplication, settings: Settings, mark_done: Callable[[int], None]) -> None:
    """The per-person throttle, before every feature; mark_done marks an update it stops done in the journal."""
    throttle = PersonThrottle(
        rate=settings.throttle_user_rate, burst=settings.throttle_user_burst, pause=settings.throttle_user_pause
    )
    application.add_handler(UserThrottle(throttle, mark_done).handler(), group=THROTTLE_GROUP)

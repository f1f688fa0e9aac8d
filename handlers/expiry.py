"""Periodic jobs: expire orders and requests past their time, and remind requesters once before that; apply
provider notices, and tell what a worker that died left untold.

They run on every start too (first after a few seconds), so expiries that fell due while the bot was down
are found again. No item blocks its queue: each step runs whatever the others did, and within a step each
item (a reminder, a row of the outbox) is handled alone, its failure logged with its id. What a step records
for people to be told is told by the teller before the step is over.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram.constants import ParseMode

from handlers.context import DaifuContext
from handlers.teller import sweep
from presentation.formatting import chat_time, esc
from services.i18n import gettext_for
from services.telling_delivery import tell_at_the_end

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 60


async def expire_orders(context: DaifuContext) -> None:
    await context.daifu.closing.expire_due()


async def tell_what_was_left(context: DaifuContext) -> None:
    await sweep(context)


async def resume_refunds(context: DaifuContext) -> None:
    await context.daifu.refund_resumption.resume_refunds()


async def resume_notices(context: DaifuContext) -> None:
    await context.daifu.notices.resume()


async def reconcile(context: DaifuContext) -> None:
    await context.daifu.reconciler.run()


async def expire_requests(context: DaifuContext) -> None:
    await context.daifu.request_closing.expire_due()


async def remind_requesters(context: DaifuContext) -> None:
    daifu = context.daifu
    for view in await daifu.request_reminders.reminders_due():
        try:
            locale = await daifu.users.locale_of(view.request.requester_id)
            _ = gettext_for(locale)
            text = _(
                "⏰ Your request for <b>{title}</b> is still open and expires at {time}. Share it again with /requests."
            )
            await context.bot.send_message(
                view.request.requester_id,
                text.format(title=esc(view.order.title), time=chat_time(view.request.expires_at, locale)),
                parse_mode=ParseMode.HTML,
            )
        except Exception:  # claimed already: this reminder is not sent again, and the others still are
            log.exception("could not remind the requester of pay request %s", view.request.id)


STEPS: tuple[Callable[[DaifuContext], Awaitable[None]], ...] = (
    expire_orders,
    expire_requests,
    remind_requesters,
    resume_notices,
    resume_refunds,
    reconcile,
    tell_what_was_left,
)


async def housekeeping(context: DaifuContext) -> None:
    for step in STEPS:
        try:
            async with tell_at_the_end():
                await step(context)
        except Exception:  # one step failing must not keep the others from their work
            log.exception("housekeeping step %s failed", step.__name__)

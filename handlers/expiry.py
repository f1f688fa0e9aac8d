"""Periodic jobs: expire orders and requests past their time, and remind requesters once before that; apply
provider notices and tell people what a worker that died left undone.

They run on every start too (first after a few seconds), so expiries that fell due while the bot was down
are found again. No item blocks its queue: each step runs whatever the others did, and within a step each
item (a notice to tell, a reminder) is handled alone, its failure logged with its id.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram.constants import ParseMode

from handlers.context import DaifuContext
from handlers.notices import deliver
from presentation.formatting import esc
from presentation.texts import when
from services.i18n import gettext_for
from services.notices import Notice

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 60


async def deliver_each(context: DaifuContext, notices: Sequence[Notice], step: str) -> None:
    """Tell of each notice alone: one that cannot be told (a chat that blocked the bot) keeps no other untold."""
    for notice in notices:
        try:
            await deliver(context, [notice])
        except Exception:
            log.exception("%s: could not tell of %s", step, notice_name(notice))


def notice_name(notice: Notice) -> str:
    """The notice's kind and the ids of the rows it is about, for the log."""
    ids = []
    for field in dataclasses.fields(notice) if dataclasses.is_dataclass(notice) else ():
        value = getattr(notice, field.name)
        if field.name.endswith("_id") and value is not None:
            ids.append(f"{field.name} {value}")
        elif getattr(value, "id", None) is not None:
            ids.append(f"{field.name} {value.id}")
    return f"{type(notice).__name__} ({', '.join(ids)})"


async def expire_orders(context: DaifuContext) -> None:
    await deliver_each(context, await context.daifu.closing.expire_due(), "expire_orders")


async def tell_the_untold(context: DaifuContext) -> None:
    await deliver_each(context, await context.daifu.settlements.untold(), "tell_the_untold")


async def resume_refunds(context: DaifuContext) -> None:
    await deliver_each(context, await context.daifu.settlements.resume_refunds(), "resume_refunds")


async def resume_notices(context: DaifuContext) -> None:
    await deliver_each(context, await context.daifu.notices.resume(), "resume_notices")


async def reconcile(context: DaifuContext) -> None:
    await deliver_each(context, await context.daifu.reconciler.run(), "reconcile")


async def expire_requests(context: DaifuContext) -> None:
    await deliver_each(context, await context.daifu.requests.expire_due(), "expire_requests")


async def remind_requesters(context: DaifuContext) -> None:
    daifu = context.daifu
    for view in await daifu.requests.reminders_due():
        try:
            locale = await daifu.users.locale_of(view.request.requester_id)
            _ = gettext_for(locale)
            text = _(
                "⏰ Your request for <b>{title}</b> is still open and expires at {time}. Share it again with /requests."
            )
            await context.bot.send_message(
                view.request.requester_id,
                text.format(title=esc(view.order.title), time=when(view.request.expires_at, locale)),
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
    tell_the_untold,
)


async def housekeeping(context: DaifuContext) -> None:
    for step in STEPS:
        try:
            await step(context)
        except Exception:  # one step failing must not keep the others from their work
            log.exception("housekeeping step %s failed", step.__name__)

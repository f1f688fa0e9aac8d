"""Periodic jobs: expire orders and requests past their time, and remind requesters once before that; apply
provider notices and tell people what a worker that died left undone.

They run on every start too (first after a few seconds), so expiries that fell due while the bot was down
are found again.
"""

from __future__ import annotations

import logging

from telegram.constants import ParseMode

from handlers.common import esc
from handlers.context import DaifuContext
from handlers.notices import deliver
from handlers.texts import when
from services.i18n import gettext_for

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 60


async def expire_orders(context: DaifuContext) -> None:
    notices = await context.daifu.closing.expire_due()
    if notices:
        await deliver(context, notices)


async def tell_the_untold(context: DaifuContext) -> None:
    notices = await context.daifu.settlements.untold()
    if notices:
        await deliver(context, notices)


async def resume_refunds(context: DaifuContext) -> None:
    notices = await context.daifu.settlements.resume_refunds()
    if notices:
        await deliver(context, notices)


async def resume_notices(context: DaifuContext) -> None:
    notices = await context.daifu.notices.resume()
    if notices:
        await deliver(context, notices)


async def reconcile(context: DaifuContext) -> None:
    notices = await context.daifu.reconciler.run()
    if notices:
        await deliver(context, notices)


async def expire_requests(context: DaifuContext) -> None:
    notices = await context.daifu.requests.expire_due()
    if notices:
        await deliver(context, notices)


async def remind_requesters(context: DaifuContext) -> None:
    daifu = context.daifu
    for view in await daifu.requests.reminders_due():
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


async def housekeeping(context: DaifuContext) -> None:
    await expire_orders(context)
    await expire_requests(context)
    await remind_requesters(context)
    await resume_notices(context)
    await resume_refunds(context)
    await reconcile(context)
    await tell_the_untold(context)

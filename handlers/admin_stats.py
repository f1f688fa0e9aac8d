"""/stats [today|7d|30d]: the shop's figures for a period, for its admins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from babel.dates import format_timedelta
from babel.numbers import format_percent
from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CommandHandler

from handlers.common import admin_only, speak
from handlers.context import DaifuContext
from presentation.texts import when
from services.i18n import Gettext
from services.money import Money, format_money
from services.read_models import utcnow
from services.stats_report import Period, PeriodStats, Totals, period_start


def amounts(money: Sequence[Money], locale: str, _: Gettext) -> str:
    return ", ".join(format_money(part, locale) for part in money) or _("none")


def totals(figures: Totals, locale: str, _: Gettext) -> str:
    return f"{figures.count} · {amounts(figures.amounts, locale, _)}" if figures.count else "0"


def share(part: int, whole: int, locale: str) -> str:
    return format_percent(part / whole, locale=locale) if whole else "-"


def render(stats: PeriodStats, period: Period, locale: str, _: Gettext) -> str:
    title = {Period.TODAY: _("Today"), Period.WEEK: _("Last 7 days"), Period.MONTH: _("Last 30 days")}[period]
    median = stats.median_time_to_pay
    lines = [
        f"📊 <b>{title}</b>",
        _("Since {time}").format(time=when(stats.since, locale)),
        "",
        _("Orders created (new links): {count}").format(count=stats.created),
        _("Orders paid (whenever they were created): {count}").format(count=stats.paid),
        _("Taken for the orders paid: {amounts}").format(amounts=amounts(stats.revenue, locale, _)),
        _("Of those, paid by friends: {friends} ({friends_share}); by the shopper: {shopper} ({shopper_share})").format(
            friends=stats.paid_by_friends,
            friends_share=share(stats.paid_by_friends, stats.paid, locale),
            shopper=stats.paid_by_shopper,
            shopper_share=share(stats.paid_by_shopper, stats.paid, locale),
        ),
        _("Split requests opened: {requests}; chip-ins paid: {contributions}").format(
            requests=stats.split_requests, contributions=stats.contributions
        ),
        _("Median time from link to payment, of the orders paid: {duration}").format(
            duration=format_timedelta(median, locale=locale) if median is not None else "-"
        ),
        _("Refunds made (how many · how much): {totals}").format(totals=totals(stats.refunded, locale, _)),
        _("Refunds owed, to be made at the provider (how many · how much): {totals}").format(
            totals=totals(stats.owed, locale, _)
        ),
    ]
    if stats.providers:
        lines += ["", _("<b>By provider</b> (orders paid in the period)")]
        for provider, figures in stats.providers.items():
            lines.append(
                _("{provider}: {count} paid · {amounts}").format(
                    provider=provider, count=figures.count, amounts=amounts(figures.amounts, locale, _)
                )
            )
    return "\n".join(lines)


async def show_stats(update: Update, context: DaifuContext) -> None:
    locale, _ = await speak(update, context)
    message = update.effective_message
    if message is None or not await admin_only(update, context, _):
        return
    try:
        period = Period(context.args[0].lower()) if context.args else Period.WEEK
    except ValueError:
        await message.reply_text(_("Usage: /stats [today|7d|30d] (7d when left out)"))
        return
    now = utcnow()
    stats = await context.daifu.stats_report.stats(period_start(period, now), now)
    await message.reply_text(render(stats, period, locale, _), parse_mode=ParseMode.HTML)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("stats", show_stats)]

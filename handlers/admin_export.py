"""/export [from] [to]: the orders created between two dates (YYYY-MM-DD, UTC) and their payments, as CSV.

The columns are documented at presentation.orders_csv.EXPORT_COLUMNS. Rows are written chunk by chunk into a
spooled temporary file (in memory while small, on disk beyond SPOOL_BYTES), which is then sent as a document.
"""

from __future__ import annotations

import io
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from handlers.common import admin_only, speak
from handlers.context import DaifuContext
from presentation.orders_csv import write_orders_csv
from services.read_models import utcnow

DEFAULT_DAYS = 30  # today and the 29 days before it
SPOOL_BYTES = 1024 * 1024


def parse_dates(args: list[str], today: date) -> tuple[date, date] | None:
    """The first and last day to export, both included; None when the arguments are not dates in order."""
    try:
        days = [date.fromisoformat(arg) for arg in args[:2]]
    except ValueError:
        return None
    if len(args) > 2 or any(len(arg) != 10 for arg in args):
        return None
    first = days[0] if days else today - timedelta(days=DEFAULT_DAYS - 1)
    last = days[1] if len(days) > 1 else today
    return (first, last) if first <= last else None


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


async def export_orders(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    message = update.effective_message
    if message is None or not await admin_only(update, context, _):
        return
    days = parse_dates(context.args or [], utcnow().date())
    if days is None:
        await message.reply_text(_("Usage: /export [FROM] [TO], dates as YYYY-MM-DD (the last 30 days when left out)"))
        return
    first, last = days
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        # utf-8-sig: the byte order mark makes spreadsheet programs read titles in Chinese correctly.
        text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
        exported = context.daifu.order_export.orders(midnight(first), midnight(last + timedelta(days=1)))
        rows = await write_orders_csv(exported, text)
        text.flush()
        text.detach()  # leave the spooled file open for sending
        spool.seek(0)
        # PTB reads an upload whole whichever way it is handed over (and Telegram caps bots' uploads at 50 MB);
        # the spool is what keeps the export itself, row by row, from ever holding the table in memory.
        await message.reply_document(
            spool.read(),
            filename=f"daifu-orders-{first.isoformat()}-to-{last.isoformat()}.csv",
            caption=_("Orders created from {first} to {last} (UTC) and their payments: {rows} rows.").format(
                first=first.isoformat(), last=last.isoformat(), rows=rows
            ),
        )


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("export", export_orders)]

"""The baseline: a bare python-telegram-bot echo bot, polling the Bot API named in the environment.

Run as ``python -m bench.echo_bot`` with TELEGRAM_BOT_TOKEN, TELEGRAM_API_BASE_URL and
TELEGRAM_API_FILE_URL set. It imports nothing from daifu, so it measures PTB alone: the same
polling settings as daifu's runtime, no persistence, no rate limiter, one handler.
"""

from __future__ import annotations

import logging
import os

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.message
    if message is not None and message.text is not None:
        await message.reply_text(message.text)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    application = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(os.environ["TELEGRAM_API_BASE_URL"])
        .base_file_url(os.environ["TELEGRAM_API_FILE_URL"])
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    # The same polling as daifu's Runtime.start, so the two differ only in what they do per update.
    # run_polling stops cleanly on SIGTERM, which is how the benchmark ends it.
    application.run_polling(poll_interval=0, timeout=10, allowed_updates=[Update.MESSAGE], drop_pending_updates=False)


if __name__ == "__main__":
    main()

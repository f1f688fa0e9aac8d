"""The baseline: a bare python-telegram-bot echo bot, polling the Bot API named in the environment.

Run as ``python -m bench.echo_bot`` with TELEGRAM_BOT_TOKEN, TELEGRAM_API_BASE_URL and
TELEGRAM_API_FILE_URL set. It imports nothing from daifu, so it measures PTB alone: the same
polling settings as daifu's runtime, no persistence, no rate limiter, one handler.

With ECHO_WEBHOOK_URL, ECHO_WEBHOOK_PORT and ECHO_WEBHOOK_SECRET set it receives updates by webhook
instead, the way daifu's webhook mode does (its own aiohttp server checks the secret token header and
hands each update to PTB's queue), minus daifu's inbox of updates in the database.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import signal

from aiohttp import web
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.message
    if message is not None and message.text is not None:
        await message.reply_text(message.text)


def build(webhook: bool) -> Application:  # type: ignore[type-arg, unused-ignore]
    builder = (
        ApplicationBuilder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(os.environ["TELEGRAM_API_BASE_URL"])
        .base_file_url(os.environ["TELEGRAM_API_FILE_URL"])
    )
    if webhook:
        builder = builder.updater(None)
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    return application


async def serve_webhook(url: str, port: int, secret: str) -> None:
    application = build(webhook=True)

    async def receive(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), secret.encode()):
            return web.Response(status=403)
        payload = json.loads(await request.read())
        await application.update_queue.put(Update.de_json(payload, application.bot))
        return web.Response()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await application.initialize()
    await application.start()
    app = web.Application()
    app.router.add_post("/telegram/webhook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await application.bot.set_webhook(url, secret_token=secret, allowed_updates=[Update.MESSAGE])
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        await application.stop()
        await application.shutdown()


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    webhook_url = os.environ.get("ECHO_WEBHOOK_URL")
    if webhook_url:
        port, secret = int(os.environ["ECHO_WEBHOOK_PORT"]), os.environ["ECHO_WEBHOOK_SECRET"]
        asyncio.run(serve_webhook(webhook_url, port, secret))
        return
    application = build(webhook=False)
    # The same polling as daifu's Runtime.start, so the two differ only in what they do per update.
    # run_polling stops cleanly on SIGTERM, which is how the benchmark ends it.
    application.run_polling(poll_interval=0, timeout=10, allowed_updates=[Update.MESSAGE], drop_pending_updates=False)


if __name__ == "__main__":
    main()

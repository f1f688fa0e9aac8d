"""`python -m playground`: the offline playground on WEB_HOST:WEB_PORT, the real bot against an emulated Telegram.

`make run` passes `--bot-if-token`: with TELEGRAM_BOT_TOKEN set (environment or .env) it runs the real bot
(`python -m bot run`) instead, so a newcomer's one command does the right thing before and after @BotFather.
The bot itself never imports the playground: this entry point is a development tool that composes both."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pydantic import ValidationError

from bot.cli import invalid_settings
from bot.cli import main as bot_main
from bot.logs import configure as configure_logging
from bot.logs import secrets_of
from bot.settings import Settings
from playground.run import NotAPlaygroundDatabase, run_playground


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m playground",
        description="daifu's offline playground: the real bot against a pretend Telegram, in your browser",
    )
    parser.add_argument(
        "--bot-if-token",
        action="store_true",
        help="with TELEGRAM_BOT_TOKEN set, run the real bot instead (make run does)",
    )
    parser.add_argument(
        "--mini-app-cards",
        action="store_true",
        help="request cards in groups open the Mini App (as when the shop registered it with @BotFather and set "
        "MINIAPP_SHORT_NAME) instead of the chat with the bot",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        return invalid_settings(error)
    token = settings.telegram_bot_token
    if args.bot_if_token and token is not None and token.get_secret_value():
        return bot_main(["run"])
    configure_logging(settings.log_level, settings.log_format, secrets_of(settings))
    if args.bot_if_token:
        print(
            "daifu: TELEGRAM_BOT_TOKEN is not set, so here is the offline playground: the real bot against a\n"
            "pretend Telegram in your browser. For the real thing, get a token from @BotFather and put it in .env.",
            file=sys.stderr,
        )
    # The bot's and PTB's start-up lines would bury the address the playground prints.
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.WARNING))
    try:
        asyncio.run(run_playground(settings.web_host, settings.web_port, mini_app_cards=args.mini_app_cards))
    except NotAPlaygroundDatabase as error:
        print(f"daifu: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"daifu: the playground cannot listen on {settings.web_host}:{settings.web_port} ({error.strerror});"
            " set WEB_PORT to a free port",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

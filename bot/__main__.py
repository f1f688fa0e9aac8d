"""`python -m bot`: run daifu (polling, or `--webhook`, plus the web server); `python -m bot migrate` upgrades
the schema; `python -m bot apikey create "<shop>"` / `apikey revoke <prefix>` manage shop API keys;
`python -m bot playground` runs the offline playground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.exc import SQLAlchemyError

from bot.logs import configure as configure_logging
from bot.settings import Settings


class DatabaseOnly(BaseSettings):
    """The one setting `apikey` needs, read like Settings reads it (environment, then .env)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Settings.model_fields["database_url"].default


APIKEY_USAGE = 'usage: python -m bot apikey create "<shop name>" | python -m bot apikey revoke <key prefix>'


def apikey(words: list[str]) -> int:
    """`apikey create <shop>` prints a new key and the shop's callback secret; `apikey revoke <prefix>`."""
    if len(words) != 2 or words[0] not in ("create", "revoke") or not words[1].strip():
        print(f"daifu: {APIKEY_USAGE}", file=sys.stderr)
        return 2
    action, name = words[0], words[1].strip()
    try:
        url = DatabaseOnly().database_url
    except ValidationError:
        print("daifu: DATABASE_URL is not valid.", file=sys.stderr)
        return 2

    async def run() -> int:
        from services.api_keys import ApiKeys
        from storage.database import Database
        from storage.migrate import upgrade_to_head

        db = Database(url)
        try:
            await upgrade_to_head(db)  # a fresh database gets its tables, as when the bot starts
            keys = ApiKeys(db)
            if action == "revoke":
                if not await keys.revoke(name, revoked_by=None):
                    print(f"daifu: no active API key has the prefix {name!r}; nothing was revoked.", file=sys.stderr)
                    return 2
                print(f"daifu: the API key {name} is revoked; requests with it now get 401.")
                return 0
            made = await keys.create(name, created_by=None)
            print(
                f"daifu: a new API key for the shop {made.shop.name!r}.\n"
                f"  API key:         {made.key}\n"
                f"  callback secret: {made.callback_secret}\n"
                "Both are shown only this once: store them now (the key is kept only as a hash).\n"
                "The API key goes in 'Authorization: Bearer <key>'; the callback secret checks the\n"
                f"Daifu-Signature of callbacks. Revoke the key with: python -m bot apikey revoke {made.prefix}"
            )
            return 0
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except (OSError, SQLAlchemyError) as error:
        # The URL is not echoed: it may carry a password.
        print(f"daifu: could not use the database at DATABASE_URL: {type(error).__name__}", file=sys.stderr)
        return 2


def invalid_settings(error: ValidationError) -> int:
    # Only the messages: pydantic's own rendering would echo the values, secrets among them.
    problems = [
        f"  {'.'.join(str(part) for part in problem['loc']).upper() or 'settings'}: {problem['msg']}"
        for problem in error.errors(include_input=False)
    ]
    print("daifu: the settings are not valid:\n" + "\n".join(problems), file=sys.stderr)
    return 2


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value in the settings, for the log redaction filter."""
    values = [getattr(settings, name) for name in Settings.model_fields]
    return [value.get_secret_value() for value in values if isinstance(value, SecretStr)]


def migrate(settings: Settings) -> int:
    from storage.database import Database
    from storage.migrate import upgrade_to_head

    async def run() -> None:
        db = Database(settings.database_url)
        await upgrade_to_head(db)
        await db.dispose()

    asyncio.run(run())
    print("daifu: the database schema is up to date.")
    return 0


def playground(settings: Settings) -> int:
    """The offline playground on WEB_HOST:WEB_PORT: the real bot against an emulated Telegram, in a browser."""
    from bot.playground import NotAPlaygroundDatabase, run_playground

    # The bot's and PTB's start-up lines would bury the address the playground prints.
    logging.getLogger().setLevel(max(logging.getLogger().level, logging.WARNING))
    try:
        asyncio.run(run_playground(settings.web_host, settings.web_port))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="daifu: pay, and ask friends to pay, in Telegram"
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate", "apikey", "playground"])
    parser.add_argument("apikey_args", nargs="*", metavar="create SHOP | revoke PREFIX", help="for apikey")
    parser.add_argument("--webhook", action="store_true", help="run: receive updates by webhook (RUN_MODE=webhook)")
    parser.add_argument(
        "--or-playground",
        action="store_true",
        help="run: without TELEGRAM_BOT_TOKEN, start the offline playground instead of stopping (make run does)",
    )
    args = parser.parse_args(argv)
    if args.command == "apikey":
        # Before the full settings: managing keys needs only DATABASE_URL, not a bot token or providers.
        return apikey(args.apikey_args)
    if args.apikey_args:
        parser.error(f"unexpected arguments: {' '.join(args.apikey_args)}")
    try:
        settings = Settings(run_mode="webhook") if args.webhook else Settings()
    except ValidationError as error:
        return invalid_settings(error)
    configure_logging(settings.log_level, settings.log_format, secrets_of(settings))
    if args.command == "migrate":
        return migrate(settings)
    if args.command == "playground":
        return playground(settings)
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        if args.or_playground:
            print(
                "daifu: TELEGRAM_BOT_TOKEN is not set, so here is the offline playground: the real bot against a\n"
                "pretend Telegram in your browser. For the real thing, get a token from @BotFather and put it in .env.",
                file=sys.stderr,
            )
            return playground(settings)
        print(
            "daifu: TELEGRAM_BOT_TOKEN is not set. Get a bot token from @BotFather in Telegram, then put it in\n"
            "the environment or in .env (see .env.example): TELEGRAM_BOT_TOKEN=123456:ABC...",
            file=sys.stderr,
        )
        return 2
    from bot.runtime import serve_forever

    serve(serve_forever(settings))
    return 0


def serve(main: Coroutine[Any, Any, None]) -> None:
    """Runs the bot on uvloop where it is installed: the same asyncio API, with less CPU per update."""
    try:
        import uvloop
    except ImportError:  # Windows, where uvloop does not exist
        asyncio.run(main)
    else:
        uvloop.run(main)


if __name__ == "__main__":
    sys.exit(main())

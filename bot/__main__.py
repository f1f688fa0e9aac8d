"""`python -m bot`: run daifu (polling, or `--webhook`, plus the web server); `python -m bot migrate` upgrades
the schema; `python -m bot apikey create "<shop>"` / `apikey revoke <prefix>` manage shop API keys;
`python -m bot rotate-secrets` re-encrypts the secrets kept in the database with the first key of SECRETS_KEY.
The offline playground has its own entry point, `python -m playground`."""

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
from bot.logs import secrets_of
from bot.settings import Settings
from storage.secrets import SecretsKeyError, parse_keys


class DatabaseOnly(BaseSettings):
    """The settings `apikey` needs, read like Settings reads them (environment, then .env)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Settings.model_fields["database_url"].default
    secrets_key: SecretStr | None = None  # the shop's callback secret is stored encrypted with it


APIKEY_USAGE = 'usage: python -m bot apikey create "<shop name>" | python -m bot apikey revoke <key prefix>'


def apikey(words: list[str]) -> int:
    """`apikey create <shop>` prints a new key and the shop's callback secret; `apikey revoke <prefix>`."""
    if len(words) != 2 or words[0] not in ("create", "revoke") or not words[1].strip():
        print(f"daifu: {APIKEY_USAGE}", file=sys.stderr)
        return 2
    action, name = words[0], words[1].strip()
    try:
        wanted = DatabaseOnly()
    except ValidationError as error:
        return invalid_settings(error)
    url = wanted.database_url
    try:
        fernet_keys = parse_keys(wanted.secrets_key.get_secret_value()) if wanted.secrets_key else []
    except ValueError as error:  # says which key in the list, never the key
        print(f"daifu: the settings are not valid:\n  SECRETS_KEY: {error}", file=sys.stderr)
        return 2

    async def run() -> int:
        from services.api_keys import ApiKeys
        from storage.database import Database
        from storage.migrate import upgrade_to_head
        from storage.secrets import use_keys

        use_keys(fernet_keys)
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
    except SecretsKeyError as error:
        print(f"daifu: {error}.", file=sys.stderr)
        return 2
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


def rotate_secrets(settings: Settings) -> int:
    """Re-encrypt every stored secret with the first SECRETS_KEY key (all keys in the list decrypt)."""
    from storage.database import Database
    from storage.migrate import upgrade_to_head
    from storage.secrets import rotate, use_keys

    if not settings.secrets_keys:
        print("daifu: SECRETS_KEY is not set, so there is no key to encrypt with (see .env.example).", file=sys.stderr)
        return 2
    use_keys(settings.secrets_keys)

    async def run() -> int:
        db = Database(settings.database_url)
        try:
            await upgrade_to_head(db)
            return await rotate(db)
        finally:
            await db.dispose()

    try:
        done = asyncio.run(run())
    except SecretsKeyError as error:
        print(f"daifu: {error}; nothing was changed.", file=sys.stderr)
        return 2
    print(f"daifu: {done} stored secrets are encrypted with the first key of SECRETS_KEY; the others can go.")
    return 0


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="daifu: pay, and ask friends to pay, in Telegram"
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate", "apikey", "rotate-secrets"])
    parser.add_argument("apikey_args", nargs="*", metavar="create SHOP | revoke PREFIX", help="for apikey")
    parser.add_argument("--webhook", action="store_true", help="run: receive updates by webhook (RUN_MODE=webhook)")
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
    if args.command == "rotate-secrets":
        return rotate_secrets(settings)
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        print(
            "daifu: TELEGRAM_BOT_TOKEN is not set. Get a bot token from @BotFather in Telegram, then put it in\n"
            "the environment or in .env (see .env.example): TELEGRAM_BOT_TOKEN=123456:ABC...\n"
            "Without a token, `python -m playground` runs the bot against a pretend Telegram in your browser.",
            file=sys.stderr,
        )
        return 2
    from telegram.error import InvalidToken

    from bot.runtime import serve_forever

    try:
        serve(serve_forever(settings))
    except SecretsKeyError as error:
        print(f"daifu: {error}.", file=sys.stderr)
        return 2
    except InvalidToken:
        print(
            "daifu: Telegram refused TELEGRAM_BOT_TOKEN (revoked, mistyped, or for another Bot API server).\n"
            "Get the current token from @BotFather and put it in the environment or in .env.",
            file=sys.stderr,
        )
        return 2
    except Exception:  # logged, not printed: the traceback goes through the redaction like every log line
        logging.getLogger("daifu").critical("daifu stopped on an error", exc_info=True)
        return 1
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

"""daifu's command line: `daifu` (the console script) or `python -m bot`.

`run` (the default: `python -m bot`, `python -m bot --webhook`) runs the bot and its web server; `migrate`,
`apikey create|revoke` and `rotate-secrets` work on the database alone (bot.database_commands). Whatever stops
a start that the operator can fix is one line on stderr and exit status 2 (bot.start_failures); anything else
is logged, traceback and all, through the redaction, and exits 1. The offline playground has its own entry
point, `python -m playground`."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from pydantic import ValidationError

from bot import database_commands
from bot.logs import configure as configure_logging
from bot.logs import secrets_of
from bot.settings import Settings
from bot.start_failures import StartFailure
from bot.start_failures import invalid_settings as settings_problems
from payments.sdk import MissingSdk
from storage.secrets import SecretsKeyError

COMMANDS = ("run", "migrate", "apikey", "rotate-secrets")
ABOUT = "daifu: pay, and ask friends to pay, in Telegram."
SETTINGS_NOTE = (
    "Settings come from the environment or from .env in the current folder (see .env.example). "
    "With no command, daifu runs: `%(prog)s --webhook` is `%(prog)s run --webhook`."
)


def version() -> str:
    try:
        return importlib.metadata.version("daifu")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def parser(prog: str) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=prog, description=ABOUT, epilog=SETTINGS_NOTE)
    top.add_argument("--version", action="version", version=f"daifu {version()}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser(
        "run",
        help="run the bot and its web server (the default command)",
        description="Run the bot: updates by long polling (or by webhook), the web pages, the shop API and the "
        "notify endpoints on WEB_HOST:WEB_PORT. Upgrades the database schema first.",
    )
    run.add_argument(
        "--webhook",
        action="store_true",
        help="receive updates by webhook at PUBLIC_BASE_URL + WEBHOOK_PATH (the same as RUN_MODE=webhook)",
    )

    commands.add_parser(
        "migrate",
        help="upgrade the database schema, and nothing else",
        description="Upgrade the database at DATABASE_URL to the newest schema, then exit: run it once before "
        "starting several workers.",
    )

    apikey = commands.add_parser(
        "apikey",
        help="create or revoke a shop's API key",
        description="Shop API keys (docs/shop-api.md). Needs only DATABASE_URL (and SECRETS_KEY if set).",
    )
    actions = apikey.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="print a new API key and the shop's callback secret",
        description="Print a new API key for the shop, and the shop's callback secret: both are shown only once.",
    )
    create.add_argument("name", metavar="SHOP", help='the shop\'s name (quote it: "Acme Books")')
    revoke = actions.add_parser(
        "revoke",
        help="revoke an API key by its prefix",
        description="Revoke the API key with this prefix: requests with it get 401 from then on.",
    )
    revoke.add_argument("name", metavar="PREFIX", help="the key's prefix, as `apikey create` printed it")

    commands.add_parser(
        "rotate-secrets",
        help="re-encrypt the secrets kept in the database with the first key of SECRETS_KEY",
        description="Re-encrypt every secret kept in the database with the first key of SECRETS_KEY (every key "
        "in the list decrypts): after adding a new key in front, run this, then drop the old key.",
    )
    return top


def with_default_command(argv: Sequence[str]) -> list[str]:
    """`run` where no command is given: `python -m bot` and `python -m bot --webhook` run the bot."""
    words = list(argv)
    if not words or (words[0].startswith("-") and words[0] not in ("-h", "--help", "--version")):
        return ["run", *words]
    return words


def main(argv: Sequence[str] | None = None, prog: str = "daifu") -> int:
    args = parser(prog).parse_args(with_default_command(sys.argv[1:] if argv is None else argv))
    if args.command == "apikey":
        return database_commands.apikey(args.action, args.name, prog)
    try:
        settings = Settings(run_mode="webhook") if getattr(args, "webhook", False) else Settings()
    except ValidationError as error:
        return invalid_settings(error)
    configure_logging(settings.log_level, settings.log_format, secrets_of(settings))
    if args.command == "migrate":
        return database_commands.migrate(settings)
    if args.command == "rotate-secrets":
        return database_commands.rotate_secrets(settings)
    return run(settings)


def invalid_settings(error: ValidationError) -> int:
    print(f"daifu: {settings_problems(error)}", file=sys.stderr)
    return 2


def run(settings: Settings) -> int:
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        print(
            "daifu: TELEGRAM_BOT_TOKEN is not set. Get a bot token from @BotFather in Telegram, then put it in\n"
            "the environment or in .env (see .env.example): TELEGRAM_BOT_TOKEN=123456:ABC...\n"
            "Without a token, `python -m playground` runs the bot against a pretend Telegram in your browser.",
            file=sys.stderr,
        )
        return 2
    from bot.runtime import serve_forever

    try:
        serve(serve_forever(settings))
    except (StartFailure, MissingSdk) as error:
        print(f"daifu: {error}", file=sys.stderr)
        return 2
    except SecretsKeyError as error:
        print(f"daifu: {error}.", file=sys.stderr)
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

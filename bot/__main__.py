"""`python -m bot`: run daifu (polling + web server), or `python -m bot migrate` to upgrade the schema."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pydantic import ValidationError

from bot.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="daifu: pay, and ask friends to pay, in Telegram"
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate"])
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        # Only the messages: pydantic's own rendering would echo the values, secrets among them.
        problems = [
            f"  {'.'.join(str(part) for part in problem['loc']).upper() or 'settings'}: {problem['msg']}"
            for problem in error.errors(include_input=False)
        ]
        print("daifu: the settings are not valid:\n" + "\n".join(problems), file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL, and those URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.command == "migrate":
        from storage.database import Database
        from storage.migrate import upgrade_to_head

        async def migrate() -> None:
            db = Database(settings.database_url)
            await upgrade_to_head(db)
            await db.dispose()

        asyncio.run(migrate())
        print("daifu: the database schema is up to date.")
        return 0
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        print(
            "daifu: TELEGRAM_BOT_TOKEN is not set. Get a bot token from @BotFather in Telegram, then put it in\n"
            "the environment or in .env (see .env.example): TELEGRAM_BOT_TOKEN=123456:ABC...",
            file=sys.stderr,
        )
        return 2
    from bot.runtime import serve_forever

    asyncio.run(serve_forever(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())

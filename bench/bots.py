"""How each bot under test is started: command line and environment, pointing it at the emulator."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench.processes import BotProcess, free_port
from bot.emulator import BotApiEmulator
from bot.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def inherited_environment() -> dict[str, str]:
    """This process's environment minus daifu's settings, so a developer's exports cannot skew a run."""
    settings = {name.upper() for name in Settings.model_fields}
    return {key: value for key, value in os.environ.items() if key.upper() not in settings}


def base_environment(emu: BotApiEmulator) -> dict[str, str]:
    return inherited_environment() | {
        # Bots run in the temp dir, so that no .env of the developer's is read; the repo goes on the path.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "TELEGRAM_BOT_TOKEN": emu.token,
        "TELEGRAM_API_BASE_URL": emu.base_url,
        "TELEGRAM_API_FILE_URL": emu.base_file_url,
    }


def daifu_process(emu: BotApiEmulator, *, workdir: Path, database_url: str, admin_id: int) -> BotProcess:
    port = free_port()
    env = base_environment(emu) | {
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "ADMIN_IDS": str(admin_id),
        "PAYMENT_PROVIDERS": "telegram,stars,sandbox",
        "TELEGRAM_PROVIDER_TOKEN": "284685063:TEST:bench",
        # PTB's AIORateLimiter holds output near 30 messages/s, Telegram's real ceiling: with it on, a
        # throughput run would measure the limiter. The report says so.
        "RATE_LIMITER": "false",
        "LOG_LEVEL": "WARNING",
    }
    return BotProcess("daifu", [sys.executable, "-m", "bot"], env=env, cwd=workdir, log_path=workdir / "daifu.log")


def echo_process(emu: BotApiEmulator, *, workdir: Path) -> BotProcess:
    return BotProcess(
        "echo",
        [sys.executable, "-m", "bench.echo_bot"],
        env=base_environment(emu),
        cwd=workdir,
        log_path=workdir / "echo.log",
    )

"""How each bot under test is started: command line and environment, pointing it at the emulator."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.processes import BotProcess, free_port
from bot.settings import Settings
from emulator import BotApiEmulator

REPO = Path(__file__).resolve().parent.parent
WEBHOOK_PATH = "/telegram/webhook"  # daifu's default WEBHOOK_PATH; the echo bot uses the same


@dataclass(frozen=True)
class Webhook:
    """A bot receiving updates by webhook: it listens on port; Telegram is told public_url + WEBHOOK_PATH."""

    port: int
    public_url: str  # the bot's own address, or the load balancer's in front of several workers
    secret: str


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


def daifu_process(
    emu: BotApiEmulator,
    *,
    workdir: Path,
    database_url: str,
    admin_id: int,
    webhook: Webhook | None = None,
    name: str = "daifu",
) -> BotProcess:
    port = webhook.port if webhook is not None else free_port()
    env = base_environment(emu) | {
        "DATABASE_URL": database_url,
        "PUBLIC_BASE_URL": webhook.public_url if webhook is not None else f"http://127.0.0.1:{port}",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": str(port),
        "OPS_PORT": "0",  # nothing here reads the metrics; several bots of a run would otherwise all want 9090
        "ADMIN_IDS": str(admin_id),
        "PAYMENT_PROVIDERS": "telegram,stars,sandbox",
        "TELEGRAM_PROVIDER_TOKEN": "284685063:TEST:bench",
        # PTB's AIORateLimiter holds output near 30 messages/s, Telegram's real ceiling: with it on, a
        # throughput run would measure the limiter. The report says so.
        "RATE_LIMITER": "false",
        # The admin makes every order of a run with /newlink, far faster than the per-person throttle allows.
        "THROTTLE_USER_RATE": "1000",
        "THROTTLE_USER_BURST": "1000",
        # Every update of a run comes from one address (the emulator's pusher, or the balancer), and so does every
        # Mini App call of --miniapp.
        "WEB_MAX_CONNECTIONS_PER_ADDRESS": "0",
        "WEB_RATE_PER_ADDRESS": "100000",
        "WEB_BURST_PER_ADDRESS": "100000",
        "LOG_LEVEL": "WARNING",
    }
    argv = [sys.executable, "-m", "bot"]
    if os.environ.get("BENCH_PROFILE_DIR"):
        argv[1:1] = ["-m", "cProfile", "-o", os.path.join(os.environ["BENCH_PROFILE_DIR"], f"{name}.prof")]
    if webhook is not None:
        env |= {"WEBHOOK_SECRET": webhook.secret, "WEBHOOK_PATH": WEBHOOK_PATH}
        argv.append("--webhook")
    return BotProcess(name, argv, env=env, cwd=workdir, log_path=workdir / f"{name}.log")


def echo_process(emu: BotApiEmulator, *, workdir: Path, webhook: Webhook | None = None) -> BotProcess:
    env = base_environment(emu)
    if webhook is not None:
        env |= {
            "ECHO_WEBHOOK_URL": webhook.public_url + WEBHOOK_PATH,
            "ECHO_WEBHOOK_PORT": str(webhook.port),
            "ECHO_WEBHOOK_SECRET": webhook.secret,
        }
    return BotProcess(
        "echo", [sys.executable, "-m", "bench.echo_bot"], env=env, cwd=workdir, log_path=workdir / "echo.log"
    )


def balancer_process(*, port: int, workers: list[str], workdir: Path) -> BotProcess:
    """The load balancer in front of the workers (bench.balancer), as a process of its own."""
    env = inherited_environment() | {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    }
    return BotProcess(
        "balancer",
        [sys.executable, "-m", "bench.balancer", str(port), *workers],
        env=env,
        cwd=workdir,
        log_path=workdir / "balancer.log",
    )

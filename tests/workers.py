"""Real worker processes for the tests that kill, restart or race them: `python -m bot --webhook` (or polling,
`python -m bot`) with its own environment, log file and port, as it runs in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from emulator import BotApiEmulator
from tests.limits import as_environment
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
SECRET = "worker-webhook-secret"


class Worker:
    """`python -m bot --webhook` as its own process, as it runs in production."""

    def __init__(
        self,
        emu: BotApiEmulator,
        database_url: str,
        admin_id: int,
        workdir: Path,
        *,
        public_base_url: str | None = None,
        env: Mapping[str, str] | None = None,
        polling: bool = False,
    ) -> None:
        """public_base_url: where Telegram and payers reach the worker (a balancer in front of several);
        env: settings on top of the defaults below; polling: getUpdates instead of a webhook."""
        self.argv = [sys.executable, "-m", "bot"] + ([] if polling else ["--webhook"])
        self.port = free_port()
        self.ops_port = free_port()
        self.workdir = workdir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PAYMENT_", "ADMIN_"))}
        self.env |= {
            "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": emu.token,
            "TELEGRAM_API_BASE_URL": emu.base_url,
            "TELEGRAM_API_FILE_URL": emu.base_file_url,
            "DATABASE_URL": database_url,
            "PUBLIC_BASE_URL": public_base_url or f"http://127.0.0.1:{self.port}",
            "WEB_PORT": str(self.port),
            "OPS_PORT": str(self.ops_port),
            "ADMIN_IDS": str(admin_id),
            "PAYMENT_PROVIDERS": "telegram,sandbox",
            "TELEGRAM_PROVIDER_TOKEN": "284685063:TEST:crash",
            "WEBHOOK_SECRET": SECRET,
            "RATE_LIMITER": "false",
            "CALLBACK_ALLOW_PRIVATE_ADDRESSES": "true",  # the tests' shop backends listen on 127.0.0.1
            "LOG_LEVEL": "WARNING",
            **as_environment(),
        } | dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.workdir / "worker.log").open("ab") as log:  # the child keeps its own copy of the file
            self.process = subprocess.Popen(self.argv, cwd=self.workdir, env=self.env, stdout=log, stderr=log)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

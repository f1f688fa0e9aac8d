"""Command-line options of ``python -m bench``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "latest.json"


@dataclass(frozen=True)
class Options:
    flows: int
    concurrency: int
    rate: float
    latency_seconds: float
    echo_updates: int
    warmup: int
    method: str
    database: str
    reply_timeout: float
    max_seconds: float
    json_path: Path


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def database_choice(text: str) -> str:
    if text == "sqlite" or text.startswith(("postgresql://", "postgresql+asyncpg://")):
        return text
    raise argparse.ArgumentTypeError("takes 'sqlite' or a postgresql+asyncpg:// URL")


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Run daifu and a bare PTB echo bot against the local Bot API emulator (loopback only) and "
            "print checkout throughput, pre-checkout latency, CPU per update and reply latency, side by side."
        ),
    )
    parser.add_argument("--flows", type=positive_int, default=200, help="checkout flows in the throughput run")
    parser.add_argument(
        "--concurrency", type=positive_int, default=8, help="people acting at once in the throughput run"
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=20.0,
        help="updates/s offered in the latency run (Telegram lets a bot send about 30 messages/s)",
    )
    parser.add_argument("--latency-seconds", type=positive_float, default=15.0, help="length of each bot's latency run")
    parser.add_argument(
        "--echo-updates", type=positive_int, default=2000, help="texts sent to the echo bot in its throughput run"
    )
    parser.add_argument(
        "--warmup", type=positive_int, default=16, help="checkout flows (and 10x as many echo texts) before timing"
    )
    parser.add_argument(
        "--method", choices=["card", "stars"], default="card", help="pay by card (USD) or with Stars (XTR)"
    )
    parser.add_argument(
        "--database",
        type=database_choice,
        default="sqlite",
        help="'sqlite' (a file in a temp dir) or a PostgreSQL URL, e.g. "
        "postgresql+asyncpg:///postgres?host=/var/run/postgresql; a throwaway database is made on that server",
    )
    parser.add_argument("--reply-timeout", type=positive_float, default=30.0, help="seconds to wait for any one reply")
    parser.add_argument("--max-seconds", type=positive_float, default=300.0, help="give up after this long")
    parser.add_argument("--json", type=Path, default=RESULTS, dest="json_path", help="where to write the figures")
    args = parser.parse_args(argv)
    return Options(**vars(args))

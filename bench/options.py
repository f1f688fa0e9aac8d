"""Command-line options of ``python -m bench``."""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

RESULTS_DIR = Path(__file__).parent / "results"
RESULTS = RESULTS_DIR / "latest.json"
# Each kind of run keeps its own file, so running one never overwrites another's figures.
RESULT_FILES = {
    "polling": RESULTS,
    "webhook": RESULTS_DIR / "latest-webhook.json",
    "workers": RESULTS_DIR / "latest-workers.json",
    "stats": RESULTS_DIR / "latest-stats.json",
    "miniapp": RESULTS_DIR / "latest-miniapp.json",
}
# The journey each kind of run drives when --journey is not given. Polling keeps the checkout, so its figures
# stay comparable with the earlier runs; webhook mode and --workers, where the pay-for-me journey's targets are
# set, drive the whole journey.
DEFAULT_JOURNEY = {"polling": "checkout", "webhook": "payforme", "workers": "payforme", "miniapp": "payforme"}
STATS_ORDERS = 1_000_000  # --stats-orders without a number
MAX_SECONDS = {"stats": 900.0}  # filling a million orders takes minutes; the bot runs get 300 s


@dataclass(frozen=True)
class Options:
    flows: int
    concurrency: int
    rate: float | None  # None: the latency run offers half of each bot's own measured maximum
    latency_seconds: float
    echo_updates: int
    warmup: int
    method: str
    database: str
    reply_timeout: float
    max_seconds: float
    json_path: Path
    mode: str  # "polling" or "webhook": how the bots under test receive updates
    journey: str  # "checkout" (pay by deep link) or "payforme" (ask a friend, who pays): what daifu is driven through
    repeat: int  # echo against daifu this many times over; the report ends with each pair's ratios and medians
    workers: int  # above 1: daifu with 1 worker, then this many, behind a load balancer (webhook mode)
    worker_cpu: float | None  # --workers: each worker held to this many cores (a cgroup each); None: no cap
    webhook_connections: int  # 1: the emulator's own pusher, one update at a time; more: bench.webhooks
    stats_orders: int  # above 0: fill a database with this many orders and time /stats instead
    stats_repeats: int
    miniapp: bool  # the Mini App's API against the chat doing the same (webhook mode)
    command: str  # the command line that made this run, with any database password hidden

    @property
    def kind(self) -> str:
        """Which benchmark this is: polling, webhook, workers or stats (names its results file too)."""
        if self.stats_orders:
            return "stats"
        if self.miniapp:
            return "miniapp"
        if self.workers > 1:
            return "workers"
        return self.mode


def positive_int(text: str) -> int:
    value = int(text.replace("_", ""))
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


def shown_command(argv: list[str]) -> str:
    """The command line as typed, for the report: a password in a database URL is masked."""
    shown = []
    for arg in argv:
        prefix, _, value = arg.rpartition("=") if arg.startswith("--database=") else ("", "", arg)
        if value.startswith("postgresql") and make_url(value).password is not None:
            value = make_url(value).render_as_string(hide_password=True)
        shown.append(f"{prefix}={value}" if prefix else value)
    return shlex.join(["python", "-m", "bench", *shown])


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Run daifu and a bare PTB echo bot against the local Bot API emulator (loopback only) and "
            "print checkout throughput, pre-checkout latency, CPU per update and reply latency, side by side. "
            "--mode webhook has the emulator push updates to the bots' webhooks; --workers 2 compares one "
            "daifu worker with two behind a load balancer; --stats-orders times /stats on a large database."
        ),
    )
    parser.add_argument(
        "--journey",
        choices=["checkout", "payforme"],
        default=None,
        help="what daifu is driven through: checkout (the shopper pays by card from the deep link; 4 updates) or "
        "payforme (the shopper asks a friend, shares the request card into their chat, the friend pays; 9 updates). "
        "Default: checkout when polling, payforme with --mode webhook or --workers",
    )
    parser.add_argument(
        "--flows", type=positive_int, default=200, help="checkouts or pay-for-me journeys in the throughput run"
    )
    parser.add_argument(
        "--concurrency", type=positive_int, default=8, help="people acting at once in the throughput run"
    )
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=None,
        help="updates/s offered in the latency run; by default each bot is offered half of the updates/s it "
        "reached in its own throughput run",
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
    parser.add_argument(
        "--mode",
        choices=["polling", "webhook"],
        default=None,
        help="how the bots get updates: polling getUpdates (the default), or webhook (daifu runs with --webhook, "
        "the echo bot with a webhook of its own, and the emulator POSTs each update to them)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="above 1: run daifu with one worker, then with this many on the same database behind a small load "
        "balancer, and compare their throughput (implies --mode webhook; no echo bot)",
    )
    parser.add_argument(
        "--repeat",
        type=positive_int,
        default=1,
        help="run the echo bot and daifu this many times over, each pair back to back, and judge the targets on "
        "the median of the pairs' ratios (this machine's speed drifts by a fifth within minutes, and a ratio "
        "is only fair between runs close in time)",
    )
    parser.add_argument(
        "--worker-cpu",
        type=positive_float,
        default=None,
        metavar="CORES",
        help="with --workers: hold each daifu worker to this many cores (e.g. 0.5) by a cgroup of its own (needs "
        "root), so that the emulator, balancer and database have the rest of the machine to themselves, as when "
        "they run elsewhere; one worker and N are capped alike",
    )
    parser.add_argument(
        "--webhook-connections",
        type=positive_int,
        default=None,
        help="webhook mode: 1 is the emulator's own pusher, one update at a time, each POSTed after the answer to "
        "the one before (Telegram's order); N > 1 POSTs up to N at once, each person's updates still in order "
        "(Telegram allows max_connections up to 100, 40 by default). Default: 1, or 8 with --workers",
    )
    parser.add_argument(
        "--stats-orders",
        type=positive_int,
        nargs="?",
        const=STATS_ORDERS,
        default=0,
        metavar="N",
        help=f"instead of running bots: fill a fresh database with N orders (default {STATS_ORDERS:,}) and their "
        "payments, requests and refunds over 30 days, then time the /stats query for 7d and 30d",
    )
    parser.add_argument(
        "--stats-repeats",
        type=positive_int,
        default=7,
        help="--stats-orders: times each period's query is run (PostgreSQL may switch plans from the 6th on)",
    )
    parser.add_argument(
        "--miniapp",
        action="store_true",
        help="instead of the echo bot: the Mini App's API against the chat doing the same on one daifu (webhook "
        "mode, pay-for-me journeys first): GET /app/api/me against /my, and an invoice opened from the app against "
        "/start and Pay by card; 2 x --flows lists and --flows invoices each way",
    )
    parser.add_argument("--reply-timeout", type=positive_float, default=30.0, help="seconds to wait for any one reply")
    parser.add_argument(
        "--max-seconds",
        type=positive_float,
        default=None,
        help="give up after this long (300; 900 with --stats-orders)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        dest="json_path",
        help="where to write the figures (bench/results/latest.json, or latest-webhook.json, latest-workers.json, "
        "latest-stats.json for the other kinds of run; -checkout or -payforme added when not the kind's default "
        "journey)",
    )
    raw = list(argv) if argv is not None else sys.argv[1:]
    args = parser.parse_args(raw)
    if args.workers > 1 and args.mode == "polling":
        parser.error("--workers needs webhook mode: polling workers would fight over getUpdates (409 Conflict)")
    if args.repeat > 1 and (args.workers > 1 or args.stats_orders):
        parser.error("--repeat is for the runs against the echo bot (not --workers or --stats-orders)")
    if args.worker_cpu is not None and args.workers < 2:
        parser.error("--worker-cpu goes with --workers N (N at least 2)")
    if args.miniapp and (args.workers > 1 or args.stats_orders or args.repeat > 1 or args.mode == "polling"):
        parser.error("--miniapp runs one daifu by webhook (not with --workers, --stats-orders, --repeat or polling)")
    if args.mode is None:
        args.mode = "webhook" if args.workers > 1 or args.miniapp else "polling"
    if args.webhook_connections is None:
        args.webhook_connections = 8 if args.workers > 1 else 1
    elif args.mode == "polling":
        parser.error("--webhook-connections needs --mode webhook")
    kind = "stats" if args.stats_orders else "miniapp" if args.miniapp else "workers" if args.workers > 1 else args.mode
    if args.journey is None:
        args.journey = DEFAULT_JOURNEY.get(kind, "checkout")
    if args.json_path is None:
        args.json_path = RESULT_FILES[kind]
        if kind in DEFAULT_JOURNEY and args.journey != DEFAULT_JOURNEY[kind]:
            args.json_path = args.json_path.with_name(f"{args.json_path.stem}-{args.journey}.json")
    if args.max_seconds is None:
        args.max_seconds = MAX_SECONDS.get(kind, 300.0)
    return Options(**vars(args), command=shown_command(raw))

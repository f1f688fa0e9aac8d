"""The printed table (echo | daifu | ratio) and the JSON file with every figure."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from bench.benchmark import SHARE_OF_MAXIMUM, Results
from bench.figures import FixedRate, Throughput
from bench.stats import Latency
from bench.targets import bot_targets

Row = tuple[str, str, str, str]
NONE = "-"
# Above this (in cores) the rest of the machine was busy enough to skew the figures.
BUSY_MACHINE = 0.25


def ms(value: float) -> str:
    if math.isnan(value):
        return NONE
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def p50_p99(latency: Latency | None) -> str:
    return NONE if latency is None else f"{ms(latency.p50_ms)} / {ms(latency.p99_ms)}"


def ratio(daifu: float, echo: float) -> str:
    return NONE if not echo or math.isnan(daifu) or math.isnan(echo) else f"{daifu / echo:.2f}x"


def percent(cores: float) -> str:
    """A CPU share as a percentage of one core (so 150% is one and a half cores)."""
    return f"{cores * 100:.0f}%"


def compare(label: str, echo_ms: float, daifu_ms: float) -> Row:
    return (label, ms(echo_ms), ms(daifu_ms), ratio(daifu_ms, echo_ms))


def compare_latency(label: str, echo: Latency, daifu: Latency) -> Row:
    ratios = f"{ratio(daifu.p50_ms, echo.p50_ms)} / {ratio(daifu.p99_ms, echo.p99_ms)}"
    return (label, p50_p99(echo), p50_p99(daifu), ratios)


def table(title: str, rows: list[Row]) -> list[str]:
    header: Row = (title, "echo", "daifu", "daifu/echo")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]

    def line(row: Row) -> str:
        label, *cells = row
        return "  ".join([label.ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells, widths[1:], strict=True))])

    return [line(header), *(line(row) for row in rows)]


def shadow_note(links: list[str]) -> list[str]:
    """A warning when some orders could not be used: their token begins with the request tokens' prefix."""
    if not links:
        return []
    return [
        f"WARNING: {len(links)} order link(s) made again, unused: daifu's /start takes a token beginning with 'r_'",
        "for a pay-for-me request's and answers 'This request is not known' (1 order token in 4096): "
        + ", ".join(links),
    ]


JOURNEYS = {
    "checkout": "the shopper opens the deep link and pays the order",
    "payforme": "the shopper asks a friend to pay and shares the request card into their chat; the friend pays",
}


def plural(unit: str) -> str:
    return unit if unit.endswith("s") else unit + "s"


def rate_rule(results: Results) -> str:
    rate = results.options["rate"]
    if rate is not None:
        return f"{rate:g} updates/s offered to each bot, evenly spaced"
    return f"each bot offered {SHARE_OF_MAXIMUM:.0%} of its own throughput run's updates/s, evenly spaced"


def stale_note(cards: dict[str, int], label: str = "") -> list[str]:
    """A warning when request cards were left out of date: paid, yet not saying so."""
    if not cards:
        return []
    counts = ", ".join(f"{count} {state}" for state, count in cards.items())
    return [
        f"WARNING{label}: request cards not saying 'Paid by' at the end of their run ({counts}; each journey waits",
        "5 s for it). 'is paying': the tap's card edit landed after the payment's; never edited: the bot had not",
        "recorded the card (chosen_inline_result) when the payment refreshed the request's cards.",
    ]


def render(results: Results) -> str:
    echo, daifu = results.echo, results.daifu
    et, dt = echo.throughput, daifu.throughput
    ef, df = echo.fixed_rate, daifu.fixed_rate
    options = results.options
    m = results.machine
    if results.mode == "webhook":
        how = [
            "daifu vs a bare PTB echo bot, both receiving updates by webhook from the Bot API emulator at "
            f"{results.emulator_url} (loopback)",
            f"Delivery: {results.delivery}.",
            "daifu writes each update to its inbox table before answering the POST; the echo bot hands it to PTB.",
        ]
    else:
        how = [f"daifu vs a bare PTB echo bot, both polling the Bot API emulator at {results.emulator_url} (loopback)"]
    unit = dt.unit
    kinds = ", ".join(f"{count / dt.items:g} {kind}" for kind, count in dt.update_kinds.items())
    lines = [
        f"command: {results.command}",
        *how,
        f"{results.started_at} | Python {m['python']} | python-telegram-bot {m['python_telegram_bot']} | "
        f"{m['cpus']} CPUs | daifu database: {results.database} | paying by {options['method']}",
        f"daifu's {unit}: {JOURNEYS[results.journey]}; {dt.updates_per_item:g} updates each, as counted by the "
        f"emulator ({kinds}).",
        "Rate limiter OFF in both bots: PTB's AIORateLimiter holds output near 30 messages/s (Telegram's own",
        "ceiling), so with it on a throughput run measures the limiter. Bot CPU is the bot process's user+system",
        "time (/proc/<pid>/stat); the emulator and the load generator run in this process (harness CPU).",
        f"daifu: {results.orders_made} orders made by /newlink outside the timed runs ({results.orders_seconds:.1f}s); "
        f"startup to {'webhook set and listening' if results.mode == 'webhook' else 'first poll'}: "
        f"echo {echo.startup_s:.1f}s, daifu {daifu.startup_s:.1f}s.",
        *shadow_note(results.shadowed_links),
        *stale_note(results.stale_cards),
        "",
    ]
    lines += table(
        f"Throughput: {dt.concurrency} people at once, each acting when answered",
        [
            ("  timed", f"{et.items} texts", f"{dt.items} {plural(unit)}", NONE),
            ("  updates", str(et.updates), str(dt.updates), NONE),
            (
                "  updates/s",
                f"{et.updates_per_s:.0f}",
                f"{dt.updates_per_s:.0f}",
                ratio(dt.updates_per_s, et.updates_per_s),
            ),
            (f"  {plural(unit)}/s ({dt.updates_per_item:g} updates each)", NONE, f"{dt.items_per_s:.1f}", NONE),
            compare("  bot CPU ms per update", et.bot_cpu_ms_per_update, dt.bot_cpu_ms_per_update),
            (f"  bot CPU ms per {unit}", NONE, ms(dt.bot_cpu_ms_per_item), NONE),
            ("  bot CPU use (of one core)", percent(et.bot_cpu_share), percent(dt.bot_cpu_share), NONE),
            compare_latency("  reply latency p50 / p99 ms", et.reply, dt.reply),
            ("  pre-checkout answer p50 / p99 ms", NONE, p50_p99(dt.pre_checkout), NONE),
            ("  harness CPU use (this process)", percent(et.harness_cpu_share), percent(dt.harness_cpu_share), NONE),
            ("  CPU use by the rest of the machine", percent(et.other_cpu_share), percent(dt.other_cpu_share), NONE),
        ],
    )
    lines.append("")
    achieved = f"{ef.updates} ({ef.achieved_updates_per_s:.1f})", f"{df.updates} ({df.achieved_updates_per_s:.1f})"
    lines += table(
        f"Latency: {rate_rule(results)}, {options['latency_seconds']:g}s",
        [
            ("  offered updates/s", f"{ef.offered_updates_per_s:.1f}", f"{df.offered_updates_per_s:.1f}", NONE),
            ("  updates (achieved rate/s)", *achieved, NONE),
            compare("  reply latency p50 ms", ef.reply.p50_ms, df.reply.p50_ms),
            compare("  reply latency p99 ms", ef.reply.p99_ms, df.reply.p99_ms),
            ("  pre-checkout answer p50 / p99 ms", NONE, p50_p99(df.pre_checkout), NONE),
            *((f"    {step} p50 / p99 ms", NONE, p50_p99(latency), NONE) for step, latency in df.steps.items()),
            compare(
                f"  bot CPU ms per update (idle {'time' if results.mode == 'webhook' else 'polling'} included)",
                ef.bot_cpu_ms_per_update,
                df.bot_cpu_ms_per_update,
            ),
            ("  bot CPU use (of one core)", percent(ef.bot_cpu_share), percent(df.bot_cpu_share), NONE),
            (
                "  bot peak RSS MB",
                f"{echo.peak_rss_mb:.0f}",
                f"{daifu.peak_rss_mb:.0f}",
                ratio(daifu.peak_rss_mb, echo.peak_rss_mb),
            ),
        ],
    )
    if echo.backlog is not None:
        b = echo.backlog
        if results.mode == "webhook":
            lines += [
                "",
                f"Backlog: echo bot taking {b.items} texts queued at once, pushed to its webhook: "
                f"{b.updates_per_s:.0f} updates/s, {ms(b.bot_cpu_ms_per_update)} CPU ms per update, "
                f"harness {percent(b.harness_cpu_share)}, rest of the machine {percent(b.other_cpu_share)}",
            ]
        else:
            lines += [
                "",
                f"Calibration: echo bot draining {b.items} texts queued at once (getUpdates returns batches of 100): "
                f"{b.updates_per_s:.0f} updates/s, {ms(b.bot_cpu_ms_per_update)} CPU ms per update, "
                f"rest of the machine {percent(b.other_cpu_share)}",
                "(known for this machine, when quiet: ~700 updates/s at ~1.4 ms).",
            ]
    pre_checkout_p99 = df.pre_checkout.p99_ms if df.pre_checkout is not None else math.nan
    lines += [
        "",
        f"The figure: daifu takes {ratio(dt.updates_per_s, et.updates_per_s)} the echo bot's updates/s "
        f"({dt.updates_per_s:.0f} vs {et.updates_per_s:.0f}; {dt.items_per_s:.1f} {plural(unit)}/s) at "
        f"{ratio(dt.bot_cpu_ms_per_update, et.bot_cpu_ms_per_update)} its CPU per update; at "
        f"{df.offered_updates_per_s:.0f} updates/s it answers pre-checkout in {p50_p99(df.pre_checkout)} ms "
        "(p50 / p99).",
        "",
        *bot_targets(
            dt.updates_per_s / et.updates_per_s,
            dt.bot_cpu_ms_per_update / et.bot_cpu_ms_per_update,
            pre_checkout_p99,
            at_half=options["rate"] is None,
        ),
    ]
    if max(et.harness_cpu_share, dt.harness_cpu_share) > 0.9:
        lines.append(
            "Note: the harness used >90% of a core in a throughput run, so that run's throughput is a lower bound."
        )
    if df.achieved_updates_per_s < 0.9 * df.offered_updates_per_s:
        lines.append("Note: daifu's latency run started its journeys slower than offered: too few people were free.")
    runs: list[Throughput | FixedRate] = [et, dt, ef, df, *([echo.backlog] if echo.backlog else [])]
    busiest = max(run.other_cpu_share for run in runs)
    if busiest > BUSY_MACHINE:
        lines.append(
            f"Note: other work used up to {percent(busiest)} of a core during the runs (of {m['cpus']} cores): "
            "the bots competed for CPU, so their figures are noisy; rerun on a quiet machine to compare."
        )
    return "\n".join(lines)


def _finite(value: Any) -> Any:
    # JSON has no NaN: an empty measurement is written as null.
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def write_json(results: Any, path: Path) -> None:
    """Any of the result dataclasses, as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = _finite(dataclasses.asdict(results))
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")

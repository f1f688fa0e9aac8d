"""The printed table of ``--workers N``: one worker against N, and their ratio."""

from __future__ import annotations

from bench.report import JOURNEYS, ms, p50_p99, percent, plural, ratio, shadow_note, stale_note
from bench.targets import workers_target
from bench.workers import WorkersFigures, WorkersResults

Row = tuple[str, ...]


def table(header: Row, rows: list[Row]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: Row) -> str:
        label, *cells = row
        return "  ".join([label.ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells, widths[1:], strict=True))])

    return [line(header), *(line(row) for row in rows)]


def ratio_of(many: float, one: float) -> float:
    return many / one if one else float("nan")


def name(run: WorkersFigures) -> str:
    return f"{run.workers} worker{'s' if run.workers > 1 else ''}"


def render_workers(results: WorkersResults) -> str:
    one, many = results.runs[0], results.runs[-1]
    t1, tn = one.throughput, many.throughput
    m = results.machine
    sqlite = results.database.startswith("sqlite")
    unit = t1.unit
    lines = [
        f"command: {results.command}",
        f"daifu: {name(one)} vs {name(many)} on one database, webhook mode, behind a round-robin load balancer",
        f"{results.started_at} | Python {m['python']} | python-telegram-bot {m['python_telegram_bot']} | "
        f"{m['cpus']} CPUs | database: {results.database} | paying by {results.options['method']}",
        f"The {unit}: {JOURNEYS[results.journey]}; {t1.updates_per_item:g} updates each, as counted by the emulator.",
        f"Updates reach the balancer from the emulator's webhook pusher: {results.delivery}.",
    ]
    cap = results.options.get("worker_cpu")
    if cap is None:
        lines += [
            f"The emulator, the load generator and the pusher run in the bench process on this same {m['cpus']}-CPU",
            "machine, and the balancer in a process of its own: the workers compete with them (and with the database",
            f"server, if any) for the {m['cpus']} cores, so this machine cannot show what a second machine would add.",
        ]
    else:
        left = m["cpus"] - cap * many.workers
        lines += [
            f"Each worker is held to {cap:g} of a core by a cgroup of its own (--worker-cpu; CFS bandwidth control),",
            f"in both configurations, leaving at least {left:g} of the {m['cpus']} cores to the emulator, the load",
            "generator, the balancer and the database server: the workers' CPU, not theirs, limits the rate, as when",
            "they run on other machines. 'held back' below is how long the kernel stopped each worker for its quota.",
        ]
    lines.append("Rate limiter OFF. Bot CPU is the sum over the workers (/proc/<pid>/stat).")
    if sqlite:
        lines += [
            "SQLite lets one writer at a time into the file (WAL, busy_timeout 5 s): two workers queue for that",
            "lock, so two writers are expected to do worse here than on PostgreSQL (--database postgresql+asyncpg://...).",
        ]
    lines += [note for run in results.runs for note in shadow_note(run.shadowed_links)]
    lines += [note for run in results.runs for note in stale_note(run.stale_cards, f" ({name(run)})")]
    lines.append("")
    rss = [", ".join(f"{value:.0f}" for value in run.worker_peak_rss_mb) for run in (one, many)]
    shares = [" + ".join(percent(share) for share in run.worker_cpu_shares) for run in (one, many)]
    balanced = [" / ".join(str(count) for count in run.balanced.values()) or "-" for run in (one, many)]
    lines += table(
        (f"Throughput: {t1.concurrency} people at once, each acting when answered", name(one), name(many), "ratio"),
        [
            ("  timed", f"{t1.items} {plural(unit)}", f"{tn.items} {plural(unit)}", "-"),
            (
                "  updates/s",
                f"{t1.updates_per_s:.0f}",
                f"{tn.updates_per_s:.0f}",
                ratio(tn.updates_per_s, t1.updates_per_s),
            ),
            (
                f"  {plural(unit)}/s ({t1.updates_per_item:g} updates each)",
                f"{t1.items_per_s:.1f}",
                f"{tn.items_per_s:.1f}",
                ratio(tn.items_per_s, t1.items_per_s),
            ),
            (
                "  bot CPU ms per update (all workers)",
                ms(t1.bot_cpu_ms_per_update),
                ms(tn.bot_cpu_ms_per_update),
                ratio(tn.bot_cpu_ms_per_update, t1.bot_cpu_ms_per_update),
            ),
            (
                f"  bot CPU ms per {unit} (all workers)",
                ms(t1.bot_cpu_ms_per_item),
                ms(tn.bot_cpu_ms_per_item),
                ratio(tn.bot_cpu_ms_per_item, t1.bot_cpu_ms_per_item),
            ),
            ("  CPU use of each worker (of one core)", *shares, "-"),
            *(
                [("  held back by the cap, each worker (s)", *held, "-")]
                if (held := [" + ".join(f"{s:.1f}" for s in run.worker_throttled_s) for run in (one, many)])[0]
                else []
            ),
            ("  balancer CPU use", percent(one.balancer_cpu_share), percent(many.balancer_cpu_share), "-"),
            ("  harness CPU use (bench process)", percent(t1.harness_cpu_share), percent(tn.harness_cpu_share), "-"),
            (
                "  CPU use by the rest of the machine" + ("" if sqlite else " (PostgreSQL's included)"),
                percent(t1.other_cpu_share),
                percent(tn.other_cpu_share),
                "-",
            ),
            (
                "  reply latency p50 / p99 ms",
                p50_p99(t1.reply),
                p50_p99(tn.reply),
                f"{ratio(tn.reply.p50_ms, t1.reply.p50_ms)} / {ratio(tn.reply.p99_ms, t1.reply.p99_ms)}",
            ),
            ("  pre-checkout answer p50 / p99 ms", p50_p99(t1.pre_checkout), p50_p99(tn.pre_checkout), "-"),
            ("  requests per worker (whole run)", *balanced, "-"),
            ("  peak RSS MB per worker", *rss, "-"),
        ],
    )
    lines += [
        "",
        f"The figure: {name(many)} take {ratio(tn.updates_per_s, t1.updates_per_s)} the updates/s of one "
        f"({tn.updates_per_s:.0f} vs {t1.updates_per_s:.0f}; {tn.items_per_s:.1f} vs {t1.items_per_s:.1f} "
        f"{plural(unit)}/s) on this {m['cpus']}-CPU machine"
        + (" shared with the emulator." if cap is None else f", each worker held to {cap:g} of a core."),
        *workers_target(ratio_of(tn.updates_per_s, t1.updates_per_s), many.workers, not sqlite),
    ]
    if max(t1.harness_cpu_share, tn.harness_cpu_share) > 0.9:
        lines.append("Note: the bench process used >90% of a core: the harness may have capped the figures.")
    return "\n".join(lines)

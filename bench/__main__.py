"""``python -m bench``: run the benchmark, print the table, write its JSON to bench/results/.

The kind of run follows the options: polling (the default) or ``--mode webhook`` compare daifu with a bare
echo bot; ``--workers N`` compares one daifu worker with N; ``--stats-orders N`` times /stats on N orders.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from bench.benchmark import run_benchmark
from bench.database import DatabaseUnavailable
from bench.miniapp_run import render_miniapp, run_miniapp
from bench.options import Options, parse_options
from bench.processes import BotFailed
from bench.repeats import Repeated, pair_of, render_repeats
from bench.replies import UnexpectedReply
from bench.report import render, write_json
from bench.stats_run import render_stats, run_stats
from bench.workers import run_workers
from bench.workers_report import render_workers

FAILURES = (BotFailed, UnexpectedReply, DatabaseUnavailable)


def first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def progress(message: str) -> None:
    # Progress goes to stderr, so stdout holds only the report.
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def run(options: Options) -> tuple[Any, str]:
    """The results of the kind of run the options ask for, and their printed report."""
    if options.kind == "stats":
        stats = await run_stats(options, progress)
        return stats, render_stats(stats)
    if options.kind == "miniapp":
        miniapp = await run_miniapp(options, progress)
        return miniapp, render_miniapp(miniapp)
    if options.kind == "workers":
        workers = await run_workers(options, progress)
        return workers, render_workers(workers)
    results = await run_benchmark(options, progress)
    if options.repeat == 1:
        return results, render(results)
    pairs = [pair_of(results)]
    for number in range(2, options.repeat + 1):
        progress(f"pair {number} of {options.repeat}")
        results = await run_benchmark(options, progress)
        pairs.append(pair_of(results))
    repeated = Repeated(results, pairs)
    return repeated, render(results) + "\n" + render_repeats(repeated, at_half=options.rate is None)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        results, report = asyncio.run(run(options))
    except FAILURES as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except ExceptionGroup as group:
        # A load loop's TaskGroup wraps what went wrong in one of its people.
        failures = group.subgroup(lambda error: isinstance(error, FAILURES))
        if failures is None:
            raise
        print(f"bench: {first_leaf(failures)}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"bench: gave up after --max-seconds {options.max_seconds:g}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # asyncio.run has already cancelled the run, and with it stopped the bots and removed the temp dir.
        print("bench: interrupted", file=sys.stderr)
        return 130
    print(report)
    write_json(results, options.json_path)
    print(f"\n(figures written to {options.json_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

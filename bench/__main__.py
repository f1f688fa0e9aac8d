"""``python -m bench``: run the benchmark, print the table, write bench/results/latest.json."""

from __future__ import annotations

import asyncio
import sys

from bench.benchmark import run_benchmark
from bench.database import DatabaseUnavailable
from bench.options import parse_options
from bench.processes import BotFailed
from bench.replies import UnexpectedReply
from bench.report import render, write_json


def progress(message: str) -> None:
    # Progress goes to stderr, so stdout holds only the report.
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    try:
        results = asyncio.run(run_benchmark(options, progress))
    except (BotFailed, UnexpectedReply, DatabaseUnavailable) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"bench: gave up after --max-seconds {options.max_seconds:g}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # asyncio.run has already cancelled the run, and with it stopped the bots and removed the temp dir.
        print("bench: interrupted", file=sys.stderr)
        return 130
    print(render(results))
    write_json(results, options.json_path)
    print(f"\n(figures written to {options.json_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

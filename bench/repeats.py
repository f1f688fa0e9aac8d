"""``--repeat N``: the echo bot against daifu N times over, each pair back to back, judged on the medians.

This machine's speed drifts within the hour (docs/benchmarks.md has examples), and a ratio is only fair between
two runs close in time: each pair gives its own ratios, and the targets are judged on their medians rather than
on one pair that may have straddled a change.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from bench.benchmark import Results
from bench.targets import bot_targets


@dataclass(frozen=True)
class Pair:
    started_at: str
    echo_updates_per_s: float
    daifu_updates_per_s: float
    echo_cpu_ms: float
    daifu_cpu_ms: float
    pre_checkout_p99_ms: float  # at half daifu's own maximum

    @property
    def updates_share(self) -> float:
        return self.daifu_updates_per_s / self.echo_updates_per_s

    @property
    def cpu_ratio(self) -> float:
        return self.daifu_cpu_ms / self.echo_cpu_ms


@dataclass(frozen=True)
class Repeated:
    last: Results  # the last pair's whole results (its report is printed in full)
    pairs: list[Pair]


def pair_of(results: Results) -> Pair:
    echo, daifu = results.echo.throughput, results.daifu.throughput
    pre_checkout = results.daifu.fixed_rate.pre_checkout
    return Pair(
        started_at=results.started_at,
        echo_updates_per_s=echo.updates_per_s,
        daifu_updates_per_s=daifu.updates_per_s,
        echo_cpu_ms=echo.bot_cpu_ms_per_update,
        daifu_cpu_ms=daifu.bot_cpu_ms_per_update,
        pre_checkout_p99_ms=pre_checkout.p99_ms if pre_checkout is not None else math.nan,
    )


def render_repeats(repeated: Repeated, at_half: bool) -> str:
    pairs = repeated.pairs
    lines = [
        "",
        f"Each of the {len(pairs)} pairs (echo bot, then daifu, back to back):",
        "  started                    echo ups  daifu ups  share   echo CPU ms  daifu CPU ms  ratio   pre-checkout p99",
    ]
    for pair in pairs:
        lines.append(
            f"  {pair.started_at:25s}  {pair.echo_updates_per_s:8.0f}  {pair.daifu_updates_per_s:9.0f}  "
            f"{pair.updates_share:5.2f}  {pair.echo_cpu_ms:11.2f}  {pair.daifu_cpu_ms:12.2f}  "
            f"{pair.cpu_ratio:5.2f}x  {pair.pre_checkout_p99_ms:8.1f} ms"
        )
    share = statistics.median(pair.updates_share for pair in pairs)
    cpu = statistics.median(pair.cpu_ratio for pair in pairs)
    p99 = statistics.median(pair.pre_checkout_p99_ms for pair in pairs)
    lines += [
        f"Medians over the pairs: updates/s {share:.2f} of the echo bot's; CPU per update {cpu:.2f}x the echo "
        f"bot's; pre-checkout p99 {p99:.1f} ms at half daifu's maximum.",
        "",
        "On the medians:",
        *bot_targets(share, cpu, p99, at_half=at_half)[1:],
    ]
    return "\n".join(lines)

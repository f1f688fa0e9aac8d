"""The issue's targets for this 2-core machine, and whether a run met them (printed under each report)."""

from __future__ import annotations

import math

MIN_UPDATES_SHARE = 0.40  # daifu's updates/s on one worker, as a share of the echo bot's
MAX_CPU_RATIO = 2.5  # daifu's CPU per update, in echo bots
MAX_PRE_CHECKOUT_P99_MS = 50.0  # at half of daifu's own maximum rate
MIN_TWO_WORKER_SPEEDUP = 1.6  # two workers on PostgreSQL, against one


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def at_least(label: str, value: float, floor: float, shown: str) -> str:
    return f"  {label}: {shown} (target at least {floor:g}): {verdict(not math.isnan(value) and value >= floor)}"


def at_most(label: str, value: float, ceiling: float, shown: str) -> str:
    return f"  {label}: {shown} (target at most {ceiling:g}): {verdict(not math.isnan(value) and value <= ceiling)}"


def bot_targets(updates_share: float, cpu_ratio: float, pre_checkout_p99_ms: float, at_half: bool) -> list[str]:
    lines = [
        "Targets (issue, 2-core machine):",
        at_least("updates/s, share of the echo bot's", updates_share, MIN_UPDATES_SHARE, f"{updates_share:.2f}"),
        at_most("CPU per update, in echo bots", cpu_ratio, MAX_CPU_RATIO, f"{cpu_ratio:.2f}x"),
    ]
    label = "pre-checkout answer p99 ms at half daifu's maximum"
    if at_half:
        lines.append(at_most(label, pre_checkout_p99_ms, MAX_PRE_CHECKOUT_P99_MS, f"{pre_checkout_p99_ms:.1f}"))
    else:
        lines.append(f"  {label}: not measured (a fixed --rate was given)")
    return lines


def workers_target(speedup: float, workers: int, postgres: bool) -> list[str]:
    if workers != 2 or not postgres:
        return []
    return [
        "Target (issue, 2-core machine):",
        at_least(
            "two workers on PostgreSQL, in one worker's updates/s", speedup, MIN_TWO_WORKER_SPEEDUP, f"{speedup:.2f}x"
        ),
    ]

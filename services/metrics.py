"""The figures daifu exposes at /metrics (Prometheus): defined once here, observed where things happen."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, GCCollector, Histogram, PlatformCollector, ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
# The standard process_*, python_info and python_gc_* figures (memory, CPU, open files, collections), as any
# Python exporter has them. Registered here, once per process: a module runs once however many bots the process
# starts (the tests start several), and registering one twice would raise.
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

UPDATES = Counter("daifu_updates_total", "Telegram updates handled, by type", ["type"], registry=REGISTRY)
HANDLER_SECONDS = Histogram(
    "daifu_update_seconds",
    "Time to handle one Telegram update, all handlers",
    ["type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
PRE_CHECKOUT_SECONDS = Histogram(
    "daifu_pre_checkout_answer_seconds",
    "Time from receiving a pre-checkout query to answering it (Telegram allows 10 s)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
PAYMENTS = Counter(
    "daifu_payments_total", "Payments applied, by provider and outcome", ["provider", "outcome"], registry=REGISTRY
)
REJECTED_NOTICES = Counter(
    "daifu_rejected_notices_total",
    "Provider notices refused at verification (kept only as a short record), by provider",
    ["provider"],
    registry=REGISTRY,
)
PARKED = Counter(
    "daifu_parked_total",
    "Provider notices, refunds and messages owed that daifu stopped retrying after failing again and again, by kind",
    ["kind"],
    registry=REGISTRY,
)
REJECTED_UPDATES = Counter(
    "daifu_updates_rejected_total",
    "Telegram updates that could not be parsed, set aside in the inbox unhandled",
    registry=REGISTRY,
)

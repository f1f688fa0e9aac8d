"""The limits every test's daifu runs with, in process (tests.harness) and as worker processes (tests.workers).

Journeys, taps and races send one person's updates faster than a person could, and every test's browsers and
shop backends are one address (127.0.0.1): the throttles are tested on their own, at limits a test can reach
(tests/flows/test_user_throttle.py, tests/api/test_rate_limits.py, tests/flows/test_slow_clients.py).
"""

from __future__ import annotations

UNTHROTTLED: dict[str, float | int] = {
    "throttle_user_rate": 1000.0,
    "throttle_user_burst": 1000,
    "web_rate_per_address": 1_000_000,
    "web_burst_per_address": 1_000_000,
    "web_form_rate_per_address": 1_000_000,
    "web_form_burst_per_address": 1_000_000,
    "api_rate_per_key": 1_000_000,
    "api_burst_per_key": 1_000_000,
    "web_max_connections_per_address": 0,  # 200 browsers posting at once
}


def as_environment() -> dict[str, str]:
    return {name.upper(): str(value) for name, value in UNTHROTTLED.items()}

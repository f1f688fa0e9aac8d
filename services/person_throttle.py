"""Fairness per person: a token bucket each, so one person flooding the bot is told once to slow down, then ignored.

The buckets live in this process's memory. With several workers each keeps its own, so a flooder whose updates
are spread over N workers gets up to N times the rate: still a small multiple of a person's pace, where the
flood was hundreds a second, and no worker ever spends more than its own share on them. A shared store would
cost a round trip on every tap of every honest person to save that factor.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

# People remembered at once: a flooder pushed out by this many others since starts again with a full bucket.
REMEMBERED = 10_000


class Verdict(StrEnum):
    PASS = "pass"  # handle it
    WARN = "warn"  # the one that ran the bucket dry: say "slow down" once, handle nothing
    IGNORE = "ignore"  # within the pause after the warning: not a word


@dataclass(slots=True)
class _Bucket:
    tokens: float
    filled_at: float
    paused_until: float = 0.0


class PersonThrottle:
    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        pause: timedelta,
        remembered: int = REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.pause = pause.total_seconds()
        self.remembered = remembered
        self.clock = clock
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()

    def verdict(self, person: int) -> Verdict:
        """Take one token from the person's bucket; what to do with the update that asked."""
        now = self.clock()
        bucket = self._buckets.get(person)
        if bucket is None:
            bucket = self._buckets[person] = _Bucket(tokens=self.burst, filled_at=now)
            if len(self._buckets) > self.remembered:
                self._buckets.popitem(last=False)  # the one who acted longest ago
        else:
            self._buckets.move_to_end(person)
        if now < bucket.paused_until:
            return Verdict.IGNORE
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.filled_at) * self.rate)
        bucket.filled_at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict.PASS
        bucket.paused_until = now + self.pause
        return Verdict.WARN

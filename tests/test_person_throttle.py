"""The per-person token bucket on a clock the test moves: burst, one warning, the pause, the refill, the bound."""

from __future__ import annotations

from datetime import timedelta

from services.person_throttle import PersonThrottle, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, *, remembered: int = 100) -> PersonThrottle:
    return PersonThrottle(rate=1.0, burst=3, pause=timedelta(seconds=30), remembered=remembered, clock=clock)


def test_a_burst_passes_then_one_warning_then_silence_until_the_pause_is_over() -> None:
    clock = Clock()
    limits = throttle(clock)
    assert [limits.verdict(1) for _ in range(6)] == [Verdict.PASS] * 3 + [Verdict.WARN] + [Verdict.IGNORE] * 2
    assert limits.verdict(2) == Verdict.PASS  # someone else is not touched
    clock.now += 29.9
    assert limits.verdict(1) == Verdict.IGNORE
    clock.now += 0.2
    # Back after the pause, with the bucket refilled to its burst, not more.
    assert [limits.verdict(1) for _ in range(4)] == [Verdict.PASS] * 3 + [Verdict.WARN]


def test_a_steady_pace_at_the_rate_is_never_throttled() -> None:
    clock = Clock()
    limits = throttle(clock)
    for _ in range(200):
        assert limits.verdict(7) == Verdict.PASS
        clock.now += 1.0


def test_memory_is_bounded_and_forgets_the_one_who_acted_longest_ago() -> None:
    clock = Clock()
    limits = throttle(clock, remembered=2)
    for _ in range(4):
        limits.verdict(1)  # person 1 is paused now
    limits.verdict(2)
    limits.verdict(3)  # three people: person 1, the least recent, is forgotten
    assert limits.verdict(1) == Verdict.PASS
    assert len(limits._buckets) == 2

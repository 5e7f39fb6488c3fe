"""When to read a task from kie: densely when its image is likely to be ready, sparsely before, backing off after;
and how long the card may say a task takes.

Pure functions of what recent tasks took (`Expectation`, from the store) and how long this one has been at kie. Until
a resolution has enough history, the fixed schedule in `Polling` applies and the card claims no time.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bot.settings import Polling
from prompts.estimates import Estimate

MIN_SAMPLES = 5  # finished tasks of a resolution before the polls and the card trust their spread: fewer are noise
# Inside the likely window reads come this much more often than `fast_interval`: the reads saved before the window
# pay for an image that lands sooner than a plain poller's would.
WINDOW_DENSITY = 1.5
# The card counts down from the median only when the likely window (a tenth done to nine tenths done) is no wider than
# half of it; with a wider spread a single time would mislead, so it shows the window.
COUNTDOWN_SPREAD = 0.5


@dataclass(frozen=True)
class Expectation:
    """How long kie takes, in seconds from the create, for recent tasks of one resolution."""

    early: float  # a tenth of tasks were done by then
    median: float
    late: float  # nine tenths were done by then


def expectation(seconds: Sequence[float]) -> Expectation | None:
    """The spread of recent kie times, or None while there are too few to trust."""
    if len(seconds) < MIN_SAMPLES:
        return None
    deciles = statistics.quantiles(seconds, n=10, method="inclusive")
    return Expectation(early=deciles[0], median=statistics.median(seconds), late=deciles[-1])


def estimate(expect: Expectation | None, before_kie: float) -> Estimate | None:
    """How long a task takes from its command to its image, for the card: the `before_kie` seconds it took to reach
    kie (so far, while it has not), then kie's spread for its resolution. None while there is too little history."""
    if expect is None:
        return None  # where a prior per resolution would give a range
    narrow = expect.late - expect.early <= COUNTDOWN_SPREAD * expect.median
    return Estimate(
        low=before_kie + expect.early,
        high=before_kie + expect.late,
        typical=before_kie + expect.median if narrow else None,
    )


def next_interval(elapsed: float, expect: Expectation | None, polling: Polling) -> float:
    """Seconds to wait before the next read of a task that has been at kie for `elapsed` seconds.

    - First, two reads `fast_interval` apart: they catch a fast failure and show queued or generating.
    - Before the likely window, the wait halves the distance to it while that is long, then lands on its start, so
      few reads are spent where nothing happens.
    - Inside it (from a tenth done to nine tenths done), a read every `fast_interval / WINDOW_DENSITY`.
    - After it, the wait grows with the time past the window, up to `slow_interval`, as kie advises for long tasks.
    """
    dense = polling.fast_interval
    if expect is None:
        return polling.interval(elapsed)
    if elapsed < dense:
        return dense
    if elapsed < expect.early:
        until = expect.early - elapsed
        return until / 2 if until > 4 * dense else max(dense, until)
    if elapsed <= expect.late:
        return dense / WINDOW_DENSITY
    return min(polling.slow_interval, max(dense, (elapsed - expect.late) / 2))

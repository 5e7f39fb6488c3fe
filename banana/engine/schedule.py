"""When to read a task from kie: densely when its image is likely to be ready, sparsely before, backing off after.

Pure functions of what recent tasks took (`Expectation`, from the store) and how long this one has been at kie. Until
a resolution has enough history, the fixed schedule in `Polling` applies.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from banana.engine.settings import Polling

MIN_SAMPLES = 5  # recent tasks of a resolution before their spread is trusted
# Inside the likely window reads come this much more often than `fast_interval`: the reads saved before the window
# pay for an image that lands sooner than a plain poller's would.
WINDOW_DENSITY = 1.5


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

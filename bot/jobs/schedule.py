"""When to read a task from kie: densely when its image is likely to be ready, sparsely before, backing off after;
and how long the card may say a task takes.

Pure functions of what is known about a resolution (`Expectation`): what recent tasks took (from the store), how long
the tasks still at kie have been there (each will take at least that), and, before there is enough history, a prior
(`Prior`: kie's published figures, an operator's setting). With neither prior nor enough history, the fixed schedule
in `Polling` applies and the card claims no time.
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
# While the window still rests on the prior (a wide range, not this install's own times), the image is less likely at
# any one moment of it: reads there come only this much more often than `fast_interval`.
PRIOR_DENSITY = 1.2
# The card counts down from the median only when the likely window (a tenth done to nine tenths done) is no wider than
# half of it; with a wider spread a single time would mislead, so it shows the window.
COUNTDOWN_SPREAD = 0.5


@dataclass(frozen=True)
class Prior:
    """How long kie takes for a resolution, in seconds from the create, as known before any history: the range most
    tasks fall in."""

    low: float
    high: float


@dataclass(frozen=True)
class Expectation:
    """How long kie takes, in seconds from the create, for recent tasks of one resolution."""

    early: float  # a tenth of tasks were done by then
    median: float
    late: float  # nine tenths were done by then
    learned: bool = True  # from this install's own times; False while the prior still stands in for some


def expectation(
    seconds: Sequence[float], running: Sequence[float] = (), prior: Prior | None = None
) -> Expectation | None:
    """The spread of kie times, or None while too little is known.

    `seconds` are recent tasks' kie times; `running` how long each task still at kie has been there. Those are not
    yet done, so they push the spread later: the first images of a burst are its quickest, and a schedule learnt
    from them alone would stop reading densely just as the rest come due. Until there are MIN_SAMPLES times, the
    prior makes up the difference, as that many tasks spread evenly over its range, each real time replacing one."""
    finished = [*seconds, *_stand_ins(prior, MIN_SAMPLES - len(seconds))]
    if len(finished) < MIN_SAMPLES:
        return None
    learned = len(seconds) >= MIN_SAMPLES
    if not running:  # the plain spread, interpolated between the times
        deciles = statistics.quantiles(finished, n=10, method="inclusive")
        return Expectation(deciles[0], statistics.median(finished), deciles[-1], learned)
    found = _done_by(finished, running, (0.1, 0.5, 0.9))
    # Where the tasks still running leave a share undetermined, it lies beyond everything seen (and the prior).
    beyond = max([*finished, *running, prior.high if prior else 0.0])
    return Expectation(found.get(0.1, beyond), found.get(0.5, beyond), found.get(0.9, beyond), learned)


def _stand_ins(prior: Prior | None, count: int) -> list[float]:
    """`count` times spread evenly over the prior's range: the middles of `count` equal slices of it."""
    if prior is None or count <= 0:
        return []
    width = prior.high - prior.low
    return [prior.low + width * (number + 0.5) / count for number in range(count)]


def _done_by(finished: Sequence[float], running: Sequence[float], shares: Sequence[float]) -> dict[float, float]:
    """The time by which each share of tasks is done, counting a running task as done only after its time so far
    (the Kaplan-Meier estimate). A share not reached while tasks are still running is missing from the answer."""
    times = sorted(
        [(time, True) for time in finished] + [(time, False) for time in running], key=lambda t: (t[0], not t[1])
    )  # at a tie, the done one first
    found: dict[float, float] = {}
    left, not_done = len(times), 1.0
    for time, done in times:
        if done:
            not_done *= (left - 1) / left
            for share in shares:
                if share not in found and 1 - not_done >= share - 1e-9:
                    found[share] = time
        left -= 1
    return found


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


def next_interval(elapsed: float, expect: Expectation | None, polling: Polling, *, queued: bool = False) -> float:
    """Seconds to wait before the next read of a task that has been at kie for `elapsed` seconds.

    - The job's first read comes `fast_interval` after the create (nothing is ready sooner); the next comes no
      sooner than that again: they catch a fast failure and show queued or generating.
    - Before the likely window, the wait halves the distance to it while that is long, then lands on its start, so
      few reads are spent where nothing happens.
    - Inside it (from a tenth done to nine tenths done, one read wider each side once learnt), a read every
      `fast_interval / WINDOW_DENSITY`.
    - After it, the waits start at the window's pace (the last tenth of tasks deserves no worse) and grow with the
      time past the window, up to `slow_interval`, as kie advises for long tasks.
    - A task kie last reported waiting or queuing has not started drawing, so its image cannot be ready at the next
      moment: it is never read more often than every `fast_interval`.
    """
    wait = _wait(elapsed, expect, polling)
    return max(wait, polling.fast_interval) if queued else wait


def _wait(elapsed: float, expect: Expectation | None, polling: Polling) -> float:
    dense = polling.fast_interval
    if expect is None:
        return polling.interval(elapsed)
    if elapsed < dense:
        return dense
    inside = dense / (WINDOW_DENSITY if expect.learned else PRIOR_DENSITY)
    # Deciles learnt from a few dozen tasks are rough, and the tenth beyond each deserves a lag no worse than a plain
    # poller's: a learnt window opens one read early and closes one late. (The prior's range is wide already.)
    margin = inside if expect.learned else 0.0
    opens, closes = expect.early - margin, expect.late + margin
    if elapsed < opens:
        until = opens - elapsed
        return until / 2 if until > 4 * dense else max(dense, until)
    if elapsed <= closes:
        return inside
    return min(polling.slow_interval, max(inside, (elapsed - closes) / 2))

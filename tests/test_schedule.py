"""The poll schedule: reads cluster where recent tasks say the image will be ready."""

from __future__ import annotations

import itertools
import random

from banana.domain.tasks import TaskState
from banana.engine.schedule import Expectation, expectation, next_interval
from banana.engine.settings import Polling
from standins.kie import RECORD_PATH, Outcome

POLLING = Polling()  # 3 s dense, 20 s at most


def reads(expect: Expectation | None, until: float, polling: Polling = POLLING) -> list[float]:
    """The times, from the create, at which a task that is not done by `until` is read."""
    times, elapsed = [0.0], 0.0
    while elapsed < until:
        elapsed += next_interval(elapsed, expect, polling)
        times.append(elapsed)
    return times


def test_no_spread_is_trusted_from_too_few_tasks():
    assert expectation([50.0, 60.0, 70.0, 55.0]) is None
    found = expectation([45.0 + i for i in range(31)])  # 45 to 75 s
    assert found is not None
    assert 45 <= found.early <= 49 and found.median == 60 and 71 <= found.late <= 75


def test_without_history_the_fixed_schedule_applies():
    assert next_interval(0, None, POLLING) == POLLING.fast_interval
    assert next_interval(30, None, POLLING) == POLLING.medium_interval


def test_reads_cluster_in_the_window_keep_the_early_ones_and_back_off_after():
    expect = Expectation(early=45, median=60, late=75)
    times = reads(expect, until=120)
    assert times[:2] == [0.0, 3.0]  # early reads catch a fast failure and show the state
    before = [t for t in times if 3 < t < 45]
    inside = [t for t in times if 45 <= t <= 75]
    after = [t for t in times if t > 75]
    assert len(before) <= 4 and 45 in times and len(inside) >= 10  # sparse before, from the window's start dense
    assert all(b - a <= POLLING.fast_interval / 1.5 + 1e-9 for a, b in itertools.pairwise(inside))
    gaps_after = [b - a for a, b in zip([75.0, *after], after, strict=False)]
    assert gaps_after == sorted(gaps_after) and max(gaps_after) <= POLLING.slow_interval  # backing off, capped


def test_against_a_fixed_three_second_poller_fewer_reads_and_no_later_on_tasks_of_45_to_75_s():
    rng = random.Random(7)
    history = [rng.uniform(45, 75) for _ in range(30)]
    expect = expectation(history)
    ours, fixed, our_lags, fixed_lags = [], [], [], []
    for done in (rng.uniform(45, 75) for _ in range(200)):
        mine = next(t for t in reads(expect, until=done + 30) if t >= done)
        plain = next(t for t in (3.0 * i for i in range(1000)) if t >= done)
        ours.append(len([t for t in reads(expect, until=done + 30) if t <= mine]))
        fixed.append(int(plain / 3.0) + 1)
        our_lags.append(mine - done)
        fixed_lags.append(plain - done)
    assert sum(ours) <= 0.6 * sum(fixed)
    assert sorted(our_lags)[100] <= sorted(fixed_lags)[100] + 0.2  # the median lag, no worse


async def test_with_history_each_image_arrives_close_to_kies_completion(start_banana, kie, slack):
    banana = await start_banana(POLL_TIMEOUT="20")
    durations = [0.6, 0.7, 0.8, 0.9, 1.0, 0.65, 0.85, 0.95]
    for number, seconds in enumerate(durations):
        kie.plan(Outcome(generate_seconds=seconds))
        await banana.command(f"picture {number}")
        await banana.settle(number + 1)  # one at a time: each learns from those before
    tasks = await banana.settle(len(durations))
    assert all(task.state is TaskState.DONE and task.kie_seconds for task in tasks)
    learned = tasks[5:]  # five tasks of history: the schedule now follows it
    for task in learned:
        reads_of_task = [r for r in kie.requests_to(RECORD_PATH) if r.query.get("taskId") == task.kie_task_id]
        fixed_reads = (task.kie_seconds or 0) / 0.02  # FAST_ENV's POLL_INTERVAL_FAST
        assert len(reads_of_task) <= 0.6 * fixed_reads
    # From the command to the image in the thread, against kie's own time: the little left is creating, polling
    # and uploading.
    assert max((task.duration or 0) - (task.kie_seconds or 0) for task in learned) < 0.5

"""The app's own rate budgets, as pure timing rules."""

from __future__ import annotations

import asyncio
import itertools
import time

from bot.clients.limits import Pacer, RateLimit, UpdateBudget


async def test_posts_to_one_channel_start_an_interval_after_the_previous_answer():
    pacer = Pacer(0.05)
    calls: list[tuple[str, float, float]] = []

    async def post(channel: str, slow: float) -> None:
        async with pacer.turn(channel):
            started = time.monotonic()
            await asyncio.sleep(slow)  # Slack taking its time to answer
            time.sleep(0.02)  # noqa: ASYNC251 (a busy event loop on purpose: nobody else runs meanwhile)
            calls.append((channel, started, time.monotonic()))

    await asyncio.gather(*(post("C1", 0.03) for _ in range(4)), post("C2", 0.0))
    one = [c for c in calls if c[0] == "C1"]
    assert len(one) == 4
    assert all(b[1] - a[2] >= 0.05 for a, b in itertools.pairwise(one))  # from the answer, not the claim
    (other,) = [c for c in calls if c[0] == "C2"]
    assert other[1] < one[1][1]  # another channel does not wait its turn behind this one


async def test_a_failed_post_still_holds_the_next_one_back():
    pacer = Pacer(0.05)
    answered = 0.0
    try:
        async with pacer.turn("C1"):
            answered = time.monotonic()
            raise RuntimeError("ratelimited")
    except RuntimeError:
        pass
    async with pacer.turn("C1"):
        assert time.monotonic() - answered >= 0.05


async def test_a_rate_limit_spaces_calls_evenly_in_arrival_order():
    limit = RateLimit(5, window=0.2)  # one every 40 ms
    granted: list[tuple[int, float]] = []

    async def read(number: int) -> None:
        await limit.take()
        granted.append((number, time.monotonic()))

    await asyncio.gather(*(read(n) for n in range(12)))
    assert [n for n, _ in granted] == list(range(12))  # first come, first served
    times = [t for _, t in granted]
    assert all(later - earlier >= 0.04 for earlier, later in itertools.pairwise(times))  # never bunched
    assert all(later - earlier >= 0.2 for earlier, later in zip(times, times[5:], strict=False))  # 5 per 0.2 s


async def test_a_rare_call_costs_nothing():
    clock = FakeClock()
    limit = RateLimit(5, window=0.2, clock=clock)  # one every 40 ms of this clock
    async with asyncio.timeout(10):  # a deadline: a wait would never end, as this clock moves only by hand
        await limit.take()
        clock.now += 0.04
        await limit.take()
        clock.now += 1.0
        await limit.take()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_edits_leave_room_for_the_finals_a_burst_of_starts_will_need():
    clock = FakeClock()
    budget = UpdateBudget(40, clock)
    budget.started()
    assert budget.allows_progress(in_flight=1)  # one task alone shows its progress
    for _ in range(7):  # a short burst still shows its progress
        budget.started()
    assert budget.allows_progress(in_flight=8)
    for _ in range(12):  # a stream of starts, 1.5 a second: the minute's room is for their finals
        clock.now += 0.66
        budget.started()
    assert not budget.allows_progress(in_flight=3)
    clock.now += UpdateBudget.START_PACE_WINDOW + 1  # the burst is over, three tasks still running
    assert budget.allows_progress(in_flight=3)


def test_at_a_steady_pace_progress_edits_get_only_what_the_finals_leave():
    clock = FakeClock()
    budget = UpdateBudget(40, clock)
    for _ in range(30):  # thirty tasks a minute, one every two seconds
        clock.now += 2
        budget.started()
    progress = 0
    while budget.allows_progress(in_flight=5):
        budget.spend_progress()
        progress += 1
    # The minute's 40 edits: 30 finals to come, a reserve of 4, and half of what is left for progress.
    assert progress == (40 - 30 - 4) // 2


async def test_a_waiting_final_edit_holds_every_progress_edit_back_and_goes_first():
    budget = UpdateBudget(3, minute=0.3)
    for _ in range(3):
        budget.spend_progress()
    order: list[str] = []

    async def final(name: str) -> None:
        async with budget.final_turn():
            order.append(name)

    waiting = [asyncio.create_task(final(n)) for n in ("first", "second")]
    await asyncio.sleep(0)
    assert order == [] and not budget.allows_progress(in_flight=0)  # the budget is spent and finals are waiting
    await asyncio.wait_for(asyncio.gather(*waiting), 5)  # room again once the minute has passed
    assert order == ["first", "second"]
    assert not budget.allows_progress(in_flight=0)  # two finals of three: the last room is kept for a final


async def test_when_callers_must_wait_the_lowest_priority_goes_first_and_a_cancelled_one_holds_nobody_up():
    limit = RateLimit(1, window=0.1)
    await limit.take()  # the window is full now
    order: list[float] = []

    async def read(priority: float) -> None:
        await limit.take(priority)
        order.append(priority)

    late = asyncio.create_task(read(5.0))
    await asyncio.sleep(0)
    gone = asyncio.create_task(read(0.5))
    waiting = [asyncio.create_task(read(p)) for p in (3.0, 1.0)]
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.wait_for(asyncio.gather(late, *waiting), 5)
    assert order == [1.0, 3.0, 5.0]  # the task expected to be done soonest is read first

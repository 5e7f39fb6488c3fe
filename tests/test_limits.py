"""The app's own rate budgets, as pure timing rules."""

from __future__ import annotations

import asyncio
import itertools
import time

from banana.engine.limits import Pacer


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

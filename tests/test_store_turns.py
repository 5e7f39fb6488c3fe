"""SQLite's one connection takes turns: what a person waits on (`urgent`) goes before background work."""

from __future__ import annotations

import asyncio

import pytest

from bot.services.workspace_settings import Ceilings, WorkspaceSettings
from bot.store.database import _Turns, urgent
from prompts.options import Options


async def _take(turns: _Turns, name: str, order: list[str], *, is_urgent: bool = False) -> None:
    async def take() -> None:
        async with turns:
            order.append(name)

    if is_urgent:
        with urgent():
            await take()
    else:
        await take()


async def _queued(*coroutines: object) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(c) for c in coroutines]  # type: ignore[arg-type]
    for _ in range(3):
        await asyncio.sleep(0)  # each reaches the lock and waits in line
    return tasks


async def test_urgent_waiters_go_before_background_ones_each_in_order() -> None:
    turns, order = _Turns(), []
    async with turns:
        tasks = await _queued(
            _take(turns, "job 1", order),
            _take(turns, "job 2", order),
            _take(turns, "ack 1", order, is_urgent=True),
            _take(turns, "job 3", order),
            _take(turns, "ack 2", order, is_urgent=True),
        )
        assert order == []  # nobody runs while it is held
    async with asyncio.timeout(30):  # a lost turn would wait for ever
        await asyncio.gather(*tasks)
    assert order == ["ack 1", "ack 2", "job 1", "job 2", "job 3"]


async def test_a_cancelled_waiter_never_keeps_the_lock() -> None:
    turns, order = _Turns(), []
    async with turns:
        first, second = await _queued(_take(turns, "cancelled", order), _take(turns, "next", order))
        first.cancel()
    async with asyncio.timeout(30):
        await asyncio.gather(second)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert order == ["next"]
    await _take(turns, "later", order)  # free again
    assert order == ["next", "later"]


async def test_a_waiter_cancelled_after_its_turn_came_passes_it_on() -> None:
    turns, order = _Turns(), []
    async with turns:
        first, second = await _queued(_take(turns, "handed", order), _take(turns, "next", order))
    first.cancel()  # its turn was handed over on release, but it is cancelled before it runs
    async with asyncio.timeout(30):
        await asyncio.gather(second)
    assert order == ["next"]
    await _take(turns, "later", order)
    assert order[-1] == "later"


def test_urgent_is_only_inside_its_block() -> None:
    from bot.store.database import _URGENT

    with urgent():
        assert _URGENT.get()
    assert not _URGENT.get()


async def test_a_workspace_read_that_requests_share_goes_first_even_when_background_work_began_it() -> None:
    """Requests that miss a workspace's settings together share one read (bot/store/recent.py). Begun by a job, it would
    wait behind the jobs' writes, and the acks waiting on it with it: it goes first whoever began it."""
    turns, order = _Turns(), []

    class Store:
        async def workspace_settings(self, team_id: str) -> dict[str, object]:
            await _take(turns, "shared read", order)  # urgent or not as the context it runs in
            return {}

    ceilings = Ceilings(
        user_daily_cap=None, workspace_monthly_cap=None, defaults=Options("1:1", "2K", "png"), thread_replies=True
    )
    service = WorkspaceSettings(Store(), slack=None, ceilings=ceilings)  # type: ignore[arg-type]
    async with turns:
        tasks = await _queued(_take(turns, "job's write", order), service.chosen("T1"))  # begun by background work
    async with asyncio.timeout(30):
        await asyncio.gather(*tasks)
    assert order == ["shared read", "job's write"]

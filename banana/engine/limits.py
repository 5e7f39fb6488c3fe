"""Rate budgets the app keeps for itself, so neither kie.ai nor Slack has to refuse it."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class SlidingWindow:
    """Counts events in the last `window` seconds."""

    def __init__(self, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._times: deque[float] = deque()

    def count(self) -> int:
        now = self._clock()
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        return len(self._times)

    def record(self) -> None:
        self._times.append(self._clock())

    def wait_time(self, limit: int) -> float:
        """Seconds until fewer than `limit` events fall in the window."""
        if self.count() < limit:
            return 0.0
        return max(0.0, self._times[-limit] + self.window - self._clock())


class CreateQueue:
    """kie accepts `limit` new tasks per `window` seconds per account and refuses the rest with 429.

    Tasks beyond that wait here in arrival order instead of failing; each waiter is told its place in the line.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        # A little longer than kie's window: our clock starts before the request reaches kie's.
        self._sent = SlidingWindow(window * 1.05 + 0.05, clock)
        self._line: list[object] = []
        self._turn = asyncio.Condition()

    @property
    def waiting(self) -> int:
        return len(self._line)

    async def take_turn(self, on_wait: Callable[[int], Awaitable[None]]) -> None:
        """Return when this caller may create a task; `on_wait(position)` is awaited whenever it must wait."""
        ticket = object()
        self._line.append(ticket)
        try:
            async with self._turn:
                while True:
                    position = self._line.index(ticket) + 1
                    delay = self._sent.wait_time(self._limit)
                    if position == 1 and delay == 0:
                        self._sent.record()
                        return
                    await on_wait(position)
                    if position == 1:
                        await _released_for(self._turn, delay)
                    else:
                        await self._turn.wait()
        finally:
            self._line.remove(ticket)
            async with self._turn:
                self._turn.notify_all()


async def _released_for(condition: asyncio.Condition, seconds: float) -> None:
    """Give up the condition's lock for `seconds` (others may move), then take it back."""
    condition.release()
    try:
        await asyncio.sleep(seconds)
    finally:
        await condition.acquire()


class UpdateBudget:
    """A workspace-wide budget for `chat.update` (Tier 3, about 50 a minute).

    Progress edits only go out while the last minute keeps room for one final edit per task in flight; final edits
    always go out (waiting for room if they must), and they count too.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._per_minute = per_minute
        self._sent = SlidingWindow(60.0, clock)

    def allows_progress(self, in_flight: int) -> bool:
        return self._sent.count() < self._per_minute - max(1, in_flight)

    def spend(self) -> None:
        self._sent.record()

    def final_delay(self) -> float:
        """Seconds to wait before a final edit so the budget is kept (it is never skipped)."""
        return self._sent.wait_time(self._per_minute)


class RecentKeys:
    """Keys seen in the last `ttl` seconds: how a request Slack sends again is recognised and not acted on twice."""

    def __init__(self, ttl: float = 600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._seen: dict[str, float] = {}

    def first_time(self, key: str) -> bool:
        now = self._clock()
        if len(self._seen) > 10_000:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self._ttl}
        seen_at = self._seen.get(key)
        if seen_at is not None and now - seen_at < self._ttl:
            return False
        self._seen[key] = now
        return True


class Pacer:
    """Keeps at least `interval` seconds between calls that share a key (a channel): one call at a time, in arrival
    order, each starting `interval` after the previous one was answered.

    Timing from the answer, not from when a slot was claimed, keeps the spacing however late a busy event loop wakes
    a caller: claimed slots a second apart could reach Slack closer together, and Slack refuses those with 429.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._lanes: dict[str, _Lane] = {}

    @asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        """Make the call inside this block; it starts when the key's previous call is `interval` behind it."""
        lane = self._lane(key)
        async with lane.lock:  # asyncio.Lock wakes its waiters first come, first served
            while (delay := lane.free_at - self._clock()) > 0:  # noqa: ASYNC110 (a clock, not an event)
                await asyncio.sleep(delay)
            try:
                yield
            finally:
                lane.free_at = self._clock() + self._interval

    def _lane(self, key: str) -> _Lane:
        if len(self._lanes) > 10_000:  # forget idle channels, so the map stays small
            now = self._clock()
            self._lanes = {k: v for k, v in self._lanes.items() if v.lock.locked() or v.free_at > now}
        return self._lanes.setdefault(key, _Lane())


class _Lane:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.free_at = 0.0

"""Rate budgets the app keeps for itself, so neither kie.ai nor Slack has to refuse it."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bot.store import TaskStore


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


class SharedPace:
    """A rate limit shared by every replica, counted in the store (PostgreSQL), so N replicas never send more than one
    would. Each replica's own limiters still order its work; this is the last gate before the call goes out."""

    def __init__(self, store: TaskStore, name: str, limit: int, window: float) -> None:
        self._store = store
        self.name = name
        self._limit = limit
        self._window = window

    async def wait(self, key: str = "") -> None:
        """Return once a slot is taken: at once while under the limit, else when the oldest slot leaves the window."""
        name = f"{self.name}:{key}" if key else self.name
        while True:  # the slots live in the database: there is nothing local to wait on but the clock
            delay = await self._store.take_slot(name, self._limit, self._window)
            if delay <= 0:
                return
            await asyncio.sleep(delay)


class CreateQueue:
    """kie accepts `limit` new tasks per `window` seconds per account and refuses the rest with 429.

    Tasks beyond that wait here in arrival order instead of failing; each waiter is told its place in the line.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        shared: SharedPace | None = None,
    ) -> None:
        self._limit = limit
        # A little longer than kie's window: our clock starts before the request reaches kie's.
        self._sent = SlidingWindow(window * 1.05 + 0.05, clock)
        self._shared = shared
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
            while True:
                async with self._turn:
                    position = self._line.index(ticket) + 1
                    if position == 1 and self._sent.wait_time(self._limit) == 0:
                        self._sent.record()
                        break
                # Outside the lock: showing the place in line edits a card, which may wait for Slack's budget, and
                # a task whose turn has come must not wait behind it.
                await on_wait(position)
                async with self._turn:
                    if self._line.index(ticket) + 1 != position:
                        continue  # the line moved while the card was edited
                    delay = self._sent.wait_time(self._limit)
                    if position == 1:
                        await _released_for(self._turn, delay)
                    else:
                        await self._turn.wait()
            if self._shared is not None:  # the other replicas' creates count too; still first in this one's line
                await self._shared.wait()
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
    """A workspace-wide budget for `chat.update` (Tier 3, about 50 a minute) in which a card's final edit comes first.

    Final edits always go out, in the order they asked, as soon as the last minute has room; while any waits, no
    progress edit goes out. Progress edits also leave the minute room for the finals to come, counted as the largest
    of: the tasks in flight, the tasks started in the last minute (a steady pace goes on), and the tasks the pace of
    the last ten seconds brings in the next half minute (a stream is starting), plus a small reserve; progress takes
    at most half of what is left. A short burst still shows its cards' progress; a steady or rising stream of starts
    keeps the budget for its finals.
    """

    START_PACE_WINDOW = 10.0  # seconds of starts that tell the pace
    FINALS_HORIZON = 30.0  # seconds ahead that pace is projected

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, *, minute: float = 60.0) -> None:
        self._per_minute = per_minute
        self._minute = minute  # shorter in tests
        self._sent = SlidingWindow(minute, clock)
        self._progress = SlidingWindow(minute, clock)
        self._starts = SlidingWindow(self.START_PACE_WINDOW * minute / 60, clock)
        self._recent_starts = SlidingWindow(minute, clock)
        self._reserve = max(1, per_minute // 10)  # slack for finals that bunch up
        self._finals_waiting = 0
        self._final_turns = asyncio.Lock()  # first come, first served

    def started(self) -> None:
        """A new task started: it will want a final edit within about a minute."""
        self._starts.record()
        self._recent_starts.record()

    def allows_progress(self, in_flight: int) -> bool:
        if self._finals_waiting:
            return False
        pace = round(self._starts.count() * self.FINALS_HORIZON / self.START_PACE_WINDOW)
        finals_coming = max(in_flight, self._recent_starts.count(), pace) + self._reserve
        # Half of what the finals leave: when a stream of starts begins it looks like a burst for a while, and
        # progress edits spent then would hold the budget for a minute.
        return (
            self._sent.count() < self._per_minute - max(1, in_flight)
            and self._progress.count() < (self._per_minute - finals_coming) / 2
        )

    def spend_progress(self) -> None:
        self._sent.record()
        self._progress.record()

    @asynccontextmanager
    async def final_turn(self) -> AsyncIterator[None]:
        """Wait for room for a final edit (it is never skipped), then make it inside the block."""
        self._finals_waiting += 1
        try:
            async with self._final_turns:
                while (delay := self._sent.wait_time(self._per_minute)) > 0:  # noqa: ASYNC110 (a clock, not an event)
                    await asyncio.sleep(delay)
                self._sent.record()
        finally:
            self._finals_waiting -= 1
        yield


class RateLimit:
    """At most `limit` calls in any `window` seconds across every caller, spaced evenly (`window / limit` apart).

    Even spacing, not bursts, because the service counts calls when they arrive: a burst sent late by a busy event
    loop could meet the next one inside the service's window. A call waits at most one spacing while calls are
    rare. When callers must wait, the lowest `priority` goes first (ties in arrival order): kie reads pass the time
    their task is expected to be done, so scarce reads go to the tasks most likely to have an image waiting.
    """

    def __init__(
        self,
        limit: int,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        shared: SharedPace | None = None,
    ) -> None:
        self._shared = shared
        self._spacing = window / limit
        self._clock = clock
        self._next_at = 0.0
        self._waiting: list[_Waiter] = []  # a heap; its head is the next to go
        self._arrivals = itertools.count()

    async def take(self, priority: float = 0.0) -> None:
        me = _Waiter(priority, next(self._arrivals))
        heapq.heappush(self._waiting, me)
        try:
            while True:
                if self._waiting[0] is not me:
                    await me.turn.wait()  # set when the head leaves, or when this one becomes the head
                    me.turn.clear()
                    continue
                now = self._clock()
                delay = self._next_at - now
                if delay <= 0:
                    if self._shared is not None:  # still the head: the other replicas' calls count too
                        await self._shared.wait()
                    self._next_at = self._clock() + self._spacing
                    return
                # A clock, not an event; a caller of lower priority arriving meanwhile waits for the clock too.
                await asyncio.sleep(delay)
        finally:
            self._leave(me)

    def _leave(self, me: _Waiter) -> None:
        if self._waiting and self._waiting[0] is me:
            heapq.heappop(self._waiting)
        elif me in self._waiting:  # cancelled while waiting
            self._waiting.remove(me)
            heapq.heapify(self._waiting)
        if self._waiting:
            self._waiting[0].turn.set()


@dataclass(order=True)
class _Waiter:
    priority: float
    arrival: int
    turn: asyncio.Event = field(default_factory=asyncio.Event, compare=False)


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

"""What a few store reads per request would otherwise repeat: a workspace's settings, brand and kie.ai key, kept a few
seconds each. A change saved on this replica is put here at once; one saved on another is seen within those seconds.
Requests that miss together share one read, made `urgent` whoever began it: begun by a job, it would queue behind the
jobs' writes, and the acks waiting on it with it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from bot.store.database import urgent

V = TypeVar("V")

SECONDS = 3.0


class Recent(Generic[V]):
    """Values by workspace, each read again once it is `seconds` old. Requests that miss together share one read: a
    burst of commands from a workspace costs the store one read, not one each."""

    def __init__(self, seconds: float = SECONDS, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._kept: dict[str, tuple[float, V]] = {}
        self._reading: dict[str, asyncio.Future[V]] = {}
        self._changes: dict[str, int] = {}  # puts and forgets so far: a read begun before one is stale

    async def get(self, team_id: str, read: Callable[[], Awaitable[V]]) -> V:
        kept = self._kept.get(team_id)
        if kept is not None and self._clock() - kept[0] < self._seconds:
            return kept[1]
        reading = self._reading.get(team_id)
        if reading is None:
            began = (self._clock(), self._changes.get(team_id, 0))
            reading = self._reading[team_id] = asyncio.ensure_future(self._read(team_id, read, *began))
            # one waiter giving up must not cancel the others' read, nor leave its error unretrieved
            reading.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(reading)

    async def _read(self, team_id: str, read: Callable[[], Awaitable[V]], since: float, changes: int) -> V:
        try:
            with urgent():
                value = await read()
        finally:
            if self._changes.get(team_id, 0) == changes:
                self._reading.pop(team_id, None)
        if self._changes.get(team_id, 0) == changes:  # else a put or forget meanwhile is newer than this read
            self._kept[team_id] = (since, value)
        return value

    def put(self, team_id: str, value: V) -> None:
        self._changed(team_id)
        self._kept[team_id] = (self._clock(), value)

    def forget(self, team_id: str) -> None:
        self._changed(team_id)
        self._kept.pop(team_id, None)

    def _changed(self, team_id: str) -> None:
        self._changes[team_id] = self._changes.get(team_id, 0) + 1
        self._reading.pop(team_id, None)

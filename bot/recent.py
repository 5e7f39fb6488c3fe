"""What a few store reads per request would otherwise repeat: a workspace's settings, brand and kie.ai key, kept a few
seconds each. A change saved on this replica is put here at once; one saved on another is seen within those seconds."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")

SECONDS = 3.0


class Recent(Generic[V]):
    """Values by workspace, each read again once it is `seconds` old."""

    def __init__(self, seconds: float = SECONDS, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._kept: dict[str, tuple[float, V]] = {}

    async def get(self, team_id: str, read: Callable[[], Awaitable[V]]) -> V:
        now = self._clock()
        kept = self._kept.get(team_id)
        if kept is not None and now - kept[0] < self._seconds:
            return kept[1]
        value = await read()
        self._kept[team_id] = (now, value)
        return value

    def put(self, team_id: str, value: V) -> None:
        self._kept[team_id] = (self._clock(), value)

    def forget(self, team_id: str) -> None:
        self._kept.pop(team_id, None)

"""What a job is handed: the store, the clients, the settings, the clock and the shared limits, not the runner."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot.clients.inputs import InputFetcher
from bot.clients.kie_keys import KieKeys
from bot.clients.limits import UpdateBudget
from bot.clients.slack import SlackDelivery
from bot.jobs.schedule import Expectation, Prior, expectation
from bot.metrics import Metrics
from bot.settings import Settings
from bot.store import TaskStore
from prompts.tasks import Task


class Outlooks:
    """kie's spread of times for each resolution, which the polls and the card follow: from recent tasks' times (read
    again once a task of that resolution finishes), the tasks still at kie here, and the prior until there is enough
    history; None while nothing is known. Worked out again at most every REPLAN_SECONDS, so tasks in flight re-plan
    as their siblings finish."""

    REPLAN_SECONDS = 1.0

    def __init__(
        self,
        store: TaskStore,
        priors: Mapping[str, Prior],
        running: Callable[[str], list[float]],
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._priors = priors
        self._running = running  # seconds at kie so far of each task of a resolution still there
        self._clock = clock
        self._history: dict[str, list[float]] = {}
        self._known: dict[str, tuple[float, Expectation | None]] = {}  # by resolution: (when, what)

    async def of(self, resolution: str) -> Expectation | None:
        if resolution not in self._history:
            self._history[resolution] = await self._store.recent_kie_seconds(resolution)
        now = self._clock()
        known = self._known.get(resolution)
        if known is None or now - known[0] >= self.REPLAN_SECONDS:
            found = expectation(self._history[resolution], self._running(resolution), self._priors.get(resolution))
            known = self._known[resolution] = (now, found)
        return known[1]

    def forget(self, resolution: str) -> None:
        """A task of this resolution finished: its time joins the history, and every task re-plans."""
        self._history.pop(resolution, None)
        self._known.pop(resolution, None)


class UpdateBudgets:
    """The chat.update budget of each workspace: Slack's limit is per workspace, so each has its own."""

    def __init__(self, per_minute: int) -> None:
        self._per_minute = per_minute
        self._budgets: dict[str, UpdateBudget] = {}

    def of(self, team_id: str) -> UpdateBudget:
        if team_id not in self._budgets:
            self._budgets[team_id] = UpdateBudget(self._per_minute)
        return self._budgets[team_id]


@dataclass(frozen=True)
class JobKit:
    """Everything a job, a set of variations and a card use, shared by every job of one runner."""

    settings: Settings
    store: TaskStore
    kie: KieKeys  # the kie.ai account each task spends from, with its create line
    slack: SlackDelivery
    inputs: InputFetcher
    deliveries: asyncio.Semaphore  # a few results in memory at a time, however many finish at once
    outlooks: Outlooks
    update_budgets: UpdateBudgets
    clock: Callable[[], float]
    on_change: Callable[[Task], None]  # told of every stored change of a task (the Home tab listens)
    callback_url: Callable[[int], str | None]  # where kie reports a task (None: callbacks are off)
    wait_finished: Callable[[int], Awaitable[Task | None]]  # an edit waits for the image it edits
    in_flight: Callable[[], int]  # how many tasks run here: progress edits leave room for their final edits
    stopping: Callable[[], bool]  # the app is shutting down
    metrics: Metrics

"""What people and kie's callbacks do to a task that exists: cancel it, delete it, record what it cost.

The store holds the truth; the runner is told only what it must do for a job it holds (stop it, or keep kie's cost)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from bot.clients.slack import SlackDelivery
from bot.jobs.runner import JobRunner
from bot.store import TaskStore
from prompts.tasks import Task

log = logging.getLogger(__name__)


class Tasks:
    def __init__(
        self,
        store: TaskStore,
        slack: SlackDelivery,
        runner: JobRunner,
        *,
        on_change: Callable[[Task], None] = lambda task: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._slack = slack
        self._runner = runner
        self._on_change = on_change  # told of every stored change of a task (the Home tab listens)
        self._clock = clock

    async def cancel(self, task: Task, by: str) -> None:
        """Ask a task to stop waiting, wherever it runs: the request is stored first (a replica that takes it over
        later sees it too, and a cancel signal is only believed if the row says so), then its holder is told."""
        await self._store.update(task.id, cancel_requested_at=self._clock())
        log.info("task %s: %s asked to cancel it", task.id, by)
        await self._runner.stop(task.id)

    async def delete(self, task: Task, by: str) -> Task:
        """Remove a task's result (file and captioned message) and its card from Slack; the row stays, deleted.

        A variation shares its card and its message with the rest of its set: those go with the set's last image."""
        siblings = [t for t in await self._store.set_of(task.set_id) if t.id != task.id] if task.set_id else []
        last = not any(t.deleted_at is None for t in siblings)
        slack = self._slack.team(task.team_id)
        if task.slack_file_id:
            if last:
                for ts in await slack.share_timestamps(task.slack_file_id, task.channel_id):
                    await slack.delete_message(task.channel_id, ts)
            await slack.delete_file(task.slack_file_id)
        if task.message_ts and last:
            await slack.delete_message(task.channel_id, task.message_ts)
        task = await self._store.update(task.id, deleted_at=self._clock())
        log.info("task %s: deleted by %s", task.id, by)
        self._on_change(task)
        return task

    async def record_cost(self, task: Task, credits: float) -> None:
        """kie reported what a task cost (its callback's consumeCredits): kept instead of the estimate, and handed to
        the task's job if it runs here; a job held by another replica reads it from its row when it delivers."""
        await self._store.update(task.id, credits=credits, credits_exact=True)
        self._runner.cost_known(task.id, credits)
        self._on_change(replace(task, credits=credits, credits_exact=True))

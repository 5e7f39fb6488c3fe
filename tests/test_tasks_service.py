"""Fast tests of the tasks service (bot/services/tasks.py): what a Cancel press and kie's reported cost do, with the
store and the runner stood in for, in milliseconds."""

from __future__ import annotations

from typing import Any

from bot.services.tasks import Tasks
from prompts.tasks import Task
from tests.test_blocks import make_task


class Recorder:
    """A store and a runner in one, writing down every call in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def update(self, task_id: int, **changes: Any) -> None:
        self.calls.append(("update", (task_id, changes)))

    async def get(self, task_id: int) -> None:
        self.calls.append(("get", task_id))

    async def stop(self, task_id: int) -> None:
        self.calls.append(("stop", task_id))

    def cost_known(self, task_id: int, credits: float) -> None:
        self.calls.append(("cost_known", (task_id, credits)))


def tasks_service(recorder: Recorder, changed: list[Task]) -> Tasks:
    return Tasks(recorder, None, recorder, on_change=changed.append, clock=lambda: 50.0)  # type: ignore[arg-type]


async def test_a_cancel_is_stored_before_the_runner_is_told() -> None:
    """A cancel signal is believed only if the row says so, so the row must say so first."""
    recorder, task = Recorder(), make_task(id=7)
    await tasks_service(recorder, []).cancel(task, "U0OWNER")
    assert recorder.calls == [("update", (7, {"cancel_requested_at": 50.0})), ("stop", 7)]


async def test_kies_cost_is_written_once_and_handed_on_not_read_back() -> None:
    recorder, changed, task = Recorder(), [], make_task(id=7, credits=18.0)
    await tasks_service(recorder, changed).record_cost(task, 12.5)
    assert recorder.calls == [("update", (7, {"credits": 12.5, "credits_exact": True})), ("cost_known", (7, 12.5))]
    assert [(t.id, t.credits, t.credits_exact) for t in changed] == [(7, 12.5, True)]  # the Home tab is told

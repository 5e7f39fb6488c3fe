"""The one way in: every surface (the command, the forms, the studio, saved prompts, every button) starts work here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from banana.domain.options import GenerationRequest
from banana.domain.tasks import Origin, Task
from banana.engine.budget import Budget
from banana.engine.runner import JobRunner


@dataclass(frozen=True)
class Refused:
    """The caps do not allow this task; `reason` is written for the person who asked."""

    reason: str


class TaskStarter:
    def __init__(self, budget: Budget, runner: JobRunner) -> None:
        self._budget = budget
        self._runner = runner

    async def start(
        self,
        request: GenerationRequest,
        origin: Origin,
        *,
        admitted: Callable[[], Awaitable[object]] | None = None,
    ) -> Task | Refused:
        """Check the caps, store the task and start it; or say why not, having stored and spent nothing. A request
        for several variations starts them all, or none when the caps cannot take all of them; it returns the first.

        `admitted` runs once the caps allow the task and before it is stored: a surface answers Slack there (an empty
        ack, or a modal's next view), so a refusal can still be its answer instead.
        """
        team, user, resolution = origin.team_id, origin.user_id, request.options.resolution
        async with self._budget.admit(team, user, resolution, request.count) as refusal:
            if refusal is not None:
                return Refused(refusal)
            if admitted is not None:
                await admitted()
            return await self._runner.start(request, origin)

"""The one way in: every surface (the command, the forms, the studio, saved prompts, every button) starts work here."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.jobs.runner import JobRunner
from bot.services.budget import Budget
from bot.services.workspace_settings import WorkspaceSettings
from bot.store import StoreUnavailable, urgent
from prompts.catalog import Brand
from prompts.options import GenerationRequest
from prompts.tasks import Origin, Task

log = logging.getLogger(__name__)

DATABASE_AWAY = (
    "Banana can't reach its database just now, so nothing was started and nothing was charged. "
    "Try again in a minute; if it keeps happening, tell whoever runs Banana."
)


@dataclass(frozen=True)
class Refused:
    """The caps do not allow this task; `reason` is written for the person who asked."""

    reason: str


class TaskStarter:
    def __init__(
        self,
        budget: Budget,
        runner: JobRunner,
        workspaces: WorkspaceSettings | None = None,
        brand_for: Callable[[str], Awaitable[Brand]] | None = None,
    ) -> None:
        self._budget = budget
        self._runner = runner
        self._workspaces = workspaces  # where each workspace lets Banana work
        self._brand_for = brand_for  # each workspace's brand, whose images its tasks may carry

    async def start(
        self,
        request: GenerationRequest,
        origin: Origin,
        *,
        admitted: Callable[[], Awaitable[object]] | None = None,
    ) -> Task | Refused:
        """Check the caps, store the task and start it; or say why not, having stored and spent nothing. A request
        for several variations starts them all, or none when the caps cannot take all of them; it returns the first.

        `admitted` runs once the caps allow the task and it is stored, before it runs: a surface answers Slack there
        (an empty ack, or a modal's next view), so a refusal, or a database that is away, can still be its answer.
        """
        team, user, priced_as = origin.team_id, origin.user_id, request.price_key
        try:
            with urgent():  # someone waits for the answer; the tasks run after, in their own time
                elsewhere = await self._workspaces.elsewhere(team, origin.channel_id) if self._workspaces else None
                if elsewhere is not None:  # the one rule for every surface: outside the workspace's channels
                    return Refused(elsewhere)
                brand = await self._brand_for(team) if self._brand_for and request.brand else None
                async with self._budget.admit(team, user, priced_as, request.count) as refusal:
                    if refusal is not None:
                        return Refused(refusal)
                    tasks = await self._runner.add(request, origin, brand)
        except StoreUnavailable as error:
            log.warning("could not start a task: the database is away (%s)", error)
            return Refused(DATABASE_AWAY)
        if admitted is not None:
            await admitted()
        self._runner.run(tasks)
        return tasks[0]

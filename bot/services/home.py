"""The App Home tab: builds each person's page from the store and publishes it, at once or debounced."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.blocks.home import HOME_PAGE_SIZE, HomePage, home_view
from bot.blocks.settings import Change
from bot.clients.limits import SharedPace
from bot.clients.slack import SlackDelivery, transient
from bot.clients.tokens import NotInstalled
from bot.services.budget import start_of_day, start_of_month
from bot.services.workspace_settings import WorkspaceSettings
from bot.store import TaskStore
from prompts.options import PRICES, Options, Prices
from prompts.tasks import HomeFilter, Task, TaskState

log = logging.getLogger(__name__)

_TRANSIENT = "failed on the way"  # what `_try_publish` says when Slack or the network failed, not the view


@dataclass(frozen=True)
class HomePlace:
    """Where a person is in their Home tab, so a refresh keeps their filter and page."""

    filter: HomeFilter = HomeFilter.ALL
    page: int = 0


class HomeTab:
    def __init__(
        self,
        store: TaskStore,
        slack: SlackDelivery,
        defaults: Options,
        *,
        prices: Prices = PRICES,
        refresh_delay: float = 2.0,
        retry_delays: Sequence[float] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._slack = slack
        self._defaults = defaults
        self._prices = prices
        self._refresh_delay = refresh_delay
        self._retry_delays = tuple(retry_delays)  # a refresh Slack failed (not refused) is tried again after these
        self._clock = clock
        # By person: (workspace, user). Slack user ids are not promised to be unique across workspaces.
        self._places: dict[tuple[str, str], HomePlace] = {}
        self._pending: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._publishes = SharedPace(store, "home", 1, refresh_delay)
        self.workspaces: WorkspaceSettings | None = None  # who may change the settings: a Settings button for them

    async def publish(self, team_id: str, user_id: str, *, place: HomePlace | None = None) -> bool:
        """Publish a person's Home now, at `place` or where they were. False when Slack or the network failed on the
        way (worth trying again); True when it landed, or Slack refused it for good (logged)."""
        place = place or self._places.get((team_id, user_id), HomePlace())
        self._places[team_id, user_id] = place
        page = await self.page(team_id, user_id, place)
        slack = self._slack.team(team_id)
        defaults = await self.workspaces.defaults(team_id) if self.workspaces is not None else self._defaults
        error = await self._try_publish(slack, page, defaults)
        if error == "invalid_blocks":
            # A thumbnail whose file was deleted in Slack itself makes the whole view invalid (bolt-python#1251).
            # Find those files, remember them on their tasks, and publish once more without them. Never more
            # than once: a view still refused is refused for some other reason.
            gone = await self._forget_gone_files(slack, page.tasks)
            if gone:
                page = replace(page, tasks=[gone.get(task.id, task) for task in page.tasks])
                error = await self._try_publish(slack, page, defaults)
        if error is not None:
            log.warning("could not publish the Home tab of %s: %s", user_id, error)
        return error != _TRANSIENT

    async def _try_publish(self, slack: SlackDelivery, page: HomePage, defaults: Options) -> str | None:
        """Publish `page`; Slack's error code when it refuses, else None."""
        view = home_view(page, defaults, self._prices)
        try:
            await slack.client.views_publish(user_id=page.user_id, view=view, token=await slack.token())
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
            if transient(error):
                return _TRANSIENT
            return str(error.response.get("error")) if isinstance(error, SlackApiError) else type(error).__name__
        return None

    async def _forget_gone_files(self, slack: SlackDelivery, tasks: list[Task]) -> dict[int, Task]:
        """Of the tasks shown with a thumbnail, those whose file Slack no longer has, each stored with
        `file_gone_at` so that Home shows it without the image from now on (and it is never reused)."""
        shown = [t for t in tasks if t.state is TaskState.DONE and t.slack_file_id and t.file_gone_at is None]
        found = await asyncio.gather(*(self._file_is_gone(slack, t.slack_file_id or "") for t in shown))
        now = self._clock()
        gone: dict[int, Task] = {}
        for task, is_gone in zip(shown, found, strict=True):
            if is_gone:
                log.debug("task %s: its result %s was deleted in Slack", task.id, task.slack_file_id)
                gone[task.id] = await self._store.update(task.id, file_gone_at=now)
        return gone

    async def _file_is_gone(self, slack: SlackDelivery, file_id: str) -> bool:
        """Whether Slack says the file no longer exists. Any other answer (a rate limit, no scope) is no proof."""
        try:
            response = await slack.client.files_info(file=file_id, token=await slack.token())
        except SlackApiError as error:
            return error.response.get("error") in ("file_not_found", "file_deleted")
        file = response.get("file") or {}
        return bool(file.get("is_deleted") or file.get("mode") == "tombstone")

    async def page(self, team_id: str, user_id: str, place: HomePlace) -> HomePage:
        store, states = self._store, place.filter.states
        # One extra row tells whether an older page exists.
        offset, limit = place.page * HOME_PAGE_SIZE, HOME_PAGE_SIZE + 1
        found = await store.history(team_id, user_id, states, offset=offset, limit=limit)
        has_any = bool(found) or await store.count(team_id, user_id, HomeFilter.ALL.states) > 0
        now = self._clock()
        shown = found[:HOME_PAGE_SIZE]
        ws = self.workspaces
        settings = ws is not None and await ws.may_change(team_id, user_id)
        changes = await ws.history(team_id, 3) if ws is not None and settings else []
        return HomePage(
            settings=settings,
            changes=tuple(Change(c.user_id, c.at, c.change) for c in changes),
            user_id=user_id,
            tasks=shown,
            with_children=await store.with_children([task.id for task in shown], user_id),
            filter=place.filter,
            page=place.page,
            has_more=len(found) > HOME_PAGE_SIZE,
            has_any=has_any,
            today=await store.usage(team_id, user_id, since=start_of_day(now)),
            month=await store.usage(team_id, user_id, since=start_of_month(now)),
        )

    def refresh_soon(self, team_id: str, user_id: str) -> None:
        """A task of this person changed: republish their Home once things settle, if they have ever opened it.

        Bursts of changes collapse into one `views.publish` per person per `refresh_delay`. With several replicas the
        person may have opened Home on another one, so every change is shown (where they left it, when known here).
        """
        person = (team_id, user_id)
        if (person not in self._places and not self._store.shared) or person in self._pending:
            return
        job = asyncio.create_task(self._refresh_later(person), name=f"home-refresh-{team_id}-{user_id}")
        self._pending[person] = job
        job.add_done_callback(lambda done: self._forget(person, done))

    async def _refresh_later(self, person: tuple[str, str]) -> None:
        await asyncio.sleep(self._refresh_delay)
        # One publish per person per refresh_delay among all replicas: one that finds it taken tries again once it
        # frees, so the last change is always shown. (With SQLite the slot is always free.)
        await self._publishes.wait(":".join(person))
        self._forget(person, asyncio.current_task())  # changes from here on schedule a new refresh
        try:
            for delay in self._retry_delays:
                if await self.publish(*person):
                    return
                await asyncio.sleep(delay)
            await self.publish(*person)
        except NotInstalled:  # the workspace is gone (uninstalled, refused, no longer allowed): nobody to show
            log.debug("no Home refresh for %s in %s: Banana is not installed there", person[1], person[0])
        except Exception:  # a refresh is a courtesy: it must not die unobserved, nor stop the task that asked for it
            log.warning("could not refresh the Home tab of %s in %s", person[1], person[0], exc_info=True)

    def _forget(self, person: tuple[str, str], job: asyncio.Task | None) -> None:
        if self._pending.get(person) is job:
            del self._pending[person]

    async def close(self) -> None:
        jobs = list(self._pending.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

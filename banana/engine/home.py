"""The App Home tab: builds each person's page from the store and publishes it, at once or debounced."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from banana.domain.options import PRICES, Options, Prices
from banana.domain.tasks import HomeFilter
from banana.engine.budget import start_of_day, start_of_month
from banana.engine.store import TaskStore
from banana.ui.home import HOME_PAGE_SIZE, HomePage, home_view

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HomePlace:
    """Where a person is in their Home tab, so a refresh keeps their filter and page."""

    filter: HomeFilter = HomeFilter.ALL
    page: int = 0


class HomeTab:
    def __init__(
        self,
        store: TaskStore,
        client: AsyncWebClient,
        defaults: Options,
        *,
        prices: Prices = PRICES,
        refresh_delay: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._client = client
        self._defaults = defaults
        self._prices = prices
        self._refresh_delay = refresh_delay
        self._clock = clock
        self._places: dict[str, HomePlace] = {}
        self._pending: dict[str, asyncio.Task[None]] = {}

    async def publish(self, user_id: str, *, place: HomePlace | None = None) -> None:
        """Publish a person's Home now, at `place` or where they were."""
        place = place or self._places.get(user_id, HomePlace())
        self._places[user_id] = place
        page = await self.page(user_id, place)
        try:
            await self._client.views_publish(user_id=user_id, view=home_view(page, self._defaults, self._prices))
        except SlackApiError as error:
            log.warning("could not publish the Home tab of %s: %s", user_id, error.response.get("error"))

    async def page(self, user_id: str, place: HomePlace) -> HomePage:
        store, states = self._store, place.filter.states
        # One extra row tells whether an older page exists.
        found = await store.history(user_id, states, offset=place.page * HOME_PAGE_SIZE, limit=HOME_PAGE_SIZE + 1)
        has_any = bool(found) or await store.count(user_id, HomeFilter.ALL.states) > 0
        now = self._clock()
        return HomePage(
            user_id=user_id,
            tasks=found[:HOME_PAGE_SIZE],
            filter=place.filter,
            page=place.page,
            has_more=len(found) > HOME_PAGE_SIZE,
            has_any=has_any,
            today=await store.usage(user_id, since=start_of_day(now)),
            month=await store.usage(user_id, since=start_of_month(now)),
        )

    def refresh_soon(self, user_id: str) -> None:
        """A task of this person changed: republish their Home once things settle, if they have ever opened it.

        Bursts of changes collapse into one `views.publish` per person per `refresh_delay`.
        """
        if user_id not in self._places or user_id in self._pending:
            return
        job = asyncio.create_task(self._refresh_later(user_id), name=f"home-refresh-{user_id}")
        self._pending[user_id] = job
        job.add_done_callback(lambda done: self._forget(user_id, done))

    async def _refresh_later(self, user_id: str) -> None:
        await asyncio.sleep(self._refresh_delay)
        self._forget(user_id, asyncio.current_task())  # changes from here on schedule a new refresh
        await self.publish(user_id)

    def _forget(self, user_id: str, job: asyncio.Task | None) -> None:
        if self._pending.get(user_id) is job:
            del self._pending[user_id]

    async def close(self) -> None:
        jobs = list(self._pending.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

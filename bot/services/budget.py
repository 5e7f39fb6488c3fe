"""Budgets and cost: what a person and a workspace have spent, and the optional caps checked before a task starts.

Spend is the sum of the credits recorded on tasks (a failed task records 0), in UTC days and months as the Home tab
shows them. A task still running has no credits recorded yet, so the caps count it at its price: two requests sent
at once cannot both squeeze into the last credits.

The price table is an estimate: figures from it are shown with "≈". A recorded figure is exact only when kie.ai
reported it, and the store's sums do not say which ones were, so a sum of recorded credits is shown with "≈" too
unless it is 0.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from bot.blocks.text import approx, credit_amount, credits_text
from bot.services.workspace_settings import WorkspaceSettings
from bot.store import TaskStore
from prompts.options import RESOLUTIONS, Prices
from prompts.tasks import Task, Usage
from prompts.usage import Spend, UsageReport


def start_of_day(now: float) -> float:
    """Midnight UTC of the day `now` falls in."""
    return now - now % 86_400


def start_of_month(now: float) -> float:
    """Midnight UTC of the first day of the month `now` falls in."""
    day = time.gmtime(now)
    return float(calendar.timegm((day.tm_year, day.tm_mon, 1, 0, 0, 0)))


def start_of_next_month(now: float) -> float:
    day = time.gmtime(now)
    year, month = (day.tm_year + 1, 1) if day.tm_mon == 12 else (day.tm_year, day.tm_mon + 1)
    return float(calendar.timegm((year, month, 1, 0, 0, 0)))


class Budget:
    """Prices, spend and caps. `admit` is the one check every surface makes before it starts a task."""

    def __init__(
        self,
        store: TaskStore,
        prices: Prices,
        *,
        user_daily_cap: int | None = None,
        workspace_monthly_cap: int | None = None,
        many_workspaces: bool = False,
        operator_workspace: str | None = None,
        clock: Callable[[], float] = time.time,
        workspaces: WorkspaceSettings | None = None,
    ) -> None:
        self._store = store
        self._workspaces = workspaces  # each workspace's own caps, within these
        self.prices = prices
        self.user_daily_cap = user_daily_cap
        self.workspace_monthly_cap = workspace_monthly_cap
        self._many_workspaces = many_workspaces
        self._operator_workspace = operator_workspace
        self._clock = clock

    def may_see_balance(self, team_id: str, is_admin: bool) -> bool:
        """kie.ai's balance is the operator's account: only admins of the operator's own workspace see it. Installed in
        one workspace, that one is the operator's; installed through OAuth, it is OPERATOR_WORKSPACE, and with none
        set nobody sees it, so no installer ever learns what the account holds."""
        if self._many_workspaces and (self._operator_workspace is None or team_id != self._operator_workspace):
            return False
        return is_admin

    @property
    def capped(self) -> bool:
        return self.user_daily_cap is not None or self.workspace_monthly_cap is not None

    async def caps(self, team_id: str) -> tuple[int | None, int | None]:
        """The workspace's caps in force: (per person a day, the workspace a month); its own within the operator's."""
        if self._workspaces is None:
            return self.user_daily_cap, self.workspace_monthly_cap
        own = await self._workspaces.effective(team_id)
        return own.user_daily_cap, own.workspace_monthly_cap

    @asynccontextmanager
    async def admit(self, team_id: str, user_id: str, resolution: str, count: int = 1) -> AsyncIterator[str | None]:
        """Check the caps for `count` more images at `resolution`: yields None when all of them may start, else why
        none may (variations start together or not at all).

        Start the task inside the block. Checks and starts take turns per workspace, on every replica (the store's
        `exclusive`), so the new task is stored (and counted as running) before the next request is checked: two
        replicas cannot both let a person past a cap. Without caps nothing is read and nobody waits.
        """
        if await self.caps(team_id) == (None, None):
            yield None
            return
        async with self._store.exclusive(f"caps:{team_id}"):  # across replicas too: one check at a time per workspace
            yield await self.refusal(team_id, user_id, resolution, count)

    async def refusal(self, team_id: str, user_id: str, resolution: str, count: int = 1) -> str | None:
        """Why `count` more images at `resolution` would go over a cap, written for the person asking; None if they
        fit."""
        now = self._clock()
        price = self.prices[resolution] * count
        asked = _asked(resolution, count)
        running = await self._running(team_id)
        user_daily_cap, workspace_monthly_cap = await self.caps(team_id)
        if user_daily_cap is not None:
            since = start_of_day(now)
            mine = await self._store.usage(team_id, user_id, since)
            spend = await self._spend(mine, running, since, team_id=team_id, user_id=user_id)
            if spend.committed + price > user_daily_cap:
                return (
                    f"{'You have reached' if count == 1 else 'That would go over'} your daily limit of "
                    f"{credit_amount(user_daily_cap)} credits: "
                    f"{_spent(spend)} today, and {asked} {approx(price, exact=False)}."
                    f"{self._cheaper(resolution, user_daily_cap, spend, count)} "
                    f"Nothing was started. The limit resets at midnight UTC, {_until(start_of_day(now) + 86_400 - now)}"
                    f"; {_who_raises(user_daily_cap, self.user_daily_cap, 'USER_DAILY_CREDIT_CAP')}."
                )
        if workspace_monthly_cap is not None:
            since = start_of_month(now)
            spend = await self._spend(await self._store.team_usage(team_id, since), running, since, team_id=team_id)
            if spend.committed + price > workspace_monthly_cap:
                resets = time.gmtime(start_of_next_month(now))
                cheaper = self._cheaper(resolution, workspace_monthly_cap, spend, count)
                over_workspace = "That would go over the workspace's"
                return (
                    f"{'The workspace has reached its' if count == 1 else over_workspace} "
                    f"monthly limit of {credit_amount(workspace_monthly_cap)} "
                    f"credits: {_spent(spend)} this month, and {asked} {approx(price, exact=False)}."
                    f"{cheaper} Nothing was "
                    f"started. The limit resets on 1 {calendar.month_name[resets.tm_mon]} (UTC); "
                    f"{_who_raises(workspace_monthly_cap, self.workspace_monthly_cap, 'WORKSPACE_MONTHLY_CREDIT_CAP')}."
                )
        return None

    async def report(self, team_id: str, user_id: str) -> UsageReport:
        now = self._clock()
        day, month = start_of_day(now), start_of_month(now)
        store, running = self._store, await self._running(team_id)
        user_daily_cap, workspace_monthly_cap = await self.caps(team_id)
        return UsageReport(
            today=await self._spend(
                await store.usage(team_id, user_id, day), running, day, team_id=team_id, user_id=user_id
            ),
            month=await self._spend(
                await store.usage(team_id, user_id, month), running, month, team_id=team_id, user_id=user_id
            ),
            workspace_month=await self._spend(await store.team_usage(team_id, month), running, month, team_id=team_id),
            user_daily_cap=user_daily_cap,
            workspace_monthly_cap=workspace_monthly_cap,
            prices=self.prices,
        )

    async def _running(self, team_id: str) -> list[Task]:
        # Credits are recorded when the result arrives; until then a task counts at its price.
        return [task for task in await self._store.unfinished(team_id) if task.credits is None]

    async def _spend(
        self, usage: Usage, running: list[Task], since: float, *, user_id: str | None = None, team_id: str | None = None
    ) -> Spend:
        mine = [
            task
            for task in running
            if task.created_at >= since
            and (user_id is None or task.user_id == user_id)
            and (team_id is None or task.team_id == team_id)
        ]
        return Spend(
            images=usage.images,
            credits=usage.credits,
            exact_credits=usage.exact_credits,
            running_images=len(mine),
            running=sum(self.prices[task.price_key] for task in mine),
        )

    def _cheaper(self, resolution: str, cap: int, spend: Spend, count: int = 1) -> str:
        """Point out fewer images, or a smaller resolution, that still fit, if any do."""
        left = cap - spend.committed
        price = self.prices[resolution]
        fewer = min(count - 1, int(left // price)) if price > 0 else 0
        if fewer >= 1:
            smaller = _asked(resolution, fewer)
            return f" {smaller[0].upper()}{smaller[1:]} {approx(price * fewer, exact=False)}, which still fits."
        fits = [r for r in RESOLUTIONS if self.prices[r] < price and self.prices[r] <= left]
        if not fits or resolution not in RESOLUTIONS:  # an upscale has no smaller resolution
            return ""
        return f" A {fits[-1]} image ({credits_text(self.prices[fits[-1]], exact=False)}) still fits."


def _who_raises(cap: int, operators: int | None, setting: str) -> str:
    """A workspace's own cap, below the operator's, is its admins' to raise; the operator's is the operator's."""
    if cap == operators:
        return f"whoever runs Banana can raise it ({setting})"
    return "the workspace's admins can raise it in Banana's settings (on their Home tab)"


def _asked(resolution: str, count: int) -> str:
    """What was asked, before its price: "a 1K image costs", "3 variations at 1K cost", "an upscale to 4K costs"."""
    if resolution.startswith("upscale "):
        return f"an upscale to {resolution.removeprefix('upscale ')} costs"
    if count == 1:
        return f"a {resolution} image costs"
    return f"{count} variations at {resolution} cost"


def _spent(spend: Spend) -> str:
    spent = approx(spend.credits, exact=not spend.credits_estimated)
    if spend.running:
        return f"{spent} spent and {approx(spend.running, exact=False)} in images still running"
    return f"{spent} spent"


def _until(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 90:
        return f"in {minutes} minute{'s' if minutes != 1 else ''}"
    return f"in about {round(minutes / 60)} hours"

"""A task's card in the channel: posting it, and its edits within Slack's chat.update budget."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.clients.slack import ChannelUnavailable, SlackDelivery, invite_hint, transient
from bot.jobs.failures import GONE_ERRORS, TaskFailed
from bot.jobs.kit import JobKit

log = logging.getLogger(__name__)

Render = Callable[[], tuple[str, list[dict[str, Any]]]]


async def post_card(
    slack: SlackDelivery, channel: str, text: str, card: list[dict[str, Any]], thread_ts: str | None
) -> tuple[str, str | None]:
    """Post a task's card; its ts and permalink. A conversation Banana cannot post in fails the task before anything
    is spent."""
    try:
        ts = await slack.post(channel, text=text, blocks=card, thread_ts=thread_ts)
    except ChannelUnavailable as error:
        raise TaskFailed(error.error, invite_hint(channel)) from error
    except SlackApiError as error:
        reason = error.response.get("error")
        if reason in GONE_ERRORS:
            raise  # the workspace's token no longer works: there is no one to tell
        message = f"Slack would not let me post here ({reason}), so I didn't start the image; nothing was charged."
        raise TaskFailed(f"slack_{reason}", message) from error
    return ts, await slack.permalink(channel, ts)


class ProgressCard:
    """What a card in the channel last showed, and its edits: only when what it shows changed, at most every
    progress_interval. Final edits skip the interval and go first in the chat.update budget; slack_sdk's rate-limit
    handler waits out a 429 for them, and past its retries they are tried again (`slack_retry_delays`, its last
    delay repeated) until they land or the message is gone."""

    def __init__(self, kit: JobKit, slack: SlackDelivery) -> None:
        self.kit = kit
        self.slack = slack
        self._shown: list[dict[str, Any]] | None = None
        self._shown_at = 0.0

    def posted(self, card: list[dict[str, Any]]) -> None:
        self._shown, self._shown_at = card, self.kit.clock()

    async def show(self, channel: str, ts: str, render: Render, *, final: bool = False) -> bool:
        """Edit the card if it changed. True when it is settled: it shows `render`'s card, or it is gone, or Slack
        refused the edit for good; False when it may still be wrong (a progress edit skipped or failed, or a final
        edit left for the next start because this one is stopping)."""
        kit = self.kit
        now, budget = kit.clock(), kit.update_budgets.of(self.slack.team_id)
        if not final and (
            now - self._shown_at < kit.settings.progress_interval or not budget.allows_progress(kit.in_flight())
        ):
            return False
        text, card = render()
        if card == self._shown:
            return True
        if final:
            return await self._final(channel, ts, text, card)
        if not await self._progress_slot():
            return False
        budget.spend_progress()
        if await self._edit(channel, ts, text, card, final=False):
            self._shown, self._shown_at = card, now
        return False

    async def _final(self, channel: str, ts: str, text: str, card: list[dict[str, Any]]) -> bool:
        """The final edit, tried until it lands; each wait frees the final turn, so other cards' finals go on."""
        kit, budget = self.kit, self.kit.update_budgets.of(self.slack.team_id)
        delays = kit.settings.slack_retry_delays
        for attempt in itertools.count():
            async with budget.final_turn():
                settled = await self._edit(channel, ts, text, card, final=True)
            if settled:
                self._shown, self._shown_at = card, kit.clock()
                return True
            if kit.stopping() or not delays:
                return False  # stored as owed (`card_pending`): the next holder finishes it
            delay = delays[min(attempt, len(delays) - 1)]
            log.warning("card %s in %s: final edit failed, trying again in %.1f s", ts, channel, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _progress_slot(self) -> bool:
        """With several replicas, progress edits of a workspace take at most a third of its chat.update budget among
        them all, and are skipped rather than waited for when it is spent: final edits always find room."""
        store = self.kit.store
        if not store.shared:
            return True
        share = max(1, self.kit.settings.slack_updates_per_minute // 3)
        return await store.take_slot(f"slack:progress:{self.slack.team_id}", share, 60.0) == 0

    async def _edit(self, channel: str, ts: str, text: str, card: list[dict[str, Any]], *, final: bool) -> bool:
        """True when the edit needs no repeat: it landed, the message is gone, or Slack refused it for good."""
        try:
            await self.slack.update(channel, ts, text=text, blocks=card)
        except SlackApiError as error:
            if error.response.get("error") in GONE_ERRORS:
                raise  # the workspace's token no longer works: the task ends (JobRunner._end_quietly)
            level = logging.ERROR if final and not transient(error) else logging.WARNING
            log.log(level, "card %s in %s: edit failed: %s", ts, channel, error.response.get("error"))
            return not transient(error)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("card %s in %s: edit failed: %s", ts, channel, type(error).__name__)
            return False
        return True

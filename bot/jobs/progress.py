"""A task's card in the channel: posting it, and its edits within Slack's chat.update budget."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.clients.slack import ChannelUnavailable, SlackDelivery, invite_hint
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
    handler waits out a 429 for them."""

    def __init__(self, kit: JobKit, slack: SlackDelivery) -> None:
        self.kit = kit
        self.slack = slack
        self._shown: list[dict[str, Any]] | None = None
        self._shown_at = 0.0

    def posted(self, card: list[dict[str, Any]]) -> None:
        self._shown, self._shown_at = card, self.kit.clock()

    async def show(self, channel: str, ts: str, render: Render, *, final: bool = False) -> None:
        kit = self.kit
        now, budget = kit.clock(), kit.update_budgets.of(self.slack.team_id)
        if not final and (
            now - self._shown_at < kit.settings.progress_interval or not budget.allows_progress(kit.in_flight())
        ):
            return
        text, card = render()
        if card == self._shown:
            return
        if not final and not await self._progress_slot():
            return
        if final:
            async with budget.final_turn():
                sent = await self._edit(channel, ts, text, card, final=True)
        else:
            budget.spend_progress()
            sent = await self._edit(channel, ts, text, card, final=False)
        if sent:
            self._shown, self._shown_at = card, now

    async def _progress_slot(self) -> bool:
        """With several replicas, progress edits of a workspace take at most a third of its chat.update budget among
        them all, and are skipped rather than waited for when it is spent: final edits always find room."""
        store = self.kit.store
        if not store.shared:
            return True
        share = max(1, self.kit.settings.slack_updates_per_minute // 3)
        return await store.take_slot(f"slack:progress:{self.slack.team_id}", share, 60.0) == 0

    async def _edit(self, channel: str, ts: str, text: str, card: list[dict[str, Any]], *, final: bool) -> bool:
        try:
            await self.slack.update(channel, ts, text=text, blocks=card)
        except SlackApiError as error:
            if error.response.get("error") in GONE_ERRORS:
                raise  # the workspace's token no longer works: the task ends (JobRunner._end_quietly)
            # slack_sdk has already waited out 429s and retried 5xx; the task itself goes on either way.
            level = logging.ERROR if final else logging.WARNING
            log.log(level, "card %s in %s: edit failed: %s", ts, channel, error.response.get("error"))
            return False
        return True

"""Mentions and thread replies: "@Banana make the sky stormy --ar 9:16" in a result's thread edits its image.

Slack acknowledges events for us (Bolt answers before the listener runs); a retry of one already handled is dropped by
the app's middleware, so a mention never starts two edits.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.jobs.threads import read_pick
from bot.services import services_of
from bot.services.asks import start_edit
from bot.services.people import people_only
from bot.services.privacy import public_in_event
from prompts.command import mentions, message_words
from prompts.tasks import Origin, Task

EDIT_HELP = (
    "Tell me what to change, for example `@Banana make the sky stormy, keep the logo --ar 9:16`. "
    "I edit the newest image in this thread; `#12` picks another one. "
    "`--ar`, `--res`, `--format` and `--no` change its options; `--n 3` makes three takes."
)
NOT_A_BANANA_THREAD = (
    "Mention me in the thread of one of my images to edit it, for example `@Banana make the sky stormy`. "
    "To make a new image, type `/banana` and what you want; `/banana help` shows everything."
)


def register(app: AsyncApp) -> None:
    # Only a person's own message starts an edit: bots, apps, workflows and edits are dropped before the listener.
    app.event("app_mention", middleware=[people_only])(app_mention)
    app.event("message", middleware=[people_only])(thread_reply)


async def app_mention(event: dict[str, Any], context: AsyncBoltContext) -> None:
    thread_ts = event.get("thread_ts")
    thread = (
        await services_of(context).store.in_thread(_team(event, context), event["channel"], thread_ts)
        if thread_ts
        else []
    )
    await _edit(event, context, thread, mentioned=True)


async def thread_reply(event: dict[str, Any], context: AsyncBoltContext) -> None:
    """With THREAD_REPLIES on, a person's plain reply in a thread Banana started is an edit too. Every other message
    (replies elsewhere, messages that mention Banana and so come as app_mention too) is ignored, and nothing of it is
    kept; `people_only` has already dropped what no person wrote."""
    services = services_of(context)
    if not services.settings.thread_replies or not _plain_reply(event, context.bot_user_id):
        return
    thread = await services.store.in_thread(_team(event, context), event["channel"], event["thread_ts"])
    if any(task.message_ts == event["thread_ts"] for task in thread):  # the thread's first message is a Banana card
        await _edit(event, context, thread, mentioned=False)


def _plain_reply(event: dict[str, Any], bot_user_id: str | None) -> bool:
    return (
        bool(event.get("thread_ts"))
        and event.get("thread_ts") != event.get("ts")
        and not mentions(event.get("text") or "", bot_user_id)
    )


def _team(event: dict[str, Any], context: AsyncBoltContext) -> str:
    return str(event.get("team") or context.team_id or "")


async def _edit(event: dict[str, Any], context: AsyncBoltContext, thread: list[Task], *, mentioned: bool) -> None:
    """An edit asked in `thread` (the Banana tasks of the event's thread, oldest first; empty when there are none)."""
    services = services_of(context)
    channel, user, thread_ts = event["channel"], event.get("user") or "", event.get("thread_ts")
    team = _team(event, context)

    async def answer(text: str) -> None:
        await services.slack.team(team).whisper(channel, user, text, thread_ts=thread_ts)

    if not thread:
        await answer(NOT_A_BANANA_THREAD)
        return
    picked = read_pick(message_words(event.get("text") or "", context.bot_user_id))
    if not picked.text:
        if mentioned:
            await answer(EDIT_HELP)
        return
    origin = Origin(
        team_id=team, channel_id=channel, user_id=user, thread_ts=thread_ts, public_channel=public_in_event(event)
    )
    problem = await start_edit(services, thread, picked, origin, source="mention" if mentioned else "reply")
    if problem:
        await answer(problem)

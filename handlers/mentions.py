"""Mentions and thread replies: "@Banana make the sky stormy --ar 9:16" in a result's thread edits its image.

Slack acknowledges events for us (Bolt answers before the listener runs); a retry of one already handled is dropped by
the app's middleware, so a mention never starts two edits.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.jobs.threads import read_pick
from bot.services.asks import start_edit
from handlers.payloads import Request, event_request, people_only, services_of
from prompts.command import mentions, message_words
from prompts.tasks import Task

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
    asking = event_request(event, context)
    thread = (
        await services_of(context).store.in_thread(asking.team_id, event["channel"], asking.thread_ts)
        if asking.thread_ts
        else []
    )
    await _edit(asking, event, context, thread, mentioned=True)


async def thread_reply(event: dict[str, Any], context: AsyncBoltContext) -> None:
    """With THREAD_REPLIES on, a person's plain reply in a thread Banana started is an edit too. Every other message
    (replies elsewhere, messages that mention Banana and so come as app_mention too) is ignored, and nothing of it is
    kept; `people_only` has already dropped what no person wrote."""
    services = services_of(context)
    asking = event_request(event, context)
    replied = asking.reply_thread
    if not replied or mentions(event.get("text") or "", context.bot_user_id):
        return
    if not await services.thread_replies_in(asking.team_id):
        return
    thread = await services.store.in_thread(asking.team_id, event["channel"], replied)
    if any(task.message_ts == replied for task in thread):  # the thread's first message is a Banana card
        await _edit(asking, event, context, thread, mentioned=False)


async def _edit(
    asking: Request, event: dict[str, Any], context: AsyncBoltContext, thread: list[Task], *, mentioned: bool
) -> None:
    """An edit asked in `thread` (the Banana tasks of the event's thread, oldest first; empty when there are none)."""
    services = services_of(context)

    async def answer(text: str) -> None:
        slack = services.slack.team(asking.team_id)
        await slack.whisper(asking.channel_id or "", asking.user_id, text, thread_ts=asking.thread_ts)

    if not thread:  # outside the workspace's channels, where to go says more than how to edit
        await answer(await services.elsewhere(asking.team_id, asking.channel_id) or NOT_A_BANANA_THREAD)
        return
    picked = read_pick(message_words(event.get("text") or "", context.bot_user_id))
    if not picked.text:
        if mentioned:
            await answer(EDIT_HELP)
        return
    origin = asking.origin(thread_ts=asking.thread_ts)
    problem = await start_edit(services, thread, picked, origin, source="mention" if mentioned else "reply")
    if problem:
        await answer(problem)

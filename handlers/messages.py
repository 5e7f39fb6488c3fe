"""The DM with Banana: a person's message there is a `/banana` prompt, its images make a remix, and a reply in a
result's thread is an edit. Anything else gets a short help, once.

Slack sends these as `message` events with `channel_type: "im"` (the message.im subscription and im:history). Bolt
acknowledges them before the listener runs, and the app's middleware drops a retry of one already handled;
`people_only` drops what no person wrote, Banana's own answers included, so an answer never starts another.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.blocks import dm
from bot.clients.inputs import MessageImages, pick_message_images
from bot.jobs.threads import read_pick
from bot.services import Services
from bot.services.asks import (
    Asked,
    read_words,
    saved_prompts_answer,
    says_something,
    start_edit,
    start_prompt,
    usage_answer,
)
from bot.services.starter import Refused
from handlers.payloads import event_request, people_only, services_of
from prompts.command import message_words
from prompts.options import CommandError
from prompts.tasks import Task

SOURCE = "dm"


def register(app: AsyncApp) -> None:
    # Before mentions' catch-all `message` listener: Bolt runs only the first listener an event matches.
    app.event("message", matchers=[in_a_dm], middleware=[people_only])(dm_message)


async def in_a_dm(event: dict[str, Any]) -> bool:
    """A message in a DM with Banana: "look for the event's channel_type field set to im"
    (https://docs.slack.dev/reference/events/message.im)."""
    return event.get("channel_type") == "im"


class Conversation:
    """One message in the DM: where it was written, and how to answer it there."""

    def __init__(self, event: dict[str, Any], context: AsyncBoltContext) -> None:
        self.services: Services = services_of(context)
        asking = event_request(event, context)
        self.origin = asking.origin(thread_ts=asking.reply_thread)

    async def say(self, text: str = "", *, blocks: list[dict[str, Any]] | None = None) -> None:
        message = dm.message(text) if blocks is None else {"text": text, "blocks": blocks}
        slack = self.services.slack.team(self.origin.team_id)
        await slack.post(self.origin.channel_id, thread_ts=self.origin.thread_ts, **message)


async def dm_message(event: dict[str, Any], context: AsyncBoltContext) -> None:
    talk = Conversation(event, context)
    services, origin = talk.services, talk.origin
    text = message_words(event.get("text") or "", context.bot_user_id)
    words = read_words(text)
    if words.asked is Asked.HELP:
        await talk.say(dm.full_help(await services.defaults_for(origin.team_id), services.settings.prices))
    elif words.asked is Asked.USAGE:
        await talk.say(await usage_answer(services, origin.team_id, origin.user_id))
    elif words.asked is Asked.PROMPTS:
        await talk.say(**await saved_prompts_answer(services, origin.team_id, words.rest))
    elif event.get("files"):
        await _remix(talk, event["files"], text)
    elif thread := await _banana_thread(talk):
        picked = read_pick(text)
        problem = (
            await start_edit(services, thread, picked, origin, source=SOURCE)
            if says_something(picked.text)
            else dm.EDIT_HELP
        )
        if problem:
            await talk.say(problem)
    elif words.asked is Asked.STUDIO:
        await talk.say(dm.studio_elsewhere(words.kind))
    elif words.asked is Asked.NOTHING or not says_something(text):
        await talk.say(dm.short_help())
    else:
        await _prompt(talk, text)


async def _banana_thread(talk: Conversation) -> list[Task]:
    """Banana's tasks in the thread the message replies to, oldest first; empty for a message outside a thread."""
    origin = talk.origin
    if not origin.thread_ts:
        return []
    return await talk.services.store.in_thread(origin.team_id, origin.channel_id, origin.thread_ts)


async def _prompt(talk: Conversation, text: str, *, found: MessageImages | None = None) -> None:
    try:
        started = await start_prompt(
            talk.services, text, talk.origin, inputs=found.images if found else (), source=SOURCE
        )
    except CommandError as error:
        await talk.say(f":warning: {error}\nType `help` for every option.")
        return
    if isinstance(started, Refused):
        await talk.say(f":no_entry: {started.reason}")
    elif found is not None and (notes := dm.remix_notes(found.skipped, found.over_limit, len(found.images))):
        await talk.say(notes)


async def _remix(talk: Conversation, files: list[dict[str, Any]], text: str) -> None:
    """Images with a prompt: a remix of them. Remote files are refused by name and never read, as everywhere."""
    found = pick_message_images(files)
    if not found.images:
        await talk.say(dm.not_images(found.skipped))
    elif not says_something(text):
        await talk.say(dm.needs_prompt(len(found.images) + found.over_limit))
    else:
        await _prompt(talk, text, found=found)

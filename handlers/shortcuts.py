"""Shortcuts: "Remix with Banana" on a message with images, and "New image" from anywhere.

A trigger_id lives 3 seconds and works once, so the modal is opened before anything slow: what Slack is asked
first (joining the conversation, describing files sent as ids) is bounded to fit well inside those 3 seconds.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import modals
from bot.blocks.modals import FormContext, FormSetup, generation_modal
from bot.blocks.text import escape
from bot.clients.inputs import conversation_kind, is_image_file, outside_message, pick_message_images
from bot.clients.slack import Membership, SlackDelivery
from bot.services.asks import remixed_task
from handlers.payloads import claims, services_of, shortcut_request
from prompts.options import MAX_INPUT_IMAGES

log = logging.getLogger(__name__)

REMIX_MESSAGE = "remix_message"
NEW_IMAGE = "new_image"
# All that is asked of Slack before the form opens, so views.open still has a second of the trigger's 3.
LOOKUP_BUDGET = 2.0
# conversations.join (Banana reads a message's files only where it is a member) gets at most this much of it.
JOIN_BUDGET = 1.0
# files.info for files Slack sent as ids only must not eat the trigger's 3 seconds.
FILE_INFO_BUDGET = 1.5


def register(app: AsyncApp) -> None:
    app.message_shortcut(REMIX_MESSAGE, middleware=[claims])(remix_message)
    app.global_shortcut(NEW_IMAGE, middleware=[claims])(new_image)


async def remix_message(
    ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    await ack()
    services = services_of(context)
    asking = shortcut_request(shortcut, context)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + LOOKUP_BUDGET
    message = shortcut.get("message") or {}
    conversation = shortcut.get("channel") or {}
    channel = asking.channel_id
    if note := await services.elsewhere(asking.team_id, channel):  # before any form: nothing to fill in here
        await respond(response_type="ephemeral", replace_original=False, text=f":no_entry: {note}")
        return
    files = message.get("files") or []
    candidates = pick_message_images(files)
    # files:read reaches only conversations Banana is in (https://api.slack.com/scopes/files:read): join a public
    # channel before reading, and say at once what to do where Banana cannot join.
    slack = services.slack.team(asking.team_id)
    if candidates.images and channel and await _membership(slack, channel) is Membership.OUTSIDE:
        names = [escape(f.name or f.id) for f in candidates.images]
        reason = outside_message(conversation_kind(channel, conversation.get("name")), names)
        await respond(
            response_type="ephemeral",
            replace_original=False,
            text=f":lock: {reason} Nothing was started and nothing was charged.",
        )
        return
    files = await _described(files, client, budget=min(FILE_INFO_BUDGET, deadline - loop.time()))
    found = pick_message_images(files)
    if not found.images:
        reason = f" ({'; '.join(found.skipped)})" if found.skipped else ""
        await respond(
            response_type="ephemeral",
            replace_original=False,
            text=f":warning: That message has no images I can remix{reason}. "
            "Use it on a message with PNG, JPEG or WebP images, or try the *New image* shortcut to upload some.",
        )
        return
    notes = [f"{reason}." for reason in found.skipped]
    if found.over_limit:
        total = len(found.images) + found.over_limit
        notes.insert(0, f"The message has {total} images; kie takes {MAX_INPUT_IMAGES}, so the first 8 are used.")
    setup = FormSetup(
        title="Remix with Banana",
        defaults=await services.defaults_for(asking.team_id),
        prices=services.settings.prices,
        context=FormContext(
            channel_id=channel,
            thread_ts=asking.thread_ts or asking.message_ts,
            inputs=found.images,
            parent_task_id=await remixed_task(services, asking.team_id, found.images),
        ),
        notes=tuple(notes),
    )
    await client.views_open(trigger_id=shortcut["trigger_id"], view=generation_modal(setup))


async def new_image(ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
    await ack()
    services = services_of(context)
    defaults = await services.defaults_for(shortcut_request(shortcut, context).team_id)
    view = modals.new_image_modal(defaults, services.settings.prices, channel_id=None)
    await client.views_open(trigger_id=shortcut["trigger_id"], view=view)


async def _membership(slack: SlackDelivery, channel: str) -> Membership:
    """Whether Banana is in the conversation, joining it if it is a public channel, within the trigger's budget."""
    try:
        async with asyncio.timeout(JOIN_BUDGET):
            return await slack.join(channel)
    except TimeoutError:
        log.debug("conversations.join for %s took too long; the task checks again", channel)
        return Membership.UNKNOWN  # the task reads the files again before anything is spent


async def _described(
    files: list[dict[str, Any]], client: AsyncWebClient, *, budget: float = FILE_INFO_BUDGET
) -> list[dict[str, Any]]:
    """Files Slack sent as ids only (`file_access: check_file_info`) are looked up, within the trigger's budget."""
    unknown = [f for f in files if is_image_file(f) is None]
    if not unknown or budget <= 0:
        return files
    try:
        async with asyncio.timeout(budget):
            answers = await asyncio.gather(*(client.files_info(file=f["id"]) for f in unknown), return_exceptions=True)
    except TimeoutError:
        return files  # checked again, by their bytes, before anything is spent
    described: dict[str, dict[str, Any]] = {}
    for file, answer in zip(unknown, answers, strict=True):
        if isinstance(answer, BaseException):
            log.debug("files.info for %s failed: %s", file["id"], answer)
        else:
            described[file["id"]] = dict(answer["file"])
    return [described.get(f["id"], f) for f in files]

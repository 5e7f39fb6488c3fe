"""Shortcuts: "Remix with Banana" on a message with images, and "New image" from anywhere.

A trigger_id lives 3 seconds and works once, so the modal is opened before anything slow.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from banana.domain.options import MAX_INPUT_IMAGES, InputFile
from banana.engine.inputs import is_image_file, pick_message_images
from banana.engine.services import Services, services_of
from banana.ui import modals
from banana.ui.modals import FormContext, FormSetup, generation_modal

log = logging.getLogger(__name__)

REMIX_MESSAGE = "remix_message"
NEW_IMAGE = "new_image"
# files.info for files Slack sent as ids only must not eat the trigger's 3 seconds.
FILE_INFO_BUDGET = 1.5


def register(app: AsyncApp) -> None:
    app.message_shortcut(REMIX_MESSAGE)(remix_message)
    app.global_shortcut(NEW_IMAGE)(new_image)


async def remix_message(
    ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    await ack()
    services = services_of(context)
    message = shortcut.get("message") or {}
    files = await _described(message.get("files") or [], client)
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
    notes = list(found.skipped)
    if found.over_limit:
        total = len(found.images) + found.over_limit
        notes.insert(0, f"The message has {total} images; kie takes {MAX_INPUT_IMAGES}, so the first 8 are used.")
    channel = (shortcut.get("channel") or {}).get("id")
    setup = FormSetup(
        title="Remix with Banana",
        defaults=services.defaults,
        prices=services.settings.prices,
        context=FormContext(
            channel_id=channel,
            thread_ts=message.get("thread_ts") or message.get("ts"),
            inputs=found.images,
            parent_task_id=await _parent_of(services, found.images),
        ),
        notes=tuple(notes),
    )
    await client.views_open(trigger_id=shortcut["trigger_id"], view=generation_modal(setup))


async def new_image(ack: AsyncAck, shortcut: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
    await ack()
    services = services_of(context)
    view = modals.new_image_modal(services.defaults, services.settings.prices, channel_id=None)
    await client.views_open(trigger_id=shortcut["trigger_id"], view=view)


async def _described(files: list[dict[str, Any]], client: AsyncWebClient) -> list[dict[str, Any]]:
    """Files Slack sent as ids only (`file_access: check_file_info`) are looked up, within the trigger's budget."""
    unknown = [f for f in files if is_image_file(f) is None]
    if not unknown:
        return files
    try:
        async with asyncio.timeout(FILE_INFO_BUDGET):
            answers = await asyncio.gather(*(client.files_info(file=f["id"]) for f in unknown), return_exceptions=True)
    except TimeoutError:
        return files  # checked again, by their bytes, before anything is spent
    described: dict[str, dict[str, Any]] = {}
    for file, answer in zip(unknown, answers, strict=True):
        if isinstance(answer, BaseException):
            log.info("files.info for %s failed: %s", file["id"], answer)
        else:
            described[file["id"]] = dict(answer["file"])
    return [described.get(f["id"], f) for f in files]


async def _parent_of(services: Services, images: tuple[InputFile, ...]) -> int | None:
    """A remix of one of this app's results records that task as its parent."""
    for image in images:
        parent = await services.store.by_file_id(image.id)
        if parent is not None:
            return parent.id
    return None

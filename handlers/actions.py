"""Buttons on result cards."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import REMIX_ACTION
from bot.modals import FormContext, FormSetup, generation_modal
from bot.options import InputFile
from bot.services import Services


def register(app: AsyncApp) -> None:
    app.action(REMIX_ACTION)(remix_result)


async def remix_result(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, respond: AsyncRespond, context):
    await ack()
    services: Services = context["services"]
    task = await services.store.get(int(action["value"]))
    if task is None or not task.slack_file_id:
        await respond(response_type="ephemeral", replace_original=False, text="That image no longer exists.")
        return
    setup = FormSetup(
        title="Remix with Banana",
        defaults=services.defaults,
        context=FormContext(
            channel_id=task.channel_id,
            thread_ts=task.thread_ts,
            inputs=(InputFile(id=task.slack_file_id, name=f"result of #{task.id}"),),
            parent_task_id=task.id,
        ),
    )
    await client.views_open(trigger_id=body["trigger_id"], view=generation_modal(setup))

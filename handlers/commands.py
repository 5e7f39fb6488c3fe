"""`/banana`: parse, answer within Slack's 3 seconds, hand the task to the runner."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import help_text
from bot.options import CommandError, parse_command_text
from bot.runner import Origin
from bot.services import Services
from handlers.shortcuts import open_new_image_modal

COMMAND = "/banana"


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(banana_command)


async def banana_command(ack: AsyncAck, command: dict, client: AsyncWebClient, context: dict) -> None:
    services: Services = context["services"]
    text = (command.get("text") or "").strip()
    if text.lower() in ("help", "-h", "--help", "?"):
        await ack(response_type="ephemeral", text=help_text(services.defaults))
        return
    if not text:  # nothing typed: the form, with this conversation as where to post
        await ack()
        await open_new_image_modal(client, command["trigger_id"], services, channel_id=command["channel_id"])
        return
    try:
        request = parse_command_text(text, services.defaults)
    except CommandError as error:
        await ack(response_type="ephemeral", text=f":warning: {error}\nType `{COMMAND} help` for every option.")
        return
    # An empty ack shows nothing: the progress message the runner posts is the answer everyone sees.
    await ack()
    await services.runner.start(
        request,
        Origin(
            team_id=command.get("team_id", ""),
            channel_id=command["channel_id"],
            user_id=command["user_id"],
            response_url=command.get("response_url"),
        ),
    )

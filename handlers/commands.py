"""`/banana`: parse, answer within Slack's 3 seconds, hand the task to the engine."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import modals, studio
from bot.blocks.guide import help_text
from bot.services.asks import Asked, read_words, saved_prompts_answer, start_prompt, usage_answer
from bot.services.starter import Refused
from handlers.payloads import command_request, services_of
from prompts.options import CommandError

COMMAND = "/banana"


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(banana_command)


async def banana_command(
    ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    asking = command_request(command, context)
    team_id, user_id = asking.team_id, asking.user_id
    words = read_words(command.get("text") or "")
    if words.asked is Asked.HELP:
        defaults = await services.defaults_for(team_id)
        await ack(response_type="ephemeral", text=help_text(defaults, services.settings.prices))
        return
    if words.asked is Asked.USAGE:
        await ack()  # the kie.ai balance may take a moment; the answer follows through response_url
        await respond(response_type="ephemeral", text=await usage_answer(services, team_id, user_id))
        return
    if note := await services.elsewhere(team_id, asking.channel_id):  # forms too: nothing started from here
        await ack(response_type="ephemeral", text=f":no_entry: {note}")
        return
    if words.asked is Asked.STUDIO:  # the prompt studio: a form now, the prompt to review next
        await ack()
        view = studio.studio_form(words.kind, services.catalog, channel_id=command["channel_id"], text=words.rest)
        await client.views_open(trigger_id=command["trigger_id"], view=view)
        return
    if words.asked is Asked.PROMPTS:
        await ack()
        await respond(response_type="ephemeral", **await saved_prompts_answer(services, team_id, words.rest))
        return
    if words.asked is Asked.NOTHING:  # nothing typed: the form, with this conversation as where to post
        await ack()
        defaults = await services.defaults_for(team_id)
        view = modals.new_image_modal(defaults, services.settings.prices, channel_id=command["channel_id"])
        await client.views_open(trigger_id=command["trigger_id"], view=view)
        return
    try:
        # An empty ack shows nothing: the progress message the runner posts is the answer everyone sees.
        started = await start_prompt(services, words.rest, asking.origin(), admitted=ack)
    except CommandError as error:
        await ack(response_type="ephemeral", text=f":warning: {error}\nType `{COMMAND} help` for every option.")
        return
    if isinstance(started, Refused):
        await ack(response_type="ephemeral", text=f":no_entry: {started.reason}")

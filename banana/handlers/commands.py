"""`/banana`: parse, answer within Slack's 3 seconds, hand the task to the engine."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from banana.domain.options import CommandError
from banana.domain.tasks import Origin
from banana.engine.budget import balance_text, usage_text
from banana.engine.kie import KieError
from banana.engine.privacy import public_in_command
from banana.engine.services import Services, services_of
from banana.engine.starter import Refused
from banana.prompts.command import mentions_options, parse_command_text
from banana.ui import modals, studio
from banana.ui.guide import help_text

log = logging.getLogger(__name__)

COMMAND = "/banana"


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(banana_command)


async def banana_command(
    ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond, context: AsyncBoltContext
) -> None:
    services = services_of(context)
    text = (command.get("text") or "").strip()
    if text.lower() in ("help", "-h", "--help", "?"):
        await ack(response_type="ephemeral", text=help_text(services.defaults, services.settings.prices))
        return
    if text.lower() == "usage":
        await ack()  # the kie.ai balance may take a moment; the answer follows through response_url
        await respond(response_type="ephemeral", text=await usage_answer(services, command))
        return
    word, rest = _first_word(text)
    # The prompt studio: a form now, the prompt to review next. Its forms choose the options, so text with options
    # (`/banana quote card --no text`) is a plain prompt, as it always was.
    if word in studio.KINDS and not mentions_options(rest):
        await ack()
        view = studio.studio_form(word, services.catalog, channel_id=command["channel_id"], text=rest)
        await client.views_open(trigger_id=command["trigger_id"], view=view)
        return
    if word == "prompts" and not mentions_options(rest):
        await ack()
        await respond(response_type="ephemeral", **await saved_prompts_answer(services, command, rest.strip()))
        return
    if not text:  # nothing typed: the form, with this conversation as where to post
        await ack()
        view = modals.new_image_modal(services.defaults, services.settings.prices, channel_id=command["channel_id"])
        await client.views_open(trigger_id=command["trigger_id"], view=view)
        return
    try:
        request = parse_command_text(text, services.defaults)
    except CommandError as error:
        await ack(response_type="ephemeral", text=f":warning: {error}\nType `{COMMAND} help` for every option.")
        return
    origin = Origin(
        team_id=command.get("team_id", ""),
        channel_id=command["channel_id"],
        user_id=command["user_id"],
        response_url=command.get("response_url"),
        public_channel=public_in_command(command),
    )
    # An empty ack shows nothing: the progress message the runner posts is the answer everyone sees.
    started = await services.starter.start(request, origin, admitted=ack)
    if isinstance(started, Refused):
        await ack(response_type="ephemeral", text=f":no_entry: {started.reason}")


def _first_word(text: str) -> tuple[str, str]:
    """The first word, in lower case, and the rest, whose line breaks are kept (notes and roles come one a line)."""
    word = text.split(maxsplit=1)[0] if text.strip() else ""
    return word.lower(), text.strip()[len(word) :].strip()


async def saved_prompts_answer(services: Services, command: dict[str, Any], search: str) -> dict[str, Any]:
    """`/banana prompts [words]`: the message listing the workspace's saved prompts."""
    shown = studio.SAVED_PROMPTS_SHOWN
    found = await services.store.list_prompts(command.get("team_id", ""), limit=shown + 1, contains=search)
    return studio.saved_prompts_message(found, search=search, more=len(found) > shown)


async def usage_answer(services: Services, command: dict[str, Any]) -> str:
    """`/banana usage`: the person's and the workspace's spend and limits; for the operator's admins, kie.ai's
    balance too."""
    user_id, team_id = command["user_id"], command.get("team_id", "")
    report = await services.budget.report(team_id, user_id)
    balance = None
    if services.budget.may_see_balance(team_id, await services.slack.team(team_id).is_admin(user_id)):
        try:
            credits = await services.kie.get_credits()
        except KieError as error:
            log.warning("could not read the kie.ai balance: %s", error)
            balance = f"could not be read just now. {error.summary}"
        else:
            balance = balance_text(credits, services.settings.prices, services.defaults.resolution)
    return usage_text(report, balance=balance)

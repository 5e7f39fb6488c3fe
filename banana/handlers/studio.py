"""The prompt studio: its forms, the review step that generates, and the workspace's library of saved prompts."""

from __future__ import annotations

import dataclasses

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from banana.domain.options import CommandError
from banana.domain.tasks import Origin
from banana.engine.services import Services
from banana.handlers.actions import Press
from banana.prompts.command import build_request
from banana.ui import blocks, modals, studio
from banana.ui.blocks import escape


def register(app: AsyncApp) -> None:
    for form in studio.FORMS:
        app.view(form)(form_submitted)
    app.view(studio.REVIEW)(review_submitted)
    app.action(blocks.SAVE_PROMPT)(save_prompt_pressed)
    app.view(studio.SAVE_PROMPT_FORM)(save_prompt_submitted)
    app.action(studio.USE_SAVED_PROMPT)(use_saved_prompt)


async def open_form(
    client: AsyncWebClient, trigger_id: str, services: Services, *, kind: str, text: str, channel_id: str
) -> None:
    """`/banana infographic|quote|timeline <text>`: the form, filled in from the text, posting where it was typed."""
    view = studio.studio_form(kind, services.catalog, channel_id=channel_id, text=text)
    await client.views_open(trigger_id=trigger_id, view=view)


async def saved_prompts_answer(services: Services, team_id: str, search: str) -> dict:
    """`/banana prompts [words]`: the message listing the workspace's saved prompts."""
    found = await services.store.list_prompts(team_id, limit=studio.SAVED_PROMPTS_SHOWN + 1, contains=search)
    return studio.saved_prompts_message(found, search=search, more=len(found) > studio.SAVED_PROMPTS_SHOWN)


async def form_submitted(ack: AsyncAck, view: dict, context: dict) -> None:
    """Build the prompt and show it for review in the same modal; nothing is generated yet."""
    services: Services = context["services"]
    try:
        built = studio.build_from_form(view, services.catalog, services.brand)
    except studio.FormProblems as problems:
        await ack(response_action="errors", errors=problems.errors)
        return
    review = studio.Review(
        prompt=built.prompt,
        options=dataclasses.replace(services.defaults, aspect_ratio=built.aspect_ratio),
        channel_id=studio.channel_of(view),
        summary=escape(built.summary) + ".",
    )
    await ack(response_action="update", view=studio.review_modal(review, services.settings.prices))


async def review_submitted(ack: AsyncAck, body: dict, view: dict, context: dict) -> None:
    """Generate the reviewed prompt, as the generation form does: checked, within budget, acknowledged in time."""
    services: Services = context["services"]
    reviewed = studio.read_review(view)
    first_part = f"{studio.PROMPT_PART}1"
    channel_id = studio.channel_of(view)
    if not channel_id:
        await ack(response_action="errors", errors={first_part: "I don't know where to post: run the command again."})
        return
    try:
        # Always a new image: running a saved or rebuilt prompt again is asking for another take, not the cached one.
        request = build_request(prompt=reviewed.prompt, avoid=reviewed.avoid, options=reviewed.options, fresh=True)
    except CommandError as error:
        await ack(response_action="errors", errors={first_part: str(error)})
        return
    origin = Origin(
        team_id=(body.get("team") or {}).get("id", ""),
        channel_id=channel_id,
        user_id=body["user"]["id"],
        view_id=view["id"],
    )
    async with services.budget.admit(origin.team_id, origin.user_id, request.options.resolution) as refusal:
        if refusal is None:
            await ack(response_action="update", view=modals.checking_view(0))
            await services.runner.start(request, origin)
    if refusal is not None:  # the prompt stays as edited, with the reason above it
        await ack(response_action="errors", errors={first_part: refusal})


async def save_prompt_pressed(
    ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, respond: AsyncRespond, context: dict
) -> None:
    await ack()
    press = Press(body, action, client, respond, context)
    task = await press.task()
    if task is not None:
        await client.views_open(trigger_id=body["trigger_id"], view=studio.save_prompt_modal(task))


async def save_prompt_submitted(ack: AsyncAck, body: dict, view: dict, context: dict) -> None:
    services: Services = context["services"]
    name = studio.saved_name(view)
    metadata = view.get("private_metadata", "")
    task = await services.store.get(int(metadata)) if metadata.isdigit() else None
    if task is None:
        await ack(response_action="update", view=modals.problem_view("That image no longer exists."))
        return
    team_id = (body.get("team") or {}).get("id") or task.team_id
    if not name:
        await ack(response_action="errors", errors={studio.NAME: "Give it a name."})
        return
    if await services.store.find_prompt(team_id, name):
        await ack(response_action="errors", errors={studio.NAME: f"A saved prompt is already called “{name}”."})
        return
    await services.store.save_prompt(team_id, body["user"]["id"], name, task.prompt, task.options, avoid=task.avoid)
    text = f":white_check_mark: Saved as *{escape(name)}*. Anyone here can use it from `/banana prompts`."
    await ack(response_action="update", view=modals.notice_view("Prompt saved", text))


async def use_saved_prompt(
    ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, respond: AsyncRespond, context: dict
) -> None:
    """Open the saved prompt in the review step, with its options, to post where the list was shown."""
    await ack()
    services: Services = context["services"]
    value = str(action.get("value", ""))
    saved = await services.store.get_prompt(int(value)) if value.isdigit() else None
    team_id = (body.get("team") or {}).get("id")
    if saved is None or (team_id and saved.team_id != team_id):
        await respond(response_type="ephemeral", replace_original=False, text="That saved prompt no longer exists.")
        return
    channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    review = studio.saved_prompt_review(saved, channel_id)
    await client.views_open(trigger_id=body["trigger_id"], view=studio.review_modal(review, services.settings.prices))

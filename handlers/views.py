"""Modal submissions: the generation form, the prompt studio's forms and review step, saving a prompt, and the admins'
settings and brand kit forms.

Each answers within Slack's 3 seconds: errors beside the fields, or the modal's next view.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.blocks import brand as brand_form
from bot.blocks import modals, studio
from bot.blocks import settings as settings_form
from bot.blocks.modals import FormContext
from bot.blocks.text import escape
from bot.services import Services
from bot.services.saved_prompts import NameRefused, save_prompt
from bot.services.starter import Refused
from handlers.payloads import Request, claims, services_of, view_request
from prompts.command import build_request
from prompts.inputs import too_many_inputs
from prompts.options import CommandError, InputFile, Options
from prompts.studio import FormProblems

# A settings service's submit: (team, user, fields by block id) to errors by block id, or None once saved.
Submit = Callable[[str, str, Mapping[str, Any]], Awaitable[dict[str, str] | None]]


def register(app: AsyncApp) -> None:
    app.view(modals.GENERATE_CALLBACK, middleware=[claims])(generation_submitted)
    for form in studio.FORMS:
        app.view(form, middleware=[claims])(studio_form_submitted)
    app.view(studio.REVIEW, middleware=[claims])(review_submitted)
    app.view(studio.SAVE_PROMPT_FORM, middleware=[claims])(save_prompt_submitted)
    app.view(settings_form.SETTINGS_CALLBACK, middleware=[claims])(settings_submitted)
    app.view(brand_form.BRAND_CALLBACK, middleware=[claims])(brand_submitted)


async def generation_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    services = services_of(context)
    values = view["state"]["values"]
    form = FormContext.from_metadata(view.get("private_metadata", ""))
    uploads = tuple(
        InputFile(id=f["id"], name=f.get("name", "")) for f in _value(values, modals.UPLOADS, "files") or []
    )
    inputs = form.inputs + uploads
    channel_id = _value(values, modals.CHANNEL, "selected_conversation") or form.channel_id
    errors: dict[str, str] = {}
    if too_many := too_many_inputs(len(inputs)):
        errors[modals.UPLOADS] = too_many
    if not channel_id:
        errors[modals.CHANNEL] = "Choose where to post the image."
    try:
        request = build_request(
            prompt=_value(values, modals.PROMPT, "value") or "",
            avoid=_value(values, modals.AVOID, "value") or "",
            options=Options(
                aspect_ratio=_value(values, modals.ASPECT_RATIO, "selected_option", "value") or "",
                resolution=_value(values, modals.RESOLUTION, "selected_option", "value") or "",
                output_format=_value(values, modals.FORMAT, "selected_option", "value") or "",
            ),
            inputs=inputs,
            parent_task_id=form.parent_task_id,
            relation="remix",
            source="form",
        )
    except CommandError as error:
        errors[modals.PROMPT] = str(error)
    if errors or not channel_id:
        await ack(response_action="errors", errors=errors)
        return
    thread_ts = form.thread_ts if channel_id == form.channel_id else None
    origin = view_request(body, view, context).origin(channel_id, thread_ts=thread_ts)

    async def checking() -> None:
        await ack(response_action="update", view=modals.checking_view(len(inputs)))

    started = await services.starter.start(request, origin, admitted=checking)
    if isinstance(started, Refused):  # the form stays open, with the prompt kept and the reason under it
        await ack(response_action="errors", errors={modals.PROMPT: started.reason})


async def settings_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    """The settings form: errors beside their fields, or saved (the service checks again who may)."""
    services = services_of(context)
    request = view_request(body, view, context)
    values = view["state"]["values"]
    fields: dict[str, Any] = {
        settings_form.DAILY_CAP: _value(values, settings_form.DAILY_CAP, "value"),
        settings_form.MONTHLY_CAP: _value(values, settings_form.MONTHLY_CAP, "value"),
        settings_form.CHANNELS: _value(values, settings_form.CHANNELS, "selected_conversations"),
        settings_form.ADMINS: _value(values, settings_form.ADMINS, "selected_users"),
        settings_form.KIE_KEY: _value(values, settings_form.KIE_KEY, "value"),
    }
    for choice in (settings_form.RATIO, settings_form.RESOLUTION, settings_form.FORMAT, settings_form.REPLIES):
        fields[choice] = _value(values, choice, "selected_option", "value")
    await _saved(ack, services, request, services.workspaces.submit if services.workspaces else None, fields)


async def brand_submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext) -> None:
    """The brand kit form: errors beside their fields, or saved (the service checks again who may)."""
    services = services_of(context)
    request = view_request(body, view, context)
    values = view["state"]["values"]
    texts = [brand_form.NAME, brand_form.TONE, brand_form.HEADING_FONT, brand_form.BODY_FONT, brand_form.NEVER]
    texts += [brand_form.LOGO_WORDS, brand_form.PLACEMENT, *(brand_form.COLOUR + r for r in brand_form.COLOUR_ROLES)]
    fields: dict[str, Any] = {block: _value(values, block, "value") for block in texts}
    fields[brand_form.REFERENCES] = _value(values, brand_form.REFERENCES, "selected_option", "value")
    fields[brand_form.SAVED] = [o.get("value") for o in _value(values, brand_form.SAVED, "selected_options") or []]
    for block in (brand_form.LOGO_FILE, brand_form.STYLE_FILES):
        fields[block] = [InputFile(id=f["id"], name=f.get("name", "")) for f in _value(values, block, "files") or []]
    await _saved(ack, services, request, services.brands.submit if services.brands else None, fields)


async def _saved(
    ack: AsyncAck, services: Services, request: Request, submit: Submit | None, fields: dict[str, Any]
) -> None:
    """An admin's form handed to its service: its errors beside their fields, or saved and their Home tab shown anew."""
    if submit is None:
        await ack()
        return
    errors = await submit(request.team_id, request.user_id, fields)
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    await services.home.publish(request.team_id, request.user_id)


def _value(values: dict[str, Any], block_id: str, *keys: str) -> Any:
    """A submitted value, or None when the block is absent (each modal shows a different set of inputs)."""
    found = values.get(block_id, {}).get(block_id)
    for key in keys:
        if not isinstance(found, dict):
            return None
        found = found.get(key)
    return found


async def studio_form_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    """Build the prompt and show it for review in the same modal; nothing is generated yet."""
    services = services_of(context)
    team_id = view_request(body, view, context).team_id
    defaults = await services.defaults_for(team_id)
    try:
        built = studio.build_from_form(view, services.catalog, await services.brand_for(team_id))
    except FormProblems as problems:
        await ack(response_action="errors", errors=problems.errors)
        return
    review = studio.Review(
        prompt=built.prompt,
        options=dataclasses.replace(defaults, aspect_ratio=built.aspect_ratio),
        channel_id=studio.channel_of(view),
        summary=escape(built.summary) + ".",
        source=f"studio:{studio.kind_of(view)}",
    )
    await ack(response_action="update", view=studio.review_modal(review, services.settings.prices))


async def review_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    """Generate the reviewed prompt, as the generation form does: checked, within budget, acknowledged in time."""
    services = services_of(context)
    reviewed = studio.read_review(view)
    first_part = f"{studio.PROMPT_PART}1"
    channel_id = studio.channel_of(view)
    if not channel_id:
        await ack(response_action="errors", errors={first_part: "I don't know where to post: run the command again."})
        return
    try:
        # Always a new image: running a saved or rebuilt prompt again is asking for another take, not the cached one.
        request = build_request(
            prompt=reviewed.prompt, avoid=reviewed.avoid, options=reviewed.options, fresh=True, source=reviewed.source
        )
    except CommandError as error:
        await ack(response_action="errors", errors={first_part: str(error)})
        return
    origin = view_request(body, view, context).origin(channel_id)

    async def checking() -> None:
        await ack(response_action="update", view=modals.checking_view(0))

    started = await services.starter.start(request, origin, admitted=checking)
    if isinstance(started, Refused):  # the prompt stays as edited, with the reason above it
        await ack(response_action="errors", errors={first_part: started.reason})


async def save_prompt_submitted(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
) -> None:
    services = services_of(context)
    name = studio.saved_name(view)
    metadata = view.get("private_metadata", "")
    task = await services.store.get(int(metadata)) if metadata.isdigit() else None
    asking = view_request(body, view, context)
    team_id = asking.team_id
    if task is None or task.team_id != team_id:  # another workspace's task is as good as gone
        await ack(response_action="update", view=modals.problem_view("That image no longer exists."))
        return
    saved = await save_prompt(services.store, task, asking.user_id, name)
    if isinstance(saved, NameRefused):
        await ack(response_action="errors", errors={studio.NAME: saved.reason})
        return
    text = f":white_check_mark: Saved as *{escape(name)}*. Anyone here can use it from `/banana prompts`."
    await ack(response_action="update", view=modals.notice_view("Prompt saved", text))

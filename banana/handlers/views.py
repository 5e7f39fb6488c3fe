"""The generation modal's submission: validate, answer within 3 seconds, hand the task to the runner."""

from __future__ import annotations

from slack_bolt.async_app import AsyncAck, AsyncApp

from banana.domain.options import MAX_INPUT_IMAGES, CommandError, InputFile, Options
from banana.domain.tasks import Origin
from banana.engine.services import Services
from banana.prompts.command import build_request
from banana.ui import modals
from banana.ui.modals import FormContext


def register(app: AsyncApp) -> None:
    app.view(modals.GENERATE_CALLBACK)(generation_submitted)


async def generation_submitted(ack: AsyncAck, body: dict, view: dict, context: dict) -> None:
    services: Services = context["services"]
    values = view["state"]["values"]
    form = FormContext.from_metadata(view.get("private_metadata", ""))
    uploads = tuple(
        InputFile(id=f["id"], name=f.get("name", "")) for f in _value(values, modals.UPLOADS, "files") or []
    )
    inputs = form.inputs + uploads
    channel_id = _value(values, modals.CHANNEL, "selected_conversation") or form.channel_id
    errors: dict[str, str] = {}
    if len(inputs) > MAX_INPUT_IMAGES:
        errors[modals.UPLOADS] = f"kie takes at most {MAX_INPUT_IMAGES} images; {len(inputs)} were given."
    if not channel_id:
        errors[modals.CHANNEL] = "Choose where to post the image."
    try:
        request = build_request(
            prompt=_value(values, modals.PROMPT, "value") or "",
            avoid=_value(values, modals.AVOID, "value") or "",
            options=Options(
                aspect_ratio=_value(values, modals.ASPECT_RATIO, "selected_option", "value"),
                resolution=_value(values, modals.RESOLUTION, "selected_option", "value"),
                output_format=_value(values, modals.FORMAT, "selected_option", "value"),
            ),
            inputs=inputs,
            parent_task_id=form.parent_task_id,
            relation="remix",
        )
    except CommandError as error:
        errors[modals.PROMPT] = str(error)
    if errors or not channel_id:
        await ack(response_action="errors", errors=errors)
        return
    origin = Origin(
        team_id=(body.get("team") or {}).get("id", ""),
        channel_id=channel_id,
        user_id=body["user"]["id"],
        thread_ts=form.thread_ts if channel_id == form.channel_id else None,
        view_id=view["id"],
    )
    async with services.budget.admit(origin.team_id, origin.user_id, request.options.resolution) as refusal:
        if refusal is None:
            await ack(response_action="update", view=modals.checking_view(len(inputs)))
            await services.runner.start(request, origin)
    if refusal is not None:  # the form stays open, with the prompt kept and the reason under it
        await ack(response_action="errors", errors={modals.PROMPT: refusal})


def _value(values: dict, block_id: str, *keys: str):
    """A submitted value, or None when the block is absent (each modal shows a different set of inputs)."""
    found = values.get(block_id, {}).get(block_id)
    for key in keys:
        if not isinstance(found, dict):
            return None
        found = found.get(key)
    return found

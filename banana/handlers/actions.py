"""Buttons: on a task (its card in the channel, or its row in the Home tab) and on the Home tab itself."""

from __future__ import annotations

import dataclasses
import re

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from banana.domain.options import CommandError, InputFile
from banana.domain.tasks import HomeFilter, Origin, Task
from banana.engine.home import HomePlace
from banana.engine.services import Services
from banana.handlers.shortcuts import open_new_image_modal
from banana.prompts.command import build_request
from banana.ui import blocks
from banana.ui.modals import FormContext, FormSetup, generation_modal, notice_view


def register(app: AsyncApp) -> None:
    app.action(blocks.REGENERATE)(regenerate)
    app.action(blocks.UPSCALE)(upscale)
    app.action(blocks.RETRY)(retry)
    app.action(blocks.REMIX)(remix)
    app.action(blocks.CANCEL)(cancel)
    app.action(blocks.DELETE)(delete)
    app.action(blocks.HOME_NEW_IMAGE)(home_new_image)
    app.action(re.compile(f"^{blocks.HOME_FILTER}_"))(home_filter)
    app.action(re.compile(f"^{blocks.HOME_PAGE}_"))(home_page)


class Press:
    """One button press: who pressed it, on which task, and how to answer them privately."""

    def __init__(self, body: dict, action: dict, client: AsyncWebClient, respond: AsyncRespond, context: dict):
        self.body = body
        self.action = action
        self.client = client
        self.respond = respond
        self.services: Services = context["services"]
        self.user_id: str = body["user"]["id"]

    @property
    def from_home(self) -> bool:
        return (self.body.get("container") or {}).get("type") == "view"

    async def answer(self, text: str) -> None:
        """A private answer: an ephemeral message beside the card, or a small modal over the Home tab."""
        if self.from_home or not self.body.get("response_url"):
            await self.client.views_open(trigger_id=self.body["trigger_id"], view=notice_view("Banana", text))
        else:
            await self.respond(response_type="ephemeral", replace_original=False, text=text)

    async def task(self) -> Task | None:
        value = str(self.action.get("value", ""))
        task = await self.services.store.get(int(value)) if value.isdigit() else None
        if task is None or task.deleted_at:
            await self.answer("That image no longer exists: it may have been deleted.")
            return None
        return task

    async def may_manage(self, task: Task, verb: str) -> bool:
        if self.user_id == task.user_id or await self.services.slack.is_admin(self.user_id):
            return True
        await self.answer(f"Only the person who asked for this image (<@{task.user_id}>) or an admin can {verb} it.")
        return False

    async def refresh_home(self) -> None:
        if self.from_home:
            await self.services.home.publish(self.user_id)


async def regenerate(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, respond: AsyncRespond, context):
    await ack()
    await _again(Press(body, action, client, respond, context), relation="regenerate", fresh=True)


async def upscale(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, respond: AsyncRespond, context):
    await ack()
    await _again(Press(body, action, client, respond, context), relation="upscale", resolution="4K")


async def retry(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, respond: AsyncRespond, context):
    await ack()
    await _again(Press(body, action, client, respond, context), relation="retry")


async def _again(press: Press, *, relation: str, resolution: str | None = None, fresh: bool = False) -> None:
    """The same prompt, options and input images once more, as a new task of whoever pressed."""
    task = await press.task()
    if task is None:
        return
    try:
        request = build_request(
            prompt=task.prompt,
            avoid=task.avoid,
            options=dataclasses.replace(task.options, resolution=resolution or task.resolution),
            inputs=task.inputs,
            parent_task_id=task.id,
            relation=relation,
            fresh=fresh,
        )
    except CommandError as error:  # a row from an older version that today's rules refuse
        await press.answer(str(error))
        return
    origin = Origin(
        team_id=task.team_id,
        channel_id=task.channel_id,
        user_id=press.user_id,
        response_url=press.body.get("response_url"),
        thread_ts=task.thread_ts,
    )
    budget = press.services.budget
    async with budget.admit(origin.team_id, origin.user_id, request.options.resolution) as refusal:
        if refusal is None:
            await press.services.runner.start(request, origin)
    if refusal is not None:
        await press.answer(f":no_entry: {refusal}")
        return
    await press.refresh_home()


async def remix(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, respond: AsyncRespond, context):
    await ack()
    press = Press(body, action, client, respond, context)
    task = await press.task()
    if task is None:
        return
    if not task.slack_file_id:
        await press.answer("That task has no image to remix. Use Retry instead.")
        return
    setup = FormSetup(
        title="Remix with Banana",
        defaults=press.services.defaults,
        prices=press.services.settings.prices,
        context=FormContext(
            channel_id=task.channel_id,
            thread_ts=task.thread_ts,
            inputs=(InputFile(id=task.slack_file_id, name=f"result of #{task.id}"),),
            parent_task_id=task.id,
        ),
    )
    await client.views_open(trigger_id=body["trigger_id"], view=generation_modal(setup))


async def cancel(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, respond: AsyncRespond, context):
    await ack()
    press = Press(body, action, client, respond, context)
    task = await press.task()
    if task is None or not await press.may_manage(task, "cancel"):
        return
    if task.state.finished or not press.services.runner.cancel(task.id):
        await press.answer(f"It has already finished ({task.state.value.replace('_', ' ')}).")
        return
    await press.refresh_home()


async def delete(ack: AsyncAck, body: dict, action: dict, client: AsyncWebClient, respond: AsyncRespond, context):
    await ack()
    press = Press(body, action, client, respond, context)
    task = await press.task()
    if task is None or not await press.may_manage(task, "delete"):
        return
    if not task.state.finished:
        await press.answer("It is still running: cancel it first, then delete it.")
        return
    await press.services.runner.delete(task)
    await press.refresh_home()


async def home_new_image(ack: AsyncAck, body: dict, client: AsyncWebClient, context: dict) -> None:
    await ack()
    await open_new_image_modal(client, body["trigger_id"], context["services"], channel_id=None)


async def home_filter(ack: AsyncAck, body: dict, action: dict, context: dict) -> None:
    await ack()
    services: Services = context["services"]
    chosen = HomeFilter(action["value"]) if action.get("value") in set(HomeFilter) else HomeFilter.ALL
    await services.home.publish(body["user"]["id"], place=HomePlace(filter=chosen))


async def home_page(ack: AsyncAck, body: dict, action: dict, context: dict) -> None:
    await ack()
    services: Services = context["services"]
    name, _, page = str(action.get("value", "")).partition(":")
    chosen = HomeFilter(name) if name in set(HomeFilter) else HomeFilter.ALL
    place = HomePlace(filter=chosen, page=max(0, int(page)) if page.isdigit() else 0)
    await services.home.publish(body["user"]["id"], place=place)

"""Buttons: on a task (its card in the channel, or its row in the Home tab), on the Home tab itself, and beside a
saved prompt."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import brand as brand_blocks
from bot.blocks import cards, home, modals, studio
from bot.blocks import settings as settings_blocks
from bot.blocks.family import family_view
from bot.blocks.modals import FormContext, FormSetup, generation_modal, notice_view
from bot.services import Services
from bot.services.asks import again_request
from bot.services.home import HomePlace
from bot.services.permissions import may_manage
from bot.services.privacy import seen_by, visible_to
from bot.services.starter import Refused
from bot.services.upscale import start_upscale
from handlers.payloads import action_request, claims, services_of, unclaimed
from prompts.options import CommandError, InputFile
from prompts.tasks import HomeFilter, Task


def register(app: AsyncApp) -> None:
    app.action(cards.REGENERATE, middleware=[claims])(pressed(regenerate))
    app.action(cards.UPSCALE_X2, middleware=[claims])(pressed(upscale))
    app.action(cards.UPSCALE_X4, middleware=[claims])(pressed(upscale))
    app.action(cards.REDRAW_4K, middleware=[claims])(pressed(redraw_4k))
    app.action(cards.RETRY, middleware=[claims])(pressed(retry))
    app.action(cards.REMIX, middleware=[claims])(pressed(remix))
    app.action(cards.CANCEL, middleware=[claims])(pressed(cancel))
    app.action(cards.DELETE, middleware=[claims])(pressed(delete))
    app.action(cards.SAVE_PROMPT, middleware=[claims])(pressed(save_prompt))
    app.action(cards.VARIATIONS, middleware=[claims])(pressed(variations))
    app.action(home.FAMILY, middleware=[claims])(pressed(family))
    app.action(studio.USE_SAVED_PROMPT, middleware=[claims])(pressed(use_saved_prompt))
    app.action(home.HOME_NEW_IMAGE, middleware=[claims])(pressed(home_new_image))
    app.action(settings_blocks.HOME_SETTINGS, middleware=[claims])(pressed(home_settings))
    app.action(brand_blocks.HOME_BRAND, middleware=[claims])(pressed(home_brand))
    app.action(re.compile(f"^{home.HOME_FILTER}_"), middleware=[claims])(pressed(home_filter))
    app.action(re.compile(f"^{home.HOME_PAGE}_"), middleware=[claims])(pressed(home_page))


class Press:
    """One button press: who pressed it, on which task, and how to answer them privately."""

    def __init__(
        self,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        self.body = body
        self.action = action
        self.client = client
        self.respond = respond
        self.services: Services = services_of(context)
        self.request = action_request(body, context)
        self.user_id: str = self.request.user_id
        self.team_id: str = self.request.team_id

    @property
    def value(self) -> str:
        return str(self.action.get("value", ""))

    @property
    def from_home(self) -> bool:
        return bool((self.body.get("container") or {}).get("type") == "view")

    async def answer(self, text: str) -> None:
        """A private answer: an ephemeral message beside the card, or a small modal over the Home tab."""
        if self.from_home or not self.body.get("response_url"):
            await self.open(notice_view("Banana", text))
        else:
            await self.respond(response_type="ephemeral", replace_original=False, text=text)

    async def open(self, view: dict[str, Any]) -> None:
        await self.client.views_open(trigger_id=self.body["trigger_id"], view=view)

    async def task(self) -> Task | None:
        """The task the button is about; one of another workspace is as good as gone."""
        task = await self.services.store.get(int(self.value)) if self.value.isdigit() else None
        if task is None or task.deleted_at or task.team_id != self.team_id:
            await self.answer("That image no longer exists: it may have been deleted.")
            return None
        return task

    async def may_manage(self, task: Task, verb: str) -> bool:
        refusal = await may_manage(self.services.slack, task, self.user_id, verb)
        if refusal:
            await self.answer(refusal)
        return refusal is None

    async def refresh_home(self) -> None:
        if self.from_home:
            await self.services.home.publish(self.team_id, self.user_id)


def pressed(work: Callable[[Press], Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """A button's listener: acknowledge at once (Slack waits 3 seconds), then do `work` with the press."""

    async def listener(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        await work(Press(body, action, client, respond, context))

    listener.__name__ = work.__name__  # Bolt names listeners in its logs
    return listener


async def regenerate(press: Press) -> None:
    await _again(press, relation="regenerate", fresh=True)


async def upscale(press: Press) -> None:
    """Upscale ×2 or ×4: the image itself, enlarged by kie's upscaler."""
    task = await press.task()
    if task is None:
        return
    if press.from_home and not visible_to(task, press.user_id):  # Home shows one's own rows only
        await press.answer("That image no longer exists: it may have been deleted.")
        return
    factor = next(f for f, action_id in cards.UPSCALES.items() if action_id == press.action.get("action_id"))
    origin = press.request.origin(task.channel_id, thread_ts=task.thread_ts)
    note = await start_upscale(press.services, task, factor, origin)
    if note:
        await press.answer(note)
        return
    await press.refresh_home()


async def redraw_4k(press: Press) -> None:
    """Redraw at 4K (the old "Upscale to 4K" button too): the same request drawn anew at 4K."""
    await _again(press, relation="upscale", resolution="4K")


async def retry(press: Press) -> None:
    await _again(press, relation="retry")


async def variations(press: Press) -> None:
    await _again(press, relation="variation", fresh=True, count=cards.VARIATIONS_BUTTON_COUNT)


async def _again(
    press: Press, *, relation: str, resolution: str | None = None, fresh: bool = False, count: int = 1
) -> None:
    """The same request once more (prompt, options, input images), as new tasks of whoever pressed."""
    task = await press.task()
    if task is None:
        return
    try:
        request = again_request(task, relation=relation, resolution=resolution, fresh=fresh, count=count)
    except CommandError as error:  # a row from an older version that today's rules refuse
        await press.answer(str(error))
        return
    started = await press.services.starter.start(
        request, press.request.origin(task.channel_id, thread_ts=task.thread_ts)
    )
    if isinstance(started, Refused):
        await press.answer(f":no_entry: {started.reason}")
        return
    await press.refresh_home()


async def remix(press: Press) -> None:
    task = await press.task()
    if task is None:
        return
    if not task.slack_file_id:
        await press.answer("That task has no image to remix. Use Retry instead.")
        return
    if task.file_gone_at:
        await press.answer("That image was deleted in Slack, so it cannot be remixed. Regenerate makes it anew.")
        return
    setup = FormSetup(
        title="Remix with Banana",
        defaults=await press.services.defaults_for(press.team_id),
        prices=press.services.settings.prices,
        context=FormContext(
            channel_id=task.channel_id,
            thread_ts=task.thread_ts,
            inputs=(InputFile(id=task.slack_file_id, name=f"result of #{task.id}"),),
            parent_task_id=task.id,
        ),
    )
    await press.open(generation_modal(setup))


async def family(press: Press) -> None:
    """Family, in Home: the task's first ancestor and everything made from it, as a tree, of what the person could
    already see in Slack."""
    task = await press.task()
    if task is None:
        return
    if not visible_to(task, press.user_id):  # the button is on one's own rows: one that is not says nothing more
        await press.answer("That image no longer exists: it may have been deleted.")
        return
    kin = seen_by(await press.services.store.family(task.id), press.user_id)
    await press.open(family_view(task.id, kin, prices=press.services.settings.prices))


async def cancel(press: Press) -> None:
    task = await press.task()
    if task is None or not await press.may_manage(task, "cancel"):
        return
    if task.state.finished:
        await press.answer(f"It has already finished ({task.state.value.replace('_', ' ')}).")
        return
    await press.services.tasks.cancel(task, press.user_id)  # whichever replica holds it
    await press.refresh_home()


async def delete(press: Press) -> None:
    task = await press.task()
    if task is None or not await press.may_manage(task, "delete"):
        return
    if not task.state.finished:
        await press.answer("It is still running: cancel it first, then delete it.")
        return
    await press.services.tasks.delete(task, press.user_id)
    await press.refresh_home()


async def save_prompt(press: Press) -> None:
    """Save prompt, on a card: a small form asking for its name."""
    task = await press.task()
    if task is not None:
        await press.open(studio.save_prompt_modal(task))


async def use_saved_prompt(press: Press) -> None:
    """Open the saved prompt in the review step, with its options, to post where the list was shown."""
    services = press.services
    saved = await services.store.get_prompt(press.team_id, int(press.value)) if press.value.isdigit() else None
    if saved is None:
        await press.answer("That saved prompt no longer exists.")
        return
    review = studio.saved_prompt_review(saved, press.request.channel_id)
    await press.open(studio.review_modal(review, services.settings.prices))


async def home_new_image(press: Press) -> None:
    defaults = await press.services.defaults_for(press.team_id)
    await press.open(modals.new_image_modal(defaults, press.services.settings.prices, channel_id=None))


async def home_settings(press: Press) -> None:
    workspaces = press.services.workspaces
    if workspaces is None or not await workspaces.may_change(press.team_id, press.user_id):
        await press.answer("Only workspace admins and owners, and the Banana admins they name, can change settings.")
        return
    await press.open(await workspaces.form(press.team_id))


async def home_brand(press: Press) -> None:
    brands = press.services.brands
    if brands is None or not await brands.may_change(press.team_id, press.user_id):
        await press.answer("Only workspace admins and owners, and the Banana admins they name, can change the brand.")
        return
    await press.open(await brands.form(press.team_id))


async def home_filter(press: Press) -> None:
    chosen = HomeFilter(press.value) if press.value in set(HomeFilter) else HomeFilter.ALL
    await press.services.home.publish(press.team_id, press.user_id, place=HomePlace(filter=chosen))


async def home_page(press: Press) -> None:
    name, _, page = press.value.partition(":")
    chosen = HomeFilter(name) if name in set(HomeFilter) else HomeFilter.ALL
    place = HomePlace(filter=chosen, page=max(0, int(page)) if page.isdigit() else 0)
    await press.services.home.publish(press.team_id, press.user_id, place=place)


# Stale requests: a button, shortcut or form that this version no longer knows (an older message, an older Home tab,
# a modal left open across a deploy). Acknowledged and answered privately, instead of Bolt's 404, which Slack shows
# the person as an error.

STALE_BUTTON = (
    "That button is from an older version of Banana and no longer works. "
    "Use the buttons on a newer message, or type `/banana help`."
)
STALE_SHORTCUT = (
    "That shortcut is from an older version of Banana and no longer works. "
    "Type `/banana help` to see what Banana can do."
)
STALE_FORM = (
    "That form is from an older version of Banana and can no longer be sent. "
    "Close it and open a new one, or type `/banana help`."
)
_ANY = re.compile("")  # matches every action_id and callback_id

log = logging.getLogger(__name__)


def register_stale(app: AsyncApp) -> None:
    """The catch-all listeners. Register them after every other listener, and after no other.

    Bolt tries listeners in the order they were registered and stops at the first that acknowledges, so these are
    reached only when no listener above matched. One case is not covered by that order: a listener that matched but
    has not acknowledged after its 3 seconds, where Bolt goes on to the next listener that matches. Every button,
    shortcut and form listener carries the `claims` middleware, and the `unclaimed` matcher keeps these out of that
    case too, so that request still ends as Bolt's 404, as it did before (handlers/payloads.py says why middleware).
    """
    app.block_action(_ANY, matchers=[unclaimed])(pressed(stale_button))
    app.shortcut(_ANY, matchers=[unclaimed])(stale_shortcut)
    app.view_submission(_ANY, matchers=[unclaimed])(stale_form)


async def stale_button(press: Press) -> None:
    """A button this version does not know: an ephemeral note beside the message, or a small modal over Home."""
    log.debug("answered a stale button: %s", press.action.get("action_id"))
    await press.answer(STALE_BUTTON)


async def stale_shortcut(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    respond: AsyncRespond,
    context: AsyncBoltContext,
) -> None:
    """A shortcut this version does not know: an ephemeral note for a message's shortcut (it has a response_url),
    a small modal for a global one."""
    await ack()
    log.debug("answered a stale shortcut: %s", body.get("callback_id"))
    await Press(body, {}, client, respond, context).answer(STALE_SHORTCUT)


async def stale_form(ack: AsyncAck, view: dict[str, Any]) -> None:
    """A form this version does not know: the modal is replaced with the note (`response_action: update`). Errors
    would need an input block's id in that form, which this version cannot know."""
    log.debug("answered a stale form: %s", view.get("callback_id"))
    await ack(response_action="update", view=notice_view("Banana", STALE_FORM))

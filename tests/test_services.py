"""Fast tests of the rules the listeners hand to services and of a listener itself: no process, no stand-in, each in
milliseconds (a SQLite file in tmp_path where a store is needed)."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from bot.blocks import modals
from bot.blocks.modals import FormContext
from bot.services import Services
from bot.services.asks import again_request
from bot.services.permissions import may_manage
from bot.services.saved_prompts import NameRefused, save_prompt
from bot.store import SqliteTaskStore
from handlers.views import generation_submitted
from prompts.inputs import too_many_inputs
from prompts.options import MAX_INPUT_IMAGES, InputFile
from prompts.tasks import SavedPrompt
from tests.test_blocks import make_task


class FakeTeam:
    def __init__(self, admins: set[str]) -> None:
        self.admins, self.asked = admins, 0

    async def is_admin(self, user_id: str) -> bool:
        self.asked += 1
        return user_id in self.admins


class FakeSlack:
    def __init__(self, admins: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.workspace = FakeTeam(set(admins))

    def team(self, team_id: str) -> FakeTeam:
        return self.workspace


async def test_only_the_owner_or_an_admin_may_manage_a_task() -> None:
    task, slack = make_task(user_id="U0OWNER"), FakeSlack(admins={"U0ADMIN"})
    assert await may_manage(slack, task, "U0OWNER", "cancel") is None  # type: ignore[arg-type]
    assert slack.workspace.asked == 0  # one's own task: Slack is not asked
    assert await may_manage(slack, task, "U0ADMIN", "delete") is None  # type: ignore[arg-type]
    refusal = await may_manage(slack, task, "U0OTHER", "delete")  # type: ignore[arg-type]
    assert refusal == "Only the person who asked for this image (<@U0OWNER>) or an admin can delete it."


async def test_a_taken_saved_prompt_name_is_refused_in_any_letter_case(tmp_path) -> None:
    store = await SqliteTaskStore(tmp_path / "banana.db").open()
    try:
        task = make_task(team_id="T1")
        assert await save_prompt(store, task, "U1", "") == NameRefused("Give it a name.")
        assert isinstance(await save_prompt(store, task, "U1", "Bold editorial"), SavedPrompt)
        again = await save_prompt(store, task, "U2", "BOLD editorial")
        assert again == NameRefused("A saved prompt is already called “BOLD editorial”.")
        assert isinstance(await save_prompt(store, make_task(team_id="T2"), "U3", "Bold editorial"), SavedPrompt)
    finally:
        await store.close()


def test_the_input_image_count_is_checked_once() -> None:
    assert too_many_inputs(MAX_INPUT_IMAGES) is None
    assert too_many_inputs(MAX_INPUT_IMAGES + 1) == f"kie takes at most {MAX_INPUT_IMAGES} images; 9 were given."


def test_again_on_an_edit_that_never_got_its_image_edits_the_same_parent_with_its_options() -> None:
    edit = make_task(id=9, relation="edit", parent_task_id=4, aspect_ratio="9:16", resolution="1K", avoid="text")
    request = again_request(edit, relation="retry")
    assert (request.parent_task_id, request.relation, request.source) == (4, "edit", "button")
    assert (request.options.aspect_ratio, request.options.resolution, request.avoid) == ("9:16", "1K", "text")
    upscaled = again_request(make_task(id=5), relation="upscale", resolution="4K")
    assert (upscaled.parent_task_id, upscaled.relation, upscaled.options.resolution) == (5, "upscale", "4K")


async def test_the_form_listener_refuses_too_many_images_beside_the_uploads() -> None:
    """The listener itself, driven with a payload and a fake ack: nothing reaches the services."""
    acked: list[dict[str, Any]] = []

    async def ack(**answer: Any) -> None:
        acked.append(answer)

    inputs = tuple(InputFile(id=f"F{n}", name=f"{n}.png") for n in range(MAX_INPUT_IMAGES + 1))
    view = {
        "id": "V1",
        "private_metadata": FormContext(channel_id="C1", inputs=inputs).to_metadata(),
        "state": {"values": {modals.PROMPT: {modals.PROMPT: {"value": "a lighthouse"}}}},
    }
    body = {"team": {"id": "T1"}, "user": {"id": "U1"}, "view": view}
    untouched = object.__new__(Services)  # no field set: the refusal must come before any service is used
    context = AsyncBoltContext({"team_id": "T1", "services": untouched})
    await generation_submitted(ack, body, view, context)  # type: ignore[arg-type]
    assert len(acked) == 1 and acked[0]["response_action"] == "errors"
    assert acked[0]["errors"][modals.UPLOADS] == too_many_inputs(len(inputs))

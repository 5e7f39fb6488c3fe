"""The App Home tab and the buttons on every task, as two people and an admin would use them."""

from __future__ import annotations

import contextlib
import json
import logging

from bot.blocks import cards, home
from prompts.tasks import TaskState
from standins import slack as slack_standin
from standins.kie import Outcome
from tests.conftest import CHANNEL_ID, USER_ID

OTHER = "U0OTHER001"
ADMIN = "U0ADMIN001"
CREATE = "/api/v1/jobs/createTask"


async def open_home(banana, slack, user: str = USER_ID) -> dict:
    before = len(slack.calls_to("views.publish"))
    await banana.event({"type": "app_home_opened", "user": user, "channel": "D0DIRECT01", "tab": "home"})
    await slack.wait_for(lambda: len(slack.calls_to("views.publish")) > before)
    return slack.views_published[user]


def task_ids_on(view: dict) -> list[int]:
    return [int(b["block_id"].split("-")[1]) for b in view["blocks"] if b.get("block_id", "").startswith("task-")]


def within_limits(view: dict) -> None:
    assert len(view["blocks"]) <= 100
    assert len(json.dumps(view).encode()) <= 250_000
    for block in view["blocks"]:
        assert len((block.get("text") or {}).get("text", "")) <= 3000


async def test_each_person_sees_exactly_their_own_tasks(banana, slack):
    await banana.command("mine one")
    await banana.command("mine two")
    await banana.command("theirs", user=OTHER)
    mine = await banana.settle(2)
    (theirs,) = await banana.settle(1, user=OTHER)

    view = await open_home(banana, slack)
    within_limits(view)
    assert task_ids_on(view) == [mine[1].id, mine[0].id]  # newest first
    assert "2 images · ≈36 credits" in json.dumps(view, ensure_ascii=False)  # from the price table, no callbacks

    other_view = await open_home(banana, slack, OTHER)
    within_limits(other_view)
    assert task_ids_on(other_view) == [theirs.id]
    assert "mine one" not in json.dumps(other_view)


async def test_home_shows_thumbnail_and_thread_link_once_shared(banana, slack):
    await banana.command("a fox")
    task = await banana.only_task()
    view = json.dumps(await open_home(banana, slack))
    assert f'"slack_file": {{"id": "{task.slack_file_id}"}}' in view
    assert task.permalink and task.permalink in view


async def test_filters_and_pages(banana, kie, slack):
    kie.plan(Outcome(kind="fail"))
    for i in range(12):
        await banana.command(f"picture {i}")
    tasks = await banana.settle(12)
    failed = [t.id for t in tasks if t.state is TaskState.FAILED]
    assert len(failed) == 1

    first = await open_home(banana, slack)
    assert len(task_ids_on(first)) == home.HOME_PAGE_SIZE
    await banana.click(f"{home.HOME_PAGE}_older", "all:1", message_ts="", container="view")
    await slack.wait_for(lambda: len(task_ids_on(slack.views_published[USER_ID])) == 2)
    assert task_ids_on(slack.views_published[USER_ID]) == [tasks[1].id, tasks[0].id]

    await banana.click(f"{home.HOME_FILTER}_failed", "failed", message_ts="", container="view")
    await slack.wait_for(lambda: task_ids_on(slack.views_published[USER_ID]) == failed)
    await banana.click(f"{home.HOME_FILTER}_running", "running", message_ts="", container="view")
    await slack.wait_for(lambda: "No running images" in json.dumps(slack.views_published[USER_ID]))


async def test_a_task_change_republishes_its_owner_home(banana, kie, slack):
    await open_home(banana, slack)
    publishes = len(slack.calls_to("views.publish"))
    kie.plan(Outcome(generate_seconds=0.3))
    await banana.command("a new one")
    task = await banana.only_task()
    await slack.wait_for(lambda: task.id in task_ids_on(slack.views_published[USER_ID]))
    await slack.wait_for(lambda: "done" in json.dumps(slack.views_published[USER_ID]["blocks"][4]))
    # Five state changes collapse into a few publishes, never one per edit.
    assert len(slack.calls_to("views.publish")) - publishes <= 5
    # Someone who never opened Home gets no Home publishes.
    await banana.command("theirs", user=OTHER)
    await banana.settle(1, user=OTHER)
    assert OTHER not in slack.views_published


async def test_regenerate_is_attributed_to_whoever_pressed_it(banana, kie, slack):
    await banana.command("quote card --ar 4:5 --res 1K --no logos")
    original = await banana.only_task()
    await banana.click(cards.REGENERATE, str(original.id), message_ts=original.message_ts, user=OTHER)
    (again,) = await banana.settle(1, user=OTHER)
    assert again.state is TaskState.DONE
    assert (again.prompt, again.avoid, again.options) == (original.prompt, original.avoid, original.options)
    assert again.parent_task_id == original.id and again.relation == "regenerate"
    assert again.thread_ts == original.thread_ts
    assert len(kie.requests_to(CREATE)) == 2


async def test_upscale_makes_the_same_request_at_4k(banana, kie, slack):
    await banana.command("a lighthouse --ar 16:9")
    original = await banana.only_task()
    await banana.click(cards.REDRAW_4K, str(original.id), message_ts=original.message_ts)
    _, upscaled = await banana.settle(2)
    assert upscaled.resolution == "4K" and upscaled.aspect_ratio == "16:9" and upscaled.credits == 24
    assert kie.requests_to(CREATE)[-1].json["input"]["resolution"] == "4K"
    reply = next(r for r in slack.thread(CHANNEL_ID, original.thread_ts) if r.files == [upscaled.slack_file_id])
    assert f"4K version of #{original.id}" in reply.text


async def test_retry_a_failed_task(banana, kie, slack):
    kie.plan(Outcome(kind="fail"))
    await banana.command("a cat")
    failed = await banana.only_task()
    await banana.click(cards.RETRY, str(failed.id), message_ts=failed.message_ts)
    _, retried = await banana.settle(2)
    assert retried.state is TaskState.DONE and retried.relation == "retry"


async def test_cancel_a_running_task_says_kie_may_still_charge(banana, kie, slack):
    kie.plan(Outcome(kind="never"))
    await banana.command("a slow one")
    await slack.wait_for(lambda: bool(kie.tasks))
    running = (await banana.services.store.for_user(slack_standin.TEAM_ID, USER_ID))[0]
    await slack.wait_for(lambda: bool(slack.calls_to("chat.update")))

    await banana.click(cards.CANCEL, str(running.id), message_ts=running.message_ts, user=OTHER)
    await slack.wait_for(lambda: any("Only the person who asked" in json.dumps(r) for r in slack.responses))
    assert banana.services.runner.in_flight == 1

    await banana.click(cards.CANCEL, str(running.id), message_ts=running.message_ts)
    task = await banana.only_task()
    assert task.state is TaskState.CANCELLED
    card = json.dumps(slack.message(CHANNEL_ID, task.message_ts).blocks)
    assert "Cancelled" in card and "may still charge" in card
    assert slack.files == {}


async def test_an_admin_may_cancel_anyones_task(banana, kie, slack):
    kie.plan(Outcome(kind="never"))
    await banana.command("a slow one")
    await slack.wait_for(lambda: bool(kie.tasks))
    running = (await banana.services.store.for_user(slack_standin.TEAM_ID, USER_ID))[0]
    await banana.click(cards.CANCEL, str(running.id), message_ts=running.message_ts or "", user=ADMIN)
    assert (await banana.only_task()).state is TaskState.CANCELLED


async def test_delete_removes_message_and_file_and_leaves_history(banana, slack):
    await banana.command("a cat")
    task = await banana.only_task()
    await banana.click(cards.DELETE, str(task.id), message_ts=task.message_ts, user=OTHER)
    await slack.wait_for(lambda: any("Only the person who asked" in json.dumps(r) for r in slack.responses))
    assert not slack.files[task.slack_file_id].deleted

    (result,) = slack.thread(CHANNEL_ID, task.thread_ts)
    await banana.click(cards.DELETE, str(task.id), message_ts=task.message_ts)
    await slack.wait_for(lambda: slack.files[task.slack_file_id].deleted)
    await slack.wait_for(lambda: slack.message(CHANNEL_ID, task.message_ts).deleted)
    assert slack.message(CHANNEL_ID, result.ts).deleted  # the captioned result too, not just the file
    stored = await banana.services.store.get(task.id)
    assert stored is not None and stored.deleted_at is not None
    assert task.id not in task_ids_on(await open_home(banana, slack))


async def test_refusal_from_the_home_tab_comes_as_a_small_modal(banana, slack):
    await banana.command("a cat")
    task = await banana.only_task()
    await banana.click(cards.DELETE, str(task.id), message_ts="", user=OTHER, container="view")
    await slack.wait_for(lambda: bool(slack.views_opened))
    assert "Only the person who asked" in json.dumps(slack.views_opened[-1])


async def test_button_on_a_task_that_no_longer_exists(banana, slack):
    for action in (cards.REGENERATE, cards.CANCEL, cards.DELETE):
        await banana.click(action, "4242", message_ts="1.1")
    await slack.wait_for(lambda: sum("no longer exists" in json.dumps(r) for r in slack.responses) == 3)


async def test_home_new_image_button_opens_the_form(banana, slack):
    await banana.click(home.HOME_NEW_IMAGE, "new", message_ts="", container="view")
    await slack.wait_for(lambda: bool(slack.views_opened))
    assert slack.views_opened[-1]["callback_id"] == "banana_generate"


async def test_a_home_refresh_for_a_workspace_gone_ends_quietly(tmp_path, caplog):
    """A workspace uninstalled (or refused a refresh) while a person's Home waits to refresh: no error, nothing left
    running, and no "Task exception was never retrieved"."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.clients.slack import SlackDelivery
    from bot.clients.tokens import NotInstalled
    from bot.services.home import HomeTab
    from bot.settings import Settings
    from bot.store import SqliteTaskStore

    async def no_token(team_id: str) -> str:
        raise NotInstalled(team_id)

    store = await SqliteTaskStore(tmp_path / "banana.db").open()
    home = HomeTab(store, SlackDelivery(AsyncWebClient(), tokens=no_token), Settings("", "").defaults, refresh_delay=0)
    with contextlib.suppress(NotInstalled):
        await home.publish("T0GONE", USER_ID)  # a person who opened Home: their refreshes are scheduled
    caplog.clear()
    home.refresh_soon("T0GONE", USER_ID)
    (job,) = home._pending.values()
    await job  # raises here if the refresh died of it
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    await home.close()
    await store.close()

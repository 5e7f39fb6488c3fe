"""Variations: `--n 3` and the Variations button make that many images of one request at once, on one card, delivered
as one message with numbered files; each image is its own task. The caps take all of them or none."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bot.blocks import cards, home
from bot.store import SqliteTaskStore
from prompts.tasks import TaskState
from standins import slack as slack_standin
from standins.kie import Outcome
from tests.conftest import CHANNEL_ID, USER_ID
from tests.test_resume import wait_for_tasks

CREATE = "/api/v1/jobs/createTask"


def top_level_bot_posts(slack) -> list:
    return [m for m in slack.messages if m.user == slack.bot_user_id and m.thread_ts in (None, m.ts) and not m.files]


async def test_n_3_makes_three_tasks_on_one_card_delivered_as_one_message(banana, kie, slack):
    await banana.command("a podcast cover, neon --n 3 --ar 4:5")
    tasks = await banana.settle(3)
    assert [t.state for t in tasks] == [TaskState.DONE] * 3
    first = tasks[0]
    assert [(t.set_id, t.slot) for t in tasks] == [(first.id, 1), (first.id, 2), (first.id, 3)]
    assert len({t.message_ts for t in tasks}) == 1 and len(top_level_bot_posts(slack)) == 1  # one card
    creates = kie.requests_to(CREATE)
    assert len(creates) == 3 and {c.json["input"]["aspect_ratio"] for c in creates} == {"4:5"}
    assert len({t.kie_task_id for t in tasks}) == 3

    # One message in the card's thread carries the three images, in slot order, each its own file.
    with_files = [m for m in slack.thread(CHANNEL_ID, first.thread_ts) if m.files]
    assert len(with_files) == 1
    assert with_files[0].files == [t.slack_file_id for t in tasks]
    assert len(slack.calls_to("files.completeUploadExternal")) == 1
    assert f"#{tasks[1].id}" in with_files[0].text

    # The card, once done, shows every image with its own buttons.
    card = slack.message(CHANNEL_ID, first.message_ts)
    values = {e.get("value") for b in card.blocks if b["type"] == "actions" for e in b["elements"]}
    assert {str(t.id) for t in tasks} <= values
    # Each is its own task in history, with its own cost.
    assert all(t.credits is not None for t in tasks)


async def test_the_variations_button_makes_three_more_from_that_image(banana, kie, slack):
    await banana.command("a quote card")
    (original,) = await banana.settle(1)
    await banana.click(cards.VARIATIONS, str(original.id), message_ts=original.message_ts or "")
    _, *made = await banana.settle(4)
    assert len(made) == cards.VARIATIONS_BUTTON_COUNT
    assert all((t.parent_task_id, t.relation, t.set_id) == (original.id, "variation", made[0].id) for t in made)
    assert all(t.prompt == original.prompt and t.options == original.options for t in made)
    assert len(kie.requests_to(CREATE)) == 4  # new images, not the cached one again


async def test_a_cap_that_fits_only_some_starts_none_and_says_why(start_banana, kie, slack):
    banana = await start_banana(USER_DAILY_CREDIT_CAP="40", PRICE_2K="18", DEFAULT_RESOLUTION="2K")
    response = await banana.command("a banner --n 3")
    text = response.json()["text"]
    assert "That would go over your daily limit of 40 credits" in text and "3 variations at 2K cost ≈54." in text
    assert "2 variations at 2K cost ≈36, which still fits. Nothing was started." in text
    assert kie.requests_to(CREATE) == [] and await banana.services.store.for_user(slack_standin.TEAM_ID, USER_ID) == []
    # The two that fit do start.
    await banana.command("a banner --n 2")
    assert len(await banana.settle(2)) == 2


async def test_n_out_of_range_is_explained(banana, kie):
    for bad in ("--n 5", "--n 0", "--n many"):
        response = await banana.command(f"a banner {bad}")
        assert "`--n`" in response.json()["text"] and "2 to 4" in response.json()["text"]
    assert kie.requests_to(CREATE) == []


async def test_a_failed_variation_does_not_hold_back_the_others(banana, kie, slack):
    kie.plan(Outcome(), Outcome(kind="fail", fail_code="400", fail_msg="content policy"), Outcome())
    await banana.command("three takes --n 3")
    tasks = await banana.settle(3)
    # The slots are created in parallel, so which of them meets the planned failure is not known in advance.
    failed = [t for t in tasks if t.state is TaskState.FAILED]
    done = [t for t in tasks if t.state is TaskState.DONE]
    assert len(failed) == 1 and len(done) == 2 and failed[0].credits == 0
    (delivered,) = [m for m in slack.thread(CHANNEL_ID, tasks[0].thread_ts) if m.files]
    assert delivered.files == [t.slack_file_id for t in done]  # in slot order
    card = json.dumps(slack.message(CHANNEL_ID, tasks[0].message_ts).blocks)
    assert "content policy" in card


async def test_deleting_one_variation_keeps_the_others(banana, kie, slack):
    await banana.command("three takes --n 3")
    tasks = await banana.settle(3)
    await banana.click(cards.DELETE, str(tasks[1].id), message_ts=tasks[0].message_ts or "")
    await slack.wait_for(lambda: slack.files[tasks[1].slack_file_id or ""].deleted)
    assert not any(slack.files[t.slack_file_id or ""].deleted for t in (tasks[0], tasks[2]))
    assert not slack.message(CHANNEL_ID, tasks[0].message_ts or "").deleted  # the card and the message stay
    (delivered,) = [m for m in slack.thread(CHANNEL_ID, tasks[0].thread_ts or "") if m.files]
    assert tasks[0].slack_file_id in delivered.files


async def test_a_restart_in_the_middle_of_a_set_delivers_each_image_exactly_once(start_process, app_env, kie, slack):
    store = await SqliteTaskStore(Path(app_env["DATABASE_PATH"])).open()
    try:
        # The first image is ready at once; the other two stay at kie until the app has been killed.
        kie.plan(Outcome(), Outcome(kind="never"), Outcome(kind="never"))
        first = await start_process()
        await first.command("three takes --n 3")
        # The slots are created in parallel: whichever met the quick outcome is ready, waiting for the other two.
        tasks = await one_ready_two_waiting(store)
        await first.kill()
        for task in tasks:
            if task.state is not TaskState.UPLOADING:
                kie.finish_now(task.kie_task_id or "")

        second = await start_process()
        done = await wait_for_tasks(store, 3, lambda t: t.state.finished)
        assert await second.stop() == 0
    finally:
        await store.close()
    assert [t.state for t in done] == [TaskState.DONE] * 3
    assert len(kie.requests_to(CREATE)) == 3  # none created twice
    assert len({t.message_ts for t in done}) == 1 and len(slack.calls_to("chat.postMessage")) == 1  # the same card
    with_files = [m for m in slack.thread(CHANNEL_ID, done[0].thread_ts or "") if m.files]
    assert len(with_files) == 1 and with_files[0].files == [t.slack_file_id for t in done]  # delivered once


async def test_home_opens_a_task_family(banana, kie, slack):
    await banana.command("a quote card")
    (original,) = await banana.settle(1)
    await banana.click(cards.VARIATIONS, str(original.id), message_ts=original.message_ts or "")
    tasks = await banana.settle(4)
    opened = len(slack.views_opened)
    await banana.click(home.FAMILY, str(tasks[2].id), message_ts="", container="view")
    await slack.wait_for(lambda: len(slack.views_opened) > opened)
    shown = json.dumps(slack.views_opened[-1], ensure_ascii=False)
    assert all(f"#{t.id}" in shown for t in tasks)
    assert f"variation of #{original.id}" in shown


async def one_ready_two_waiting(store: SqliteTaskStore) -> list:
    """The set's three tasks, once all are at kie and exactly one is ready (uploading, waiting for the others)."""
    async with asyncio.timeout(15):
        while True:
            tasks = await wait_for_tasks(store, 3, lambda t: t.kie_task_id is not None)
            if sum(t.state is TaskState.UPLOADING for t in tasks) == 1:
                return tasks
            await asyncio.sleep(0.05)

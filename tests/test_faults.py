"""Faults past the clients' own retries, seeded at the stand-ins: a card never stays wrong, an image is never posted
twice, a Home refresh is not lost, and a create that never reached kie is sent again."""

from __future__ import annotations

import asyncio
import dataclasses
import json

from prompts.tasks import Task, TaskState
from standins.kie import Outcome
from tests.conftest import CHANNEL_ID, USER_ID
from tests.test_generate import card_text
from tests.test_home import open_home
from tests.test_reliability import LEFT_BEHIND, restarted, stored_task, uploads_named

CREATE = "/api/v1/jobs/createTask"
COMPLETE = "files.completeUploadExternal"
# No progress edit within a test: every chat.update is a final edit.
FINALS_ONLY = {"PROGRESS_UPDATE_INTERVAL": "600"}


async def settled_card(banana, task_id: int) -> Task:
    """The task once the store no longer owes its card's final edit."""
    async with asyncio.timeout(10):
        while True:
            task = await banana.services.store.get(task_id)
            if task is not None and not task.card_pending:
                return task
            await asyncio.sleep(0.01)


async def test_a_final_edit_that_outlasts_slacks_retries_is_made_again_until_it_lands(start_banana, kie, slack):
    banana = await start_banana(**FINALS_ONLY)
    slack.server_error("chat.update", status=503, times=3)  # slack_sdk's one try and two retries
    await banana.command("a cat")
    task = await settled_card(banana, (await banana.only_task()).id)
    assert task.state is TaskState.DONE
    assert "Done" in card_text(slack.message(CHANNEL_ID, task.message_ts))
    assert [call.status for call in slack.calls_to("chat.update")] == [503, 503, 503, 200]


async def test_a_final_edit_owed_when_the_app_stopped_is_made_by_the_next_start(start_banana, kie, slack):
    async def setup(banana):
        ts = await banana.services.slack.post(CHANNEL_ID, text="Starting", blocks=[])
        # Done, its image in the thread, but its card still says "Starting": the app stopped before the final edit.
        await stored_task(
            banana, state=TaskState.DONE, message_ts=ts, thread_ts=ts, slack_file_id="F1", credits=18, card_pending=True
        )

    banana = await restarted(start_banana, setup)
    (task,) = await banana.settle(1)
    task = await settled_card(banana, task.id)
    assert "Done" in card_text(slack.message(CHANNEL_ID, task.message_ts))
    assert kie.requests_to(CREATE) == []  # only the card was left to do


async def test_an_upload_whose_answer_was_lost_is_found_and_never_posted_twice(banana, kie, slack):
    slack.drop_answer(COMPLETE, times=3)  # it lands, then the connection drops, past slack_sdk's two retries
    await banana.command("a cat")
    task = await settled_card(banana, (await banana.only_task()).id)
    assert task.state is TaskState.DONE and task.slack_file_id
    assert [file.id for file in uploads_named(slack, f"banana-{task.id}.png")] == [task.slack_file_id]
    assert "Done" in card_text(slack.message(CHANNEL_ID, task.message_ts))


async def test_an_upload_slack_failed_is_made_again(banana, kie, slack):
    slack.server_error(COMPLETE, status=503, times=3)
    await banana.command("a cat")
    task = await settled_card(banana, (await banana.only_task()).id)
    assert task.state is TaskState.DONE
    assert len(uploads_named(slack, f"banana-{task.id}.png")) == 1
    assert len(slack.calls_to(COMPLETE)) == 4


async def test_an_upload_slack_refuses_for_good_is_not_repeated(banana, kie, slack):
    slack.fail_next(COMPLETE, "invalid_channel")
    await banana.command("a cat")
    task = await settled_card(banana, (await banana.only_task()).id)
    assert task.state is TaskState.FAILED and "uploading it to Slack failed (invalid_channel)" in task.error_message
    assert len(slack.calls_to(COMPLETE)) == 1


async def test_a_home_refresh_whose_publish_was_dropped_is_made_again(banana, kie, slack):
    await open_home(banana, slack)
    before = len(slack.calls_to("views.publish"))
    slack.drop_answer("views.publish", times=3)
    banana.services.home.refresh_soon(slack.team_id, USER_ID)
    await slack.wait_for(lambda: len(slack.calls_to("views.publish")) >= before + 4)


async def test_a_gateway_page_on_create_means_kie_never_saw_it_and_it_is_sent_again(banana, kie, slack):
    kie.plan(Outcome(generate_seconds=0.1))
    kie.gateway_error(CREATE, 502)
    kie.gateway_error(CREATE, 503)
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    assert len(kie.requests_to(CREATE)) == 3 and len(kie.tasks) == 1


async def test_a_gateway_timeout_on_create_is_an_honest_unknown_not_a_second_create(banana, kie, slack):
    kie.gateway_error(CREATE, 504)
    await banana.command("a cat")
    task = await settled_card(banana, (await banana.only_task()).id)
    assert task.state is TaskState.FAILED and "kie.ai/logs" in (task.error_message or "")
    assert len(kie.requests_to(CREATE)) == 1
    assert "kie.ai/logs" in card_text(slack.message(CHANNEL_ID, task.message_ts))


async def test_a_sets_owed_card_is_edited_once_by_the_next_start(start_banana, kie, slack):
    ids: list[int] = []

    async def setup(banana):
        store = banana.services.store
        ts = await banana.services.slack.post(CHANNEL_ID, text="Starting", blocks=[])
        new = dataclasses.replace(LEFT_BEHIND, team_id=slack.team_id)
        for task in await store.add_set([new, new]):
            ids.append(task.id)
            changes = {"message_ts": ts, "thread_ts": ts, "slack_file_id": f"F{task.id}", "credits": 18}
            await store.set_state(task.id, TaskState.DONE, card_pending=True, **changes)

    banana = await restarted(start_banana, setup)
    tasks = [await settled_card(banana, task_id) for task_id in ids]
    edits = [call for call in slack.calls_to("chat.update") if call.args.get("ts") == tasks[0].message_ts]
    assert len(edits) == 1 and "Starting" not in json.dumps(slack.message(CHANNEL_ID, tasks[0].message_ts).blocks)

"""A database that goes away while Banana runs: requests get a clear answer instead of an error, and no task is lost."""

from __future__ import annotations

import asyncio
import json

from bot.services.starter import DATABASE_AWAY
from bot.store import StoreUnavailable
from prompts.tasks import TaskState
from standins import slack as slack_standin
from standins.kie import Outcome
from tests.conftest import USER_ID


async def test_a_command_while_the_database_is_away_gets_a_clear_answer(banana, kie, slack, monkeypatch):
    async def away(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("cannot reach the database at DATABASE_URL (postgresql://banana:***@db/banana)")

    monkeypatch.setattr(banana.services.store, "add", away)
    response = await banana.command("a lighthouse")
    assert response.status_code == 200
    answers = [response.text, *(json.dumps(r) for r in slack.responses)]
    await slack.wait_for(lambda: any(DATABASE_AWAY in a for a in [*answers, *(json.dumps(r) for r in slack.responses)]))
    assert kie.requests == []
    monkeypatch.undo()  # the database is back: the same command works
    await banana.command("a lighthouse")
    assert (await banana.only_task()).state is TaskState.DONE


async def test_work_in_flight_pauses_while_the_database_is_away_and_carries_on_when_it_is_back(
    start_banana, kie, slack, monkeypatch
):
    banana = await start_banana(LEASE_SECONDS="0.6", POLL_TIMEOUT="60")
    kie.default_outcome = Outcome(kind="never")
    await banana.command("a lighthouse")
    runner, store = banana.services.runner, banana.services.store
    async with asyncio.timeout(10):  # created at kie, and known to be (a crash before that ends it as unknown)
        while True:
            tasks = await store.for_user(slack_standin.TEAM_ID, USER_ID)
            if tasks and tasks[0].kie_task_id:
                break
            await asyncio.sleep(0.01)

    async def away(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("cannot reach the database")

    for method in ("get", "update", "set_state", "renew", "claim", "release"):
        monkeypatch.setattr(store, method, away)
    kie.finish_now(next(iter(kie.tasks)))  # the image is ready, but the job cannot record it: it pauses
    await slack.wait_for(lambda: runner.in_flight == 0, timeout=10)
    monkeypatch.undo()  # the database is back: the keeper claims the task again and it goes on from its stored step

    task = await banana.only_task()
    assert task.state is TaskState.DONE, (task.error_code, task.error_message)
    assert len(kie.requests_to("/api/v1/jobs/createTask")) == 1  # not created again
    assert len(slack.calls_to("chat.postMessage")) == 1 and len(slack.calls_to("files.completeUploadExternal")) == 1

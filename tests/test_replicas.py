"""Several replicas on one PostgreSQL, as an operator runs them behind a load balancer: the work is spread, a replica
killed with SIGKILL has its tasks carried on by the others, nothing is created at kie or posted in Slack twice, kie's
callbacks reach the holder from any replica, Slack's retries are acted on once, no cap is passed, and an upscale is
carried on like any task."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter

import pytest

from bot.blocks import cards
from bot.store import PostgresTaskStore
from prompts.options import TOPAZ_UPSCALE
from prompts.tasks import Task, TaskState
from standins import slack as slack_standin
from standins.kie import Outcome
from tests.conftest import BOT_MENTION, CHANNEL_ID, SIGNING_SECRET, USER_ID

CREATE = "/api/v1/jobs/createTask"
# Leases short enough for a test; polls calm enough that three processes and PostgreSQL share two cores in peace.
REPLICA_ENV = {
    "LEASE_SECONDS": "2",
    "POLL_INTERVAL_FAST": "0.2",
    "POLL_INTERVAL_MEDIUM": "0.3",
    "POLL_INTERVAL_SLOW": "0.5",
    "POLL_TIMEOUT": "120",
    "KIEAI_READS_PER_SECOND": "200",
    "KIEAI_CREATES_PER_WINDOW": "1000",
    "PROGRESS_UPDATE_INTERVAL": "0.5",
}


@pytest.fixture
async def database(postgres_url: str):
    """The replicas' database, as the test reads it."""
    store = await PostgresTaskStore(postgres_url, max_size=2).open()
    yield store
    await store.close()


async def tasks_when(store: PostgresTaskStore, count: int, ready, *, deadline: float = 60) -> list[Task]:
    found: list[Task] = []
    try:
        async with asyncio.timeout(deadline):
            while True:
                found = sorted(await store.for_user(slack_standin.TEAM_ID, USER_ID, limit=500), key=lambda t: t.id)
                if len(found) == count and all(ready(task) for task in found):
                    return found
                await asyncio.sleep(0.1)
    except TimeoutError:
        states = Counter(t.state.value for t in found)
        raise AssertionError(f"{len(found)} tasks, not all ready: {dict(states)}") from None


async def test_three_replicas_deliver_sixty_images_exactly_once_though_one_is_killed(
    postgres_url, database, start_process, kie, slack
):
    kie.rate_limit = 1000
    kie.default_outcome = Outcome(kind="never")  # every image waits at kie until the test lets it finish
    replicas = [await start_process(DATABASE_URL=postgres_url, **REPLICA_ENV) for _ in range(3)]
    for number in range(60):
        response = await replicas[number % 3].command(f"poster number {number}")
        assert response.status_code == 200
    created = await tasks_when(database, 60, lambda t: t.kie_task_id is not None)
    assert len(kie.requests_to(CREATE)) == 60

    await replicas[0].kill()  # it held a third of them, each waiting at kie
    for task in created:
        kie.finish_now(task.kie_task_id or "")
    done = await tasks_when(database, 60, lambda t: t.state.finished)

    assert [t.state for t in done] == [TaskState.DONE] * 60
    prompts = Counter(c.json["input"]["prompt"] for c in kie.requests_to(CREATE))
    assert len(prompts) == 60 and set(prompts.values()) == {1}  # no kie task created twice
    assert len(slack.calls_to("chat.postMessage")) == 60  # one card each, the same one to the end
    shared = Counter(file_id for m in slack.messages if m.user == slack.bot_user_id for file_id in m.files)
    assert sorted(shared) == sorted(t.slack_file_id for t in done) and set(shared.values()) == {1}  # posted once
    for task in done:
        assert any(m.files == [task.slack_file_id] for m in slack.thread(CHANNEL_ID, task.message_ts or ""))


async def test_a_callback_to_a_replica_that_does_not_hold_the_task_reaches_its_holder(
    postgres_url, database, start_process, kie, slack
):
    kie.default_outcome = Outcome(kind="never")
    env = {**REPLICA_ENV, "DATABASE_URL": postgres_url, "CALLBACK_POLL_INTERVAL": "600"}  # no poll would find it
    other = await start_process(**env)
    holder = await start_process(**env, PUBLIC_URL=other.url)  # kie calls back at the other replica
    await holder.command("a quote card")
    (task,) = await tasks_when(database, 1, lambda t: t.kie_task_id is not None)
    kie.finish_now(task.kie_task_id or "")
    (done,) = await tasks_when(database, 1, lambda t: t.state.finished, deadline=20)
    assert done.state is TaskState.DONE
    assert kie.requests_to(CREATE)[0].json["callBackUrl"].startswith(f"{other.url}/kie/callback")
    assert [status for _, status in kie.callbacks_sent] == [200]


async def test_a_slack_retry_on_another_replica_is_acted_on_once(postgres_url, database, start_process, kie, slack):
    first, second = [await start_process(DATABASE_URL=postgres_url, **REPLICA_ENV) for _ in range(2)]
    await first.command("a skyline")
    (original,) = await tasks_when(database, 1, lambda t: t.state.finished)
    body = json.dumps(
        {
            "token": "deprecated-verification-token",
            "team_id": slack_standin.TEAM_ID,
            "api_app_id": "A0BANANA01",
            "type": "event_callback",
            "event_id": "Ev0RETRIED1",
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": USER_ID,
                "text": f"{BOT_MENTION} add a moon",
                "ts": "1700000000.000100",
                "channel": CHANNEL_ID,
                "thread_ts": original.thread_ts,
                "event_ts": "1700000000.000100",
            },
        }
    )
    assert (await first.post_signed(body, "application/json", secret=SIGNING_SECRET)).status_code == 200
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert (await second.post_signed(body, "application/json", **retry)).status_code == 200
    done = await tasks_when(database, 2, lambda t: t.state.finished)
    assert [t.relation for t in done] == [None, "edit"]
    assert len(kie.requests_to(CREATE)) == 2


async def test_two_replicas_racing_a_persons_last_credits_let_only_one_through(
    postgres_url, database, start_process, kie, slack
):
    env = {**REPLICA_ENV, "DATABASE_URL": postgres_url, "USER_DAILY_CREDIT_CAP": "30", "PRICE_2K": "18"}
    replicas = [await start_process(**env) for _ in range(2)]
    answers = await asyncio.gather(*(replica.command(f"a banner {n}") for n, replica in enumerate(replicas * 3)))
    refused = [a for a in answers if "daily limit" in a.text]
    assert len(refused) == 5  # room for one 2K image of 18 credits under 30, wherever the commands land
    (started,) = await tasks_when(database, 1, lambda t: t.state.finished)
    assert started.state is TaskState.DONE and len(kie.requests_to(CREATE)) == 1


async def test_an_unreachable_database_stops_start_up_with_one_line_naming_database_url(app_env):
    env = {**os.environ, **app_env, "DATABASE_URL": "postgresql://banana:s3cret-pw@127.0.0.1:1/banana"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "banana", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(30):
        out, err = await process.communicate()
    assert process.returncode != 0
    said = (out + err).decode()
    assert "DATABASE_URL" in said and "s3cret-pw" not in said and "Traceback" not in said
    assert len([line for line in said.splitlines() if "DATABASE_URL" in line]) == 1


async def test_an_upscale_held_by_a_killed_replica_is_finished_once_by_another(
    postgres_url, database, start_process, kie, slack
):
    env = {**REPLICA_ENV, "DATABASE_URL": postgres_url}
    holder, other = await start_process(**env), await start_process(**env)
    await holder.command("a red fox in the snow")
    (original,) = await tasks_when(database, 1, lambda t: t.state.finished)
    kie.plan(Outcome(kind="never"))
    await holder.click(cards.UPSCALE_X2, str(original.id), message_ts=original.message_ts or "")
    _, waiting = await tasks_when(database, 2, lambda t: t.state.finished or t.kie_task_id is not None)
    await holder.kill()  # it held the upscale, waiting at kie
    kie.finish_now(waiting.kie_task_id or "")
    _, upscaled = await tasks_when(database, 2, lambda t: t.state.finished)
    assert upscaled.state is TaskState.DONE and upscaled.model == TOPAZ_UPSCALE
    assert [c.json["model"] for c in kie.requests_to(CREATE)] == ["nano-banana-pro", TOPAZ_UPSCALE]
    shared = [m for m in slack.thread(CHANNEL_ID, original.message_ts or "") if upscaled.slack_file_id in m.files]
    assert len(shared) == 1 and other.process is not None and other.process.returncode is None


async def test_a_final_edit_owed_by_a_killed_replica_is_made_by_the_one_that_takes_its_task_over(
    postgres_url, database, start_process, kie, slack
):
    env = {**REPLICA_ENV, "DATABASE_URL": postgres_url, "PROGRESS_UPDATE_INTERVAL": "600"}  # every edit is final
    holder = await start_process(**env, SLACK_RETRY_DELAYS="600")  # after slack_sdk's retries, it would wait long
    await start_process(**env)
    slack.server_error("chat.update", status=503, times=3)  # the final edit's try and slack_sdk's two retries
    await holder.command("a lighthouse")
    (task,) = await tasks_when(database, 1, lambda t: t.state is TaskState.DONE and t.card_pending)
    await slack.wait_for(lambda: len(slack.calls_to("chat.update")) == 3, timeout=20)
    await holder.kill()  # while it waits to try again: the card still says it is starting

    (task,) = await tasks_when(database, 1, lambda t: not t.card_pending, deadline=30)
    assert "Done" in json.dumps(slack.message(CHANNEL_ID, task.message_ts or "").blocks)
    assert [call.status for call in slack.calls_to("chat.update")] == [503, 503, 503, 200]
    assert len(slack.calls_to("chat.postMessage")) == 1 and len(kie.requests_to(CREATE)) == 1

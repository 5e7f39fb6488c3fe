"""Never lose a task: restarts at every step, callbacks, rate budgets and Slack's retries."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from urllib.parse import urlencode

from prompts.tasks import NewTask, TaskState
from standins import slack as slack_standin
from standins.kie import Outcome
from tests.conftest import CHANNEL_ID, USER_ID, BananaProcess, free_port

CREATE = "/api/v1/jobs/createTask"
RECORD = "/api/v1/jobs/recordInfo"


def uploads_named(slack, name: str) -> list:
    return [f for f in slack.files.values() if f.name == name and not f.deleted]


async def test_graceful_stop_leaves_the_task_for_the_next_start(start_banana, kie, slack):
    first = await start_banana(SHUTDOWN_GRACE="600")
    kie.plan(Outcome(kind="never"))
    await first.command("a slow one")
    await slack.wait_for(lambda: bool(kie.tasks) and bool(slack.calls_to("chat.update")))
    # Waiting on kie is not a short step: the stop does not give it the (here ten-minute) grace.
    async with asyncio.timeout(60):
        await first.server.stop()

    second = await start_banana()
    (task,) = await second.services.store.for_user(slack_standin.TEAM_ID, USER_ID)
    assert task.state in (TaskState.QUEUED, TaskState.GENERATING)
    (kie_task_id,) = kie.tasks
    kie.finish_now(kie_task_id)
    (task,) = await second.settle(1)
    assert task.state is TaskState.DONE
    assert len(kie.requests_to(CREATE)) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1  # the same progress message, resumed
    assert len(slack.thread(CHANNEL_ID, task.message_ts)) == 1


# A task as a process killed before it posted anything leaves it (`dataclasses.replace` changes what a test needs).
LEFT_BEHIND = NewTask(
    team_id=slack_standin.TEAM_ID,
    user_id=USER_ID,
    channel_id=CHANNEL_ID,
    prompt="left behind",
    avoid="",
    aspect_ratio="1:1",
    resolution="2K",
    output_format="png",
)


async def stored_task(banana, **changes) -> int:
    """A row as a killed process would have left it."""
    store = banana.services.store
    task = await store.add(LEFT_BEHIND)
    state = changes.pop("state", TaskState.PENDING)
    await store.set_state(task.id, state, **changes)
    return task.id


async def restarted(start_banana, setup) -> object:
    """Start, leave a row as a crash would, stop, and start again on the same database."""
    first = await start_banana()
    await setup(first)
    await first.server.stop()
    return await start_banana()


async def test_killed_before_anything_was_posted(start_banana, kie, slack):
    async def setup(banana):
        await stored_task(banana)

    banana = await restarted(start_banana, setup)
    (task,) = await banana.settle(1)
    assert task.state is TaskState.DONE and len(kie.requests_to(CREATE)) == 1


async def test_killed_after_the_card_before_the_create(start_banana, kie, slack):
    async def setup(banana):
        ts = await banana.services.slack.post(CHANNEL_ID, text="Starting", blocks=[])
        await stored_task(banana, message_ts=ts, thread_ts=ts)

    banana = await restarted(start_banana, setup)
    (task,) = await banana.settle(1)
    assert task.state is TaskState.DONE
    assert len(kie.requests_to(CREATE)) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1  # only the card the first run posted


async def test_killed_during_the_create_is_never_repeated_blindly(start_banana, kie, slack):
    async def setup(banana):
        ts = await banana.services.slack.post(CHANNEL_ID, text="Starting", blocks=[])
        await stored_task(banana, message_ts=ts, thread_ts=ts, create_started_at=time.time())

    banana = await restarted(start_banana, setup)
    (task,) = await banana.settle(1)
    assert task.state is TaskState.FAILED and task.error_code == "create_unknown"
    assert "kie.ai/logs" in task.error_message
    assert kie.requests_to(CREATE) == []


async def test_killed_while_kie_was_working(start_banana, kie, slack):
    async def setup(banana):
        ts = await banana.services.slack.post(CHANNEL_ID, text="Starting", blocks=[])
        kie_id = await banana.services.kie.create_task("x", banana.services.defaults)
        await stored_task(banana, state=TaskState.GENERATING, message_ts=ts, thread_ts=ts, kie_task_id=kie_id)

    banana = await restarted(start_banana, setup)
    (task,) = await banana.settle(1)
    assert task.state is TaskState.DONE and len(kie.requests_to(CREATE)) == 1
    assert len(slack.thread(CHANNEL_ID, task.message_ts)) == 1


async def test_killed_during_an_upload_that_landed_posts_nothing_twice(start_banana, kie, slack):
    names: list[str] = []

    async def setup(banana):
        ts = await banana.services.slack.post(CHANNEL_ID, text="Starting", blocks=[])
        kie_id = await banana.services.kie.create_task("x", banana.services.defaults)
        kie.finish_now(kie_id)
        task_id = await stored_task(
            banana, state=TaskState.UPLOADING, message_ts=ts, thread_ts=ts, kie_task_id=kie_id, upload_started_at=1.0
        )
        names.append(f"banana-{task_id}.png")
        await banana.services.slack.upload(
            CHANNEL_ID, ts, data=b"\x89PNG\r\n\x1a\n", filename=names[0], title="x", comment="x", alt_text="x"
        )

    banana = await restarted(start_banana, setup)
    (task,) = await banana.settle(1)
    assert task.state is TaskState.DONE
    assert len(uploads_named(slack, names[0])) == 1


async def test_killed_during_an_upload_that_did_not_land_uploads_once(start_banana, kie, slack):
    async def setup(banana):
        ts = await banana.services.slack.post(CHANNEL_ID, text="Starting", blocks=[])
        kie_id = await banana.services.kie.create_task("x", banana.services.defaults)
        kie.finish_now(kie_id)
        await stored_task(
            banana, state=TaskState.UPLOADING, message_ts=ts, thread_ts=ts, kie_task_id=kie_id, upload_started_at=1.0
        )

    banana = await restarted(start_banana, setup)
    (task,) = await banana.settle(1)
    assert task.state is TaskState.DONE
    assert len(uploads_named(slack, f"banana-{task.id}.png")) == 1


async def test_sigkill_mid_generation_then_restart_delivers_exactly_once(start_process, kie, slack):
    """The real process, killed with SIGKILL while kie works, and started again."""
    kie.plan(Outcome(kind="never"))
    first = await start_process()
    response = await first.command("survive a crash")
    assert response.status_code == 200
    await slack.wait_for(lambda: bool(kie.tasks) and bool(kie.requests_to(RECORD)))
    await first.kill()

    second = await start_process()
    (kie_task_id,) = kie.tasks
    kie.finish_now(kie_task_id)
    await slack.wait_for(lambda: len(slack.files) == 1, timeout=10)
    # Once the process has nothing in flight and has stopped, no wrong second upload can still be on its way.
    await wait_until_idle(second)
    assert await second.stop() == 0
    assert len(slack.files) == 1
    assert len(kie.requests_to(CREATE)) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


async def wait_until_idle(app: BananaProcess) -> None:
    """Until the app as a process says it has no task in flight (its /healthz)."""
    async with asyncio.timeout(10):
        while True:
            if not (await app.http.get(f"{app.url}/healthz")).json()["in_flight"]:
                return
            await asyncio.sleep(0.02)


async def callback_app(start_banana, **env):
    port = free_port()
    return await start_banana(PORT=str(port), PUBLIC_URL=f"http://127.0.0.1:{port}", **env)


async def test_callback_delivers_at_once_with_few_reads(start_banana, kie, slack):
    banana = await callback_app(start_banana, CALLBACK_POLL_INTERVAL="30")
    kie.plan(Outcome(generate_seconds=0.3))
    await banana.command("a cat")
    (task,) = await banana.settle(1)  # within its 10 s: long before the 30 s safety-net poll
    assert task.state is TaskState.DONE
    create = kie.requests_to(CREATE)[0].json
    assert create["callBackUrl"].startswith(f"{banana.url}/kie/callback?task={task.id}&token=")
    assert len(kie.requests_to(RECORD)) <= 2
    assert kie.callbacks_sent and kie.callbacks_sent[0][1] == 200


async def test_forged_callbacks_change_nothing(start_banana, kie, slack):
    banana = await callback_app(start_banana, CALLBACK_POLL_INTERVAL="30")
    kie.plan(Outcome(kind="never"))
    await banana.command("a cat")
    await slack.wait_for(lambda: bool(kie.tasks))
    (kie_task_id,) = kie.tasks
    forged = {"code": 200, "msg": "ok", "data": {"taskId": kie_task_id, "state": "success", "resultJson": "{}"}}
    for query in ("task=1&token=guess", "task=1", "task=abc&token=x", "task=999&token=x"):
        response = await banana.http.post(f"{banana.url}/kie/callback?{query}", json=forged)
        assert response.status_code == 401
    # A genuine token for a task that is not this kie task is acknowledged and ignored.
    url = banana.services.runner.callback_url(1) or ""
    other = {"code": 200, "msg": "ok", "data": {"taskId": "not-this-one"}}
    response = await banana.http.post(url, json=other)
    assert response.json() == {"code": 200, "msg": "success"}
    # A later task woken by its own callback: once its image is in, the first task's poll (30 s away) has not been
    # woken by any of the above to read kie.
    kie.plan(Outcome(generate_seconds=0.05))
    await banana.command("a dog")
    await slack.wait_for(lambda: len(slack.files) == 1)
    assert [r for r in kie.requests_to(RECORD) if r.query.get("taskId") == kie_task_id] == []
    assert (await banana.services.store.get(1)).state is not TaskState.DONE


async def test_signed_callbacks_are_verified_and_stale_ones_refused(start_banana, kie, slack):
    key = "webhook-hmac-key-for-tests"
    kie.webhook_hmac_key = key
    banana = await callback_app(start_banana, CALLBACK_POLL_INTERVAL="30", KIEAI_WEBHOOK_HMAC_KEY=key)
    kie.plan(Outcome(kind="never"))
    await banana.command("a cat")
    await slack.wait_for(lambda: bool(kie.tasks))
    (kie_task_id,) = kie.tasks
    url = banana.services.runner.callback_url(1) or ""
    body = {"code": 200, "msg": "ok", "data": {"taskId": kie_task_id}}

    def signed(stamp: int) -> dict:
        digest = hmac.new(key.encode(), f"{kie_task_id}.{stamp}".encode(), hashlib.sha256).digest()
        return {"X-Webhook-Timestamp": str(stamp), "X-Webhook-Signature": base64.b64encode(digest).decode()}

    assert (await banana.http.post(url, json=body)).status_code == 401  # unsigned
    assert (await banana.http.post(url, json=body, headers=signed(int(time.time()) - 3600))).status_code == 401
    assert (await banana.http.post(url, json=body, headers=signed(int(time.time())))).status_code == 200
    kie.finish_now(kie_task_id)  # kie's own signed callback follows
    (task,) = await banana.settle(1)
    assert task.state is TaskState.DONE
    assert kie.callbacks_sent[-1][1] == 200


async def test_kie_create_budget_queues_instead_of_failing(start_banana, kie, slack):
    kie.rate_limit, kie.rate_window = 3, 1.0
    banana = await start_banana(KIEAI_CREATES_PER_WINDOW="3", KIEAI_CREATE_WINDOW="1.0")
    for i in range(7):
        await banana.command(f"picture {i}")
    tasks = await banana.settle(7)
    assert all(t.state is TaskState.DONE for t in tasks)
    assert len(kie.requests_to(CREATE)) == 7  # none refused, none retried
    cards = json.dumps([e["blocks"] for m in slack.messages for e in m.edits])
    assert "Queued, position" in cards


async def test_slack_update_budget_keeps_under_the_tier(start_banana, kie, slack):
    slack.enforce_tiers(chat_update_per_minute=12)
    banana = await start_banana(SLACK_UPDATES_PER_MINUTE="12")
    kie.plan(*[Outcome(generate_seconds=0.4) for _ in range(5)])
    for i in range(5):
        await banana.command(f"picture {i}")
    tasks = await banana.settle(5)
    assert all(t.state is TaskState.DONE for t in tasks)
    assert not [c for c in slack.calls_to("chat.update") if c.status == 429]
    for task in tasks:
        assert "Done" in json.dumps(slack.message(CHANNEL_ID, task.message_ts).blocks)


async def test_slacks_retry_of_a_command_never_starts_a_second_task(banana, kie, slack):
    body = urlencode(slack.command_payload("only once"))
    first = await banana.post_signed(body, "application/x-www-form-urlencoded")
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    second = await banana.post_signed(body, "application/x-www-form-urlencoded", **retry)
    assert first.status_code == second.status_code == 200
    await banana.settle(1)
    # A later command: once it is done, a second task from the retry would have been stored before it.
    await banana.command("a later one")
    first_task, later = await banana.settle(2)
    assert (first_task.prompt, later.prompt) == ("only once", "a later one")
    assert len(kie.requests_to(CREATE)) == 2


async def test_a_retry_whose_first_attempt_never_arrived_is_handled(banana, kie, slack):
    form = {
        "team_id": "T0TEAM001",
        "channel_id": CHANNEL_ID,
        "user_id": USER_ID,
        "command": "/banana",
        "text": "late",
        "trigger_id": slack.trigger_id(),
    }
    retry = {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}
    response = await banana.post_signed(urlencode(form), "application/x-www-form-urlencoded", **retry)
    assert response.status_code == 200
    (task,) = await banana.settle(1)
    assert task.prompt == "late"


async def test_the_same_trigger_without_a_retry_mark_is_not_dropped(banana, kie, slack):
    """Only Slack's own retry mark makes a repeat; tools that reuse a trigger id still get answers."""
    for text in ("a cat --res 9K", "a dog --res 9K"):
        form = {"team_id": "T0TEAM001", "channel_id": CHANNEL_ID, "user_id": USER_ID, "command": "/banana"}
        form |= {"text": text, "trigger_id": "1.2.3"}
        response = await banana.post_signed(urlencode(form), "application/x-www-form-urlencoded")
        assert "`--res` got `9K`" in response.json()["text"]


async def test_a_burst_in_one_channel_is_paced_not_refused(start_banana, kie, slack):
    slack.enforce_tiers(post_message_per_second_per_channel=5)
    banana = await start_banana(SLACK_POST_INTERVAL="0.2")
    for i in range(4):
        await banana.command(f"picture {i}")
    tasks = await banana.settle(4)
    assert all(t.state is TaskState.DONE for t in tasks)
    posts = slack.calls_to("chat.postMessage")
    assert len(posts) == 4 and not [c for c in posts if c.status == 429]
    assert all(b.at - a.at >= 0.19 for a, b in itertools.pairwise(posts))

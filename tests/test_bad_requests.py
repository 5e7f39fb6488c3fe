"""Bad requests get a 4xx, never a 500, and change nothing: kie's callbacks whose cost is not one a task could have
(kie signs `taskId.timestamp`, not the body), callbacks of any shape, signals NOTIFYed by anyone who can reach the
database, and /metrics, which is served only with its token and only to read."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import time

import psycopg
import pytest

from bot.blocks import cards
from bot.clients.kie import KieTask
from bot.jobs.runner import CALLBACK_PATH
from bot.services.callbacks import MAX_BODY_BYTES, BadCallback, claimed_cost
from prompts.options import PRICES, Prices
from prompts.tasks import Task, TaskState
from standins import slack as slack_standin
from standins.kie import Outcome
from tests.conftest import USER_ID

DEAREST = max(PRICES.one_k, PRICES.two_k, PRICES.four_k)

# Costs a callback may claim, as the JSON text it sends: Python's json reads the first two as numbers by default.
BAD_COSTS = ["Infinity", "NaN", "-Infinity", "1e999", "1e308", "-1", "-0.5", f"{DEAREST}.01", '"18"', "true", "[18]"]


# The rule, alone


@pytest.mark.parametrize("cost", [0, 0.0, 17.5, DEAREST])
def test_a_cost_a_task_could_have_is_taken(cost):
    assert claimed_cost({"consumeCredits": cost}, prices=PRICES, images=1) == cost


@pytest.mark.parametrize(
    "cost", [math.inf, -math.inf, math.nan, 1e308, -1, DEAREST + 0.01, "18", True, False, [18], {"n": 18}]
)
def test_a_cost_no_task_could_have_is_refused(cost):
    with pytest.raises(BadCallback):
        claimed_cost({"consumeCredits": cost}, prices=PRICES, images=1)


def test_the_ceiling_is_the_dearest_price_times_the_images_asked():
    prices = Prices(one_k=10, two_k=30, four_k=20)
    assert claimed_cost({"consumeCredits": 60}, prices=prices, images=2) == 60
    assert claimed_cost({"creditsConsumed": 30}, prices=prices, images=1) == 30
    with pytest.raises(BadCallback):
        claimed_cost({"consumeCredits": 31}, prices=prices, images=1)


def test_no_cost_said_is_no_cost_taken():
    assert claimed_cost({}, prices=PRICES, images=1) is None
    assert claimed_cost({"consumeCredits": None}, prices=PRICES, images=1) is None


@pytest.mark.parametrize("cost", [math.inf, math.nan, -1, True])
def test_a_kie_answer_with_a_cost_that_is_no_count_of_credits_carries_none(cost):
    assert KieTask.from_data({"taskId": "t", "state": "success", "consumeCredits": cost}).credits is None


# Callbacks, as anyone holding a callback URL could send them


async def running_task(banana, kie, prompt: str = "a slow one") -> Task:
    """A new task, waiting at kie until the test lets it finish (a new prompt each time: the same one is reused)."""
    store = banana.services.store
    known = {t.id for t in await store.for_user(slack_standin.TEAM_ID, USER_ID)}
    kie.plan(Outcome(kind="never"))
    await banana.command(prompt)
    async with asyncio.timeout(10):
        while True:
            found = [t for t in await store.for_user(slack_standin.TEAM_ID, USER_ID) if t.id not in known]
            if found and found[0].kie_task_id:
                return found[0]
            await asyncio.sleep(0.01)


def callback_url(banana, task: Task) -> str:
    return f"{banana.url}{CALLBACK_PATH}?task={task.id}&token={banana.services.runner.callback_token(task.id)}"


def callback_body(kie_task_id: object, cost: str) -> str:
    """kie's callback shape, with the cost as raw JSON text (so Infinity and NaN go out as such)."""
    return (
        f'{{"code": 200, "msg": "ok", "data": {{"taskId": {json.dumps(kie_task_id)}, "state": "success", '
        f'"consumeCredits": {cost}}}}}'
    )


async def spent(banana, task: Task) -> tuple[float | None, bool, object]:
    """What is recorded against the task and its requester."""
    task = await banana.services.store.get(task.id)
    assert task is not None
    usage = await banana.services.store.usage(slack_standin.TEAM_ID, USER_ID, since=0)
    return task.credits, task.credits_exact, usage


@pytest.fixture
async def slow_banana(start_banana):
    return await start_banana(POLL_TIMEOUT="60")


async def test_a_callback_claiming_a_cost_no_task_could_have_gets_400_and_records_nothing(slow_banana, kie, slack):
    banana = slow_banana
    task = await running_task(banana, kie)
    before = await spent(banana, task)
    for cost in BAD_COSTS:
        response = await banana.http.post(callback_url(banana, task), content=callback_body(task.kie_task_id, cost))
        assert response.status_code == 400, cost
        assert "consumeCredits" in response.json()["msg"] or "JSON" in response.json()["msg"]
        assert await spent(banana, task) == before, cost

    body = callback_body(task.kie_task_id, "17.5").encode()
    good = await banana.http.post(callback_url(banana, task), content=_chunks(body[:20], body[20:]))  # read whole
    assert good.status_code == 200 and good.json() == {"code": 200, "msg": "success"}
    stored = await banana.services.store.get(task.id)
    assert stored is not None and (stored.credits, stored.credits_exact) == (17.5, True)

    kie.finish_now(task.kie_task_id or "")
    done = await banana.only_task()
    assert done.state is TaskState.DONE and done.credits == 17.5


async def test_a_callback_of_any_shape_gets_an_answer_not_a_500(slow_banana, kie, slack):
    banana = slow_banana
    task = await running_task(banana, kie)
    url = callback_url(banana, task)
    kid = json.dumps(task.kie_task_id)
    shapes = {
        "[1, 2]": 400,
        '"data"': 400,
        '{"data": [1, 2]}': 400,
        '{"data": "x"}': 400,
        '{"data": 7}': 400,
        '{"data": {"taskId": 12345}}': 400,
        '{"data": {"taskId": {"a": 1}}}': 400,
        "not json": 400,
        "[" * 50_000: 400,
        '{"data": {}}': 200,  # no task id: not this task's callback, ignored
        "{}": 200,
        f'{{"data": {{"taskId": {kid}, "consumeCredits": 1{"0" * 5000}}}}}': 400,  # past Python's int digits
    }
    for body, status in shapes.items():
        response = await banana.http.post(url, content=body)
        assert response.status_code == status, body[:40]
    assert (await banana.http.post(url, content=b"\xff\xfe{")).status_code == 400
    huge = await banana.http.post(url, content="{" + " " * MAX_BODY_BYTES + "}")
    assert huge.status_code == 413
    streamed = await banana.http.post(url, content=_chunks(b" " * (MAX_BODY_BYTES + 1)))  # no Content-Length
    assert streamed.status_code == 413
    wrong = url.replace("&token=", "&token=\u00e9")
    assert (await banana.http.post(wrong, content="{}")).status_code == 401
    assert (await spent(banana, task))[1] is False  # nothing recorded
    kie.finish_now(task.kie_task_id or "")
    assert (await banana.only_task()).state is TaskState.DONE  # and the app still up


async def _chunks(*parts: bytes):
    """A body sent in parts, without Content-Length, each part once the previous one has gone out."""
    for part in parts:
        yield part
        await asyncio.sleep(0)


async def test_a_signed_callback_with_a_strange_signature_gets_401(start_banana, kie, slack):
    banana = await start_banana(POLL_TIMEOUT="60", KIEAI_WEBHOOK_HMAC_KEY="webhook-key")
    task = await running_task(banana, kie)
    url, body = callback_url(banana, task), callback_body(task.kie_task_id, "18")
    now = str(int(time.time()))
    for timestamp, signature in [("x", "y"), (now, "\u00e9"), ("1" * 40, "y"), ("", "")]:
        headers = {"X-Webhook-Timestamp": timestamp, "X-Webhook-Signature": signature}
        response = await banana.http.post(url, content=body, headers=_latin1(headers))
        assert response.status_code == 401, (timestamp, signature)
    digest = hmac.new(b"webhook-key", f"{task.kie_task_id}.{now}".encode(), hashlib.sha256).digest()
    signed = {"X-Webhook-Timestamp": now, "X-Webhook-Signature": base64.b64encode(digest).decode()}
    assert (
        await banana.http.post(url, content=callback_body(task.kie_task_id, "1e308"), headers=signed)
    ).status_code == 400
    assert (await spent(banana, task))[1] is False  # signed, yet the body is still only a claim
    assert (await banana.http.post(url, content=body, headers=signed)).status_code == 200
    assert (await spent(banana, task))[:2] == (18, True)


def _latin1(headers: dict[str, str]) -> dict[str, bytes]:
    return {name: value.encode("latin-1") for name, value in headers.items()}


# /metrics


async def test_metrics_are_not_served_without_a_token_setting(start_banana):
    banana = await start_banana()
    assert (await banana.http.get(f"{banana.url}/metrics")).status_code == 404
    assert (await banana.http.get(f"{banana.url}/metrics", headers={"Authorization": "Bearer x"})).status_code == 404


async def test_metrics_need_the_token_and_reading_them_changes_nothing(start_banana):
    banana = await start_banana(METRICS_TOKEN="s3cret-metrics")
    url = f"{banana.url}/metrics"
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-metrics"}, {"X-Token": "x"}]:
        assert (await banana.http.get(url, headers=headers)).status_code == 401, headers
    assert (await banana.http.get(url, headers=_latin1({"Authorization": "Bearer \u00e9"}))).status_code == 401

    right = {"Authorization": "Bearer s3cret-metrics"}
    first = await banana.http.get(url, headers=right)
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/plain")
    second = await banana.http.get(url, params={"reset": "1"}, headers=right)
    assert "banana_tasks_started_total 0.0" in first.text and "banana_tasks_started_total 0.0" in second.text


# Signals: anyone who can reach the shared PostgreSQL can NOTIFY; only the stored row decides a cancel


async def test_a_foreign_notify_does_not_cancel_but_a_cancel_press_on_another_replica_does(
    start_banana, postgres_url, kie, slack
):
    env = {"DATABASE_URL": postgres_url, "POLL_TIMEOUT": "60"}
    holder = await start_banana(**env)
    store = holder.services.store
    heard: list[tuple[int, str]] = []
    await store.listen(lambda task_id, kind: heard.append((task_id, kind)))  # after the runner's own handler
    task = await running_task(holder, kie)

    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as outsider:
        for payload in ["junk", f"{task.id}:explode", f"{task.id}", f":{task.id}", f"{task.id}:cancel"]:
            await outsider.execute("select pg_notify(%s, %s)", [store._channel, payload])  # type: ignore[attr-defined]
    await slack.wait_for(lambda: (task.id, "cancel") in heard)  # the runner has had it too
    kie.finish_now(task.kie_task_id or "")
    done = await holder.only_task()
    assert done.state is TaskState.DONE and done.slack_file_id in slack.files  # it finished, with its image

    other = await start_banana(**env)  # another replica: the press reaches the holder as a signal
    task = await running_task(holder, kie, "another slow one")
    await other.click(cards.CANCEL, str(task.id), message_ts=task.message_ts or "")
    _, cancelled = await holder.settle(2)
    assert cancelled.id == task.id and cancelled.state is TaskState.CANCELLED

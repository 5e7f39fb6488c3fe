"""/metrics as an operator's Prometheus reads it: scraped over HTTP, parsed by prometheus-client's own text parser,
its counters agreeing with what the stand-ins saw."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from prompts.tasks import TaskState
from standins.kie import Outcome
from tests.test_reliability import stored_task

CREATE = "/api/v1/jobs/createTask"
RECORD = "/api/v1/jobs/recordInfo"
TOKEN = "scrape-me"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(banana) -> Samples:
    response = await banana.http.get(f"{banana.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (found, have), value in samples.items() if found == name and wanted <= have)


async def test_the_scraped_counters_agree_with_what_the_stand_ins_saw(start_banana, kie, slack):
    banana = await start_banana(METRICS_TOKEN=TOKEN)
    kie.plan(*[Outcome(generate_seconds=0.1) for _ in range(3)])
    kie.fail_next(RECORD, 429, http_status=429)
    slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    for number in range(3):
        await banana.command(f"picture {number}")
    await banana.settle(3)
    async with asyncio.timeout(10):  # the loop probe samples every 50 ms: a quick run may end before the first
        while True:
            samples = await scrape(banana)
            if total(samples, "banana_event_loop_lag_seconds_count") > 0:
                break
            await asyncio.sleep(0.05)

    assert total(samples, "banana_tasks_started_total") == 3
    assert total(samples, "banana_tasks_finished_total", state=TaskState.DONE.value) == 3
    assert total(samples, "banana_command_to_image_seconds_count") == 3
    assert total(samples, "banana_kie_done_to_image_seconds_count") == 3
    assert total(samples, "banana_slack_ack_seconds_count") >= 3  # the commands, and any event Slack sent
    for path in (CREATE, RECORD):
        assert total(samples, "banana_kie_requests_total", path=path) == len(kie.requests_to(path)), path
    assert total(samples, "banana_kie_requests_total", path=RECORD, status="429") == 1
    for method in ("chat.postMessage", "chat.update", "files.completeUploadExternal"):
        calls = slack.calls_to(method)
        assert total(samples, "banana_slack_requests_total", method=method) == len(calls), method
        limited = sum(1 for call in calls if call.status == 429)
        assert total(samples, "banana_slack_requests_total", method=method, status="429") == limited, method
    assert total(samples, "banana_slack_requests_total", method="chat.postMessage", status="429") == 1
    # Nothing is held once everything has finished.
    for name in ("banana_tasks", "banana_leases_held", "banana_kie_create_queue_depth", "banana_images_in_memory"):
        assert total(samples, name) == 0, name


async def test_work_left_by_an_earlier_run_counts_as_taken_over(start_banana, kie, slack):
    first = await start_banana()
    await stored_task(first)  # as a crash would have left it
    await first.server.stop()
    banana = await start_banana(METRICS_TOKEN=TOKEN)
    (task,) = await banana.settle(1)
    assert task.state is TaskState.DONE
    assert total(await scrape(banana), "banana_leases_taken_over_total") == 1

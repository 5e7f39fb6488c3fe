"""kie.ai as it really is, not as kind as our stand-in used to be: reads are rate limited, a young task may not be
found yet, and only the callback says what a task cost."""

from __future__ import annotations

import json

from prompts.tasks import TaskState
from standins.kie import CREATE_PATH, RECORD_PATH, Outcome
from tests.test_home import open_home
from tests.test_reliability import callback_app


async def test_reads_of_many_tasks_keep_under_kies_limit_and_every_image_arrives(start_banana, kie, slack):
    kie.read_limit, kie.read_window = 10, 1.0  # what kie is reported to allow, per API key
    # Every task wants a read each 20 ms; together they want hundreds a second, the app sends 8.
    banana = await start_banana(KIEAI_READS_PER_SECOND="8", POLL_TIMEOUT="30")
    kie.plan(Outcome(generate_seconds=1.0))
    for number in range(6):
        await banana.command(f"picture {number}")
    tasks = await banana.settle(6)
    assert all(task.state is TaskState.DONE for task in tasks)
    assert kie.refused_reads == 0
    reads = sorted(r.at for r in kie.requests_to(RECORD_PATH))
    assert all(later - earlier >= 1.0 for earlier, later in zip(reads, reads[10:], strict=False))  # ≤ 10 in any 1 s


async def test_a_task_kie_does_not_know_yet_is_waited_for_not_failed(banana, kie):
    for code in (404, 422):
        kie.plan(Outcome(generate_seconds=0.2, unseen_seconds=0.4, unseen_code=code))
        await banana.command(f"young {code}")
    first, second = await banana.settle(2)
    assert first.state is TaskState.DONE and second.state is TaskState.DONE


async def test_the_cost_kie_reports_in_its_callback_is_recorded_instead_of_the_estimate(start_banana, kie, slack):
    banana = await callback_app(start_banana, CALLBACK_POLL_INTERVAL="30")
    kie.plan(Outcome(generate_seconds=0.2, credits=17.5))
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    assert (task.credits, task.credits_exact) == (17.5, True)
    home = json.dumps(await open_home(banana, slack), ensure_ascii=False)
    assert "1 image · 17.5 credits" in home and "≈17.5" not in home  # kie's own figure, not an estimate


async def test_without_a_callback_the_cost_is_the_price_tables_estimate(banana, kie):
    kie.plan(Outcome(generate_seconds=0.1, credits=17.5))
    await banana.command("a cat --res 4K")
    task = await banana.only_task()
    assert (task.credits, task.credits_exact) == (banana.services.settings.prices["4K"], False)


async def test_a_5000_character_failure_still_ends_the_card_with_what_to_do(banana, kie, slack):
    kie.plan(Outcome(kind="fail", fail_code="400", fail_msg="The model refused. " + "x" * 5000))
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and task.error_message
    assert "Try rephrasing the prompt" in task.error_message and len(task.error_message) < 1000
    edits = slack.calls_to("chat.update")
    assert edits and edits[-1].status == 200  # Slack took the final card: it fits Block Kit
    final = str(edits[-1].args)
    assert "The model refused" in final and "Try rephrasing the prompt" in final


async def test_each_tasks_first_read_waits_a_random_part_of_the_jitter(start_banana, kie, monkeypatch):
    drawn: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        drawn.append((low, high))
        return high  # the longest wait the jitter allows

    monkeypatch.setattr("bot.jobs.job.random.uniform", uniform)
    banana = await start_banana(POLL_JITTER="0.5", POLL_INTERVAL_FAST="1", POLL_TIMEOUT="10")
    kie.plan(Outcome(generate_seconds=0.1))
    await banana.command("a cat")
    await banana.only_task()
    assert drawn == [(0, 0.5)]  # a share of the first interval, once per task
    created = kie.requests_to(CREATE_PATH)[0].at
    assert kie.requests_to(RECORD_PATH)[0].at - created >= 0.5

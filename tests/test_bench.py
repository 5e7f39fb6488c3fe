"""What the benchmark relies on: the stand-ins' stats routes and the arithmetic (/metrics: tests/test_metrics.py)."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from bench import replicas
from bench.report import replica_rows, replica_table, text
from bench.scenarios import Generation, card_lags, delivery_lags, poll_interval, token_of
from bench.stack import Buckets, lag_summary, percentile
from standins.kie import CREATE_PATH, STATS_PATH, KieStandIn, Outcome
from tests.conftest import CHANNEL_ID


async def test_kie_stats_count_reads_per_task_and_refused_creates():
    kie = KieStandIn(rate_limit=1, default_outcome=Outcome(generate_seconds=0.5), generate_jitter=2.0)
    await kie.start()
    try:
        async with httpx.AsyncClient(headers={"Authorization": "Bearer kie-test-key"}) as http:
            body = {"model": "nano-banana-pro", "input": {"prompt": "bench-x-0001 a cat"}}
            task_id = (await http.post(kie.base_url + CREATE_PATH, json=body)).json()["data"]["taskId"]
            assert (await http.post(kie.base_url + CREATE_PATH, json=body)).status_code == 429
            for _ in range(3):
                await http.get(kie.base_url + "/api/v1/jobs/recordInfo", params={"taskId": task_id})
            stats = (await http.get(kie.base_url + STATS_PATH)).json()
    finally:
        await kie.stop()
    (task,) = stats["tasks"]
    assert task["record_info_calls"] == 3 and task["prompt"].startswith("bench-x-0001")
    assert 0.5 <= task["done_at"] - task["created_at"] <= 2.5  # the jitter is added to the generate time
    assert stats["refused_creates"] == 1
    assert STATS_PATH not in stats["requests"]  # reading the stats is not kie traffic


async def test_two_kie_stand_ins_given_one_seed_give_their_nth_tasks_the_same_time():
    """What puts the benchmark's two pollers on the same tasks; without a seed, each draws its own."""

    async def times(seed: int | None) -> list[float]:
        kie = KieStandIn(default_outcome=Outcome(generate_seconds=40.0), generate_jitter=30.0, jitter_seed=seed)
        await kie.start()
        try:
            async with httpx.AsyncClient(headers={"Authorization": "Bearer kie-test-key"}) as http:
                for number in range(5):
                    body = {"model": "nano-banana-pro", "input": {"prompt": f"bench-x-{number:04d} a cat"}}
                    assert (await http.post(kie.base_url + CREATE_PATH, json=body)).status_code == 200
                stats = (await http.get(kie.base_url + STATS_PATH)).json()
        finally:
            await kie.stop()
        return [round(task["done_at"] - task["created_at"], 6) for task in stats["tasks"]]

    first, again, unseeded = await times(7), await times(7), await times(None)
    assert first == again and len(set(first)) == 5 and all(40 <= t <= 70 for t in first)
    assert unseeded != first


async def test_slack_stats_show_when_each_result_arrived(banana, slack):
    await banana.command("bench-x-0002 a lighthouse")
    task = await banana.only_task()
    async with httpx.AsyncClient() as http:
        stats = (await http.get(slack.base_url + "/standin/stats")).json()
        minted = (await http.get(slack.base_url + "/standin/response_urls", params={"count": 3})).json()
    (file,) = stats["files"]
    assert file["id"] == task.slack_file_id and token_of(file["title"]) == "bench-x-0002"
    assert file["channel"] == CHANNEL_ID and file["thread_ts"] == task.message_ts
    methods = [call[0] for call in stats["calls"]]
    assert "files.completeUploadExternal" in methods and file["shared_at"] is not None
    assert len(minted["response_urls"]) == 3


def test_lags_pair_kie_tasks_with_slack_files_by_their_token():
    kie = {
        "tasks": [
            {"prompt": "bench-d-0001 x", "created_at": 0.0, "done_at": 10.0},
            {"prompt": "bench-d-0002 y", "created_at": 0.0, "done_at": 20.0},
            {"prompt": "bench-d-0003 z", "created_at": 0.0, "done_at": None},
        ]
    }
    slack = {
        "files": [
            {"title": "bench-d-0002 y", "shared_at": 20.5, "channel": "C1", "thread_ts": "2.0"},
            {"title": "bench-d-0001 x", "shared_at": 10.25, "channel": "C1", "thread_ts": "1.0"},
        ],
        "calls": [
            ["chat.update", 200, 10.3, "C1", "1.0"],
            ["chat.update", 429, 30.0, "C1", "2.0"],
            ["chat.update", 200, 31.0, "C1", "2.0"],
        ],
    }
    assert sorted(delivery_lags(kie, slack)) == [0.25, 0.5]
    assert sorted(round(lag, 2) for lag in card_lags(slack)) == [0.05, 10.5]
    assert poll_interval(kie, {}) == 10.0  # the median task finished after the default 12 s of fast polling
    assert poll_interval(kie, {"POLL_FAST_UNTIL": "30", "POLL_INTERVAL_FAST": "4"}) == 4.0


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([3.0, 1.0, 2.0], 0.5, 2.0),
        (list(range(1, 101)), 0.99, 99),
        (list(range(1, 201)), 0.99, 198),
        ([5.0], 0.99, 5.0),
    ],
)
def test_percentile_is_nearest_rank(values, fraction, expected):
    assert percentile(values, fraction) == expected


async def test_replicas_run_shares_one_postgresql_and_survives_a_killed_replica(postgres_server, tmp_path):
    """The replicas run end to end, tiny: three app processes on a fresh schema, commands round-robin, kie's callbacks
    through the proxy to any of them, and the last one SIGKILLed halfway: its work is taken over, and every image
    arrives exactly once."""
    kill = next(setup for setup in replicas.SETUPS if setup.kill)
    workload = replicas.Workload(tasks=6, seconds=1.5, generation=Generation(queue=0.5, generate=2.0), channels=3)
    # A callback that arrives while no replica holds its task is caught by the safety-net poll, kept short here.
    found = await replicas.run(
        tmp_path,
        setup=kill,
        mode="callbacks",
        workload=workload,
        admin_url=postgres_server,
        app_env={"CALLBACK_POLL_INTERVAL": "1"},
        lease_seconds=1.0,
    )
    figures = found.replica
    assert figures is not None and figures.takeover is not None
    assert figures.backends == ["postgresql"] * 3
    takeover = figures.takeover
    assert takeover.orphans >= 1 and len(takeover.claimed) == takeover.orphans
    assert figures.missing == 0 and figures.delivered_twice == 0 and figures.created_twice == 0
    assert figures.not_done == {}  # no task ended without its image
    assert figures.delivered_once == figures.acked >= workload.tasks - 1  # one may have gone down with its replica
    assert figures.kie_creates_refused == figures.kie_reads_refused == 0
    assert figures.callbacks_passed >= workload.tasks
    assert len(figures.rss_mb) == len(figures.cpu_seconds) == 3 and figures.postgres_cpu is not None
    results = {"replicas-postgres3kill-callbacks": found}
    assert all(row.met for row in replica_rows([(found, figures)], "callbacks"))
    headers, body = replica_table(results, "callbacks")
    assert headers[1] == kill.label and any(row[0].startswith("kill one") for row in body)
    assert "takeover" in text([], results)


async def test_each_postgresql_run_gets_a_fresh_schema_dropped_after(postgres_server):
    async def schemas(url: str) -> set[str]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            return {row[0] for row in await (await conn.execute("select nspname from pg_namespace")).fetchall()}

    async with replicas.fresh_schema(postgres_server) as url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            (schema,) = await (await conn.execute("select current_schema()")).fetchone()
            await conn.execute("create table tasks (id int)")
        assert schema.startswith("bench_") and schema in await schemas(postgres_server)
    assert schema not in await schemas(postgres_server)


def test_a_schema_of_its_own_keeps_the_url_and_names_the_connections():
    url = replicas.with_search_path(
        "postgresql://u:p@db:5432/banana?sslmode=require&options=-cstatement_timeout%3D5s", "bench_x"
    )
    assert url.startswith("postgresql://u:p@db:5432/banana?")
    assert "sslmode=require" in url and "application_name=bench_x" in url
    assert "options=-cstatement_timeout%3D5s%20-csearch_path%3Dbench_x" in url
    assert replicas.with_search_path("postgresql:///banana_test", "s").startswith("postgresql:///banana_test?")


def test_the_loop_lag_of_a_window_is_read_from_the_histogram_between_two_scrapes():
    bounds = (0.001, 0.005, 0.01, 0.05, float("inf"))
    before = Buckets(tuple(zip(bounds, (10, 10, 10, 10, 10), strict=True)), total=0.01)
    now = Buckets(tuple(zip(bounds, (60, 100, 109, 110, 110), strict=True)), total=0.31)
    lag = lag_summary(now, before)  # the window: 100 samples, 50 ≤ 1 ms, 90 ≤ 5 ms, 99 ≤ 10 ms, all ≤ 50 ms
    assert lag == {"samples": 100, "p50_ms": 1.0, "p99_ms": 10.0, "max_ms": 50.0, "mean_ms": 3.0}
    assert lag_summary(before, before) == {"samples": 0}

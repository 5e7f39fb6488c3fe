"""The replicas run (issue 15): the same workload on one app process with SQLite, one with PostgreSQL, three
processes on one PostgreSQL, and three of which one is killed midway.

The workload sends commands faster than kie's 20 creates per 10 s, yet slower than that for each of three replicas
alone: the processes keep within kie's limits (and Slack's) only if they share them through the database, so any
refusal three of them draw beyond one's is a limit that was not shared. Commands go round-robin to the live replicas,
as a load balancer in front of them would send them; with callbacks, kie's go through a small proxy here that passes
each on to the next live replica, so most reach a replica other than the one holding the task.

Each PostgreSQL run gets a schema of its own in the database at `admin_url` (`options=-csearch_path=…`), created
before and dropped after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import aiohttp
import psycopg
from aiohttp import web
from psycopg import sql

from bench.scenarios import Generation, Outcome, ReplicaFigures, Sent, Takeover, echo, outcome, token_of
from bench.stack import Stack, StackConfig, cpu_seconds, free_port
from bot.store.base import FINISHED
from standins.kie import CREATE_PATH, RECORD_PATH

DEFAULT_DATABASE_URL = (
    os.environ.get("BANANA_BENCH_DATABASE_URL")
    or os.environ.get("BANANA_TEST_DATABASE_URL")
    or "postgresql:///banana_test"
)


@dataclass(frozen=True)
class Setup:
    key: str  # as in the results' names: sqlite1, postgres1, postgres3, postgres3kill
    label: str  # as in the tables
    replicas: int
    postgres: bool
    kill: bool = False  # SIGKILL the last replica halfway through sending


SETUPS = (
    Setup("sqlite1", "SQLite, 1 process", 1, postgres=False),
    Setup("postgres1", "PostgreSQL, 1 process", 1, postgres=True),
    Setup("postgres3", "PostgreSQL, 3 processes", 3, postgres=True),
    Setup("postgres3kill", "PostgreSQL, 3, one killed", 3, postgres=True, kill=True),
)


@dataclass(frozen=True)
class Workload:
    tasks: int
    seconds: float  # the commands are spread evenly over this long
    generation: Generation
    channels: int = 20


def with_search_path(url: str, schema: str) -> str:
    """`url` with `options=-csearch_path=<schema>`, so everything the store creates and reads lands in that schema,
    and the schema's name as the application_name, so the run's connections can be told apart."""
    parts = urlsplit(url)
    pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "application_name"]
    options = " ".join([*(v for k, v in pairs if k == "options"), f"-csearch_path={schema}"])
    pairs = [*((k, v) for k, v in pairs if k != "options"), ("options", options), ("application_name", schema)]
    query = urlencode(pairs, quote_via=quote)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{query}"  # urlunsplit would drop the // of postgresql:///db


@contextlib.asynccontextmanager
async def fresh_schema(admin_url: str) -> AsyncIterator[str]:
    """A new, empty schema in the database at `admin_url`, dropped afterwards; yields the app's DATABASE_URL for it."""
    schema = f"bench_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
    try:
        yield with_search_path(admin_url, schema)
    finally:
        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
            await admin.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))


class BackendCpu:
    """CPU time of the PostgreSQL backends serving one run's replicas (found by the application_name in their URL),
    sampled every half second while the run goes on: what the database does for them, apart from anything else the
    server runs meanwhile. None when the server is not on this machine."""

    def __init__(self, url: str, application_name: str) -> None:
        self.url = url
        self.application_name = application_name
        self.first: dict[int, float] = {}  # the backends there at the start, and their CPU then
        self.last: dict[int, float] = {}
        self._sampling: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.first = await self._sample()
        self._sampling = asyncio.create_task(self._sample_forever())

    async def stop(self) -> float | None:
        if self._sampling is not None:
            self._sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampling
        await self._sample()
        if not self.last:
            return None
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())

    async def _sample_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            await self._sample()

    async def _sample(self) -> dict[int, float]:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            rows = await (
                await conn.execute(
                    "select pid from pg_stat_activity where application_name like %s", [self.application_name + "%"]
                )
            ).fetchall()
        found = {int(row[0]): cpu_seconds(int(row[0])) for row in rows}
        now = {pid: cpu for pid, cpu in found.items() if cpu is not None}
        self.last.update(now)
        return now


class CallbackProxy:
    """kie's callbacks as a load balancer in front of the replicas passes them on: each to the next live replica
    (round-robin, the same turn as the commands), trying the next one if a replica does not answer."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.passed = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._pass_on)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _pass_on(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith(("content-type", "x-webhook-"))}
        for _ in range(len(self.stack.live)):
            url = self.stack.next_app_url() + request.path_qs
            try:
                async with self.stack.http.post(url, data=body, headers=headers) as response:
                    answer = await response.read()
                    self.passed += 1
                    return web.Response(status=response.status, body=answer, content_type=response.content_type)
            except aiohttp.ClientConnectionError:
                continue
        return web.Response(status=502)


async def send(stack: Stack, count: int, seconds: float, tag: str) -> tuple[Sent, dict[str, float], set[str]]:
    """`count` commands spread evenly over `seconds`, round-robin over the channels (and the live replicas).
    Returns what was sent, when each command went (monotonic clock, by token), and which got a plain ack."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    channels = stack.channels
    sent_at: dict[str, float] = {}
    acked: set[str] = set()

    async def one(number: int) -> float | None:
        await asyncio.sleep(max(0.0, start + number * seconds / count - loop.time()))
        token = f"bench-{tag}-{number:04d}"
        sent_at[token] = time.monotonic()
        text = f"{token} a lighthouse at dawn, isometric --ar 16:9"
        try:
            took, plain = await stack.command(text, channels[number % len(channels)])
        except aiohttp.ClientError:  # the replica it went to was killed while answering
            return None
        if plain:
            acked.add(token)
        return took

    results = await asyncio.gather(*(one(number) for number in range(count)))
    latencies = [took for took in results if took is not None]
    return Sent(latencies, len(acked), loop.time() - start), sent_at, acked


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float) -> bool:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.5)
    return False


async def watch_takeover(url: str, pid: int, lease_seconds: float) -> tuple[int, list[float]]:
    """Right after a replica (process `pid`) was killed: the unfinished tasks it held, and for each, seconds until a
    live replica held it. A lease's holder is named host:pid:random (bot.jobs.runner.replica_name)."""
    killed = time.monotonic()
    claimed: dict[int, float] = {}
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        rows = await (
            await conn.execute(
                "select id from tasks where lease_owner like %s and state <> all(%s)", [f"%:{pid}:%", list(FINISHED)]
            )
        ).fetchall()
        orphans = [row[0] for row in rows]
        deadline = killed + 3 * lease_seconds + 10
        while len(claimed) < len(orphans) and time.monotonic() < deadline:
            rows = await (
                await conn.execute("select id, lease_owner, state from tasks where id = any(%s)", [orphans])
            ).fetchall()
            for task_id, owner, state in rows:
                taken = owner is not None and f":{pid}:" not in owner
                if task_id not in claimed and (taken or state in FINISHED):
                    claimed[task_id] = time.monotonic() - killed
            await asyncio.sleep(0.05)
    return len(orphans), sorted(claimed.values())


async def run(
    work: Path,
    *,
    setup: Setup,
    mode: str,
    workload: Workload,
    admin_url: str,
    app_env: dict[str, str],
    lease_seconds: float = 3.0,
) -> Outcome:
    """One setup under the workload; PostgreSQL setups in a fresh schema. `lease_seconds` is for the kill run only
    (the others keep the app's default)."""
    env = dict(app_env)
    if setup.kill:
        env["LEASE_SECONDS"] = f"{lease_seconds:g}"
    if not setup.postgres:
        return await _run(work, setup, mode, workload, env, None)
    async with fresh_schema(admin_url) as url:
        return await _run(work, setup, mode, workload, {**env, "DATABASE_URL": url}, url)


async def _run(
    work: Path, setup: Setup, mode: str, workload: Workload, env: dict[str, str], url: str | None
) -> Outcome:
    generation = workload.generation
    config = StackConfig(
        f"replicas-{setup.key}-{mode}",
        callbacks=mode == "callbacks",
        queue_seconds=generation.queue,
        generate_seconds=generation.generate,
        generate_jitter=generation.jitter,
        channels=workload.channels,
        app_env=env,
        replicas=setup.replicas,
    )
    stack = Stack(config, work)
    proxy = CallbackProxy(stack)
    if config.callbacks:
        stack.public_url = await proxy.start()
    takeover: Takeover | None = None
    database: BackendCpu | None = None
    try:
        await stack.start()
        backends = [str((await stack.health(number))["database_backend"]) for number in stack.live]
        for number in stack.live:
            await stack.start_window(replica=number)
        cpu_before = [stack.cpu_seconds(number) for number in stack.live]
        if url:
            database = BackendCpu(url, dict(parse_qsl(urlsplit(url).query))["application_name"])
            await database.start()
        tag = "rep"
        echo(f"  {config.name}: {workload.tasks} commands over {workload.seconds:.0f} s; kie takes {generation} …")
        started = time.monotonic()
        killer = None
        if setup.kill and url:
            killer = asyncio.create_task(_kill_last(stack, url, started, workload.seconds / 2, lease_seconds(env)))
        sent, sent_at, acked = await send(stack, workload.tasks, workload.seconds, tag)
        if killer is not None:
            takeover = await killer
            takeover.cpu_seconds = _delta(takeover.cpu_seconds, cpu_before[-1])

        async def all_delivered() -> bool:  # every acked command's image in its thread
            stats = await stack.slack_stats()
            return acked <= {token_of(f["title"]) for f in stats["files"] if f["shared_at"] is not None}

        async def all_idle() -> bool:
            return sum([(await stack.metrics(replica=number))["in_flight"] for number in stack.live]) == 0

        creating = workload.tasks / 1.9  # kie's 20 creates per 10 s, less the app's margin
        slowest = generation.queue + generation.generate + generation.jitter
        await wait_until(all_delivered, timeout=max(workload.seconds, creating) + slowest + 60)
        idle = await wait_until(all_idle, timeout=180)
        cpu_after = {number: stack.cpu_seconds(number) for number in stack.live}
        database_cpu = await database.stop() if database else None
        database = None
        lags = [(await stack.metrics(replica=number))["loop_lag"] for number in stack.live]
        kie, slack = await stack.kie_stats(), await stack.slack_stats()
        for name, stats in (("kie", kie), ("slack", slack)):  # kept with the logs (--keep), for a closer look
            (stack.work / f"{name}-stats.json").write_text(json.dumps(stats))
        delivered = len({token_of(f["title"]) for f in slack["files"] if f["shared_at"] is not None})
        result = await outcome(stack, "replicas", mode, workload.tasks, sent, delivered, idle, str(generation))
        rss = [stack.peak_rss_mb(number) if number in cpu_after else None for number in range(setup.replicas)]
        cpu = [_delta(cpu_after.get(number), before) for number, before in enumerate(cpu_before)]
        if takeover is not None:
            rss[-1], cpu[-1] = takeover.rss_mb, takeover.cpu_seconds
        result.replica = figures(setup, backends, sent, sent_at, acked, kie, slack)
        result.replica.rss_mb = rss
        result.replica.cpu_seconds = cpu
        result.replica.postgres_cpu = database_cpu
        result.replica.loop_p99_ms = max(float(lag.get("p99_ms", 0.0)) for lag in lags)
        result.replica.callbacks_passed = proxy.passed
        result.replica.takeover = takeover
        result.replica.not_done = await not_done(url, stack.work / "banana.db")
        result.peak_rss_mb = max((value for value in rss if value is not None), default=None)
        result.loop = max(lags, key=lambda lag: lag.get("p99_ms", 0))
        return result
    finally:
        if database is not None:
            await database.stop()
        await stack.stop()
        await proxy.stop()


async def not_done(url: str | None, sqlite_path: Path) -> dict[str, int]:
    """The tasks that did not end with an image, counted by state and error code, from the store itself."""
    query = "select state, error_code, count(*) from tasks where state <> 'done' group by state, error_code"
    if url:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            rows = await (await conn.execute(query)).fetchall()
    else:
        with contextlib.closing(sqlite3.connect(sqlite_path)) as db:
            rows = db.execute(query).fetchall()
    return {f"{state} {code}" if code else str(state): int(count) for state, code, count in rows}


def lease_seconds(env: dict[str, str]) -> float:
    return float(env.get("LEASE_SECONDS", "30"))


def _delta(after: float | None, before: float | None) -> float | None:
    return after - before if after is not None and before is not None else None


async def _kill_last(stack: Stack, url: str, started: float, after: float, lease: float) -> Takeover:
    """SIGKILL the last replica `after` seconds into the sending, and watch the others take its work over."""
    await asyncio.sleep(max(0.0, started + after - time.monotonic()))
    victim = len(stack.apps) - 1
    process = stack.apps[victim]
    rss, cpu = stack.peak_rss_mb(victim), stack.cpu_seconds(victim)
    killed_after = time.monotonic() - started
    await stack.kill(victim)
    echo(f"    killed replica {victim + 1} (pid {process.pid}) {killed_after:.1f} s in")
    orphans, claimed = await watch_takeover(url, process.pid, lease)
    return Takeover(lease, killed_after, orphans, claimed, rss, cpu)


def figures(
    setup: Setup,
    backends: list[str],
    sent: Sent,
    sent_at: dict[str, float],
    acked: set[str],
    kie: dict[str, Any],
    slack: dict[str, Any],
) -> ReplicaFigures:
    """The per-command figures from both stand-ins' views, matched by the token in each prompt."""
    images: dict[str, list[float]] = {}
    for f in slack["files"]:
        token = token_of(f["title"])
        if token in sent_at and f["shared_at"] is not None:
            images.setdefault(token, []).append(f["shared_at"])
    to_image = [min(times) - sent_at[token] for token, times in images.items()]
    created = Counter(token_of(t["prompt"]) for t in kie["tasks"])
    requests = kie["requests"]
    first = min(sent_at.values(), default=0.0)
    last = max((min(times) for times in images.values()), default=first)
    return ReplicaFigures(
        setup=setup.key,
        label=setup.label,
        backends=backends,
        acked=len(acked),
        unanswered=len(sent_at) - len(sent.latencies),
        missing=len(acked - set(images)),
        to_image=to_image,
        span=last - first,
        delivered_once=sum(1 for times in images.values() if len(times) == 1),
        delivered_twice=sum(1 for times in images.values() if len(times) > 1),
        created_twice=sum(1 for token, n in created.items() if token in sent_at and n > 1),
        kie_creates=int(requests.get(CREATE_PATH, 0)),
        kie_creates_refused=int(kie["refused_creates"]),
        kie_reads=int(requests.get(RECORD_PATH, 0)),
        kie_reads_refused=int(kie.get("refused_reads", 0)),
        slack_calls=sum(1 for call in slack["calls"] if call[0] != "auth.test"),
        rss_mb=[],
        cpu_seconds=[],
        postgres_cpu=None,
        loop_p99_ms=0.0,
    )

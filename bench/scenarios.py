"""The measurements. Each scenario starts its own stack (fresh processes and database), so none disturbs another's
figures; light ones run side by side to keep a full run short."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stack import BOT_TOKEN, KIE_KEY, Stack, StackConfig
from bot.settings import load_settings

TOKEN = re.compile(r"bench-[a-z]+-\d{4}")  # every command's prompt carries one, so kie's task and Slack's file match


def echo(text: str) -> None:
    print(text, flush=True)


@dataclass
class Sent:
    latencies: list[float]  # seconds from sending a command to its ack
    plain: int  # acks that started a task (no error text)
    seconds: float  # how long sending took


@dataclass
class RemixFigures:
    """The remix run: photos from a person's message, downloaded from Slack and uploaded to kie, several at once."""

    remixes: int
    photos: int  # per remix
    photo_bytes: list[int]  # each photo's size, as posted in Slack
    photo_pixels: tuple[int, int]
    forms_opened: int
    submitted: int  # submissions the app answered by moving the form on (a task started)
    to_last_upload: list[float]  # per remix: from sending the form's submission to kie receiving its last upload
    uploads: list[dict[str, Any]]  # kie's view of each upload: path, at, bytes, mime, pixels
    delivered: int


@dataclass
class FixedFigures:
    """A plain poller beside the app (issue 13): its own kie stand-in, the same kind of tasks, read every `interval`
    seconds from each create."""

    interval: float
    tasks: int
    created: int  # tasks kie accepted
    seen: int  # tasks it saw finish
    lags: list[float]  # kie done -> the read that saw it, per task
    record_info: list[int]  # recordInfo calls per task (refused ones included)
    kie_429: int


@dataclass
class Takeover:
    """The kill-one-of-three run: one replica SIGKILLed, its unfinished tasks left for the others to claim."""

    lease_seconds: float
    killed_after: float  # seconds from the first command to the kill
    orphans: int  # unfinished tasks the killed replica held
    claimed: list[float]  # per orphan: seconds from the kill until a live replica held it
    rss_mb: float | None  # the killed replica's peak RSS, read just before the kill
    cpu_seconds: float | None  # its CPU time over the run, until the kill


@dataclass
class ReplicaFigures:
    """What the replicas run adds to an Outcome: per-process figures, the whole path, and kie's and Slack's traffic."""

    setup: str  # sqlite1, postgres1, postgres3 or postgres3kill
    label: str  # the setup, for a table's column
    backends: list[str]  # each replica's store, as its /healthz names it
    acked: int  # commands answered with a plain ack
    unanswered: int  # commands whose ack never came (sent as a replica died)
    missing: int  # acked commands with no image in their thread
    to_image: list[float]  # per command: sending it -> its image in the thread
    span: float  # first command -> last image in its thread
    delivered_once: int  # acked commands with exactly one image in their thread
    delivered_twice: int  # commands with more than one image
    created_twice: int  # commands that became more than one kie task
    kie_creates: int  # createTask requests kie received, refused ones included
    kie_creates_refused: int
    kie_reads: int  # recordInfo requests, refused ones included
    kie_reads_refused: int
    slack_calls: int  # Web API calls except auth.test, 429s included
    rss_mb: list[float | None]  # per replica, peak (VmHWM)
    cpu_seconds: list[float | None]  # per replica, user + system, from the first command to the end
    postgres_cpu: float | None  # the PostgreSQL backends serving the replicas, the same time (None: SQLite, or remote)
    loop_p99_ms: float  # the worst replica's event-loop lag p99
    callbacks_passed: int = 0  # kie callbacks the proxy handed to a replica
    not_done: dict[str, int] = field(default_factory=dict)  # tasks without an image at the end, by state and error
    takeover: Takeover | None = None


@dataclass
class Outcome:
    """What a scenario saw on both sides."""

    name: str
    mode: str  # polling or callbacks
    tasks: int
    sent: Sent
    delivered: int
    lags: list[float]  # kie done -> file in the thread, per task
    card_lags: list[float]  # file in the thread -> the card's last edit, per task
    record_info: list[int]  # recordInfo calls per task
    slack_calls: dict[str, float]  # per task, by method
    slack_429: dict[str, int]  # by method
    kie_429: int
    idle: bool  # every card had its final edit before the scenario ended
    generation: str  # how long kie took per task
    loop: dict[str, float]
    peak_rss_mb: float | None = None
    peak_in_flight: int = 0
    in_flight_after_delivery: int = 0
    delivery_seconds: float = 0.0
    poll_interval: float = 0.0  # the app's poll interval when a typical task finished (median over tasks)
    result_bytes: int = 0  # padding on each result
    remix: RemixFigures | None = None
    fixed: FixedFigures | None = None  # the poll run: a fixed-interval poller on the same kind of tasks
    replica: ReplicaFigures | None = None  # the replicas run: per-process figures and kie's and Slack's traffic


async def send_commands(stack: Stack, count: int, seconds: float, tag: str) -> Sent:
    """`count` commands spread evenly over `seconds`, round-robin over the stack's channels."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    channels = stack.channels

    async def one(number: int) -> tuple[float, bool]:
        await asyncio.sleep(max(0.0, start + number * seconds / count - loop.time()))
        text = f"bench-{tag}-{number:04d} a lighthouse at dawn, isometric --ar 16:9"
        return await stack.command(text, channels[number % len(channels)])

    results = await asyncio.gather(*(one(number) for number in range(count)))
    return Sent([took for took, _ in results], sum(ok for _, ok in results), loop.time() - start)


def token_of(text: str | None) -> str | None:
    found = TOKEN.search(text or "")
    return found.group(0) if found else None


async def wait_for_delivery(stack: Stack, count: int, timeout: float) -> int:  # noqa: ASYNC109
    """Until `count` results are in their threads, or `timeout`; returns how many arrived."""
    deadline = time.monotonic() + timeout
    while True:
        stats = await stack.slack_stats()
        arrived = sum(1 for f in stats["files"] if f["shared_at"] is not None)
        if arrived >= count or time.monotonic() > deadline:
            return arrived
        await asyncio.sleep(0.5)


async def wait_idle(stack: Stack, timeout: float) -> bool:  # noqa: ASYNC109
    """Until the app has no task in flight: every card had its final edit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (await stack.metrics())["in_flight"] == 0:
            return True
        await asyncio.sleep(0.5)
    return False


def delivery_lags(kie: dict[str, Any], slack: dict[str, Any]) -> list[float]:
    """Per task: from kie marking it done to its file arriving in the thread (both on the shared monotonic clock)."""
    done = {token_of(t["prompt"]): t["done_at"] for t in kie["tasks"] if t["done_at"] is not None}
    arrived = {token_of(f["title"]): f["shared_at"] for f in slack["files"] if f["shared_at"] is not None}
    return [arrived[key] - done[key] for key in done if key in arrived]


def card_lags(slack: dict[str, Any]) -> list[float]:
    """Per task: from its file arriving to its card's last edit (the "Done" card); 0 if the edit came first."""
    last_edit: dict[tuple[str, str], float] = {}
    for method, status, at, channel, ts in slack["calls"]:
        if method == "chat.update" and status == 200:
            last_edit[(channel, ts)] = at
    return [
        max(0.0, last_edit[(f["channel"], f["thread_ts"])] - f["shared_at"])
        for f in slack["files"]
        if f["shared_at"] is not None and (f["channel"], f["thread_ts"]) in last_edit
    ]


def poll_interval(kie: dict[str, Any], app_env: dict[str, str]) -> float:
    """The median over tasks of the interval the app polls at when the task finishes, from the app's own schedule
    (POLL_INTERVAL_FAST and the rest, with any overrides the run was given)."""
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "-", "KIEAI_API_KEY": KIE_KEY, **app_env}
    polling = load_settings(env, env_file=None).polling
    intervals = sorted(
        polling.interval(t["done_at"] - t["created_at"]) for t in kie["tasks"] if t["done_at"] is not None
    )
    return intervals[len(intervals) // 2] if intervals else polling.fast_interval


def slack_calls_per_task(slack: dict[str, Any], tasks: int) -> dict[str, float]:
    counts = Counter(call[0] for call in slack["calls"] if call[0] != "auth.test")
    return {method: count / max(1, tasks) for method, count in sorted(counts.items())}


def slack_429s(slack: dict[str, Any]) -> dict[str, int]:
    return dict(Counter(call[0] for call in slack["calls"] if call[1] == 429))


async def outcome(
    stack: Stack,
    name: str,
    mode: str,
    tasks: int,
    sent: Sent,
    delivered: int,
    idle: bool,
    generation: str,
    *,
    only: str | None = None,
) -> Outcome:
    """What both sides saw; with `only`, just the tasks whose token carries that tag (not the warm-up's)."""
    kie, slack, metrics = await stack.kie_stats(), await stack.slack_stats(), await stack.metrics()
    if only is not None:
        mine = f"bench-{only}-"
        kie = {**kie, "tasks": [t for t in kie["tasks"] if (token_of(t["prompt"]) or "").startswith(mine)]}
        slack = {**slack, "files": [f for f in slack["files"] if (token_of(f["title"]) or "").startswith(mine)]}
    return Outcome(
        name=name,
        mode=mode,
        tasks=tasks,
        sent=sent,
        delivered=delivered,
        lags=delivery_lags(kie, slack),
        card_lags=card_lags(slack),
        record_info=[t["record_info_calls"] for t in kie["tasks"]],
        slack_calls=slack_calls_per_task(slack, tasks),
        slack_429=slack_429s(slack),
        kie_429=kie["refused_creates"] + kie.get("refused_reads", 0),
        idle=idle,
        generation=generation,
        loop=metrics["loop_lag"],
        peak_rss_mb=stack.peak_rss_mb(),
        poll_interval=poll_interval(kie, stack.config.app_env),
    )


def merged(parts: list[Outcome]) -> Outcome:
    """Several workspaces' runs of one scenario as one: more samples, each workspace with its own Slack limits."""
    if len(parts) == 1:
        return parts[0]
    first, tasks = parts[0], sum(p.tasks for p in parts)
    methods = {method for p in parts for method in p.slack_calls}
    return Outcome(
        name=first.name,
        mode=first.mode,
        tasks=tasks,
        sent=Sent(
            [t for p in parts for t in p.sent.latencies],
            sum(p.sent.plain for p in parts),
            max(p.sent.seconds for p in parts),
        ),
        delivered=sum(p.delivered for p in parts),
        lags=[lag for p in parts for lag in p.lags],
        card_lags=[lag for p in parts for lag in p.card_lags],
        record_info=[n for p in parts for n in p.record_info],
        slack_calls={m: sum(p.slack_calls.get(m, 0) * p.tasks for p in parts) / tasks for m in sorted(methods)},
        slack_429=dict(sum((Counter(p.slack_429) for p in parts), Counter())),
        kie_429=sum(p.kie_429 for p in parts),
        idle=all(p.idle for p in parts),
        generation=first.generation,
        loop=max((p.loop for p in parts), key=lambda lag: lag.get("p99_ms", 0)),
        peak_rss_mb=max((p.peak_rss_mb or 0 for p in parts), default=None),
        poll_interval=first.poll_interval,
    )


async def ack_latency(work: Path, *, count: int, seconds: float, app_env: dict[str, str]) -> Outcome:
    """Slash commands at `count / seconds` a second across 20 channels, as a busy workspace sends them."""
    stack = Stack(StackConfig("ack", channels=20, generate_seconds=5.0, app_env=app_env), work)
    await stack.start()
    try:
        await stack.start_window()
        echo(f"  ack: {count} commands in {seconds:.0f} s …")
        sent = await send_commands(stack, count, seconds, "ack")
        await asyncio.sleep(2.0)  # the work the burst started goes on: see that it trips no limit
        return await outcome(stack, "ack", "polling", count, sent, 0, False, "6 s")
    finally:
        await stack.stop()


@dataclass(frozen=True)
class Generation:
    """How long kie takes: queue, then generate, plus up to `jitter` more at random (drawn from `seed` when set: two
    stand-ins given the same seed give their n-th tasks the same time)."""

    queue: float
    generate: float
    jitter: float = 0.0
    seed: int | None = None

    def __str__(self) -> str:
        fastest, slowest = self.queue + self.generate, self.queue + self.generate + self.jitter
        return f"{fastest:.0f} s" if not self.jitter else f"{fastest:.0f}-{slowest:.0f} s"


def _stack_config(name: str, mode: str, generation: Generation, app_env: dict[str, str]) -> StackConfig:
    """A stack of ten channels whose kie takes `generation`, polling or called back as `mode` says."""
    return StackConfig(
        name,
        callbacks=mode == "callbacks",
        queue_seconds=generation.queue,
        generate_seconds=generation.generate,
        generate_jitter=generation.jitter,
        jitter_seed=generation.seed,
        channels=10,
        app_env=app_env,
    )


async def delivery(
    work: Path,
    *,
    name: str,
    mode: str,
    tasks: int,
    seconds: float,
    generation: Generation,
    app_env: dict[str, str],
    workspaces: int = 1,
    idle_timeout: float = 120.0,
) -> Outcome:
    """`tasks` images requested over `seconds` in each of `workspaces` workspaces (a stack each, side by side, each
    with its own Slack limits), delivered by polling or by kie's callbacks."""

    async def one(workspace: int) -> Outcome:
        config = _stack_config(f"{name}-{mode}-{workspace}", mode, generation, app_env)
        stack = Stack(config, work)
        await stack.start()
        try:
            slowest = generation.queue + generation.generate + generation.jitter
            await stack.start_window()
            echo(f"  {config.name}: {tasks} tasks over {seconds:.0f} s; kie takes {generation} …")
            sent = await send_commands(stack, tasks, seconds, name)
            delivered = await wait_for_delivery(stack, tasks, timeout=slowest + 60)
            idle = await wait_idle(stack, timeout=idle_timeout)
            return await outcome(stack, name, mode, tasks, sent, delivered, idle, str(generation), only=name)
        finally:
            await stack.stop()

    parts = await asyncio.gather(*(one(number) for number in range(1, workspaces + 1)))
    return merged(list(parts))


BATCHES = ("cold", "warm")


async def batches(
    work: Path,
    *,
    name: str,
    mode: str,
    tasks: int,
    seconds: float,
    generation: Generation,
    app_env: dict[str, str],
    idle_timeout: float = 120.0,
    starting: Mapping[str, asyncio.Event] | None = None,
) -> dict[str, Outcome]:
    """Two batches of `tasks` on one fresh stack, each measured on its own: `cold` (a new install, an empty store)
    then `warm` (with the first batch's history), as issue 24 asks. `starting[batch]` is set as each begins, for
    whatever runs beside it."""
    config = _stack_config(f"{name}-{mode}", mode, generation, app_env)
    stack = Stack(config, work)
    await stack.start()
    try:
        slowest = generation.queue + generation.generate + generation.jitter
        found: dict[str, Outcome] = {}
        for number, batch in enumerate(BATCHES):
            tag = f"{name}{batch}"
            await stack.start_window()
            echo(f"  {config.name}: {batch}, {tasks} tasks over {seconds:.0f} s; kie takes {generation} …")
            if starting is not None:
                starting[batch].set()
            sent = await send_commands(stack, tasks, seconds, tag)
            arrived = await wait_for_delivery(stack, (number + 1) * tasks, timeout=slowest + 60)
            idle = await wait_idle(stack, timeout=idle_timeout)
            found[batch] = await outcome(
                stack, name, mode, tasks, sent, arrived - number * tasks, idle, str(generation), only=tag
            )
        return found
    finally:
        await stack.stop()


async def in_flight(
    work: Path,
    *,
    tasks: int,
    seconds: float,
    mode: str,
    app_env: dict[str, str],
    result_bytes: int = 0,
    deliver_within: float = 300.0,
) -> Outcome:
    """`tasks` commands in `seconds`, all in flight at once: the app's memory and event-loop lag, and whether
    everything is delivered.

    kie's real create limit (20 per 10 s) would take 500 s just to create 1,000 tasks, so this stack raises it on
    both sides, for this scenario only. Its read limit (about 10 a second) stays, as do Slack's tiers: with polling,
    1,000 tasks need at least 1,000 reads, so delivering them all takes two minutes or more at kie's pace."""
    config = StackConfig(
        f"load-{mode}",
        callbacks=mode == "callbacks",
        queue_seconds=2.0,
        generate_seconds=25.0,
        generate_jitter=10.0,
        kie_creates=tasks,
        channels=100,
        result_bytes=result_bytes,
        app_env={"KIEAI_CREATES_PER_WINDOW": str(tasks), **app_env},
    )
    stack = Stack(config, work)
    await stack.start()
    peak = 0
    sampling = True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, (await stack.metrics())["in_flight"])
            await asyncio.sleep(0.5)

    try:
        await stack.start_window()
        echo(f"  load-{mode}: {tasks} commands in {seconds:.0f} s; kie takes 27-37 s …")
        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        sent = await send_commands(stack, tasks, seconds, "load")
        delivered = await wait_for_delivery(stack, tasks, timeout=deliver_within)
        took = time.monotonic() - started
        sampling = False
        await sampler
        still = (await stack.metrics())["in_flight"]
        result = await outcome(stack, "load", mode, tasks, sent, delivered, still == 0, "27-37 s")
    finally:
        await stack.stop()
    result.result_bytes = result_bytes
    result.peak_in_flight = peak
    result.in_flight_after_delivery = still
    result.delivery_seconds = took
    return result

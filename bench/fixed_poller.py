"""The `poll` run (issues 13 and 24): the app's polling beside a plain poller that reads each task every 3 s from its
create, on the same tasks. Their durations are drawn from a spread, so neither poller's intervals line up with them,
and from one seed, so the n-th task of a batch takes as long on both sides: the comparison is task for task, not
between two random samples of twenty.

The plain poller has its own kie stand-in, started with the same duration flags, and needs no Slack: its lag ends
at the read that saw `success`, where the app's ends with the file in the thread (a download and an upload later)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.scenarios import FixedFigures, Generation, Outcome
from bench.stack import KIE_KEY, SHIPPED_EXPECTED_SECONDS, Stack, StackConfig
from standins.kie import CREATE_PATH, MODEL, RECORD_PATH

CREATE_TRIES = 30  # a refused create waits a second each time; kie's window is 10 s


async def fixed_poller(
    work: Path,
    *,
    name: str,
    tasks: int,
    seconds: float,
    generation: Generation,
    starting: Mapping[str, asyncio.Event],
    interval: float = 3.0,
) -> dict[str, FixedFigures]:
    """A batch of `tasks` tasks created over `seconds` as each of `starting` is set, against a kie stand-in of its
    own, each read every `interval` seconds from its create until it is done (or long after it should have been).
    Given the app's seed, its n-th task takes as long as the app's n-th: the two read the same tasks."""
    config = StackConfig(
        f"{name}-fixed",
        queue_seconds=generation.queue,
        generate_seconds=generation.generate,
        generate_jitter=generation.jitter,
        jitter_seed=generation.seed,
    )
    stack = Stack(config, work)
    await stack.start_kie()
    headers = {"Authorization": f"Bearer {KIE_KEY}"}
    slowest = generation.queue + generation.generate + generation.jitter
    seen: dict[str, float] = {}  # task id -> when the read that saw it done came back (the shared monotonic clock)

    async def call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        async with stack.http.request(method, stack.kie_url + path, headers=headers, **kwargs) as response:
            return dict(await response.json(content_type=None))

    async def create(prompt: str) -> dict[str, Any]:
        """A refused create is tried again a moment later, as any client of kie would, so both sides get every task."""
        for _ in range(CREATE_TRIES):
            answer = await call("POST", CREATE_PATH, json={"model": MODEL, "input": {"prompt": prompt}})
            if answer.get("code") != 429:
                break
            await asyncio.sleep(1.0)
        return answer

    async def one(tag: str, number: int, start: float) -> None:
        await asyncio.sleep(max(0.0, start + number * seconds / tasks - time.monotonic()))
        answer = await create(f"bench-{tag}-{number:04d} a lighthouse at dawn, isometric")
        created = time.monotonic()
        if answer.get("code") != 200:
            return
        task_id = answer["data"]["taskId"]
        reads = 0
        while reads * interval < slowest + 60:
            reads += 1
            await asyncio.sleep(max(0.0, created + reads * interval - time.monotonic()))
            record = await call("GET", RECORD_PATH, params={"taskId": task_id})
            if (record.get("data") or {}).get("state") in ("success", "fail"):
                seen[task_id] = time.monotonic()
                return

    try:
        for batch, began in starting.items():
            await began.wait()
            scenarios.echo(f"  {config.name}: {batch}, {tasks} tasks over {seconds:.0f} s, read every {interval:g} s …")
            start = time.monotonic() + 0.2
            await asyncio.gather(*(one(f"{name}{batch}", number, start) for number in range(tasks)))
        kie = await stack.kie_stats()
    finally:
        await stack.stop()
    return {batch: _figures(kie, f"bench-{name}{batch}-", seen, tasks, interval) for batch in starting}


def _figures(kie: dict[str, Any], mine: str, seen: dict[str, float], tasks: int, interval: float) -> FixedFigures:
    """The poller's figures for the tasks whose token starts with `mine`."""
    ours = [t for t in kie["tasks"] if (scenarios.token_of(t["prompt"]) or "").startswith(mine)]
    done = {t["taskId"]: t["done_at"] for t in ours if t["done_at"] is not None}
    return FixedFigures(
        interval=interval,
        tasks=tasks,
        created=len(ours),
        seen=len([task_id for task_id in seen if task_id in done]),
        lags=[at - done[task_id] for task_id, at in seen.items() if task_id in done],
        record_info=[t["record_info_calls"] for t in ours],
        kie_429=kie["refused_creates"] + kie.get("refused_reads", 0),
    )


async def compare(
    work: Path,
    *,
    name: str,
    tasks: int,
    seconds: float,
    generation: Generation,
    app_env: dict[str, str],
    interval: float = 3.0,
) -> dict[str, Outcome]:
    """The app in polling mode, a cold batch then a warm one (`scenarios.batches`), each beside a batch of the fixed
    poller's on the same tasks (one seed for both stand-ins: the n-th task of a batch takes as long on each); each of
    the app's outcomes carries the poller's figures for its batch. `name` is letters only: it goes into each prompt's
    token. The app starts from the shipped prior, as a new install does."""
    paired = replace(generation, seed=generation.seed if generation.seed is not None else random.randrange(2**31))
    starting = {batch: asyncio.Event() for batch in scenarios.BATCHES}
    app, fixed = await asyncio.gather(
        scenarios.batches(
            work,
            name=name,
            mode="polling",
            tasks=tasks,
            seconds=seconds,
            generation=paired,
            app_env={"KIEAI_EXPECTED_SECONDS": SHIPPED_EXPECTED_SECONDS, **app_env},
            starting=starting,
        ),
        fixed_poller(
            work, name=name, tasks=tasks, seconds=seconds, generation=paired, starting=starting, interval=interval
        ),
    )
    for batch, found in app.items():
        found.fixed = fixed[batch]
    return app

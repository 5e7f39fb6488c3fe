"""The `poll` run (issue 13): the app's polling beside a plain poller that reads each task every 3 s from its create,
on the same kind of tasks. Their durations are drawn from a spread, so neither poller's intervals line up with them.

The plain poller has its own kie stand-in, started with the same duration flags, and needs no Slack: its lag ends
at the read that saw `success`, where the app's ends with the file in the thread (a download and an upload later)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.scenarios import FixedFigures, Generation, Outcome
from bench.stack import KIE_KEY, SHIPPED_EXPECTED_SECONDS, Stack, StackConfig
from standins.kie import CREATE_PATH, MODEL, RECORD_PATH


async def fixed_poller(
    work: Path, *, name: str, tasks: int, seconds: float, generation: Generation, interval: float = 3.0
) -> FixedFigures:
    """`tasks` tasks created over `seconds` against a kie stand-in of its own, each read every `interval` seconds
    from its create until it is done (or long after it should have been)."""
    config = StackConfig(
        f"{name}-fixed",
        queue_seconds=generation.queue,
        generate_seconds=generation.generate,
        generate_jitter=generation.jitter,
    )
    stack = Stack(config, work)
    await stack.start_kie()
    headers = {"Authorization": f"Bearer {KIE_KEY}"}
    slowest = generation.queue + generation.generate + generation.jitter
    seen: dict[str, float] = {}  # task id -> when the read that saw it done came back (the shared monotonic clock)

    async def call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        async with stack.http.request(method, stack.kie_url + path, headers=headers, **kwargs) as response:
            return dict(await response.json(content_type=None))

    async def one(number: int) -> None:
        await asyncio.sleep(max(0.0, start + number * seconds / tasks - time.monotonic()))
        prompt = f"bench-{name}-{number:04d} a lighthouse at dawn, isometric"
        answer = await call("POST", CREATE_PATH, json={"model": MODEL, "input": {"prompt": prompt}})
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
        scenarios.echo(f"  {config.name}: {tasks} tasks over {seconds:.0f} s, read every {interval:g} s …")
        start = time.monotonic() + 0.2
        await asyncio.gather(*(one(number) for number in range(tasks)))
        kie = await stack.kie_stats()
    finally:
        await stack.stop()
    done = {t["taskId"]: t["done_at"] for t in kie["tasks"] if t["done_at"] is not None}
    return FixedFigures(
        interval=interval,
        tasks=tasks,
        created=len(kie["tasks"]),
        seen=len(seen),
        lags=[at - done[task_id] for task_id, at in seen.items() if task_id in done],
        record_info=[t["record_info_calls"] for t in kie["tasks"]],
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
    """The app in polling mode, a cold batch then a warm one (`scenarios.batches`), beside the fixed poller on tasks
    of the same spread, run alongside the cold batch; each of the app's outcomes carries the poller's figures. `name`
    is letters only: it goes into each prompt's token. The app starts from the shipped prior, as a new install does."""
    app, fixed = await asyncio.gather(
        scenarios.batches(
            work,
            name=name,
            mode="polling",
            tasks=tasks,
            seconds=seconds,
            generation=generation,
            app_env={"KIEAI_EXPECTED_SECONDS": SHIPPED_EXPECTED_SECONDS, **app_env},
        ),
        fixed_poller(work, name=name, tasks=tasks, seconds=seconds, generation=generation, interval=interval),
    )
    for found in app.values():
        found.fixed = fixed
    return app

"""Quiet logs: at INFO, Banana says what a person or an operator wants to read (up, a task started and done with its
time and cost, stopping), and nothing per request: no httpx line for each kie read (banana/cli.py's
configure_logging, the runner's task lines)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import httpx

from banana.app.wiring import SLACK_EVENTS_PATH
from tests.conftest import SIGNING_SECRET, USER_ID, BananaProcess, free_port

DEADLINE = 30.0  # for the image to be made and the process to stop: normally a second or two


async def test_one_image_at_info_is_a_handful_of_lines_and_no_request_chatter(app_env, slack, kie, tmp_path):
    port = free_port()
    env = {"PATH": os.environ["PATH"], **app_env, "PORT": str(port), "LOG_LEVEL": "INFO"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "banana", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    lines: list[str] = []

    async def read() -> None:  # drained as it comes, so a chatty process never blocks on a full pipe
        assert process.stderr is not None
        async for line in process.stderr:
            lines.append(line.decode().rstrip("\n"))

    async def seen(text: str) -> None:
        while not any(text in line for line in lines):
            assert process.returncode is None, lines
            await asyncio.sleep(0.01)

    reader = asyncio.create_task(read())
    try:
        async with asyncio.timeout(DEADLINE), httpx.AsyncClient(timeout=10) as http:
            await seen("Banana is up")
            slack.deliver_events_to(f"http://127.0.0.1:{port}{SLACK_EVENTS_PATH}", SIGNING_SECRET)
            banana = BananaProcess(None, slack, http, process=process, port=port)  # type: ignore[arg-type]
            assert (await banana.command("a lighthouse at dawn")).status_code == 200
            await seen("task 1 done")
            process.send_signal(signal.SIGTERM)
            assert await process.wait() == 0
            await reader
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        reader.cancel()

    assert len(kie.requests) >= 3  # create, read, download: each would have been an httpx line at INFO
    said = [re.sub(r"^\S+ \S+ ", "", line) for line in lines]  # without the date and time
    assert said == [
        f"INFO banana: Banana is up: HTTP mode, port {port}",
        f"INFO bot.jobs.runner: task 1 started: 2K image for {USER_ID} in T0TEAM001",
        said[2],
        "INFO banana: Banana is stopping",
    ], lines
    assert re.fullmatch(r"INFO bot\.jobs\.job: task 1 done in \d+\.\d s, ≈?\d+ credits", said[2]), said[2]

"""kie.ai's callbacks over HTTP: the aiohttp side of bot/services/callbacks.py, which decides what each one means."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.jobs.runner import JobRunner
from bot.services.callbacks import MAX_BODY_BYTES, UNKNOWN, Reply, ours, refused, take_callback
from bot.services.tasks import Tasks
from bot.store import TaskStore


def callback_handler(
    runner: JobRunner,
    store: TaskStore,
    tasks: Tasks,
    *,
    hmac_key: str | None,
    clock: Callable[[], float] = time.time,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.Response:
        task_id = request.query.get("task", "")
        if not ours(runner, task_id, request.query.get("token", "")):
            return _answer(UNKNOWN)
        try:
            body = await _read_capped(request)
        except web.HTTPRequestEntityTooLarge:
            return _answer(refused(task_id, f"body over {MAX_BODY_BYTES} bytes", status=413))
        reply = await take_callback(
            runner, store, tasks, task_id, body, request.headers, hmac_key=hmac_key, now=clock()
        )
        return _answer(reply)

    return handle


def _answer(reply: Reply) -> web.Response:
    return web.json_response(reply.body, status=reply.status)


async def _read_capped(request: web.Request) -> bytes:
    """The body, or HTTPRequestEntityTooLarge past MAX_BODY_BYTES (told by Content-Length, or found reading)."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=request.content_length)
    body = bytearray()
    while chunk := await request.content.read(MAX_BODY_BYTES + 1 - len(body)):  # each read gives what has come
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=len(body))
    return bytes(body)

"""kie.ai's callbacks: a hint that a task finished, never trusted on its own.

A callback only wakes the task's poll, which re-reads the task from kie, so a forged or replayed callback can at most
cause one extra read. The one thing taken from its body is what kie says the task cost (`consumeCredits`). It must
carry the per-task token that only this app can make and, when kie's webhook HMAC key is configured, a fresh, valid
signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from banana.engine.kie import KieTask
from banana.engine.runner import JobRunner
from banana.engine.store import TaskStore

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW = 300  # seconds a signed callback's timestamp may differ from ours
ACCEPTED = {"code": 200, "msg": "success"}  # the answer kie's docs ask for


def callback_handler(
    runner: JobRunner, store: TaskStore, *, hmac_key: str | None, clock: Callable[[], float] = time.time
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.Response:
        task_id = request.query.get("task", "")
        token = request.query.get("token", "")
        if not task_id.isdigit() or not hmac.compare_digest(token, runner.callback_token(int(task_id))):
            return web.json_response({"code": 401, "msg": "unknown callback"}, status=401)
        try:
            body = json.loads(await request.text())
        except ValueError:
            return web.json_response({"code": 400, "msg": "body is not JSON"}, status=400)
        data = body.get("data") if isinstance(body, dict) else None
        kie_task_id = str((data or {}).get("taskId") or (data or {}).get("task_id") or "")
        if hmac_key and not _signed(request, kie_task_id, hmac_key, clock()):
            return web.json_response({"code": 401, "msg": "bad signature"}, status=401)
        task = await store.get(int(task_id))
        if task is None or task.kie_task_id != kie_task_id:
            log.info("callback for task %s ignored (unknown, or not its kie task)", task_id)
            return web.json_response(ACCEPTED)
        cost = KieTask.from_data(data or {}).credits
        if cost is not None:  # the one place kie states what a task cost
            await runner.record_cost(task, cost)
        if not task.state.finished:
            await runner.poke(task.id)
        return web.json_response(ACCEPTED)

    return handle


def _signed(request: web.Request, kie_task_id: str, key: str, now: float) -> bool:
    """kie signs `taskId.timestamp` (not the body) with HMAC-SHA256, base64-encoded."""
    timestamp = request.headers.get("X-Webhook-Timestamp", "")
    signature = request.headers.get("X-Webhook-Signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > MAX_CLOCK_SKEW or not kie_task_id:
        return False
    expected = hmac.new(key.encode(), f"{kie_task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(expected).decode(), signature)

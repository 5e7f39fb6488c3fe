"""kie.ai's callbacks: a hint that a task finished, never trusted on its own.

A callback only wakes the task's poll, which re-reads the task from kie, so a forged or replayed callback can at most
cause one extra read. The one thing taken from its body is what kie says the task cost (`consumeCredits`). It must
carry the per-task token that only this app can make and, when kie's webhook HMAC key is configured, a fresh, valid
signature. kie's signature covers `taskId.timestamp`, not the body, so even a signed cost is a claim: `claimed_cost`
takes it only as a finite number from 0 to what the task could cost at the dearest price.

The rules are here; the HTTP side (reading the body, at most MAX_BODY_BYTES of it) is banana/app/callbacks.py's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from bot.jobs.runner import JobRunner
from bot.services.tasks import Tasks
from bot.store import TaskStore
from prompts.options import NANO_BANANA_PRO, Prices
from prompts.tasks import Task

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW = 300  # seconds a signed callback's timestamp may differ from ours
MAX_BODY_BYTES = 64 * 1024  # a callback is a few hundred bytes; anything near this is not kie's
ACCEPTED = {"code": 200, "msg": "success"}  # the answer kie's docs ask for
COST_FIELDS = ("consumeCredits", "creditsConsumed")  # the documented name, and a newer one


class BadCallback(ValueError):
    """A callback this app refuses: 400, with the reason as the message (it never quotes the body)."""


def claimed_cost(data: Mapping[str, Any], *, prices: Prices, images: int, model: str = NANO_BANANA_PRO) -> float | None:
    """What a callback says the task cost, or None when it says nothing. Only a JSON number (not a string, not a
    boolean), finite, from 0 to the price table's dearest figure for its model times the images it asked for: kie
    does not sign the body, so a figure beyond what the task could cost is someone's attempt to blow a workspace's
    cap."""
    raw = next((data[field] for field in COST_FIELDS if data.get(field) is not None), None)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise BadCallback(f"{COST_FIELDS[0]} is not a number")
    ceiling = prices.dearest(model) * images
    if not math.isfinite(raw) or not 0 <= raw <= ceiling:
        raise BadCallback(f"{COST_FIELDS[0]} is outside 0 to {ceiling}")
    return float(raw)


def images_asked(task: Task) -> int:
    """How many images a task asked kie for: nano-banana-pro makes one per task (variations are tasks of their own).
    A model that makes several would be counted here."""
    return 1


@dataclass(frozen=True)
class Reply:
    """What to answer kie: an HTTP status and kie's answer shape."""

    status: int
    body: dict[str, Any]


UNKNOWN = Reply(401, {"code": 401, "msg": "unknown callback"})
ACCEPTED_REPLY = Reply(200, ACCEPTED)


def ours(runner: JobRunner, task_id: str, token: str) -> bool:
    """Whether the callback's URL is one this app made: a task number and its token."""
    return task_id.isascii() and task_id.isdigit() and _token_matches(runner, task_id, token)


def refused(task_id: str, reason: str, *, status: int = 400) -> Reply:
    """One INFO line, without the body (it may be anyone's), and the reason in kie's answer shape."""
    log.info("callback for task %s refused: %s", task_id, reason)
    return Reply(status, {"code": status, "msg": reason})


async def take_callback(
    runner: JobRunner,
    store: TaskStore,
    tasks: Tasks,
    task_id: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    hmac_key: str | None,
    now: float,
) -> Reply:
    """A callback whose URL is `ours`: its body read, its signature checked, its cost recorded, its task poked."""
    try:
        data = _callback_data(body)
    except BadCallback as error:
        return refused(task_id, str(error))
    kie_task_id = data.get("taskId") or data.get("task_id") or ""
    if hmac_key and not _signed(headers, kie_task_id, hmac_key, now):
        return Reply(401, {"code": 401, "msg": "bad signature"})
    task = await store.get(int(task_id))
    if task is None or task.kie_task_id != kie_task_id:
        log.info("callback for task %s ignored (unknown, or not its kie task)", task_id)
        return ACCEPTED_REPLY
    try:
        cost, bad = claimed_cost(data, prices=runner.settings.prices, images=images_asked(task), model=task.model), None
    except BadCallback as error:
        cost, bad = None, error
    if cost is not None:  # the one place kie states what a task cost
        await tasks.record_cost(task, cost)
    # A refused cost still pokes the task: the token shows the URL is ours, and a poke only makes Banana read the
    # task from kie (paced like every read) sooner, so a bad figure does not hold the image up either.
    if not task.state.finished:
        await runner.poke(task.id)
    return refused(task_id, str(bad)) if bad else ACCEPTED_REPLY


def _token_matches(runner: JobRunner, task_id: str, token: str) -> bool:
    if len(task_id) > 18 or not token.isascii():  # compare_digest refuses non-ASCII text with a TypeError
        return False
    return hmac.compare_digest(token, runner.callback_token(int(task_id)))


def _callback_data(body: bytes) -> Mapping[str, Any]:
    """The callback's `data` object ({} when it has none), its taskId a string if given. JSON only: Python's own
    `Infinity` and `NaN` are refused."""
    try:
        parsed = json.loads(body, parse_constant=_not_json)
    except (ValueError, RecursionError):
        raise BadCallback("body is not JSON") from None
    if not isinstance(parsed, dict):
        raise BadCallback("body is not a JSON object")
    data = parsed.get("data")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadCallback("data is not an object")
    if any(not isinstance(data.get(key) or "", str) for key in ("taskId", "task_id")):
        raise BadCallback("taskId is not a string")
    return data


def _not_json(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")


def _signed(headers: Mapping[str, str], kie_task_id: str, key: str, now: float) -> bool:
    """kie signs `taskId.timestamp` (not the body) with HMAC-SHA256, base64-encoded."""
    timestamp = headers.get("X-Webhook-Timestamp", "")
    signature = headers.get("X-Webhook-Signature", "")
    if not (timestamp.isascii() and timestamp.isdigit() and signature.isascii() and kie_task_id):
        return False
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW:
        return False
    expected = hmac.new(key.encode(), f"{kie_task_id}.{timestamp}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(expected).decode(), signature)

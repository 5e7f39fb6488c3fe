"""Rate limits and injected failures: HTTP 429 with ``Retry-After``, ``{"ok": false}`` errors, HTTP 5xx.

Faults are queued per key: a Web API method name, or "upload" (the files_upload_v2 upload URL) or "response_url"; a
dropped answer (``drop_answer``: the call takes effect, its connection closes before the answer) apart.
Tier enforcement (off by default: the tests run the app's timings a hundred times faster than real) approximates
Slack's documented limits, https://api.slack.com/apis/rate-limits : per method, per workspace, per app, HTTP 429 with
``Retry-After`` over it. chat.update (Tier 3, ~50 per minute) and chat.postMessage (~1 per second per channel, short
bursts allowed) each have their own switch; ``all_methods`` holds every other method in :data:`METHOD_TIERS` to its
tier, per minute.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

# (HTTP status, JSON body, extra headers) of one Web API answer.
Answer = tuple[int, dict[str, Any], dict[str, str]]

# Calls per minute of each tier, the documented minimums ("1+", "20+", "50+", "100+" per minute):
# https://api.slack.com/apis/rate-limits#tiers
TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
# Each method's tier, from its page at https://api.slack.com/methods/<method> ("Rate limits"). Special-tier methods
# (chat.postMessage: ~1 per second per channel; auth.test; chat.getPermalink) are not in this table.
METHOD_TIERS = {
    "chat.update": 3,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "conversations.join": 3,
    "conversations.open": 3,
    "conversations.info": 3,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "files.info": 4,
    "files.list": 3,
    "files.delete": 3,
    "files.remote.add": 2,
    "files.remote.share": 2,
    "users.info": 4,
    "views.open": 4,
    "views.push": 4,
    "views.update": 4,
    "views.publish": 4,
    # docs.slack.dev's page says Tier 3; the reference notes' table, from older pages, says Tier 1.
    "apps.connections.open": 3,
}


@dataclass
class Fault:
    kind: str  # "ratelimited" | "error" | "http"
    error: str = ""
    retry_after: int = 1
    status: int = 500


def fault_response(fault: Fault) -> Answer:
    if fault.kind == "ratelimited":
        return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
    if fault.kind == "http":
        return fault.status, {"ok": False, "error": "fatal_error"}, {}
    return 200, {"ok": False, "error": fault.error}, {}


class Limits:
    def __init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = {}
        self._drops: dict[str, int] = {}
        self._update_per_minute: int | None = None
        self._post_per_second: float | None = None
        self._update_times: deque[float] = deque()
        self._post_buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, last refill)
        self._all_methods = False
        self._method_times: dict[str, deque[float]] = {}  # method -> times of its accepted calls, last minute

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 429. ``method`` may also be "upload" or "response_url"."""
        queue = self._faults.setdefault(method, deque())
        queue.extend(Fault(kind="ratelimited", retry_after=retry_after) for _ in range(times))

    def fail_next(self, method: str, error: str, *, times: int = 1) -> None:
        queue = self._faults.setdefault(method, deque())
        queue.extend(Fault(kind="error", error=error) for _ in range(times))

    def server_error(self, method: str, *, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls get an HTTP 5xx (what AsyncServerErrorRetryHandler retries)."""
        queue = self._faults.setdefault(method, deque())
        queue.extend(Fault(kind="http", status=status) for _ in range(times))

    def drop_answer(self, method: str, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are carried out, then the connection closes before the answer: what
        a network drop looks like to the caller, who cannot tell whether the call took effect."""
        self._drops[method] = self._drops.get(method, 0) + times

    def take_drop(self, method: str) -> bool:
        if self._drops.get(method, 0) <= 0:
            return False
        self._drops[method] -= 1
        return True

    def enforce_tiers(
        self,
        chat_update_per_minute: int | None = None,
        post_message_per_second_per_channel: float | None = None,
        *,
        all_methods: bool = False,
    ) -> None:
        """Turn on real-rate enforcement; None leaves that limit off. Slack's real numbers: ~50/min, ~1/s.
        ``all_methods`` holds every method of :data:`METHOD_TIERS` but chat.update (its own switch) to its tier."""
        self._update_per_minute = chat_update_per_minute
        self._post_per_second = post_message_per_second_per_channel
        self._all_methods = all_methods
        self._update_times.clear()
        self._post_buckets.clear()
        self._method_times.clear()

    def take_fault(self, key: str) -> Fault | None:
        queue = self._faults.get(key)
        if queue:
            return queue.popleft()
        return None

    def check_tiers(self, method: str, args: dict[str, Any]) -> int | None:
        """Seconds to wait if the real-rate limits are on and exceeded, else None (and the call is counted)."""
        now = time.monotonic()
        if self._all_methods and method != "chat.update" and method in METHOD_TIERS:
            per_minute = TIER_PER_MINUTE[METHOD_TIERS[method]]
            times = self._method_times.setdefault(method, deque())
            while times and now - times[0] >= 60.0:
                times.popleft()
            if len(times) >= per_minute:
                return max(1, math.ceil(times[0] + 60.0 - now))
            times.append(now)
        if method == "chat.update" and self._update_per_minute is not None:
            while self._update_times and now - self._update_times[0] >= 60.0:
                self._update_times.popleft()
            if len(self._update_times) >= self._update_per_minute:
                return max(1, math.ceil(self._update_times[0] + 60.0 - now))
            self._update_times.append(now)
        if method == "chat.postMessage" and self._post_per_second is not None:
            rate = self._post_per_second
            capacity = max(1.0, rate)  # a short burst is allowed, as in Slack
            key = str(args.get("channel"))
            tokens, last = self._post_buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens < 1.0:
                self._post_buckets[key] = (tokens, now)
                return max(1, math.ceil((1.0 - tokens) / rate))
            self._post_buckets[key] = (tokens - 1.0, now)
        return None

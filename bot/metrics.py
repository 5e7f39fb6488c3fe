"""Banana's figures for an operator to scrape at /metrics, in Prometheus' text format, through prometheus-client.

Each app has its own registry (never the library's global one: tests run several apps in one process). Names follow
Prometheus' conventions (https://prometheus.io/docs/practices/naming/): a `banana_` prefix, seconds, and counters
ending in `_total` (prometheus-client adds it). Calls to kie.ai and Slack are counted where they leave the process
(an httpx event hook, an aiohttp trace), so every retry of either client is counted too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import SimpleNamespace
from urllib.parse import urlsplit

import aiohttp
import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from prompts.tasks import Task, TaskState

# Seconds: acks must stay within Slack's 3; deliveries are judged against a fixed 3 s poller's.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
DELIVERY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
COMMAND_BUCKETS = (5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 75.0, 90.0, 120.0, 180.0, 300.0, 600.0, 900.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
KIE_API = "/api/"  # kie's API paths are a fixed few; anything else is a result download, whose URL is unique
SLACK_API = "/api/"  # Slack's Web API: /api/<method>; anything else (an upload URL, a file, a response_url) is "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.tasks_started = Counter("banana_tasks_started", "Tasks started here.", registry=registry)
        self.tasks_finished = Counter(
            "banana_tasks_finished", "Tasks that ended here, by final state.", ["state"], registry=registry
        )
        self.command_to_image = Histogram(
            "banana_command_to_image_seconds",
            "From the command to the image in its thread, for tasks done here.",
            buckets=COMMAND_BUCKETS,
            registry=registry,
        )
        self.kie_done_to_image = Histogram(
            "banana_kie_done_to_image_seconds",
            "From kie.ai's completeTime to the image in its thread (kie.ai's clock against this host's).",
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self.acks = Histogram(
            "banana_slack_ack_seconds",
            "Time to answer Slack's HTTP requests (commands, interactions, events).",
            buckets=ACK_BUCKETS,
            registry=registry,
        )
        self.kie_requests = Counter(
            "banana_kie_requests",
            "Answers from kie.ai, by path and HTTP status.",
            ["path", "status"],
            registry=registry,
        )
        self.slack_requests = Counter(
            "banana_slack_requests",
            "Requests to Slack, by Web API method and HTTP status ('error': no answer).",
            ["method", "status"],
            registry=registry,
        )
        self.leases_taken = Counter(
            "banana_leases_taken_over",
            "Units of work claimed from the store: left by an earlier run, or by a replica that stopped renewing.",
            registry=registry,
        )
        self.loop_lag = Histogram(
            "banana_event_loop_lag_seconds",
            "How late the event loop woke a 50 ms sleeper.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.images_in_memory = Gauge(
            "banana_images_in_memory", "Result images held in memory for their upload.", registry=registry
        )
        self._held = _Held()
        registry.register(self._held)

    def watch(
        self,
        *,
        tasks_by_state: Callable[[], Mapping[str, int]],
        create_queue: Callable[[], int],
        leases: Callable[[], int],
    ) -> None:
        """What is read when scraped: the tasks held here by state, the create line's length, the leases held."""
        self._held.tasks_by_state = tasks_by_state
        gauge = Gauge(
            "banana_kie_create_queue_depth", "Tasks waiting in line for kie.ai's create limit.", registry=self.registry
        )
        gauge.set_function(create_queue)
        gauge = Gauge("banana_leases_held", "Units of work whose lease this replica holds.", registry=self.registry)
        gauge.set_function(leases)

    def task_changed(self, task: Task) -> None:
        if task.state is TaskState.PENDING:
            self.tasks_started.inc()
        if not task.state.finished:
            return
        self.tasks_finished.labels(task.state.value).inc()
        if task.state is TaskState.DONE and task.finished_at is not None:
            self.command_to_image.observe(max(0.0, task.finished_at - task.created_at))

    def text(self) -> bytes:
        return generate_latest(self.registry)

    def kie_hooks(self) -> dict[str, list[Callable[..., object]]]:
        """httpx event hooks counting every answer from kie.ai."""

        async def answered(response: httpx.Response) -> None:
            self.kie_requests.labels(_kie_path(response.request.url.path), str(response.status_code)).inc()

        return {"response": [answered]}

    def slack_trace(self) -> aiohttp.TraceConfig:
        """An aiohttp trace counting every request to Slack, answered or not."""
        trace = aiohttp.TraceConfig()

        async def ended(_session: object, _context: SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
            self.slack_requests.labels(_slack_method(str(params.url)), str(params.response.status)).inc()

        async def failed(
            _session: object, _context: SimpleNamespace, params: aiohttp.TraceRequestExceptionParams
        ) -> None:
            self.slack_requests.labels(_slack_method(str(params.url)), "error").inc()

        trace.on_request_end.append(ended)
        trace.on_request_exception.append(failed)
        return trace


class _Held(Collector):
    """`banana_tasks{state}`: the tasks held here, by state, counted when scraped."""

    def __init__(self) -> None:
        self.tasks_by_state: Callable[[], Mapping[str, int]] = dict

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("banana_tasks", "Tasks held here, by state.", labels=["state"])
        counts = self.tasks_by_state()
        for state in TaskState:
            if not state.finished:
                family.add_metric([state.value], counts.get(state.value, 0))
        yield family


def _kie_path(path: str) -> str:
    return path if path.startswith(KIE_API) else "download"


def _slack_method(url: str) -> str:
    path = urlsplit(url).path
    method = path.rpartition(SLACK_API)[2] if SLACK_API in path else ""
    return method if method and "/" not in method else "other"

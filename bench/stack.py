"""One benchmark stack: the kie.ai stand-in, the Slack stand-in and the real app, each in its own process.

The bench talks to the app the way Slack does (signed requests to /slack/events) and reads what happened back from
the stand-ins' /standin/stats routes. Times from the stand-ins are on the machine's monotonic clock, which all
processes on one Linux machine share, so a time from kie and a time from Slack can be subtracted.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from bot.settings import Settings
from prompts.options import RESOLUTIONS
from standins.slack.driver import SignedRequest, SlackDriver, StandInSource, over_http

REPO = Path(__file__).resolve().parent.parent
TEAM_ID = "T0TEAM001"  # the Slack stand-in's workspace
USER_ID = "U0USER0001"
BOT_TOKEN = "xoxb-test-token"
KIE_KEY = "kie-test-key"


@dataclass(frozen=True)
class StackConfig:
    name: str
    callbacks: bool = False
    queue_seconds: float = 1.0  # kie: waiting, then queuing
    generate_seconds: float = 8.0  # kie: generating, plus up to generate_jitter more
    generate_jitter: float = 0.0
    jitter_seed: int | None = None  # the same seed, the same times for the n-th task on every stack given it
    kie_creates: int = 20  # kie's create limit: this many per kie_window seconds
    kie_window: float = 10.0
    slack_updates_per_minute: int = 50  # Slack's tiers, enforced by the stand-in
    slack_posts_per_second: float = 1.0
    channels: int = 20
    kie_credits: int = 1_000_000  # plenty: running out is not what is measured
    result_bytes: int = 0  # padding on each result, to make it as big as a real one
    app_env: dict[str, str] = field(default_factory=dict)  # settings beyond the defaults
    # App processes on one store (several need DATABASE_URL=postgresql://… in app_env); commands go round-robin.
    replicas: int = 1


@dataclass(frozen=True)
class Answer:
    """The app's answer to a request the benchmark sent as Slack: how long it took, its status and body."""

    took: float
    status: int
    body: bytes


def expected_seconds(fastest: float, jitter: float) -> str:
    """KIEAI_EXPECTED_SECONDS for a kie stand-in whose tasks take `fastest` plus up to `jitter` seconds."""
    return ",".join(f"{resolution}={fastest:g}-{fastest + max(jitter, 1.0):g}" for resolution in RESOLUTIONS)


SHIPPED_EXPECTED_SECONDS = ",".join(f"{r}={low:g}-{high:g}" for r, low, high in Settings.kie_expected_seconds)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with at least `fraction` of the values at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = math.ceil(round(len(ordered) * fraction, 9))
    return ordered[min(len(ordered), max(1, rank)) - 1]


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a process has used so far, from /proc/<pid>/stat; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime and stime, fields 14 and 15


def proc_status(pid: int, key: str) -> float | None:
    """A memory figure from /proc/<pid>/status in MB (VmHWM is the peak resident set, VmRSS the current one)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Stack:
    def __init__(self, config: StackConfig, work: Path) -> None:
        self.config = config
        self.work = work / config.name
        self.secret = secrets.token_hex(16)
        self.metrics_token = secrets.token_hex(16)  # the app serves /metrics only to its holder
        self._windows: dict[int, Buckets] = {}  # per replica: the loop-lag histogram when the window began
        self.kie_url = ""
        self.slack_url = ""
        self.apps: list[asyncio.subprocess.Process] = []  # one per replica
        self.app_urls: list[str] = []
        self.down: set[int] = set()  # replicas killed on purpose: no command goes there any more
        self.public_url: str | None = None  # where kie's callbacks go, when not to the (first) app itself
        self._turn = 0
        self._processes: list[tuple[str, asyncio.subprocess.Process]] = []
        self._person: SlackDriver[Answer] | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        # aiohttp rather than httpx: httpx's pool gets slow with hundreds of requests in flight, and this client
        # must not add its own delay to the ack latencies it measures.
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=60)
            )
        return self._http

    async def get_json(self, url: str, **params: str) -> Any:
        async with self.http.get(url, params=params) as response:
            response.raise_for_status()
            return await response.json()

    @property
    def app(self) -> asyncio.subprocess.Process | None:
        """The first replica (the only one, unless the config asks for more)."""
        return self.apps[0] if self.apps else None

    @property
    def app_url(self) -> str:
        return self.app_urls[0] if self.app_urls else ""

    @property
    def live(self) -> list[int]:
        """The replicas not killed on purpose, by index."""
        return [number for number in range(len(self.apps)) if number not in self.down]

    @property
    def channels(self) -> list[str]:
        return [f"C0BENCH{number:04d}" for number in range(1, self.config.channels + 1)]

    async def start_kie(self) -> None:
        """The kie.ai stand-in alone, as this stack's config describes it (`start` starts it with the rest)."""
        self.work.mkdir(parents=True, exist_ok=True)
        c = self.config
        kie_port = free_port()
        await self._spawn(
            "kie",
            [sys.executable, "-m", "standins.kie", "--port", str(kie_port), "--queue-seconds", str(c.queue_seconds),
             "--generate-seconds", str(c.generate_seconds), "--generate-jitter", str(c.generate_jitter),
             "--rate-limit", str(c.kie_creates), "--rate-window", str(c.kie_window), "--credits", str(c.kie_credits),
             "--result-padding", str(c.result_bytes),
             *(["--jitter-seed", str(c.jitter_seed)] if c.jitter_seed is not None else [])],
        )  # fmt: skip
        self.kie_url = f"http://127.0.0.1:{kie_port}"
        await self._ready(f"{self.kie_url}/standin/stats")

    async def start(self) -> None:
        await self.start_kie()
        c = self.config
        slack_port = free_port()
        python = sys.executable
        await self._spawn(
            "slack",
            [python, "-m", "standins.slack", "--port", str(slack_port), "--channels", str(c.channels),
             "--chat-update-per-minute", str(c.slack_updates_per_minute),
             "--post-per-second", str(c.slack_posts_per_second)],
        )  # fmt: skip
        self.slack_url = f"http://127.0.0.1:{slack_port}"
        await self._ready(f"{self.slack_url}/standin/stats")
        ports = [free_port() for _ in range(c.replicas)]
        self.app_urls = [f"http://127.0.0.1:{port}" for port in ports]
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": self.secret,
            "SLACK_API_URL": f"{self.slack_url}/api/",
            "KIEAI_API_KEY": KIE_KEY,
            "KIEAI_BASE_URL": self.kie_url,
            "KIEAI_UPLOAD_URL": self.kie_url,
            "DATABASE_PATH": str(self.work / "banana.db"),
            "HOST": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
            "METRICS_TOKEN": self.metrics_token,
            # An operator who knows how long kie takes says so; the poll run sets the shipped default instead.
            "KIEAI_EXPECTED_SECONDS": expected_seconds(c.queue_seconds + c.generate_seconds, c.generate_jitter),
            **c.app_env,
        }
        if c.callbacks:
            env["PUBLIC_URL"] = self.public_url or self.app_urls[0]
        for number, port in enumerate(ports):
            name = "app" if c.replicas == 1 else f"app{number + 1}"
            self.apps.append(await self._spawn(name, [python, "-m", "banana"], env={**env, "PORT": str(port)}))
        await asyncio.gather(*(self._ready(f"{url}/healthz") for url in self.app_urls))
        # Each command carries a response_url the Slack stand-in knows, as Slack's do: minted before anything is
        # measured, so that sending asks the stand-in nothing.
        source = StandInSource(self.http, self.slack_url)
        await source.prepare(2000)
        target = self.next_app_url if c.replicas > 1 else (lambda: self.app_url)
        self._person = SlackDriver(source, over_http(lambda: f"{target()}/slack/events", self.secret, self._post))

    async def _spawn(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> asyncio.subprocess.Process:
        # Nothing from the shell that would change what is measured: a DATABASE_URL there would move every run to it.
        ignored = ("SLACK_", "KIEAI_", "DATABASE_", "PUBLIC_URL", "LEASE_SECONDS")
        base = {key: value for key, value in os.environ.items() if not key.startswith(ignored)}
        base["PYTHONPATH"] = str(REPO) + os.pathsep + base.get("PYTHONPATH", "")
        with (self.work / f"{name}.log").open("wb") as log:
            # The app runs in the stack's folder, so no .env in the repo can change its settings.
            process = await asyncio.create_subprocess_exec(
                *command, cwd=self.work, env={**base, **(env or {})}, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        self._processes.append((name, process))
        return process

    async def _ready(self, url: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while True:
            try:
                async with self.http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            dead = [(name, p.returncode) for name, p in self._processes if p.returncode is not None]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {name}.log\n{(self.work / f'{name}.log').read_text()[-2000:]}" for name, _ in self._processes
                )
                raise RuntimeError(f"{self.config.name}: {url} did not come up (exited: {dead})\n{logs}")
            await asyncio.sleep(0.1)

    async def kill(self, number: int) -> None:
        """SIGKILL one replica, as a crash or a lost machine would stop it: no shutdown, its leases left to run out."""
        self.down.add(number)
        self.apps[number].kill()
        await self.apps[number].wait()

    async def stop(self) -> None:
        """The app first (it finishes its short steps against live stand-ins), then the stand-ins."""
        for _name, process in reversed(self._processes):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
        if self._http is not None:
            await self._http.close()

    # ---- talking to the app as Slack does -------------------------------------------------------

    def next_app_url(self) -> str:
        """The next live replica's URL, round-robin, as a load balancer in front of them would spread requests."""
        live = self.live
        self._turn += 1
        return self.app_urls[live[self._turn % len(live)]]

    @property
    def person(self) -> SlackDriver[Answer]:
        """A person in the Slack stand-in's workspace, toward the app (once the stack has started)."""
        assert self._person is not None, "the stack has not started"
        return self._person

    async def _post(self, request: SignedRequest) -> Answer:
        started = time.perf_counter()
        async with self.http.post(request.url, data=request.body, headers=request.headers) as response:
            content = await response.read()
        return Answer(time.perf_counter() - started, response.status, content)

    async def command(self, text: str, channel: str) -> tuple[float, bool]:
        """Send `/banana <text>` (to the next replica, when there are several); returns (seconds until the ack
        arrived, whether it was a plain ack)."""
        answer = await self.person.command(text, channel=channel)
        return answer.took, answer.status == 200 and not answer.body.strip()

    async def message_shortcut(self, message: dict[str, Any], channel: str) -> Answer:
        """The "Remix with Banana" message shortcut on `message` (as the Slack stand-in's /standin/messages gave it)."""
        return await self.person.message_shortcut(message, channel=channel)

    async def submit(self, view: dict[str, Any], **fields: str) -> Answer:
        """Submit an opened modal: `fields` (by block id) where a person typed, the form's own values elsewhere."""
        return await self.person.submit(view, **fields)

    async def add_message(self, channel: str, text: str, files: list[tuple[str, bytes, str]]) -> dict[str, Any]:
        """A person's message carrying files (name, bytes, mime type), put in the Slack stand-in through its
        test-only route; returns the message as a shortcut's payload carries it."""
        form = aiohttp.FormData()
        form.add_field("channel", channel)
        form.add_field("text", text)
        form.add_field("user", USER_ID)
        for name, data, mime in files:
            form.add_field("file", data, filename=name, content_type=mime)
        async with self.http.post(f"{self.slack_url}/standin/messages", data=form) as response:
            response.raise_for_status()
            answer = await response.json()
        return dict(answer["message"])

    # ---- reading back ---------------------------------------------------------------------------

    async def kie_stats(self) -> dict[str, Any]:
        return await self.get_json(f"{self.kie_url}/standin/stats")

    async def slack_stats(self) -> dict[str, Any]:
        return await self.get_json(f"{self.slack_url}/standin/stats")

    async def start_window(self, replica: int = 0) -> None:
        """From now on `metrics` sums up the loop lag of this replica's samples taken after this moment: the app's
        /metrics is read-only, so the window is the benchmark's, kept as the histogram when it began."""
        self._windows[replica] = lag_buckets(await self.scrape(replica=replica))

    async def scrape(self, *, replica: int = 0) -> list[Metric]:
        """The app's /metrics, parsed by Prometheus' own text parser."""
        headers = {"Authorization": f"Bearer {self.metrics_token}"}
        async with self.http.get(f"{self.app_urls[replica]}/metrics", headers=headers) as response:
            response.raise_for_status()
            return list(text_string_to_metric_families(await response.text()))

    async def metrics(self, *, replica: int = 0) -> dict[str, Any]:
        """What the benchmark reads from /metrics: the tasks in flight, and the loop lag within the window."""
        families = await self.scrape(replica=replica)
        held = next(family for family in families if family.name == "banana_tasks")
        now = lag_buckets(families)
        return {
            "in_flight": round(sum(sample.value for sample in held.samples)),
            "loop_lag": lag_summary(now, self._windows.get(replica, Buckets())),
        }

    async def health(self, replica: int = 0) -> dict[str, Any]:
        return await self.get_json(f"{self.app_urls[replica]}/healthz")

    def peak_rss_mb(self, replica: int = 0) -> float | None:
        return proc_status(self.apps[replica].pid, "VmHWM") if self.apps else None

    def cpu_seconds(self, replica: int = 0) -> float | None:
        return cpu_seconds(self.apps[replica].pid) if self.apps else None


@dataclass(frozen=True)
class Buckets:
    """A histogram as scraped: cumulative counts by upper bound, and the sum of what was observed."""

    counts: tuple[tuple[float, float], ...] = ()
    total: float = 0.0


def lag_buckets(families: list[Metric]) -> Buckets:
    lag = next(family for family in families if family.name == "banana_event_loop_lag_seconds")
    counts = tuple(
        (float(sample.labels["le"]), sample.value) for sample in lag.samples if sample.name.endswith("_bucket")
    )
    total = sum(sample.value for sample in lag.samples if sample.name.endswith("_sum"))
    return Buckets(counts, total)


def lag_summary(now: Buckets, before: Buckets) -> dict[str, float]:
    """The loop lag of the samples between two scrapes, in ms: p50 and p99 interpolated within their buckets as
    Prometheus' histogram_quantile does, max as the upper bound of the highest bucket reached."""
    earlier = dict(before.counts)
    window = [(bound, count - earlier.get(bound, 0.0)) for bound, count in now.counts]
    samples = window[-1][1] if window else 0.0
    if samples <= 0:
        return {"samples": 0}

    def quantile(q: float) -> float:
        rank, lower, below = q * samples, 0.0, 0.0
        for bound, count in window:
            if count >= rank:
                if math.isinf(bound):
                    return lower
                return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
            lower, below = bound, count
        return lower

    highest = next(bound for bound, count in window if count >= samples)
    top = highest if not math.isinf(highest) else max(b for b, _ in window if not math.isinf(b))
    return {
        "samples": samples,
        "p50_ms": round(1000 * quantile(0.5), 2),
        "p99_ms": round(1000 * quantile(0.99), 2),
        "max_ms": round(1000 * top, 2),
        "mean_ms": round(1000 * (now.total - before.total) / samples, 2),
    }


def scratch_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="banana-bench-"))

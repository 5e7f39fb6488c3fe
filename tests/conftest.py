"""Scenario fixtures: the kie.ai and Slack stand-ins as real servers, and the real app in HTTP mode between them.

Tests talk to the app the way Slack does (signed HTTP requests to /slack/events); the app talks to the stand-ins only
through its configured base URLs.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import httpx
import psycopg
import pytest
from psycopg import sql

from banana.app.server import BananaServer
from banana.app.wiring import SLACK_EVENTS_PATH
from bot.services import Services
from bot.settings import load_settings
from bot.store import masked
from prompts.tasks import Task
from standins import kie as kie_standin
from standins import slack as slack_standin
from standins.slack.driver import SignedRequest, SlackDriver, TeamSource, over_http, signed

SIGNING_SECRET = "test-signing-secret-0123456789"
# A Fernet key for the tests that store Slack tokens (made with `banana-bot new-key`; never a real deployment's).
TEST_ENCRYPTION_KEY = "gTZQ7Ws3qXxFLTKxfP0HqvU5o1k3rOMq3xU8Vy3y1qE="
USER_ID = "U0USER0001"
CHANNEL_ID = "C0GENERAL1"
# How a person mentions Banana in a message's text: "<@U0BOT0001>" (the app_mention event).
BOT_MENTION = f"<@{slack_standin.BOT_USER_ID}>"

# Fast but real: every interval the app waits on is a setting.
FAST_ENV = {
    "POLL_INTERVAL_FAST": "0.02",
    "POLL_INTERVAL_MEDIUM": "0.05",
    "POLL_INTERVAL_SLOW": "0.1",
    "POLL_FAST_UNTIL": "0.5",
    "POLL_MEDIUM_UNTIL": "1",
    "POLL_TIMEOUT": "3",
    "PROGRESS_UPDATE_INTERVAL": "0.05",
    "HOME_REFRESH_DELAY": "0.05",
    "SLACK_POST_INTERVAL": "0.001",
    "KIEAI_RETRY_DELAYS": "0.01,0.02",
    "SLACK_RETRY_DELAYS": "0.05,0.1",
    # kie's real figures (30-90 s) would hold the first reads back for seconds: the fixed schedule until there is
    # history, as the tests' tasks take a second or less. tests/test_schedule.py tests the prior.
    "KIEAI_EXPECTED_SECONDS": "none",
    # Time runs about a hundred times faster here, so kie's read limit does too (see `kie` below); the app still
    # keeps under it. tests/test_kie_limits.py holds both to the real figures.
    "KIEAI_READS_PER_SECOND": "800",
}
KIE_READS_PER_SECOND = 1000


@pytest.fixture
async def kie() -> AsyncIterator[kie_standin.KieStandIn]:
    server = kie_standin.KieStandIn(read_limit=KIE_READS_PER_SECOND)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def slack() -> AsyncIterator[slack_standin.SlackStandIn]:
    server = slack_standin.SlackStandIn()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def app_env(tmp_path, kie, slack) -> dict[str, str]:
    """The environment a user would set, pointing at the stand-ins. Tests may change it before `banana` starts."""
    return {
        "SLACK_BOT_TOKEN": slack_standin.BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "KIEAI_API_KEY": kie_standin.API_KEY,
        "KIEAI_BASE_URL": kie.base_url,
        "KIEAI_UPLOAD_URL": kie.base_url,
        "DATABASE_PATH": str(tmp_path / "banana.db"),
        "HOST": "127.0.0.1",
        "PORT": "0",
        **FAST_ENV,
    }


@dataclass
class Banana:
    """The running app, seen from Slack's side."""

    server: BananaServer
    slack: slack_standin.SlackStandIn
    http: httpx.AsyncClient

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def services(self) -> Services:
        assert self.server.services is not None
        return self.server.services

    def person(self, team: slack_standin.Team | None = None, *, secret: str = SIGNING_SECRET) -> SlackDriver:
        """A person in `team` (the stand-in's default workspace without it) acting toward this app over HTTP."""

        async def post(request: SignedRequest) -> httpx.Response:
            return await self.http.post(request.url, content=request.body, headers=request.headers)

        send = over_http(f"{self.url}{SLACK_EVENTS_PATH}", secret, post)
        return SlackDriver(TeamSource(self.workspace(team)), send)

    async def post_signed(
        self, body: str, content_type: str, *, secret: str = SIGNING_SECRET, **headers: str
    ) -> httpx.Response:
        """`body` as Slack would POST it, signed with `secret` (with `headers` beside, such as a retry's)."""
        request = signed(f"{self.url}{SLACK_EVENTS_PATH}", secret, body.encode(), content_type, **headers)
        return await self.http.post(request.url, content=request.body, headers=request.headers)

    async def command(
        self,
        text: str,
        *,
        user: str | None = None,
        channel: str | None = None,
        secret: str = SIGNING_SECRET,
        team: slack_standin.Team | None = None,
    ) -> httpx.Response:
        """Send `/banana <text>` exactly as Slack does: a signed form post. From another workspace of the stand-in
        with `team` (`slack.add_workspace(...)`; `user` and `channel` then default to that workspace's)."""
        return await self.person(team, secret=secret).command(text, user=user, channel=channel)

    async def interaction(self, payload: dict, *, team: slack_standin.Team | None = None) -> httpx.Response:
        """An interactive payload (shortcut, button, modal submission): form-encoded `payload=<json>`, signed.
        With `team`, from that workspace (its team, user, enterprise and a trigger id of its own)."""
        return await self.person(team).interaction(payload)

    def workspace(self, team: slack_standin.Team | None) -> slack_standin.Team:
        """The workspace a helper acts in: `team`, or the stand-in's default one (today's)."""
        return team if team is not None else self.slack

    async def message_shortcut(
        self,
        message: dict,
        *,
        channel: str | None = None,
        user: str | None = None,
        team: slack_standin.Team | None = None,
    ) -> httpx.Response:
        return await self.person(team).message_shortcut(message, user=user, channel=channel)

    async def submit(
        self, view: dict, *, user: str | None = None, team: slack_standin.Team | None = None, **fields: object
    ) -> httpx.Response:
        """Submit an opened modal as a person would: defaults where they left a field alone, `fields` where not.

        `fields` names block ids: prompt, avoid, aspect_ratio, resolution, output_format, channel, uploads
        (a list of Slack file objects).
        """
        return await self.person(team).submit(view, user=user, **fields)

    async def submit_with_files(
        self,
        view: dict,
        files: dict[str, list[tuple[bytes, str, str]]],
        *,
        user: str | None = None,
        team: slack_standin.Team | None = None,
        **fields: object,
    ) -> httpx.Response:
        """`submit`, with files the person uploads in the modal's file_input blocks: (bytes, name, mimetype) by
        block id. Slack keeps each as the person's file, unshared, and the submission carries its file object."""
        ws = self.workspace(team)
        uploaded = {
            block: [ws.file_object(ws.add_file(data, name, mime, user=user).id) for data, name, mime in chosen]
            for block, chosen in files.items()
        }
        return await self.submit(view, user=user, team=team, **fields, **uploaded)

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        message_ts: str,
        channel: str | None = None,
        user: str | None = None,
        container: str = "message",
        team: slack_standin.Team | None = None,
    ) -> httpx.Response:
        """Press a button on a message (the progress card) or, with container="view", in the Home tab."""
        on_message = message_ts if container == "message" else None
        return await self.person(team).click(action_id, value, message_ts=on_message, user=user, channel=channel)

    async def event(self, event: dict, *, team: slack_standin.Team | None = None) -> httpx.Response:
        """An Events API callback around `event`, signed, from `team` (the default workspace without it): its
        team_id, and the `authorizations` Slack adds (the installation the event is for, org-wide or not)."""
        return await self.person(team).event(event)

    async def say(
        self,
        text: str,
        *,
        channel: str | None = None,
        user: str | None = None,
        thread_ts: str | None = None,
        files: Sequence[tuple[bytes, str, str] | slack_standin.SlackFile] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
        team: slack_standin.Team | None = None,
    ) -> slack_standin.Message:
        """A person posts `text` in Slack (a reply when `thread_ts` is given), with `files` they upload
        ((data, name, mime type), or files already added without a channel); returns the message once Slack has
        delivered its events (app_mention when it mentions BOT_MENTION, message.* when subscribed) and the app has
        answered them. The app acts on them after answering: wait on the store or the stand-in for that.
        With `team`, in that workspace (`channel` and `user` then default to its own)."""
        ws = self.workspace(team)
        channel, user = channel or ws.general_channel, user or ws.user_id
        uploads = [
            item if isinstance(item, slack_standin.SlackFile) else ws.add_file(*item, user=user) for item in files or ()
        ]
        return await ws.post_as_user(channel, text, user=user, thread_ts=thread_ts, files=uploads, timeout=timeout)

    async def edit(
        self,
        message: slack_standin.Message,
        text: str,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        team: slack_standin.Team | None = None,
    ) -> None:
        """The person edits their message: message_changed, delivered if the app subscribes to message.*."""
        await self.workspace(team).edit_as_user(message.channel, message.ts, text, timeout=timeout)

    async def settle(self, tasks: int = 1, *, user: str = USER_ID) -> list[Task]:
        """Wait until `user` has `tasks` tasks and all of them have finished; return them, oldest first.

        The app answers Slack before it stores the task, so this waits on the store, not on the response.
        """
        found: list[Task] = []
        try:
            async with asyncio.timeout(10):
                while True:
                    found = await self.services.store.for_user(slack_standin.TEAM_ID, user, limit=100)
                    finished = all(t.state.finished for t in found) and not self.services.runner.in_flight
                    if len(found) >= tasks and finished:
                        return sorted(found, key=lambda t: t.id)
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError(f"tasks did not finish: {[(t.id, t.state.value) for t in found]}") from None

    async def only_task(self) -> Task:
        (task,) = await self.settle(1)
        return task


@pytest.fixture
async def start_banana(app_env, slack) -> AsyncIterator[Callable[..., object]]:
    """Start the app (optionally with extra settings); stopped after the test."""
    started: list[BananaServer] = []
    async with httpx.AsyncClient(timeout=10) as http:

        async def start(**extra_env: str) -> Banana:
            server = BananaServer(load_settings({**app_env, **extra_env}, env_file=None))
            await server.start()
            started.append(server)
            # Slack's events go to this app (over Socket Mode instead while it has a connection open).
            slack.deliver_events_to(f"http://127.0.0.1:{server.port}{SLACK_EVENTS_PATH}", SIGNING_SECRET)
            return Banana(server, slack, http)

        yield start
        for server in started:
            await server.stop()


@pytest.fixture
async def banana(start_banana) -> Banana:
    return await start_banana()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class BananaProcess(Banana):
    """The app as its own process (`python -m banana`), as an operator runs it: driven the same way, and killable.

    Its store is read through the database file; `services` belongs to the process, not to the test."""

    process: asyncio.subprocess.Process | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        """SIGTERM, as a deploy sends it; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 15)


@pytest.fixture
async def start_process(app_env, slack) -> AsyncIterator[Callable[..., object]]:
    """Start the app as a process with the test's settings (and `extra_env`); killed after the test if still up."""
    started: list[asyncio.subprocess.Process] = []
    async with httpx.AsyncClient(timeout=10) as http:

        async def start(**extra_env: str) -> BananaProcess:
            port = free_port()
            env = {**os.environ, **app_env, "PORT": str(port), "LOG_LEVEL": "WARNING", **extra_env}
            root = Path(__file__).parent.parent
            process = await asyncio.create_subprocess_exec(sys.executable, "-m", "banana", cwd=root, env=env)
            started.append(process)
            async with asyncio.timeout(20):
                while True:
                    assert process.returncode is None, "the app exited at start-up"
                    try:
                        if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                            slack.deliver_events_to(f"http://127.0.0.1:{port}{SLACK_EVENTS_PATH}", SIGNING_SECRET)
                            return BananaProcess(None, slack, http, process=process, port=port)  # type: ignore[arg-type]
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)

        yield start
        for process in started:
            if process.returncode is None:
                process.kill()
                await process.wait()


# PostgreSQL for the store's tests: a server that is already running (`bash .ci/postgres` starts Debian's and creates
# the database). Each test gets a fresh, empty schema of its own; BANANA_TEST_DATABASE_URL points elsewhere.
TEST_DATABASE_URL = os.environ.get("BANANA_TEST_DATABASE_URL", "postgresql:///banana_test")


def with_search_path(url: str, schema: str) -> str:
    """`url` with `options=-csearch_path=<schema>`: everything the store creates and reads lands in that schema."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    options = " ".join([*(v for k, v in pairs if k == "options"), f"-csearch_path={schema}"])
    query = urlencode([*((k, v) for k, v in pairs if k != "options"), ("options", options)], quote_via=quote)
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{query}"  # urlunsplit would drop the // of postgresql:///db


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The test database's URL, once it answers. Unreachable: the test fails under CI (CI set), else is skipped."""
    try:
        with psycopg.connect(TEST_DATABASE_URL, connect_timeout=3):
            pass
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        for secret in {urlsplit(TEST_DATABASE_URL).password, unquote(urlsplit(TEST_DATABASE_URL).password or "")}:
            reason = reason.replace(secret, "***") if secret else reason
        message = (
            f"PostgreSQL is not reachable at BANANA_TEST_DATABASE_URL={masked(TEST_DATABASE_URL)} ({reason}). "
            "Start it with `bash .ci/postgres` (as root: it starts or installs Debian's PostgreSQL and creates the "
            "role and the banana_test database), or point BANANA_TEST_DATABASE_URL at a running server."
        )
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return TEST_DATABASE_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose search_path is a new, empty schema in the test database, dropped after the test."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        try:
            yield with_search_path(postgres_server, schema)
        finally:
            # A Banana still running (a fixture torn down after this one) may hold a lock on the schema for good:
            # the drop gives up rather than hang the suite (a schema left behind is harmless: each test makes its own).
            admin.execute("set lock_timeout = '20s'")
            try:
                admin.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))
            except psycopg.errors.LockNotAvailable:
                warnings.warn(f"schema {schema} left behind: something still held it", stacklevel=1)

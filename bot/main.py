"""Composition root: builds the engine and the Bolt app, serves HTTP (or Socket Mode), and shuts down cleanly."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import statistics
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import httpx
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

import handlers
from bot.budget import Budget
from bot.callbacks import callback_handler
from bot.home import HomeTab
from bot.kie import KieClient
from bot.limits import RecentKeys
from bot.runner import CALLBACK_PATH, JobRunner
from bot.services import Services
from bot.settings import Settings, SettingsError, load_settings
from bot.slack import SlackDelivery
from bot.store import SqliteTaskStore
from prompts.catalog import CatalogError, load_brand, load_catalog

log = logging.getLogger("bot")

SLACK_EVENTS_PATH = "/slack/events"


@asynccontextmanager
async def engine(settings: Settings) -> AsyncIterator[Services]:
    """Everything that outlives a request: one store, one httpx client, one Slack client, one job runner."""
    try:  # first: a broken brand or catalog file stops start-up before anything is opened
        catalog, brand = load_catalog(), load_brand(settings.brand_file)
    except CatalogError as error:
        raise StartupError(f"the prompt studio cannot load {error}") from None
    async with AsyncExitStack() as stack:
        store = await SqliteTaskStore(settings.database_path).open()
        stack.push_async_callback(store.close)
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        client = AsyncWebClient(
            token=settings.slack_bot_token,
            base_url=settings.slack_api_url,
            session=session,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
                AsyncRateLimitErrorRetryHandler(max_retry_count=5),
                AsyncServerErrorRetryHandler(max_retry_count=2),
            ],
        )
        kie = KieClient(
            http,
            api_key=settings.kieai_api_key,
            base_url=settings.kieai_base_url,
            upload_url=settings.kieai_upload_url,
            retry_delays=settings.kie_retry_delays,
        )
        home = HomeTab(
            store, client, settings.defaults, prices=settings.prices, refresh_delay=settings.home_refresh_delay
        )
        stack.push_async_callback(home.close)
        slack = SlackDelivery(client, session, post_interval=settings.slack_post_interval)
        runner = JobRunner(settings, store, kie, slack, on_change=lambda task: home.refresh_soon(task.user_id))
        stack.push_async_callback(runner.close)
        budget = Budget(
            store,
            settings.prices,
            user_daily_cap=settings.user_daily_credit_cap,
            workspace_monthly_cap=settings.workspace_monthly_credit_cap,
        )
        yield Services(
            settings=settings,
            store=store,
            kie=kie,
            slack=slack,
            runner=runner,
            home=home,
            budget=budget,
            catalog=catalog,
            brand=brand,
        )


class StartupError(Exception):
    """The app cannot run as configured; the message says what to fix."""


async def identify_bot(client: AsyncWebClient) -> AuthorizeResult:
    """Check the bot token once at start-up, so a bad token stops the app now rather than at the first command, and
    no request from Slack has to wait for `auth.test`."""
    try:
        response = await client.auth_test()
    except SlackApiError as error:
        raise StartupError(f"Slack refused SLACK_BOT_TOKEN ({error.response.get('error')}).") from None
    except (aiohttp.ClientError, OSError) as error:
        raise StartupError(f"Slack could not be reached at SLACK_API_URL ({type(error).__name__}).") from None
    return AuthorizeResult.from_auth_test_response(bot_token=client.token, auth_test_response=response)


def build_app(services: Services, client: AsyncWebClient, identity: AuthorizeResult) -> AsyncApp:
    settings = services.settings

    async def authorize() -> AuthorizeResult:
        return identity

    # Bolt builds each request's client from this one (base URL, session, retry handlers) and the token `authorize`
    # returns; handing it a token as well would only earn a start-up warning that the token is ignored.
    request_client = AsyncWebClient(
        base_url=client.base_url, session=client.session, retry_handlers=client.retry_handlers
    )
    app = AsyncApp(
        client=request_client,
        authorize=authorize,
        signing_secret=settings.slack_signing_secret or "",
        # Socket Mode requests arrive over an authenticated socket and carry no signature.
        request_verification_enabled=not settings.socket_mode,
        logger=logging.getLogger("bot.slack_bolt"),
    )

    async def provide_services(context: dict, next: Callable[[], Awaitable[None]]) -> None:
        context["services"] = services  # listeners take it as `context["services"]`
        await next()

    app.use(provide_services)
    app.use(skip_repeats(RecentKeys()))
    handlers.register(app)
    return app


def skip_repeats(seen: RecentKeys) -> Callable[..., Awaitable[BoltResponse | None]]:
    """Slack sends a request again, marked with X-Slack-Retry-Num, when its first answer was slow or lost. A retry of
    a trigger or event already handled is answered with a plain 200 and not acted on twice, so it never starts a
    second task. Requests without that mark are always handled."""

    async def middleware(req: AsyncBoltRequest, body: dict, next: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        key = str(body.get("event_id") or body.get("trigger_id") or "")
        first_time = seen.first_time(key) if key else True
        if not first_time and req.headers.get("x-slack-retry-num"):
            log.info("ignored Slack's retry of %s", key)
            return BoltResponse(status=200, body="")
        await next()
        return None

    return middleware


class LoopLagProbe:
    """How late the event loop wakes a sleeper: a busy loop delays every ack, poll and upload by as much.

    Opt-in (BANANA_LOOP_PROBE=1) for the benchmark, which reads it from GET /metrics.
    """

    def __init__(self, interval: float = 0.05, keep: int = 100_000) -> None:
        self.interval = interval
        self.lags: deque[float] = deque(maxlen=keep)  # seconds late, one per wake-up

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            self.lags.append(max(0.0, loop.time() - started - self.interval))

    def summary(self) -> dict[str, float]:
        lags = sorted(self.lags)
        if not lags:
            return {"samples": 0}
        return {
            "samples": len(lags),
            "p50_ms": round(1000 * lags[len(lags) // 2], 2),
            "p99_ms": round(1000 * lags[min(len(lags) - 1, int(len(lags) * 0.99))], 2),
            "max_ms": round(1000 * lags[-1], 2),
            "mean_ms": round(1000 * statistics.fmean(lags), 2),
        }


class BananaServer:
    """The running app: the HTTP server (Slack's requests and /healthz) and, with an app token, Socket Mode."""

    def __init__(self, settings: Settings, *, loop_probe: bool | None = None) -> None:
        self.settings = settings
        self.services: Services | None = None
        self.port: int | None = None
        self._stack = AsyncExitStack()
        probe_wanted = os.environ.get("BANANA_LOOP_PROBE") == "1" if loop_probe is None else loop_probe
        self.probe = LoopLagProbe() if probe_wanted else None

    async def start(self) -> int:
        try:
            return await self._start()
        except BaseException:
            await self._stack.aclose()  # whatever did start is stopped again
            raise

    async def _start(self) -> int:
        settings = self.settings
        services = await self._stack.enter_async_context(engine(settings))
        self.services = services
        identity = await identify_bot(services.slack.client)
        app = build_app(services, services.slack.client, identity)
        web_app = web.Application() if settings.socket_mode else app.web_app(path=SLACK_EVENTS_PATH)
        web_app.router.add_get("/healthz", self._health)
        if self.probe is not None:
            web_app.router.add_get("/metrics", self._metrics)
            probing = asyncio.create_task(self.probe.run(), name="banana-loop-probe")
            self._stack.push_async_callback(_cancelled, probing)
        web_app.router.add_post(
            CALLBACK_PATH,
            callback_handler(services.runner, services.store, hmac_key=settings.kieai_webhook_hmac_key),
        )
        web_runner = web.AppRunner(web_app, access_log=None)
        await web_runner.setup()
        self._stack.push_async_callback(web_runner.cleanup)
        site = web.TCPSite(web_runner, settings.host, settings.port)
        await site.start()
        self.port = web_runner.addresses[0][1]
        if settings.socket_mode:
            socket = AsyncSocketModeHandler(app, settings.slack_app_token, web_client=services.slack.client)
            await socket.connect_async()
            self._stack.push_async_callback(socket.close_async)
        await services.runner.resume()
        log.info("Banana is up: %s mode, port %s", "Socket" if settings.socket_mode else "HTTP", self.port)
        return self.port

    async def stop(self) -> None:
        await self._stack.aclose()

    async def _health(self, _request: web.Request) -> web.Response:
        services = self.services
        database = bool(services and await services.store.ping())
        body = {
            "ok": database,
            "database": database,
            "settings": True,  # start-up refuses to run with unusable settings
            "mode": "socket" if self.settings.socket_mode else "http",
            "in_flight": services.runner.in_flight if services else 0,
        }
        return web.json_response(body, status=200 if database else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        """The loop-lag probe's figures since the last `?reset=1`, and the tasks in flight."""
        assert self.probe is not None
        body = {
            "loop_lag": self.probe.summary(),
            "in_flight": self.services.runner.in_flight if self.services else 0,
        }
        if request.query.get("reset") == "1":
            self.probe.lags.clear()
        return web.json_response(body)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class RedactSecrets(logging.Filter):
    """Last line of defence: no secret reaches a log line, whatever library logged it."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self._secrets):
            for secret in self._secrets:
                message = message.replace(secret, "[redacted]")
            record.msg, record.args = message, None
        return True


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(settings.secrets))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)


async def run(settings: Settings) -> None:
    server = BananaServer(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await server.start()
    except StartupError as error:
        raise SystemExit(f"Banana cannot start: {error}") from None
    try:
        await stop.wait()
    finally:
        log.info("Banana is stopping")
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="banana-bot",
        description="Run Banana, configured from the environment and .env (see README.md). "
        "`banana-bot sandbox` tries the whole app locally instead, with no accounts.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{sandbox}")
    sandbox = commands.add_parser(
        "sandbox",
        help="try the whole app locally, no Slack workspace or kie.ai key needed",
        description="Run Banana between local kie.ai and Slack stand-ins, play a short conversation, and leave "
        "the images and an HTML page of the simulated channel in an output folder.",
    )
    sandbox.add_argument("--out", default="sandbox-output", help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.command == "sandbox":
        try:
            from bot.sandbox import run_cli
        except ImportError as error:  # the stand-ins draw images with Pillow, from the 'standins' extra
            raise SystemExit(f"The sandbox needs the stand-ins: pip install -e '.[standins]' ({error})") from None
        raise SystemExit(run_cli(args.out))
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings)
    asyncio.run(run(settings))

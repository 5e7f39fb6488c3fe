"""The running app: Slack's requests over HTTP (or Socket Mode), kie's callbacks, /healthz, and a clean stop."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import hmac
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from urllib.parse import parse_qs

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.request.async_request import AsyncBoltRequest

from banana.app.callbacks import callback_handler
from banana.app.wiring import SLACK_EVENTS_PATH, StartupError, build_app, check_slack, engine
from bot.jobs.runner import CALLBACK_PATH
from bot.services import Services
from bot.settings import Settings
from bot.store import new_paths, remove_paths

log = logging.getLogger("banana")

SOCKET_OPEN_TIMEOUT = 30.0  # seconds for Socket Mode's first websocket to open at start-up


class LoopLagProbe:
    """How late the event loop wakes a sleeper: a busy loop delays every ack, poll and upload by as much. Each
    wake-up's lateness goes to `observe` (the metrics' `banana_event_loop_lag_seconds`)."""

    def __init__(self, observe: Callable[[float], None], interval: float = 0.05) -> None:
        self.observe = observe
        self.interval = interval

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            self.observe(max(0.0, loop.time() - started - self.interval))


class BananaServer:
    """The running app: the HTTP server (Slack's requests and /healthz) and, with an app token, Socket Mode."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: Services | None = None
        self.port: int | None = None
        self._stack = AsyncExitStack()

    async def start(self) -> int:
        created = new_paths(self.settings.database_url, self.settings.database_path)
        try:
            return await self._start()
        except BaseException:
            await self._stack.aclose()  # whatever did start is stopped again
            remove_paths(created)  # and a refused start leaves no database behind
            raise

    async def _start(self) -> int:
        settings = self.settings
        # Slack's tokens first, before anything is created. One workspace: its bot token is checked now; installed
        # through OAuth, each workspace's, per request.
        identity = await check_slack(settings)
        services = await self._stack.enter_async_context(engine(settings))
        self.services = services
        app = build_app(services, services.slack.client, identity)
        web_app = web.Application()
        metrics = services.runner.metrics
        if not settings.socket_mode:
            web_app.router.add_post(
                SLACK_EVENTS_PATH, slack_requests(app, settings.slack_signing_secret or "", metrics.acks.observe)
            )
        if app.oauth_flow is not None:  # the "Add to Slack" page and Slack's redirect back, at Bolt's default paths
            web_app.router.add_get(app.oauth_flow.install_path, install_page(app.oauth_flow))
            web_app.router.add_get(app.oauth_flow.redirect_uri_path, oauth_redirect(app.oauth_flow))
        web_app.router.add_get("/healthz", self._health)
        if settings.metrics_token:  # none configured: no /metrics at all (404), and no loop probe to feed it
            web_app.router.add_get("/metrics", guarded(settings.metrics_token, self._metrics))
            probe = LoopLagProbe(metrics.loop_lag.observe)
            probing = asyncio.create_task(probe.run(), name="banana-loop-probe")
            self._stack.push_async_callback(_cancelled, probing)
        web_app.router.add_post(
            CALLBACK_PATH,
            callback_handler(services.runner, services.store, services.tasks, hmac_key=settings.kieai_webhook_hmac_key),
        )
        web_runner = web.AppRunner(web_app, access_log=None)
        await web_runner.setup()
        self._stack.push_async_callback(web_runner.cleanup)
        site = web.TCPSite(web_runner, settings.host, settings.port)
        try:
            await site.start()
        except OSError as error:
            raise StartupError(cannot_listen(settings.host, settings.port, error)) from None
        self.port = web_runner.addresses[0][1]
        if settings.socket_mode:
            handler = AsyncSocketModeHandler(app, settings.slack_app_token, web_client=services.slack.client)
            self._stack.push_async_callback(handler.close_async)
            try:  # the token was accepted (check_slack); slack_sdk would retry a websocket that never opens for ever
                async with asyncio.timeout(SOCKET_OPEN_TIMEOUT):
                    await handler.connect_async()
            except TimeoutError:
                raise StartupError(
                    f"Slack's Socket Mode websocket did not open within {SOCKET_OPEN_TIMEOUT:g} s: check that this "
                    "host may open wss:// connections to Slack, or use HTTP mode (SLACK_SIGNING_SECRET)"
                ) from None
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
            "database_backend": services.store.backend if services else None,
            "settings": True,  # start-up refuses to run with unusable settings
            "mode": "socket" if self.settings.socket_mode else "http",
            "in_flight": services.runner.in_flight if services else 0,
        }
        return web.json_response(body, status=200 if database else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        """Banana's figures in Prometheus' text format (bot/metrics.py). Reading them changes nothing."""
        if self.services is None:
            return web.Response(status=503)
        body = self.services.runner.metrics.text()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def cannot_listen(host: str, port: int, error: OSError) -> str:
    """Why the server cannot listen on HOST and PORT, and what to set instead."""
    if isinstance(error, socket.gaierror):
        return f"HOST {host} is not a name or address this machine knows: set HOST to 0.0.0.0 (every address)"
    if error.errno == errno.EADDRINUSE:
        return f"port {port} is in use on {host}: stop what is using it or set PORT"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"HOST {host} is not an address of this machine: set HOST to 0.0.0.0 (every address) or one of its own"
    if error.errno == errno.EACCES:
        return f"port {port} on {host} needs privileges Banana does not have: set PORT to 1024 or above"
    return f"cannot listen on {host} port {port} ({error.strerror or error}): set HOST and PORT"


def guarded(
    token: str, handler: Callable[[web.Request], Awaitable[web.Response]]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`handler` only for `Authorization: Bearer <METRICS_TOKEN>` (compared in constant time); 401 for anyone else."""
    expected = f"Bearer {token}".encode()

    async def with_token(request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(given, expected):
            return web.json_response(
                {"error": "a metrics token is needed"}, status=401, headers={"WWW-Authenticate": "Bearer"}
            )
        return await handler(request)

    return with_token


def slack_requests(
    app: AsyncApp, signing_secret: str, acked: Callable[[float], None] = lambda seconds: None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Slack's HTTP requests, handed to Bolt as its own aiohttp adapter (`app.web_app()`) does, once known as Slack's.

    The signature is checked here first, from the bytes. An unsigned or forged request gets 401 and one log line
    without its body, and never reaches Bolt: Bolt would log the whole body at INFO. Headers that are missing or not
    numbers, and bodies that are not UTF-8, are simply not signed (Slack's verifier raises on them: a 500). Bolt
    parses the body before it checks the signature, and a body it cannot parse (a `payload` that is not JSON, a broken
    JSON event, JSON that is not an object) escapes it as a 500 with a stack trace: a signed request whose body
    cannot be read gets 400 and one warning line. Bolt checks the signature again. Slack's `ssl_check` carries no
    signature and is answered here.
    """
    secret = signing_secret.encode()

    async def slack_events(request: web.Request) -> web.Response:
        arrived = time.monotonic()
        try:
            return await answer(request)
        finally:
            acked(time.monotonic() - arrived)  # how long Slack waited for its answer (`banana_slack_ack_seconds`)

    async def answer(request: web.Request) -> web.Response:
        raw = await request.read()
        refused = _unsigned_because(secret, raw, request.headers)
        if refused:
            if _is_ssl_check(raw):
                return web.Response()
            log.info("answered 401 to a request at %s: %s", request.path, refused)
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            bolt_request = AsyncBoltRequest(
                body=await request.text(),
                query=request.query_string,
                headers=dict(request.headers.items()),  # as Bolt's adapter reads them: the last of a repeated one
            )
        except Exception as error:  # whatever Bolt cannot build a request from; nothing has been acted on
            log.warning(
                "answered 400 to a signed Slack request whose body cannot be read (%s, %s: %.200s)",
                request.content_type,
                type(error).__name__,
                error,
            )
            return web.json_response({"error": "unreadable body"}, status=400)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    return slack_events


# Slack signs `v0:{timestamp}:{body}` with HMAC-SHA256, and an app should refuse a request more than five minutes old
# (https://docs.slack.dev/authentication/verifying-requests-from-slack/). Its timestamps are whole seconds.
_MAX_AGE = 60 * 5
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def _unsigned_because(secret: bytes, raw: bytes, headers: Mapping[str, str]) -> str | None:
    """Why this request is not signed by Slack, or None when it is."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        return "no signature"
    if not _TIMESTAMP.fullmatch(timestamp) or abs(time.time() - int(timestamp)) > _MAX_AGE:
        return "a timestamp that is not within five minutes"
    expected = "v0=" + hmac.new(secret, b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "a signature that does not match"
    return None


def _is_ssl_check(raw: bytes) -> bool:
    """Slack's check of a slash command's certificate: a form with ssl_check=1 and no signature, answered 200 as Bolt's
    SslCheck middleware does before its signature check (https://api.slack.com/interactivity/slash-commands)."""
    return parse_qs(raw.decode("utf-8", "replace")).get("ssl_check") == ["1"]


def install_page(flow: AsyncOAuthFlow) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))

    return handle


def oauth_redirect(flow: AsyncOAuthFlow) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Slack's redirect after someone approves (or declines) the install: Bolt checks the state (cookie and store),
    exchanges the code and stores the installation, then the app's page says what happened."""

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

    return handle


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

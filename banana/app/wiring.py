"""Wiring: the engine's services built once, and the Bolt app that hands them to every listener."""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import httpx
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.error import BoltError
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

import handlers
from bot.blocks.modals import notice_view
from bot.clients.inputs import InputFetcher
from bot.clients.kie import KieClient
from bot.clients.kie_keys import KieAccount, KieKeys
from bot.clients.limits import CreateQueue, RateLimit, SharedPace
from bot.clients.slack import SlackDelivery
from bot.clients.tokens import FreshBots, Installs, Refusal, install_refusal, revoke_tokens
from bot.jobs.runner import JobRunner
from bot.metrics import Metrics
from bot.services import Services
from bot.services.brand_kit import MAX_BRAND_FILE_BYTES, BrandKit
from bot.services.budget import Budget
from bot.services.home import HomeTab
from bot.services.starter import DATABASE_AWAY, TaskStarter
from bot.services.tasks import Tasks
from bot.services.workspace_settings import Ceilings, WorkspaceSettings
from bot.settings import Settings
from bot.store import StoreUnavailable, TaskStore, installation_stores, open_store, urgent
from bot.store.sealed import Sealer
from prompts.catalog import CatalogError, load_brand, load_catalog

log = logging.getLogger("banana")

SLACK_EVENTS_PATH = "/slack/events"


def _not_token_unused(record: logging.LogRecord) -> bool:
    """Bolt (1.30.0) warns "As you gave `client` as well, `token` will be unused" whenever SLACK_BOT_TOKEN is in the
    process environment: AsyncApp reads it there when given no `token` (`token or os.environ.get(...)`), and no
    argument turns that off. Banana gives Bolt its token through `authorize`, so this one message is dropped."""
    return record.getMessage() != warning_client_prioritized_and_token_skipped()


BOLT_LOG = logging.getLogger("banana.slack_bolt")
BOLT_LOG.addFilter(_not_token_unused)


@asynccontextmanager
async def engine(settings: Settings) -> AsyncIterator[Services]:
    """Everything that outlives a request: one store, one httpx client, one Slack client, one job runner."""
    try:  # first: a broken brand or catalog file stops start-up before anything is opened
        catalog, brand = load_catalog(), load_brand(settings.brand_file)
    except CatalogError as error:
        if settings.brand_file is not None and error.path == settings.brand_file:
            raise StartupError(
                f"BRAND_FILE cannot be used (fix it as docs/usage.md's “Your brand” says, or leave BRAND_FILE out "
                f"for the default brand): {error}"
            ) from None
        raise StartupError(f"the prompt studio cannot load {error}") from None
    async with AsyncExitStack() as stack:
        try:
            store = await open_store(settings.database_url, settings.database_path)
        except StoreUnavailable as error:
            raise StartupError(str(error)) from None
        stack.push_async_callback(store.close)

        def shared(name: str, limit: int, window: float) -> SharedPace | None:
            """With several replicas, a limit all of them share; one process keeps its own."""
            return SharedPace(store, name, limit, window) if store.shared else None

        metrics = Metrics()
        http = await stack.enter_async_context(
            httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0), event_hooks=metrics.kie_hooks())
        )
        session = await stack.enter_async_context(aiohttp.ClientSession(trace_configs=[metrics.slack_trace()]))
        client = slack_client(settings, session)

        def kie_account(api_key: str, name: str) -> KieAccount:
            """One kie.ai key's client and create line, its limits kept under its own name (`name`: "" for the
            operator's key, ":<fingerprint>" for a workspace's), shared by the replicas."""
            reads = settings.kie_reads_per_second
            creates, window = settings.kie_creates_per_window, settings.kie_create_window
            client = KieClient(
                http,
                api_key=api_key,
                base_url=settings.kieai_base_url,
                upload_url=settings.kieai_upload_url,
                retry_delays=settings.kie_retry_delays,
                reads=RateLimit(reads, shared=shared(f"kie:reads{name}", reads, 1.0)),
            )
            # As CreateQueue's own window: a margin for the trip to kie.
            line = CreateQueue(creates, window, shared=shared(f"kie:creates{name}", creates, window * 1.05 + 0.05))
            return KieAccount(client, line)

        operator = kie_account(settings.kieai_api_key, "")
        kie = operator.client
        sealer = Sealer(settings.encryption_keys) if settings.encryption_keys else None
        kie_keys = KieKeys(store, sealer, operator, kie_account)
        installs = None
        if settings.oauth:
            installations, states = installation_stores(store, settings.slack_client_id or "", settings.encryption_keys)
            rotator = AsyncTokenRotator(
                client_id=settings.slack_client_id or "",
                client_secret=settings.slack_client_secret or "",
                client=client,
            )
            installs = Installs(FreshBots(store, installations, rotator, allowed=settings.may_install), states)
        slack = SlackDelivery(
            client,
            session,
            tokens=installs.bots.bot_token if installs else None,
            post_interval=settings.slack_post_interval,
            shared_posts=shared("slack:post", 1, settings.slack_post_interval),
            shared_updates=shared("slack:chat.update", settings.slack_updates_per_minute, 60.0),
        )
        home = HomeTab(
            store,
            slack,
            settings.defaults,
            prices=settings.prices,
            refresh_delay=settings.home_refresh_delay,
            retry_delays=settings.slack_retry_delays,
        )
        stack.push_async_callback(home.close)
        runner = JobRunner(
            settings,
            store,
            kie_keys,
            slack,
            on_change=lambda task: home.refresh_soon(task.team_id, task.user_id),
            metrics=metrics,
        )
        stack.push_async_callback(runner.close)
        if installs is not None:  # a workspace Banana can no longer act in (a refused refresh) ends its work
            installs.bots.end_work = runner.end_workspace
        workspaces = WorkspaceSettings(
            store,
            slack,
            Ceilings(
                user_daily_cap=settings.user_daily_credit_cap,
                workspace_monthly_cap=settings.workspace_monthly_credit_cap,
                defaults=settings.defaults,
                thread_replies=settings.thread_replies,
            ),
            kie_keys=kie_keys,
        )
        home.workspaces = workspaces
        brands = BrandKit(
            store,
            slack,
            workspaces,
            brand,
            inputs=InputFetcher(max_side=settings.max_input_side, max_download_bytes=MAX_BRAND_FILE_BYTES),
        )
        budget = Budget(
            store,
            settings.prices,
            workspaces=workspaces,
            user_daily_cap=settings.user_daily_credit_cap,
            workspace_monthly_cap=settings.workspace_monthly_credit_cap,
            many_workspaces=settings.oauth,
            operator_workspace=settings.operator_workspace,
        )
        yield Services(
            settings=settings,
            store=store,
            kie=kie,
            kie_keys=kie_keys,
            slack=slack,
            runner=runner,
            starter=TaskStarter(budget, runner, workspaces, brand_for=brands.brand_for),
            tasks=Tasks(store, slack, runner, on_change=runner.on_change),
            home=home,
            budget=budget,
            catalog=catalog,
            brand=brand,
            installs=installs,
            workspaces=workspaces,
            brands=brands,
        )


def slack_client(settings: Settings, session: aiohttp.ClientSession) -> AsyncWebClient:
    return AsyncWebClient(
        token=settings.slack_bot_token or None,  # with OAuth, each call carries its workspace's token
        base_url=settings.slack_api_url,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=5),
            AsyncServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class StartupError(Exception):
    """The app cannot run as configured; the message says what to fix."""


async def check_slack(settings: Settings) -> AuthorizeResult | None:
    """Slack's tokens, checked before anything is created (no database, no port), so a wrong one leaves nothing
    behind: the bot token with `auth.test` (one workspace; the bot it names is returned), and in Socket Mode the app
    token with `apps.connections.open`, which slack_sdk would otherwise retry every few seconds for ever."""
    async with aiohttp.ClientSession() as session:
        client = slack_client(settings, session)
        identity = None if settings.oauth else await identify_bot(client)
        if settings.slack_app_token:
            await check_app_token(client, settings.slack_app_token)
    return identity


async def identify_bot(client: AsyncWebClient) -> AuthorizeResult:
    """Check the bot token once at start-up, so a bad token stops the app now rather than at the first command, and
    no request from Slack has to wait for `auth.test`."""
    try:
        response = await client.auth_test()
    except SlackApiError as error:
        raise _refusal(error, "SLACK_BOT_TOKEN", client.base_url, BOT_TOKEN_FIX) from None
    except (aiohttp.ClientError, OSError) as error:
        raise StartupError(_unreachable(client.base_url, error)) from None
    return AuthorizeResult.from_auth_test_response(bot_token=client.token, auth_test_response=response)


async def check_app_token(client: AsyncWebClient, app_token: str) -> None:
    """Socket Mode's app-level token, asked for one connection URL (which is left unused: the handler asks again)."""
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as error:
        raise _refusal(error, "SLACK_APP_TOKEN", client.base_url, APP_TOKEN_FIX) from None
    except (aiohttp.ClientError, OSError) as error:
        raise StartupError(_unreachable(client.base_url, error)) from None


BOT_TOKEN_FIX = (
    "copy the Bot User OAuth Token (xoxb-…) from your app's OAuth & Permissions page at https://api.slack.com/apps "
    "(install the app again if it was revoked)"
)
APP_TOKEN_FIX = (
    "make an app-level token (xapp-…) with the connections:write scope under Basic Information → App-Level Tokens "
    "at https://api.slack.com/apps, with Socket Mode turned on"
)


def _refusal(error: SlackApiError, setting: str, base_url: str, fix: str) -> StartupError:
    """Slack's refusal of `setting`; an answer that is not Slack's JSON means SLACK_API_URL is not Slack's API."""
    data = error.response.data
    if not isinstance(data, dict) or not data.get("error"):
        return StartupError(
            f"SLACK_API_URL {base_url} does not answer as Slack's Web API does (HTTP {error.response.status_code}): "
            "leave SLACK_API_URL out for https://slack.com/api/"
        )
    return StartupError(f"Slack refused {setting} ({data.get('error')}): {fix}")


def _unreachable(base_url: str, error: Exception) -> str:
    return (
        f"Slack could not be reached at SLACK_API_URL {base_url} ({type(error).__name__}): check this host's "
        "network, or leave SLACK_API_URL out for https://slack.com/api/"
    )


def build_app(services: Services, client: AsyncWebClient, identity: AuthorizeResult | None) -> AsyncApp:
    """The Bolt app: for one workspace, `identity` (its bot, checked at start-up); installed through OAuth, Bolt's
    install flow and each request's workspace's bot from the installation store."""
    settings = services.settings
    # Bolt builds each request's client from this one (base URL, session, retry handlers) and the token its
    # authorization finds; handing it a token as well would only earn a start-up warning that the token is ignored.
    request_client = AsyncWebClient(
        base_url=client.base_url, session=client.session, retry_handlers=client.retry_handlers
    )
    common: dict[str, Any] = {
        "client": request_client,
        "signing_secret": settings.slack_signing_secret or "",
        # Socket Mode requests arrive over an authenticated socket and carry no signature.
        "request_verification_enabled": not settings.socket_mode,
        "logger": BOLT_LOG,
    }
    if services.installs is not None:
        if not settings.allowed_workspaces:
            log.warning(ANYONE_MAY_INSTALL)
        app = AsyncApp(
            oauth_flow=CheckedOAuthFlow(
                settings=oauth_settings(settings, services.installs),
                client=request_client,
                logger=common["logger"],
                refusal=lambda installation: install_refusal(settings, installation),
            ),
            # Bolt's hint names a function; its code takes an AsyncAuthorize as it is (async_app.py, `authorize`).
            authorize=FreshBotAuthorize(services.installs.bots),  # type: ignore[arg-type]
            # A workspace with no installation (never, no more, or no longer allowed): Bolt says this once,
            # privately, and does nothing.
            user_facing_authorize_error_message=NOT_INSTALLED,
            **common,
        )
    else:
        assert identity is not None, "one workspace: its bot is identified at start-up"
        app = AsyncApp(authorize=one_workspace(identity), **common)

    async def provide_services(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:
        context["services"] = services  # listeners take it as `context["services"]`
        await next()

    app.use(provide_services)
    app.use(skip_repeats(services.store))
    app.error(database_away)
    handlers.register(app)
    return app


def skip_repeats(store: TaskStore) -> Callable[..., Awaitable[BoltResponse | None]]:
    """Slack sends a request again, marked with X-Slack-Retry-Num, when its first answer was slow or lost, and with
    several replicas the retry may reach another one. A retry of a trigger or event already handled anywhere (the
    store remembers them) is answered with a plain 200 and not acted on twice, so it never starts a second task.
    Requests without that mark are always handled."""

    async def middleware(
        req: AsyncBoltRequest, body: dict[str, Any], next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        key = str(body.get("event_id") or body.get("trigger_id") or "")
        with urgent():  # before any answer to Slack: ahead of the jobs' writes
            first_time = await store.first_time(key) if key else True
        if not first_time and req.headers.get("x-slack-retry-num"):
            log.debug("ignored Slack's retry of %s", key)
            return BoltResponse(status=200, body="")
        await next()
        return None

    return middleware


async def database_away(error: Exception, body: dict[str, Any], request: AsyncBoltRequest) -> None:
    """A listener stopped because the database is away: say so to the person, in place of Bolt's error. Anything else
    is logged as Bolt logs it."""
    if not isinstance(error, StoreUnavailable):
        log.error("a listener failed", exc_info=error)
        return
    log.warning("a request could not be served: the database is away (%s)", error)
    ack: AsyncAck = request.context.ack
    if ack.response is None:  # not answered yet: this is the answer
        if body.get("type") == "view_submission":
            await ack(response_action="update", view=notice_view("Banana", f":warning: {DATABASE_AWAY}"))
            return
        if body.get("command"):
            await ack(response_type="ephemeral", text=f":warning: {DATABASE_AWAY}")
            return
        await ack()
    response_url = body.get("response_url")
    if response_url:  # answered already (a button, a command's empty ack): say it privately where it was asked
        with contextlib.suppress(Exception):
            await AsyncWebhookClient(response_url).send(text=f":warning: {DATABASE_AWAY}", response_type="ephemeral")


# The bot scopes an install asks for: manifest.yml's (tests/test_manifest.py keeps the two equal).
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:join",
    "files:write",
    "files:read",
    "users:read",
    "app_mentions:read",
    "im:history",
)


def one_workspace(identity: AuthorizeResult) -> Callable[..., Awaitable[AuthorizeResult]]:
    """Authorization with SLACK_BOT_TOKEN: requests from its workspace get its bot; any other workspace's (a stray
    request, or one forged with a leaked signing secret) get none, so Bolt refuses them."""

    async def authorize(team_id: str | None) -> AuthorizeResult:
        if team_id and identity.team_id and team_id != identity.team_id:
            log.warning(
                "refused a request from workspace %s: Banana is installed in %s only", team_id, identity.team_id
            )
            return None  # type: ignore[return-value]  # Bolt takes None as "not authorized", as its docs say
        return identity

    return authorize


def oauth_settings(settings: Settings, installs: Installs) -> AsyncOAuthSettings:
    """Bolt's OAuth flow at its default paths (/slack/install, /slack/oauth_redirect), against SLACK_AUTHORIZE_URL and
    SLACK_API_URL, keeping installations and states in Banana's own database."""
    return AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret,
        scopes=list(BOT_SCOPES),
        installation_store=installs.bots,
        installation_store_bot_only=True,  # the bot is all Banana uses; `FreshBots` keeps its token fresh
        state_store=installs.states,
        authorization_url=settings.slack_authorize_url,
        callback_options=AsyncCallbackOptions(success=installed, failure=not_installed),
    )


class FreshBotAuthorize(AsyncAuthorize):
    """Bolt's authorization with OAuth, in place of its AsyncInstallationStoreAuthorize, so that FreshBots is the one
    token rotator: Bolt's own (slack_bolt 1.30, async_authorize.py) refreshes a token itself when it finds one near
    expiry, outside FreshBots's lock, and a refresh token is single-use. AsyncApp takes an AsyncAuthorize instance
    beside an OAuth flow (slack_bolt 1.30, async_app.py, `authorize`). The bot comes from FreshBots: refreshed under
    the lock, none for a workspace not allowed or whose refresh Slack refused. auth.test, as Bolt's does, checks the
    token and says whose it is (team, enterprise, bot id, bot user), for the request's context."""

    def __init__(self, bots: FreshBots) -> None:
        self._bots = bots

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        bot = await self._bots.async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=context.is_enterprise_install
        )
        if bot is None or not bot.bot_token:
            return None
        try:
            response = await context.client.auth_test(token=bot.bot_token)
        except SlackApiError as error:
            log.info("the bot token of workspace %s no longer works (%s)", team_id, error.response.get("error"))
            return None
        return AuthorizeResult.from_auth_test_response(
            auth_test_response=response, bot_token=bot.bot_token, bot_scopes=bot.bot_scopes
        )


class InstallRefused(BoltError):
    """An install Banana refuses; its tokens are revoked already and nothing of it was stored."""

    def __init__(self, refusal: Refusal, installation: Installation) -> None:
        super().__init__(f"refused {refusal.value}")
        self.refusal = refusal
        self.installation = installation


class CheckedOAuthFlow(AsyncOAuthFlow):
    """Bolt's OAuth flow, refusing an install before anything of it is stored. slack_bolt 1.30's
    AsyncOAuthFlow.handle_callback runs `run_installation` (oauth.v2.access), then `store_installation`, then the
    success handler; a BoltError from `store_installation` goes to the failure handler instead (reason
    "storage_error", the error in `args.error`). So the check sits in `store_installation`."""

    def __init__(self, *, refusal: Callable[[Installation], Refusal | None], **options: Any) -> None:
        super().__init__(**options)
        self._refusal = refusal

    async def store_installation(self, request: AsyncBoltRequest, installation: Installation) -> None:
        refusal = self._refusal(installation)
        if refusal is not None:
            await revoke_tokens(self.client, installation)
            raise InstallRefused(refusal, installation)
        await super().store_installation(request, installation)


async def installed(args: AsyncSuccessArgs) -> BoltResponse:
    installation = args.installation
    log.info("installed in %s (%s)", installation.team_name, installation.team_id)
    team = html.escape(installation.team_name or "your workspace")
    return _page(args.settings, 200, INSTALLED_PAGE.format(team=team))


async def not_installed(args: AsyncFailureArgs) -> BoltResponse:
    """A forged or reused state, a code Slack refused, a person who declined, or an install Banana refuses: a clear
    page, nothing stored."""
    error = args.error
    if isinstance(error, InstallRefused):
        return _refused(args.settings, error)
    log.info("an install did not complete: %s", args.reason)
    if args.reason == "access_denied":
        return _page(args.settings, 200, DECLINED_PAGE)
    return _page(args.settings, args.suggested_status_code or 400, FAILED_PAGE)


def _refused(settings: AsyncOAuthSettings, refused: InstallRefused) -> BoltResponse:
    installation = refused.installation
    where = installation.enterprise_id if refused.refusal is Refusal.ENTERPRISE else installation.team_id
    log.info(
        "refused an install from %s (%s): %s; its tokens were revoked",
        where,
        installation.team_name,
        refused.refusal.value,
    )
    if refused.refusal is Refusal.ENTERPRISE:
        return _page(settings, 400, ENTERPRISE_PAGE)
    team = html.escape(installation.team_name or "this workspace")
    return _page(settings, 403, NOT_ALLOWED_PAGE.format(team=team, team_id=html.escape(installation.team_id or "")))


def _page(settings: AsyncOAuthSettings, status: int, body: str) -> BoltResponse:
    """An OAuth page that also clears Bolt's state cookie, as Bolt's own pages do: the state is spent either way."""
    return BoltResponse(
        status=status,
        body=PAGE.format(body=body),
        headers={
            "content-type": "text/html; charset=utf-8",
            "set-cookie": settings.state_utils.build_set_cookie_for_deletion(),
        },
    )


NOT_INSTALLED = (
    ":wave: Banana is not installed in this workspace (or no longer is), so nothing was started. "
    "Ask whoever runs Banana for its install link to add it again."
)
PAGE = (
    "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Banana</title></head><body>{body}</body></html>"
)
INSTALLED_PAGE = (
    "<h1>Banana is installed in {team}</h1><p>Type <code>/banana</code> and what you want in any channel, or open "
    "Banana's Home tab in Slack to start. <code>/banana help</code> shows everything.</p>"
)
DECLINED_PAGE = (
    "<h1>Banana was not installed</h1><p>Nothing was stored. You can install it any time from this page's link.</p>"
)
FAILED_PAGE = (
    "<h1>Banana could not be installed</h1><p>The install link was used already, had expired, or did not come from "
    "Banana. Nothing was stored. Start again from the <a href='/slack/install'>install page</a>.</p>"
)
NOT_ALLOWED_PAGE = (
    "<h1>Banana isn't available for {team}</h1><p>Whoever runs this Banana decides which workspaces may use it. Ask "
    "them to add workspace <code>{team_id}</code> to ALLOWED_WORKSPACES, then install it again. Nothing was stored, "
    "and the access Slack granted was given back.</p>"
)
ANYONE_MAY_INSTALL = (
    "ALLOWED_WORKSPACES is not set: any Slack workspace can install Banana and spend this kie.ai account's credits. "
    "List the workspaces that may (team ids T…, or E… for an Enterprise Grid org) in ALLOWED_WORKSPACES."
)
ENTERPRISE_PAGE = (
    "<h1>Banana installs in single workspaces</h1><p>Enterprise Grid installs are not supported yet, so nothing was "
    "stored. Install Banana from a workspace that is not part of an Enterprise Grid organization.</p>"
)

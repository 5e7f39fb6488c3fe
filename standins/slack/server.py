"""The stand-in's HTTP server: routes, ``/api/<method>`` (argument parsing, token and scope checks, faults and
rate limits, dispatch to the API families), auth.test, the stand-in's own ``/standin/...`` routes, and
:class:`SlackStandIn`, the object tests, the sandbox and the benchmark drive.

How a Web API call is read, as https://docs.slack.dev/apis/web-api/ describes it:
- the token comes from ``Authorization: Bearer`` or a POST body's ``token`` field, never from the query string
  (https://docs.slack.dev/changelog/2020-11-no-more-tokens-in-querystrings-for-newly-created-apps);
- a JSON body is read only by the methods that accept JSON (``json_input_supported`` on each method's page,
  https://docs.slack.dev/reference/methods/<method>); the others read the query string and form fields only;
- then the token: unknown (invalid_auth), revoked (account_inactive, or invalid_auth after a reinstall) or expired
  (token_expired), its type, then the method's scope (``missing_scope`` with ``needed``/``provided``) and its rate
  tier, all in the workspace the token belongs to (an org-wide token: the org's workspace the arguments point at).
- ``oauth.v2.access`` takes no token but the app's client credentials (``oauth``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from aiohttp import ClientSession, web

from .core import (
    APP_TOKEN,
    BOT_NAME,
    BOT_TOKEN,
    BOT_USER_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    CODE_TTL,
    DEFAULT_BOT_EVENTS,
    DEFAULT_SCOPES,
    TEAM_ID,
    TEAM_NAME,
    TOKEN_EXPIRES_IN,
    Call,
    Handler,
    SlackError,
    Token,
    as_str,
    bearer,
    truthy,
    workspace_ids,
)
from .driver import SignedRequest, SlackDriver, TeamSource, over_http
from .events import EventAttempt, EventsAPI
from .files import MAX_UPLOAD_BYTES
from .limits import Answer, fault_response
from .oauth import AUTHORIZE_PATH, OAuth
from .socket_mode import SocketMode
from .team import Team, events_of

# Methods that take the app-level token (and only it); every other method refuses it:
# https://api.slack.com/methods/apps.connections.open ("app-level token", connections:write).
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
# Methods that take no token but the app's client credentials: https://api.slack.com/methods/oauth.v2.access
OAUTH_METHODS = frozenset({"oauth.v2.access"})
# What a user token (an install's authed_user.access_token) may call here; see ``_run_method``.
USER_TOKEN_METHODS = frozenset({"auth.test", "auth.revoke"})
STATS_PATH = "/standin/stats"  # not Slack's: what a benchmark in another process reads back
RESPONSE_URLS_PATH = "/standin/response_urls"  # not Slack's: fresh response_urls for requests sent from elsewhere
TRIGGER_IDS_PATH = "/standin/trigger_ids"  # not Slack's: fresh trigger ids, for shortcuts sent from elsewhere
# Not Slack's: a person (user) in a conversation (channel) as Slack's payloads name them (team.Sender), for a
# driver in another process (driver.StandInSource).
SENDER_PATH = "/standin/sender"
# Not Slack's: a person's message carrying files (multipart: channel, text, user, thread_ts, one `file` part per
# file; wait_for_events=1 answers only once its events were delivered), for a benchmark in another process; answers
# with the message as a shortcut's payload carries it.
MESSAGES_PATH = "/standin/messages"
# not Slack's: a person typing a slash command, sent to the app as Slack sends it (for trying the app by hand)
COMMAND_PATH = "/standin/command"
# Not Slack's: a person edits a message (form: channel, ts, text; wait_for_events=1 as above).
EDIT_MESSAGE_PATH = "/standin/messages/edit"
# Not Slack's: every event_callback made and every delivery attempt, for a process that cannot read them directly.
EVENTS_PATH = "/standin/events"

# Arguments Slack accepts as JSON-encoded strings in query/form bodies.
JSON_ARGS = ("blocks", "files", "view", "attachments", "metadata")

# The bot scope each method needs, from its page at https://api.slack.com/methods/<method> ("Required scopes");
# None: the page says no scope is required. conversations.info is checked per channel type in its handler
# (channels:read, groups:read, im:read or mpim:read).
METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,  # https://api.slack.com/methods/auth.test
    "auth.revoke": None,  # https://api.slack.com/methods/auth.revoke
    "chat.postMessage": "chat:write",  # https://api.slack.com/methods/chat.postMessage
    "chat.update": "chat:write",  # https://api.slack.com/methods/chat.update
    "chat.delete": "chat:write",  # https://api.slack.com/methods/chat.delete
    "chat.postEphemeral": "chat:write",  # https://api.slack.com/methods/chat.postEphemeral
    "chat.getPermalink": None,  # https://api.slack.com/methods/chat.getPermalink
    "conversations.join": "channels:join",  # https://api.slack.com/methods/conversations.join
    "conversations.open": "im:write",  # https://api.slack.com/methods/conversations.open (1:1 DMs)
    "files.getUploadURLExternal": "files:write",  # https://api.slack.com/methods/files.getUploadURLExternal
    "files.completeUploadExternal": "files:write",  # https://api.slack.com/methods/files.completeUploadExternal
    "files.info": "files:read",  # https://api.slack.com/methods/files.info
    "files.list": "files:read",  # https://api.slack.com/methods/files.list
    "files.delete": "files:write",  # https://api.slack.com/methods/files.delete
    "files.upload": "files:write",  # https://api.slack.com/methods/files.upload (retired: method_deprecated)
    "files.remote.add": "remote_files:write",  # https://docs.slack.dev/reference/methods/files.remote.add
    "files.remote.share": "remote_files:share",  # https://docs.slack.dev/reference/methods/files.remote.share
    "users.info": "users:read",  # https://api.slack.com/methods/users.info
    "views.open": None,  # https://api.slack.com/methods/views.open
    "views.push": None,  # https://api.slack.com/methods/views.push
    "views.update": None,  # https://api.slack.com/methods/views.update
    "views.publish": None,  # https://api.slack.com/methods/views.publish
}

# Methods whose page says they accept a JSON body (json_input_supported); the rest ignore one, so arguments sent
# only in JSON are missing for them: https://docs.slack.dev/apis/web-api/#posting-json and each method's page.
# (files.getUploadURLExternal, files.info, files.list, users.info, conversations.info, chat.getPermalink do not.)
JSON_METHODS = frozenset(
    {
        "auth.test",
        "apps.connections.open",
        "chat.postMessage",
        "chat.update",
        "chat.delete",
        "chat.postEphemeral",
        "conversations.join",
        "conversations.open",
        "files.completeUploadExternal",
        "files.delete",
        "files.remote.share",
        "views.open",
        "views.push",
        "views.update",
        "views.publish",
    }
)

LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head>"
    "<body><h1>Sign in to Test Team</h1><form>...</form></body></html>"
)


class SlackStandIn(Team):
    """The stand-in: the default workspace (everything a test did before there were several is done here) and
    what belongs to the app as a whole: the HTTP server, Socket Mode, the Events API's Request URL, the OAuth flow
    and the other workspaces (``add_workspace``).

    ``client_id``, ``client_secret``, ``redirect_urls``, ``token_rotation_enabled`` (off: manifest.yml's),
    ``token_expires_in``, ``code_ttl`` and ``org_deploy_enabled`` (off: manifest.yml's) are the app's OAuth settings,
    plain attributes tests may change; ``next_installer`` and ``decline_next_install`` say who approves the next
    install and whether they decline it (see ``oauth``).
    """

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        team_id: str = TEAM_ID,
        bot_user_id: str = BOT_USER_ID,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        bot_events: tuple[str, ...] = DEFAULT_BOT_EVENTS,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        redirect_urls: Sequence[str] = (),
        token_rotation_enabled: bool = False,
    ) -> None:
        super().__init__(
            bot_token=bot_token,
            app_token=app_token,
            team_id=team_id,
            bot_user_id=bot_user_id,
            scopes=scopes,
            bot_events=bot_events,
        )
        # The app's OAuth settings (oauth.App).
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_urls: list[str] = list(redirect_urls)
        self.token_rotation_enabled = token_rotation_enabled
        self.token_expires_in = TOKEN_EXPIRES_IN
        self.code_ttl = CODE_TTL
        self.org_deploy_enabled = False
        self.next_installer: tuple[str, str] | None = None  # (team or enterprise id, user id) of the next install
        self.decline_next_install = False

        self._runner: web.AppRunner | None = None
        self._tiers: tuple[int | None, float | None, bool] = (None, None, False)
        self._teams: dict[str, Team] = {self.team_id: self}
        self._socket_mode = SocketMode(self)
        self._events_api = EventsAPI(self, self._socket_mode)
        self.events_api = self._events_api
        self.oauth = OAuth(self, self._teams, self._events_api)
        # Methods every token reaches, whatever its workspace (the families' are in each Team's ``methods``).
        self._app_methods: dict[str, Handler] = {**self._socket_mode.methods()}

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{upload_id}", self._handle_upload)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._handle_download)
        app.router.add_get("/files-pri/{team_file}/{name}", self._handle_download)
        app.router.add_get("/link/", self._socket_mode.handle_socket)
        app.router.add_get(AUTHORIZE_PATH, self.oauth.handle_authorize)
        app.router.add_get(STATS_PATH, self._handle_stats)
        app.router.add_get(RESPONSE_URLS_PATH, self._handle_response_urls)
        app.router.add_get(TRIGGER_IDS_PATH, self._handle_trigger_ids)
        app.router.add_get(SENDER_PATH, self._handle_sender)
        app.router.add_post(MESSAGES_PATH, self._handle_add_message)
        app.router.add_post(COMMAND_PATH, self._handle_command)
        app.router.add_post(EDIT_MESSAGE_PATH, self._handle_edit_message)
        app.router.add_get(EVENTS_PATH, self._handle_events)
        app.router.add_get("/", self._handle_login_page)
        app.router.add_get("/{tail:.+}", self._handle_web_page)
        app.router.add_post("/{tail:.+}", self._handle_response_url)
        # Runs after the listening socket is closed and before aiohttp waits for handlers to finish.
        app.on_shutdown.append(self._socket_mode.close_sockets)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        base_url = f"http://{bound_host}:{bound_port}"
        for team in self._teams.values():
            team.base_url, team.api_url = base_url, base_url + "/api/"
            for file in team.files.values():
                file.base_url = base_url
        return self.api_url

    async def stop(self) -> None:
        await self._events_api.close()  # deliveries still waiting for a retry end with the workspace
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ several workspaces

    def add_workspace(
        self,
        team_id: str | None = None,
        name: str | None = None,
        *,
        domain: str | None = None,
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
        installed: bool = False,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
    ) -> Team:
        """Another workspace, numbered after the others (its ids: ``core.workspace_ids``; ``team_id`` overrides the
        team's), with its own people, channels, messages, files, bot user and tokens, and the same app.

        The app is not installed there until an OAuth install (``/oauth/v2/authorize`` and oauth.v2.access), or
        ``install()``; ``installed=True`` installs it at once with ``scopes`` (its bot token is then
        ``team.bot_token``). ``enterprise_id`` puts it in an Enterprise Grid org: the org's workspaces share one
        bot user, and installing into the enterprise id installs the app org-wide.
        """
        number = max(team.number for team in self._teams.values()) + 1
        team_id = team_id or workspace_ids(number)["team_id"]
        if team_id in self._teams:
            raise ValueError(f"workspace {team_id} exists already")
        options: dict[str, Any] = {}
        peers = [t for t in self._teams.values() if enterprise_id and t.enterprise_id == enterprise_id]
        if peers:
            # Grid's users (the bot user too) are the org's, in all its workspaces.
            options.update(bot_user_id=peers[0].bot_user_id, bot_id=peers[0].bot_id)
            enterprise_name = enterprise_name or peers[0].enterprise_name
        team = Team(
            app_token=self.app_token,
            team_id=team_id,
            bot_events=self.bot_events,
            number=number,
            team_name=name or f"Workspace {number}",
            domain=domain or f"workspace-{number}",
            enterprise_id=enterprise_id,
            enterprise_name=(enterprise_name or f"Org {enterprise_id}") if enterprise_id else None,
            installed=False,
            seq=self._seq,
            **options,
        )
        team.base_url, team.api_url = self.base_url, self.api_url
        team.event_ack_deadline, team.event_retry_delays = self.event_ack_deadline, self.event_retry_delays
        team.events_api = self._events_api
        self._events_api.attach(team)
        team.limits.enforce_tiers(*self._tiers[:2], all_methods=self._tiers[2])
        self._teams[team_id] = team
        if installed:
            self.oauth.install(team_id, scopes=scopes)
        return team

    @property
    def workspaces(self) -> list[Team]:
        """Every workspace, the default first."""
        return list(self._teams.values())

    def workspace(self, team_id: str) -> Team:
        """The workspace with this team id."""
        try:
            return self._teams[team_id]
        except KeyError:
            raise KeyError(f"no workspace {team_id}; known: {sorted(self._teams)}") from None

    # ------------------------------------------------------------------ installs (see ``oauth``)

    @property
    def authorize_url(self) -> str:
        """Where Slack's ``https://slack.com/oauth/v2/authorize`` is here: Bolt's
        ``AsyncOAuthSettings(authorization_url=...)``."""
        self.require_started()
        return self.base_url + AUTHORIZE_PATH

    @property
    def authorize_requests(self) -> list[dict[str, Any]]:
        """Every visit to the authorize page: its query, the HTTP status, and where it redirected (or the error)."""
        return self.oauth.authorize_requests

    def install(
        self,
        target: str,
        *,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        user_scopes: tuple[str, ...] = (),
        user: str | None = None,
    ) -> dict[str, Any]:
        """Install the app into a workspace (or org-wide, given an enterprise id) without the browser and code
        steps; returns what oauth.v2.access would have answered ({"ok": true, "access_token": ...})."""
        return {"ok": True, **self.oauth.install(target, user_id=user, scopes=scopes, user_scopes=user_scopes)}

    async def uninstall(self, target: str, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Someone removes the app from a workspace (or, given an enterprise id, from the org): its tokens are
        revoked (they answer account_inactive), and tokens_revoked and app_uninstalled are delivered to the app if it
        subscribes to them (add them to ``bot_events``); returns once delivered."""
        self.oauth.uninstall(target)
        await self._events_api.delivered(timeout)

    def expire_tokens(self, target: str) -> int:
        """The workspace's (or org's) rotating access tokens expire now: they answer token_expired until refreshed.
        Returns how many expired (tokens issued without rotation never expire)."""
        return self.oauth.expire_tokens(target)

    # ------------------------------------------------------------------ helpers for tests (see also Team)

    # The timeout argument is part of the interface the app's tests use, hence the noqa.
    async def socket_send(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        accepts_response_payload: bool = True,
    ) -> dict[str, Any]:
        """Push one Socket Mode envelope to the app and return its ack (``{"envelope_id", "payload"?}``).

        Waits for a connection first; ``timeout`` covers both the wait and the ack. The newest open connection
        gets the envelope. Real Slack wants the ack within 3 s and otherwise retries (events_api) or shows the
        user an error (slash commands, interactions): a later ack raises AssertionError, even within ``timeout``.
        """
        return await self._socket_mode.send(
            envelope_type, payload, timeout=timeout, accepts_response_payload=accepts_response_payload
        )

    # ------------------------------------------------------------------ Events API (see ``events``)

    def deliver_events_to(self, url: str | None, signing_secret: str) -> None:
        """Set the app's Request URL (``.../slack/events``) and the signing secret its events are signed with.

        From now on posts, edits and deletions send the app the events it subscribes to (``bot_events``) and has
        the scopes for, from every workspace it is installed in. A Socket Mode connection, while one is open, takes
        them instead. None stops HTTP delivery.
        """
        self._events_api.request_url = url
        self._events_api.signing_secret = signing_secret

    @property
    def event_callbacks(self) -> list[dict[str, Any]]:
        """Every event_callback body made so far, of every workspace (delivered or still being delivered)."""
        return self._events_api.callbacks

    @property
    def event_attempts(self) -> list[EventAttempt]:
        """Every delivery attempt: event_id, event_type, retry_num, retry_reason, via, status, outcome, at."""
        return self._events_api.attempts

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The events made so far, of every workspace (the ``event`` of each callback), of one type if given
        ("app_mention", "message", or "message/message_changed" for a subtype). ``team.events()`` has one
        workspace's."""
        return events_of(self._events_api.callbacks, event_type, None)

    # ------------------------------------------------------------------ fault injection and tiers

    def enforce_tiers(
        self,
        chat_update_per_minute: int | None = None,
        post_message_per_second_per_channel: float | None = None,
        *,
        all_methods: bool = False,
    ) -> None:
        """Turn on real-rate enforcement, in every workspace, each counted apart (Slack's limits are per app per
        workspace, https://api.slack.com/apis/rate-limits); None leaves that limit off. Slack's real numbers:
        ~50/min, ~1/s. ``all_methods`` also holds every other method to its documented tier
        (``limits.METHOD_TIERS``). Faults (``fail_next``, ``rate_limit``, ``server_error``) are the default
        workspace's; a ``Team``'s own act on calls with its tokens."""
        self._tiers = (chat_update_per_minute, post_message_per_second_per_channel, all_methods)
        for team in self._teams.values():
            team.limits.enforce_tiers(
                chat_update_per_minute, post_message_per_second_per_channel, all_methods=all_methods
            )

    # ------------------------------------------------------------------ HTTP: /api/<method>

    async def _read_args(self, method: str, request: web.Request) -> tuple[dict[str, Any], str | None, bool]:
        """Merge query, form and JSON arguments; return (args, token, body_was_bad_json).

        Shaped by what slack_sdk 3.47 sends for each method; the package docstring lists it.
        """
        args: dict[str, Any] = dict(request.query)
        # A token in the query string is not read (see the module docstring): the call is then not_authed.
        args.pop("token", None)
        form_token: Any = None
        bad_json = False
        json_body: dict[str, Any] = {}
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json" and method not in JSON_METHODS:
                pass  # this method does not read JSON bodies: what was sent there is not an argument
            elif request.content_type == "application/json":
                raw = await request.read()
                try:
                    decoded = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    decoded = None
                if isinstance(decoded, dict):
                    json_body = decoded
                else:
                    bad_json = True
            elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    args[key] = value.file.read() if isinstance(value, web.FileField) else value
                form_token = args.pop("token", None)
        # Slack ignores a token inside a JSON body; JSON callers must use the Authorization header.
        json_body.pop("token", None)
        args.update(json_body)
        for key in JSON_ARGS:
            arg = args.get(key)
            if isinstance(arg, str) and arg.strip()[:1] in ("[", "{"):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(arg)
        token = bearer(request) or (form_token if isinstance(form_token, str) and form_token else None)
        return args, token, bad_json

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, token, bad_json = await self._read_args(method, request)
        if method in OAUTH_METHODS:
            teams, answer = self._run_oauth(method, args, request.headers.get("Authorization"))
            status, body, headers = answer
            for team in teams:
                team.calls.append(Call(method=method, args=args, at=time.monotonic(), status=status))
            return web.json_response(body, status=status, headers=headers)
        team, record = self._resolve(token, args)
        dropping = team.limits.take_drop(method)
        status, body, headers = self._run_method(method, args, token, bad_json, team, record)
        if dropping and request.transport is not None:
            request.transport.close()  # done, but the caller never hears so
        team.calls.append(Call(method=method, args=args, at=time.monotonic(), status=status))
        # Every Web API answer lists the calling token's scopes in X-OAuth-Scopes, "Working with scopes" at
        # https://docs.slack.dev/legacy/legacy-authentication/legacy-oauth-scopes : a workspace's are what its install
        # granted (`scopes=`, or `team.scopes` set later, to play an install from before a scope was asked for).
        if token == self.app_token:
            headers["x-oauth-scopes"] = "connections:write"
        else:
            headers["x-oauth-scopes"] = ",".join(record.scopes if record and record.kind == "user" else team.scopes)
        return web.json_response(body, status=status, headers=headers)

    def _resolve(self, token: str | None, args: dict[str, Any]) -> tuple[Team, Token | None]:
        """The workspace a call acts in and the token's record: the token's own workspace (for an org-wide
        install's token, the org's workspace the arguments point at), or the default one for an unknown token."""
        if not token or token == self.app_token:
            return self, None
        holders = [team for team in self._teams.values() if token in team.tokens]
        if not holders:
            return self, None
        team = holders[0] if len(holders) == 1 else org_workspace(holders, args)
        return team, team.tokens[token]

    def _run_oauth(self, method: str, args: dict[str, Any], authorization: str | None) -> tuple[list[Team], Answer]:
        # Faults set with fail_next/rate_limit/server_error on the default workspace reach these methods too.
        fault = self.limits.take_fault(method)
        if fault is not None:
            return [self], fault_response(fault)
        try:
            teams, result = self.oauth.access(args, authorization)
        except SlackError as exc:
            return [self], (200, {"ok": False, "error": exc.error, **exc.extra}, {})
        return teams, (200, {"ok": True, **result}, {})

    def _run_method(
        self,
        method: str,
        args: dict[str, Any],
        token: str | None,
        bad_json: bool,
        team: Team,
        record: Token | None,
    ) -> Answer:
        if token is None:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token != self.app_token:
            if record is None:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            problem = team.token_error(token)
            if problem is not None:
                return 200, {"ok": False, "error": problem}, {}
        if (token == self.app_token) != (method in APP_TOKEN_METHODS):
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        if record is not None and record.kind == "user" and method not in USER_TOKEN_METHODS:
            # The stand-in models bot tokens; a user token only identifies its person (auth.test) or goes away.
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        if bad_json:
            return 200, {"ok": False, "error": "invalid_json"}, {}
        fault = team.limits.take_fault(method)
        if fault is not None:
            return fault_response(fault)
        if method == "auth.test":
            return 200, {"ok": True, **self._auth_test(team, record)}, {"x-accepted-oauth-scopes": ""}
        if method == "auth.revoke":
            # https://api.slack.com/methods/auth.revoke : no scope; test=1 revokes nothing.
            revoked = self.oauth.revoke(token, test=truthy(args.get("test")))
            return 200, {"ok": True, "revoked": revoked}, {"x-accepted-oauth-scopes": ""}
        handler = self._app_methods.get(method) or team.methods.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        needed = METHOD_SCOPES.get(method)
        headers = {"x-accepted-oauth-scopes": needed or ""}
        if needed and needed not in team.scopes:
            # https://docs.slack.dev/authentication/tokens#scopes : the method page's error missing_scope.
            body = {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(team.scopes)}
            return 200, body, headers
        wait = team.limits.check_tiers(method, args)
        if wait is not None:
            # https://api.slack.com/apis/rate-limits : HTTP 429 with Retry-After (seconds).
            return 429, {"ok": False, "error": "ratelimited"}, {**headers, "Retry-After": str(wait)}
        try:
            result = handler(args)
        except SlackError as exc:
            return 200, {"ok": False, "error": exc.error, **exc.extra}, headers
        return 200, {"ok": True, **result}, headers

    def _auth_test(self, team: Team, record: Token | None) -> dict[str, Any]:
        """https://api.slack.com/methods/auth.test : who the token is (no scope; Bolt calls it at start-up, and with
        OAuth on every request and after every install). An org-wide install's token names the enterprise as its
        team (https://api.slack.com/enterprise/apps); a user token names its person and has no bot_id."""
        url = f"{self.base_url}/" if team is self else f"{self.base_url}/?team={team.team_id}"
        if record is not None and record.kind == "user":
            name = team.users[record.user_id].name if record.user_id in team.users else "user"
            body: dict[str, Any] = {"url": url, "team": team.team_name, "user": name, "team_id": team.team_id}
            body["user_id"] = record.user_id
        else:
            body = {
                "url": url,
                "team": team.team_name,
                "user": BOT_NAME,
                "team_id": team.team_id,
                "user_id": team.bot_user_id,
                "bot_id": team.bot_id,
            }
        if record is not None and record.enterprise_install and team.enterprise_id is not None:
            org_url = f"{self.base_url}/?team={team.enterprise_id}"
            body.update(team=team.enterprise_name or "", team_id=team.enterprise_id, url=org_url)
        if team.enterprise_id is not None:
            body["enterprise_id"] = team.enterprise_id
        body["is_enterprise_install"] = bool(record is not None and record.enterprise_install)
        if record is not None and record.expires_at is not None:
            body["expires_in"] = max(0, int(record.expires_at - time.time()))
        return body

    # ------------------------------------------------------------------ HTTP: URLs that belong to a workspace

    def _team_in_path(self, team_id: str) -> Team:
        return self._teams.get(team_id, self)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        upload_id = request.match_info["upload_id"]
        team = next((t for t in self._teams.values() if t.files_api.has_upload(upload_id)), self)
        return await team.files_api.handle_upload(request)

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        # url_private is /files-pri/<team id>-<file id>/<name>: the file's own workspace answers.
        team = self._team_in_path(request.match_info["team_file"].split("-", 1)[0])
        return await team.files_api.handle_download(request)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        # A response URL is /<key>/<team id>/<number>/<secret> (ChatAPI.response_url).
        parts = request.path.split("/")
        team = self._team_in_path(parts[2] if len(parts) > 2 else "")
        return await team.chat_api.handle_response_url(request)

    # ------------------------------------------------------------------ HTTP: the stand-in's own routes

    def _team_named(self, raw: Any) -> Team | None:
        """The workspace a /standin/... request names with ``team`` (the default one without it)."""
        if not raw:
            return self
        return self._teams.get(str(raw))

    async def _handle_stats(self, request: web.Request) -> web.Response:
        """Every Web API call (method, HTTP status, time on this machine's monotonic clock) and every file the bot
        shared, with the moment its share completed: what a benchmark in another process needs. ``?team=T...``
        reads another workspace's."""
        ws = self._team_named(request.query.get("team"))
        if ws is None:
            return web.json_response({"ok": False, "error": "team_not_found"}, status=400)
        # [method, HTTP status, time, channel, ts]: enough to tell which message an edit was for.
        calls = [
            [call.method, call.status, call.at, as_str(call.args.get("channel")), as_str(call.args.get("ts"))]
            for call in ws.calls
        ]
        shared_at: dict[str, float] = {}
        for call in ws.calls:
            if call.method == "files.completeUploadExternal" and call.status == 200:
                for entry in call.args.get("files") or []:
                    if isinstance(entry, dict) and "id" in entry:
                        shared_at.setdefault(str(entry["id"]), call.at)
        files = [
            {
                "id": file.id,
                "title": file.title,
                "channel": file.channel,
                "thread_ts": file.thread_ts,
                "shared_at": shared_at.get(file.id),
            }
            for file in ws.files.values()
            if file.user == ws.bot_user_id
        ]
        edits = sum(len(m.edits) for m in ws.messages)
        body = {"now": time.monotonic(), "calls": calls, "files": files, "edits": edits}
        return web.json_response({**body, "views_opened": ws.views_opened})

    async def _handle_response_urls(self, request: web.Request) -> web.Response:
        ws = self._team_named(request.query.get("team"))
        if ws is None:
            return web.json_response({"ok": False, "error": "team_not_found"}, status=400)
        count = min(10_000, max(1, int(request.query.get("count", "1"))))
        key = "actions" if request.query.get("key") == "actions" else "commands"
        return web.json_response({"response_urls": [ws.response_url(key) for _ in range(count)]})

    async def _handle_trigger_ids(self, request: web.Request) -> web.Response:
        ws = self._team_named(request.query.get("team"))
        if ws is None:
            return web.json_response({"ok": False, "error": "team_not_found"}, status=400)
        count = min(1_000, max(1, int(request.query.get("count", "1"))))
        return web.json_response({"trigger_ids": [ws.trigger_id() for _ in range(count)]})

    async def _handle_sender(self, request: web.Request) -> web.Response:
        ws = self._team_named(request.query.get("team"))
        user, channel = request.query.get("user") or None, request.query.get("channel") or None
        if ws is None or (channel is not None and channel not in ws.channels):
            return web.json_response({"ok": False, "error": "team_or_channel_not_found"}, status=400)
        return web.json_response(asdict(ws.sender(user, channel)))

    async def _handle_command(self, request: web.Request) -> web.Response:
        """Not Slack's: a person types a slash command (``text``; ``team``, ``channel``, ``user`` and ``command``
        optional), and the stand-in sends it to the app's Request URL as Slack does: form-encoded and signed
        (https://api.slack.com/interactivity/slash-commands#app_command_handling). Answers with the app's status and
        body, so a person trying the app by hand sees its acknowledgement."""
        form = await request.post()
        ws = self._team_named(form.get("team"))
        url = self._events_api.request_url
        if ws is None or url is None:
            error = "no_such_team" if ws is None else "no_request_url: start the stand-in with --events-url"
            return web.json_response({"ok": False, "error": error}, status=400)
        channel, user = as_str(form.get("channel")) or None, as_str(form.get("user")) or None
        if channel is not None and channel not in ws.channels:
            return web.json_response({"ok": False, "error": "channel_not_found"}, status=400)
        async with ClientSession() as session:

            async def post(signed: SignedRequest) -> web.Response:
                async with session.post(signed.url, data=signed.body, headers=signed.headers) as answer:
                    body = {"ok": answer.status == 200, "status": answer.status, "body": await answer.text()}
                    return web.json_response(body)

            person = SlackDriver(TeamSource(ws), over_http(url, self._events_api.signing_secret, post))
            text, command = as_str(form.get("text")) or "", as_str(form.get("command")) or "/banana"
            return await person.command(text, command=command, user=user, channel=channel)

    async def _handle_add_message(self, request: web.Request) -> web.Response:
        """Test-only: what `add_file` and `add_message` (or `post_as_user`) do for tests in this process, over HTTP
        (``team`` names another workspace)."""
        form = await request.post()
        ws = self._team_named(form.get("team"))
        channel, text, user, thread_ts = (as_str(form.get(key)) for key in ("channel", "text", "user", "thread_ts"))
        if ws is None or not channel or channel not in ws.channels:
            return web.json_response({"ok": False, "error": "channel_not_found"}, status=400)
        uploads = [part for key, part in form.items() if key == "file" and isinstance(part, web.FileField)]
        added = [ws.add_file(part.file.read(), part.filename, part.content_type, user=user) for part in uploads]
        message = ws.add_message(
            channel, text or "", user=user, thread_ts=thread_ts or None, files=[f.id for f in added]
        )
        for file in added:
            file.channel, file.thread_ts, file.share_ts = channel, message.thread_ts, message.ts
        payload = ws.message_payload(message)
        if form.get("wait_for_events") == "1" and (late := await self._wait_for_events(channel, message.ts)):
            return late
        return web.json_response({"ok": True, "message": payload})

    async def _handle_edit_message(self, request: web.Request) -> web.Response:
        """Test-only: `edit_message` over HTTP (``team`` names another workspace)."""
        form = await request.post()
        ws = self._team_named(form.get("team"))
        channel, ts, text = (as_str(form.get(key)) for key in ("channel", "ts", "text"))
        if ws is None or not channel or not ts or ws.find_message(channel, ts) is None:
            return web.json_response({"ok": False, "error": "message_not_found"}, status=400)
        message = ws.edit_message(channel, ts, text or "")
        if form.get("wait_for_events") == "1" and (late := await self._wait_for_events(channel, ts)):
            return late
        return web.json_response(
            {"ok": True, "message": {"type": "message", "user": message.user, "ts": ts, "text": message.text}}
        )

    async def _wait_for_events(self, channel: str, ts: str) -> web.Response | None:
        """For wait_for_events=1: None once the message's events were delivered, else a 504 saying why."""
        try:
            await self._events_api.delivered(10.0, (channel, ts))
        except AssertionError as late:
            return web.json_response({"ok": False, "error": "events_pending", "detail": str(late)}, status=504)
        return None

    async def _handle_events(self, request: web.Request) -> web.Response:
        attempts = [asdict(attempt) for attempt in self._events_api.attempts]
        body = {"events": self._events_api.callbacks, "attempts": attempts, "pending": len(self._events_api.pending())}
        return web.json_response(body)

    async def _handle_login_page(self, request: web.Request) -> web.Response:
        team = self._teams.get(request.query.get("team", ""))
        if team is None or team is self:
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        return web.Response(text=LOGIN_PAGE.replace(TEAM_NAME, team.team_name), content_type="text/html")

    async def _handle_web_page(self, request: web.Request) -> web.Response:
        # Permalinks and other web pages need a browser session; an API client only ever sees the login page.
        if request.path.startswith(("/files/", "/archives/")):
            raise web.HTTPFound(f"{self.base_url}/?redir={quote(request.path_qs, safe='')}")
        return web.Response(status=404, text="Not Found")


def org_workspace(holders: list[Team], args: dict[str, Any]) -> Team:
    """Which workspace of an org a call with an org-wide token acts in: the one ``team_id`` names (methods that
    need it take it, https://api.slack.com/enterprise/apps/changes-apis), else the one holding the channel, file,
    view or user the call names, else the first."""
    by_id = {team.team_id: team for team in holders}
    if as_str(args.get("team_id")) in by_id:
        return by_id[str(args["team_id"])]
    for key in ("channel", "channel_id"):
        value = as_str(args.get(key))
        for team in holders:
            if value and team.lookup_channel(value) is not None:
                return team
    file_id, view_id = as_str(args.get("file")), as_str(args.get("view_id"))
    for team in holders:
        if (file_id and file_id in team.files) or (view_id and view_id in team.views):
            return team
    return holders[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m standins.slack", description="Run the Slack Web API stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--chat-update-per-minute", type=int, default=None, help="enforce chat.update's tier (~50)")
    parser.add_argument("--post-per-second", type=float, default=None, help="enforce chat.postMessage per channel (~1)")
    parser.add_argument(
        "--tiers", action="store_true", help="hold every other method to its documented rate tier (per minute)"
    )
    parser.add_argument("--channels", type=int, default=0, help="add this many public channels the bot is in")
    parser.add_argument(
        "--events-url", default=None, help="the app's Request URL, e.g. http://127.0.0.1:3000/slack/events"
    )
    parser.add_argument("--signing-secret", default="", help="the signing secret events are signed with")
    parser.add_argument(
        "--bot-events",
        default=",".join(DEFAULT_BOT_EVENTS),
        help="comma-separated event subscriptions (default: manifest.yml's)",
    )
    parser.add_argument("--extra-scopes", default="", help="comma-separated scopes beyond manifest.yml's")
    parser.add_argument(
        "--workspaces", type=int, default=0, help="add this many workspaces the app is not installed in yet"
    )
    parser.add_argument(
        "--redirect-url", action="append", default=[], help="an OAuth Redirect URL of the app (repeatable)"
    )
    parser.add_argument("--token-rotation", action="store_true", help="installs hand out rotating tokens")
    options = parser.parse_args(argv)

    async def serve() -> None:
        extra_scopes = tuple(s for s in options.extra_scopes.split(",") if s)
        bot_events = tuple(e for e in options.bot_events.split(",") if e)
        stand_in = SlackStandIn(
            scopes=DEFAULT_SCOPES + extra_scopes,
            bot_events=bot_events,
            redirect_urls=options.redirect_url,
            token_rotation_enabled=options.token_rotation,
        )
        if options.events_url:
            stand_in.deliver_events_to(options.events_url, options.signing_secret)
        stand_in.enforce_tiers(options.chat_update_per_minute, options.post_per_second, all_methods=options.tiers)
        for number in range(1, options.channels + 1):
            stand_in.add_channel(f"C0BENCH{number:04d}", f"bench-{number}")
        api_url = await stand_in.start(options.host, options.port)
        print(
            f"Slack stand-in: SLACK_API_URL={api_url} SLACK_BOT_TOKEN={stand_in.bot_token} "
            f"SLACK_APP_TOKEN={stand_in.app_token}",
            flush=True,
        )
        print(f"response_url for trials: {stand_in.response_url()}", flush=True)
        for _ in range(options.workspaces):
            added = stand_in.add_workspace()
            print(f"workspace {added.team_id} ({added.team_name}): not installed yet", flush=True)
        print(
            f"OAuth: authorization_url={stand_in.authorize_url} client_id={stand_in.client_id} "
            f"client_secret={stand_in.client_secret}",
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await stand_in.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())

"""The stand-in's HTTP server: routes, ``/api/<method>`` (argument parsing, token and scope checks, faults and
rate limits, dispatch to the API families), auth.test, the stand-in's own ``/standin/...`` routes, and
:class:`SlackStandIn`, the object tests, the sandbox and the benchmark drive.

How a Web API call is read, as https://docs.slack.dev/apis/web-api/ describes it:
- the token comes from ``Authorization: Bearer`` or a POST body's ``token`` field, never from the query string
  (https://docs.slack.dev/changelog/2020-11-no-more-tokens-in-querystrings-for-newly-created-apps);
- a JSON body is read only by the methods that accept JSON (``json_input_supported`` on each method's page,
  https://docs.slack.dev/reference/methods/<method>); the others read the query string and form fields only;
- then the token type, the method's scope (``missing_scope`` with ``needed``/``provided``) and its rate tier.
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

from aiohttp import web

from .chat import ChatAPI
from .conversations import ConversationsAPI
from .core import (
    APP_TOKEN,
    BOT_ID,
    BOT_NAME,
    BOT_TOKEN,
    BOT_USER_ID,
    DEFAULT_BOT_EVENTS,
    DEFAULT_SCOPES,
    TEAM_ID,
    TEAM_NAME,
    USER_ID,
    Call,
    Handler,
    Message,
    SlackError,
    SlackFile,
    Workspace,
    as_str,
    bearer,
)
from .events import EventAttempt, EventsAPI
from .files import MAX_UPLOAD_BYTES, FilesAPI, file_object
from .limits import Answer, Limits, fault_response
from .socket_mode import SocketMode
from .users import UsersAPI, user_object
from .views import ViewsAPI

# Methods that take the app-level token (and only it); every other method refuses it:
# https://api.slack.com/methods/apps.connections.open ("app-level token", connections:write).
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
STATS_PATH = "/standin/stats"  # not Slack's: what a benchmark in another process reads back
RESPONSE_URLS_PATH = "/standin/response_urls"  # not Slack's: fresh response_urls for requests sent from elsewhere
TRIGGER_IDS_PATH = "/standin/trigger_ids"  # not Slack's: fresh trigger ids, for shortcuts sent from elsewhere
# Not Slack's: a person's message carrying files (multipart: channel, text, user, thread_ts, one `file` part per
# file; wait_for_events=1 answers only once its events were delivered), for a benchmark in another process; answers
# with the message as a shortcut's payload carries it.
MESSAGES_PATH = "/standin/messages"
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


class SlackStandIn(Workspace):
    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        team_id: str = TEAM_ID,
        bot_user_id: str = BOT_USER_ID,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        bot_events: tuple[str, ...] = DEFAULT_BOT_EVENTS,
    ) -> None:
        super().__init__(
            bot_token=bot_token,
            app_token=app_token,
            team_id=team_id,
            bot_user_id=bot_user_id,
            scopes=scopes,
            bot_events=bot_events,
        )
        self._runner: web.AppRunner | None = None
        self._limits = Limits()
        self._chat_api = ChatAPI(self, self._limits)
        self._conversations_api = ConversationsAPI(self)
        self._views_api = ViewsAPI(self)
        self._files_api = FilesAPI(self, self._limits)
        self._users_api = UsersAPI(self)
        self._socket_mode = SocketMode(self)
        self._events_api = EventsAPI(self, self._socket_mode)
        self._methods: dict[str, Handler] = {
            "auth.test": self._auth_test,
            **self._socket_mode.methods(),
            **self._chat_api.methods(),
            **self._conversations_api.methods(),
            **self._views_api.methods(),
            **self._files_api.methods(),
            **self._users_api.methods(),
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{upload_id}", self._files_api.handle_upload)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._files_api.handle_download)
        app.router.add_get("/files-pri/{team_file}/{name}", self._files_api.handle_download)
        app.router.add_get("/link/", self._socket_mode.handle_socket)
        app.router.add_get(STATS_PATH, self._handle_stats)
        app.router.add_get(RESPONSE_URLS_PATH, self._handle_response_urls)
        app.router.add_get(TRIGGER_IDS_PATH, self._handle_trigger_ids)
        app.router.add_post(MESSAGES_PATH, self._handle_add_message)
        app.router.add_post(EDIT_MESSAGE_PATH, self._handle_edit_message)
        app.router.add_get(EVENTS_PATH, self._handle_events)
        app.router.add_get("/", self._handle_login_page)
        app.router.add_get("/{tail:.+}", self._handle_web_page)
        app.router.add_post("/{tail:.+}", self._chat_api.handle_response_url)
        # Runs after the listening socket is closed and before aiohttp waits for handlers to finish.
        app.on_shutdown.append(self._socket_mode.close_sockets)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}"
        self.api_url = self.base_url + "/api/"
        for file in self.files.values():
            file.base_url = self.base_url
        return self.api_url

    async def stop(self) -> None:
        await self._events_api.close()  # deliveries still waiting for a retry end with the workspace
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ helpers for tests (see also Workspace)

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
        the scopes for. A Socket Mode connection, while one is open, takes them instead. None stops HTTP delivery.
        """
        self._events_api.request_url = url
        self._events_api.signing_secret = signing_secret

    @property
    def event_callbacks(self) -> list[dict[str, Any]]:
        """Every event_callback body made so far (delivered or still being delivered), oldest first."""
        return self._events_api.callbacks

    @property
    def event_attempts(self) -> list[EventAttempt]:
        """Every delivery attempt: event_id, event_type, retry_num, retry_reason, via, status, outcome, at."""
        return self._events_api.attempts

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The events made so far (the ``event`` of each callback), of one type if given ("app_mention",
        "message", or "message/message_changed" for a subtype)."""
        found = []
        for body in self._events_api.callbacks:
            event = body["event"]
            full_type = event["type"] + (f"/{event['subtype']}" if event.get("subtype") else "")
            if event_type in (None, event["type"], full_type):
                found.append(event)
        return found

    # The timeout argument is part of the interface the app's tests use, hence the noqa.
    async def events_delivered(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every event so far was delivered (acked with a 2xx, or given up on after the retries).
        Raises AssertionError, with the last attempts, if that takes longer than ``timeout``."""
        await self._events_api.delivered(timeout)

    async def post_as_user(
        self,
        channel: str,
        text: str,
        *,
        user: str = USER_ID,
        thread_ts: str | None = None,
        files: Sequence[SlackFile] = (),
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        """A person posts ``text`` (with ``files`` they uploaded, from ``add_file`` without a channel, shared here);
        returns the message once its events were delivered (see ``events_delivered``)."""
        message = self.add_message(channel, text, user=user, thread_ts=thread_ts, files=[f.id for f in files])
        for file in files:
            file.channel, file.thread_ts, file.share_ts = channel, thread_ts, message.ts
        await self._events_api.delivered(timeout, (channel, message.ts))
        return message

    async def edit_as_user(self, channel: str, ts: str, text: str, *, timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        """``edit_message``, then wait until its message_changed (if the app subscribes) was delivered."""
        message = self.edit_message(channel, ts, text)
        await self._events_api.delivered(timeout, (channel, ts))
        return message

    async def open_app_home(self, user: str = USER_ID, *, tab: str = "home", timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """``user`` opens the app's Home (or "messages") tab: app_home_opened, once delivered."""
        self._events_api.app_home_opened(user, tab)
        await self._events_api.delivered(timeout)

    # ------------------------------------------------------------------ other helpers

    def response_url(self, key: str = "commands", *, channel: str | None = None, message_ts: str | None = None) -> str:
        """A fresh response URL like https://hooks.slack.com/commands/T/123/abc.

        ``key`` is the first path segment ("commands" for slash commands, "actions" for interactions). Give
        ``channel`` so in_channel responses become messages, and ``message_ts`` so replace_original/delete_original
        act on that message.
        """
        return self._chat_api.response_url(key, channel=channel, message_ts=message_ts)

    def trigger_id(self) -> str:
        """A fresh trigger id, valid for ``trigger_ttl`` seconds (3 s) and usable once."""
        return self._views_api.trigger_id()

    def add_file(
        self,
        data: bytes,
        name: str,
        mimetype: str,
        *,
        user: str = USER_ID,
        channel: str | None = None,
        thread_ts: str | None = None,
        text: str = "",
    ) -> SlackFile:
        """A file uploaded by a user. With ``channel`` it is also shared there in a message by that user."""
        return self._files_api.add_file(
            data, name, mimetype, user=user, channel=channel, thread_ts=thread_ts, text=text
        )

    def user_object(self, user_id: str, *, include_locale: bool = False) -> dict[str, Any]:
        """The user as users.info returns it."""
        return user_object(self, user_id, include_locale=include_locale)

    def file_object(self, file_id: str, *, with_shares: bool = True) -> dict[str, Any]:
        return file_object(self, file_id, with_shares=with_shares)

    def _validate_view(self, raw: Any, *, allowed_types: tuple[str, ...]) -> dict[str, Any]:
        # tests/test_studio.py checks the app's views with this, as Slack would before showing them.
        return self._views_api.validate_view(raw, allowed_types=allowed_types)

    # ------------------------------------------------------------------ fault injection

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 429. ``method`` may also be "upload" or "response_url"."""
        self._limits.rate_limit(method, times=times, retry_after=retry_after)

    def fail_next(self, method: str, error: str, *, times: int = 1) -> None:
        self._limits.fail_next(method, error, times=times)

    def server_error(self, method: str, *, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls get an HTTP 5xx (what AsyncServerErrorRetryHandler retries)."""
        self._limits.server_error(method, status=status, times=times)

    def enforce_tiers(
        self,
        chat_update_per_minute: int | None = None,
        post_message_per_second_per_channel: float | None = None,
        *,
        all_methods: bool = False,
    ) -> None:
        """Turn on real-rate enforcement; None leaves that limit off. Slack's real numbers: ~50/min, ~1/s.
        ``all_methods`` also holds every other method to its documented tier (``limits.METHOD_TIERS``)."""
        self._limits.enforce_tiers(chat_update_per_minute, post_message_per_second_per_channel, all_methods=all_methods)

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
        status, body, headers = self._run_method(method, args, token, bad_json)
        self.calls.append(Call(method=method, args=args, at=time.monotonic(), status=status))
        headers["x-oauth-scopes"] = "connections:write" if token == self.app_token else ",".join(self.scopes)
        return web.json_response(body, status=status, headers=headers)

    def _run_method(self, method: str, args: dict[str, Any], token: str | None, bad_json: bool) -> Answer:
        if token is None:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token not in (self.bot_token, self.app_token):
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if (token == self.app_token) != (method in APP_TOKEN_METHODS):
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        if bad_json:
            return 200, {"ok": False, "error": "invalid_json"}, {}
        fault = self._limits.take_fault(method)
        if fault is not None:
            return fault_response(fault)
        handler = self._methods.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        needed = METHOD_SCOPES.get(method)
        headers = {"x-accepted-oauth-scopes": needed or ""}
        if needed and needed not in self.scopes:
            # https://docs.slack.dev/authentication/tokens#scopes : the method page's error missing_scope.
            body = {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(self.scopes)}
            return 200, body, headers
        wait = self._limits.check_tiers(method, args)
        if wait is not None:
            # https://api.slack.com/apis/rate-limits : HTTP 429 with Retry-After (seconds).
            return 429, {"ok": False, "error": "ratelimited"}, {**headers, "Retry-After": str(wait)}
        try:
            result = handler(args)
        except SlackError as exc:
            return 200, {"ok": False, "error": exc.error, **exc.extra}, headers
        return 200, {"ok": True, **result}, headers

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/auth.test : no scope; Bolt calls it once at start-up.
        return {
            "url": f"{self.base_url}/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    # ------------------------------------------------------------------ HTTP: other endpoints

    async def _handle_stats(self, request: web.Request) -> web.Response:
        """Every Web API call (method, HTTP status, time on this machine's monotonic clock) and every file the bot
        shared, with the moment its share completed: what a benchmark in another process needs."""
        # [method, HTTP status, time, channel, ts]: enough to tell which message an edit was for.
        calls = [
            [call.method, call.status, call.at, as_str(call.args.get("channel")), as_str(call.args.get("ts"))]
            for call in self.calls
        ]
        shared_at: dict[str, float] = {}
        for call in self.calls:
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
            for file in self.files.values()
            if file.user == self.bot_user_id
        ]
        edits = sum(len(m.edits) for m in self.messages)
        body = {"now": time.monotonic(), "calls": calls, "files": files, "edits": edits}
        return web.json_response({**body, "views_opened": self.views_opened})

    async def _handle_response_urls(self, request: web.Request) -> web.Response:
        count = min(10_000, max(1, int(request.query.get("count", "1"))))
        return web.json_response({"response_urls": [self.response_url() for _ in range(count)]})

    async def _handle_trigger_ids(self, request: web.Request) -> web.Response:
        count = min(1_000, max(1, int(request.query.get("count", "1"))))
        return web.json_response({"trigger_ids": [self.trigger_id() for _ in range(count)]})

    async def _handle_add_message(self, request: web.Request) -> web.Response:
        """Test-only: what `add_file` and `add_message` (or `post_as_user`) do for tests in this process, over HTTP."""
        form = await request.post()
        channel, text, user, thread_ts = (as_str(form.get(key)) for key in ("channel", "text", "user", "thread_ts"))
        if not channel or channel not in self.channels:
            return web.json_response({"ok": False, "error": "channel_not_found"}, status=400)
        uploads = [part for key, part in form.items() if key == "file" and isinstance(part, web.FileField)]
        added = [
            self.add_file(part.file.read(), part.filename, part.content_type, user=user or USER_ID) for part in uploads
        ]
        message = self.add_message(
            channel, text or "", user=user or USER_ID, thread_ts=thread_ts or None, files=[f.id for f in added]
        )
        for file in added:
            file.channel, file.thread_ts, file.share_ts = channel, message.thread_ts, message.ts
        payload: dict[str, Any] = {
            "type": "message",
            "user": message.user,
            "ts": message.ts,
            "text": message.text,
            "files": [self.file_object(f.id) for f in added],
        }
        if message.thread_ts:
            payload["thread_ts"] = message.thread_ts
        if form.get("wait_for_events") == "1" and (late := await self._wait_for_events(channel, message.ts)):
            return late
        return web.json_response({"ok": True, "message": payload})

    async def _handle_edit_message(self, request: web.Request) -> web.Response:
        """Test-only: `edit_message` over HTTP."""
        form = await request.post()
        channel, ts, text = (as_str(form.get(key)) for key in ("channel", "ts", "text"))
        if not channel or not ts or self.find_message(channel, ts) is None:
            return web.json_response({"ok": False, "error": "message_not_found"}, status=400)
        message = self.edit_message(channel, ts, text or "")
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
        return web.Response(text=LOGIN_PAGE, content_type="text/html")

    async def _handle_web_page(self, request: web.Request) -> web.Response:
        # Permalinks and other web pages need a browser session; an API client only ever sees the login page.
        if request.path.startswith(("/files/", "/archives/")):
            raise web.HTTPFound(f"{self.base_url}/?redir={quote(request.path_qs, safe='')}")
        return web.Response(status=404, text="Not Found")


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
    options = parser.parse_args(argv)

    async def serve() -> None:
        extra_scopes = tuple(s for s in options.extra_scopes.split(",") if s)
        bot_events = tuple(e for e in options.bot_events.split(",") if e)
        stand_in = SlackStandIn(scopes=DEFAULT_SCOPES + extra_scopes, bot_events=bot_events)
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
        try:
            await asyncio.Event().wait()
        finally:
            await stand_in.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())

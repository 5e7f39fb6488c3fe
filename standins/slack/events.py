"""The Events API: what Slack tells the app about messages (``app_mention``, ``message`` and its subtypes) and the
App Home (``app_home_opened``), delivered to the Request URL over HTTP or over Socket Mode, with Slack's retries.

Which events, each from its page:
- ``app_mention`` (https://api.slack.com/events/app_mention): a message that mentions the bot (``<@U…>``) in a
  conversation the bot is in; never in a DM ("Messages sent to your app in direct message conversations are not
  dispatched via app_mention"), never for the bot's own posts. Needs the subscription and app_mentions:read.
  Other apps' posts mention it too (``Team.post_as_bot``), and an edit of a message that mentions the bot gives
  app_mention again, with ``edited`` (third-party reports: bolt-js#960, slack-go#1256).
- ``message`` (https://api.slack.com/events/message): every message in a conversation the bot is in, with the
  subscription for its kind and that kind's history scope: message.channels + channels:history (public),
  message.groups + groups:history (private), message.im + im:history, message.mpim + mpim:history
  (https://api.slack.com/events/message.channels and its siblings). The bot's own posts are among them. A mention
  gives both events when both are subscribed. A person writing in their DM with the app: ``Team.dm_as_user``
  (https://docs.slack.dev/reference/events/message.im, ``channel_type: "im"``). Subtypes: ``file_share``
  (https://api.slack.com/events/message/file_share),
  ``message_changed`` (https://api.slack.com/events/message/message_changed), ``message_deleted``
  (https://api.slack.com/events/message/message_deleted).
- ``app_home_opened`` (https://api.slack.com/events/app_home_opened): ``SlackStandIn.open_app_home``.
- ``tokens_revoked`` (https://api.slack.com/events/tokens_revoked) and ``app_uninstalled``
  (https://api.slack.com/events/app_uninstalled): ``SlackStandIn.uninstall`` and auth.revoke (``oauth``); like every
  event, only if the app subscribes to them (bolt-js#1347: they are not sent otherwise).

Every workspace of the stand-in sends its events to the one app: the body's ``team_id`` (and ``enterprise_id`` in an
Enterprise Grid org) and ``authorizations`` name the workspace and the installation (``is_enterprise_install`` for
an org-wide one). A workspace the app is not installed in sends nothing.

How (https://api.slack.com/apis/events-api): each event is an ``event_callback`` body. With a Socket Mode connection
open it goes there as an ``events_api`` envelope (https://api.slack.com/apis/socket-mode) and must be acked within
3 s; otherwise it is POSTed as JSON to the Request URL, signed as
https://api.slack.com/authentication/verifying-requests-from-slack describes, and must get a 2xx within 3 s. A failure
is retried up to 3 times (nearly at once, after 1 minute, after 5 minutes: ``Workspace.event_retry_delays``) with
``X-Slack-Retry-Num``/``X-Slack-Retry-Reason`` (or ``retry_attempt``/``retry_reason``); ``X-Slack-No-Retry: 1`` on an
error answer stops them.

Delivery runs beside whatever caused it (Slack does not hold a post until the app has heard of it); ``delivered()``
waits for it. Without a Request URL and without a Socket Mode connection ever made, nothing is sent.

Not modelled: the message_changed Slack also sends for a thread's parent when a reply arrives, message_replied,
thread_broadcast, url_verification, rate limits on events, and turning a failing app's subscriptions off.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from .conversations import is_mpim
from .core import APP_ID, BOT_NAME, AppBot, Channel, Message, MessageChange, Workspace
from .files import file_object
from .socket_mode import SocketMode

# What Slack puts in the body's ``token``: the verification token, deprecated in favour of signing secrets
# (https://api.slack.com/authentication/verifying-requests-from-slack).
VERIFICATION_TOKEN = "deprecated-verification-token"
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"

# The message.* subscription and history scope each kind of conversation needs, by channel_type:
# https://api.slack.com/events/message.channels , .../message.groups , .../message.im , .../message.mpim
MESSAGE_SUBSCRIPTIONS = {
    "channel": ("message.channels", "channels:history"),
    "group": ("message.groups", "groups:history"),
    "im": ("message.im", "im:history"),
    "mpim": ("message.mpim", "mpim:history"),
}

# A user mention as Slack writes it in text, with an optional label: https://api.slack.com/reference/surfaces/formatting
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")

# Where a delivery attempt ended. HTTP: "ok" or Slack's retry reasons (https://api.slack.com/apis/events-api,
# "Retries"): http_timeout, http_error, connection_failed, too_many_redirects, unknown_error. Socket Mode: "ok",
# "timeout" (its retry_reason), or the stand-in's own "no_connection" when the app had no socket open.
OK = "ok"


@dataclass
class EventAttempt:
    """One delivery attempt of one event, as tests read them back (``SlackStandIn.event_attempts``)."""

    event_id: str
    event_type: str  # the event's type, with its subtype after a slash: "message/message_changed"
    retry_num: int  # 0 for the first attempt, then 1..3 (X-Slack-Retry-Num / retry_attempt)
    retry_reason: str  # what the attempt before got ("" for the first)
    via: str  # "http" or "socket_mode"
    status: int | None  # the HTTP status, also when it came after the timeout; None without an answer
    outcome: str  # see above
    at: float  # time.monotonic()

    @property
    def ok(self) -> bool:
        return self.outcome == OK


def channel_type(channel: Channel) -> str:
    """The ``channel_type`` of message events: https://api.slack.com/events/message"""
    if channel.is_im:
        return "im"
    if is_mpim(channel):
        return "mpim"
    return "group" if channel.is_private else "channel"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Slack-Signature``: v0, HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret,
    https://api.slack.com/authentication/verifying-requests-from-slack"""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def rich_text(text: str) -> list[dict[str, Any]]:
    """The rich_text block Slack's clients attach to what a person types (mentions become user elements):
    https://api.slack.com/reference/block-kit/blocks (rich_text). Links and channel names stay plain text here."""
    elements: list[dict[str, Any]] = []
    position = 0
    for match in MENTION.finditer(text):
        if match.start() > position:
            elements.append({"type": "text", "text": text[position : match.start()]})
        elements.append({"type": "user", "user_id": match.group(1)})
        position = match.end()
    if position < len(text):
        elements.append({"type": "text", "text": text[position:]})
    section = {"type": "rich_text_section", "elements": elements}
    return [{"type": "rich_text", "block_id": secrets.token_urlsafe(4)[:5], "elements": [section]}]


def event_context(event_type: str, team_id: str, channel: str | None) -> str:
    # Opaque to apps (https://api.slack.com/apis/events-api#callback-field); Slack's is "4-" and base64 JSON.
    fields = {"et": event_type, "tid": team_id, "aid": APP_ID, "cid": channel}
    encoded = base64.urlsafe_b64encode(json.dumps(fields, separators=(",", ":")).encode()).decode()
    return "4-" + encoded.rstrip("=")


class EventsAPI:
    """The app's event deliveries, for every workspace of the stand-in: one Request URL, one signing secret and one
    Socket Mode connection for the app (``app``, the default workspace, holds the delivery settings and the
    subscriptions), and each event built from the workspace it happened in (``attach``)."""

    def __init__(self, app: Workspace, socket_mode: SocketMode) -> None:
        self.app = app
        self.socket_mode = socket_mode
        self.request_url: str | None = None
        self.signing_secret = ""
        self.callbacks: list[dict[str, Any]] = []  # every event_callback body made, in order
        self.attempts: list[EventAttempt] = []
        # Deliveries (and HTTP requests still open after their timeout), each with the message it is about.
        self._tasks: dict[asyncio.Task[Any], tuple[str, str] | None] = {}
        self._http: aiohttp.ClientSession | None = None
        self.attach(app)

    def attach(self, ws: Workspace) -> None:
        """Hear of the posts, edits and deletions in ``ws`` (every workspace of the stand-in is attached)."""
        ws.message_listeners.append(lambda change: self.on_message(ws, change))

    # ------------------------------------------------------------------ what to send

    def has_target(self) -> bool:
        return self.request_url is not None or self.app.socket_connections > 0

    def subscribed(self, ws: Workspace, event: str, scope: str | None) -> bool:
        """Slack sends an event only if the app subscribes to it (an app-wide setting) and its installation in the
        workspace holds the event's scope."""
        return event in self.app.bot_events and (scope is None or scope in ws.scopes)

    def on_message(self, ws: Workspace, change: MessageChange) -> None:
        """Workspace.message_listeners: start the deliveries a post, edit or deletion calls for."""
        channel = ws.channels.get(change.message.channel)
        # Events come only from conversations the app is in (app_mention's and message.*'s pages), and only from
        # workspaces it is installed in.
        if not self.has_target() or not ws.installed or channel is None or not channel.is_member:
            return
        key = (change.message.channel, change.message.ts)
        # A post's event_ts is its ts; an edit or a deletion happens at a ts of its own (message_changed's page).
        event_ts = change.message.ts if change.kind == "posted" else ws.next_ts()
        for make in self._events_for(ws, change, channel, event_ts):
            self._start(ws, make, key)

    def _events_for(
        self, ws: Workspace, change: MessageChange, channel: Channel, event_ts: str
    ) -> list[Callable[[], dict[str, Any]]]:
        message = change.message
        makers: list[Callable[[], dict[str, Any]]] = []
        mentioned = ws.bot_user_id in MENTION.findall(message.text)
        if (
            change.kind != "deleted"
            and mentioned
            and message.user != ws.bot_user_id
            and not channel.is_im
            and self.subscribed(ws, "app_mention", "app_mentions:read")
        ):
            # An edit of a message that mentions the bot gives app_mention again, with `edited` and a new event_id
            # (third-party reports: bolt-js#960, slack-go#1256; the app_mention page does not say).
            edited = {"user": message.user, "ts": event_ts} if change.kind == "changed" else None
            makers.append(lambda: self._app_mention(ws, message, event_ts, edited))
        kind = channel_type(channel)
        if self.subscribed(ws, *MESSAGE_SUBSCRIPTIONS[kind]):
            makers.append(lambda: self._message_event(ws, change, kind, event_ts))
        return makers

    def app_home_opened(self, ws: Workspace, user: str, tab: str) -> None:
        """https://api.slack.com/events/app_home_opened : sent when someone opens the app's Home or Messages tab."""
        if not (self.has_target() and ws.installed and self.subscribed(ws, "app_home_opened", None)):
            return
        channel = ws.open_im(user).id

        def make() -> dict[str, Any]:
            event: dict[str, Any] = {"type": "app_home_opened", "user": user, "channel": channel, "tab": tab}
            view = ws.views_published.get(user)
            if tab == "home" and view is not None:
                event["view"] = view
            return {**event, "event_ts": ws.next_ts()}

        self._start(ws, make, None)

    def installation_events(self, ws: Workspace, *, bot_users: list[str], users: list[str], uninstalled: bool) -> None:
        """What Slack sends when tokens of ``ws`` are revoked, each only if the app subscribes to it (bolt-js#1347):
        ``tokens_revoked`` (https://api.slack.com/events/tokens_revoked: the user ids whose tokens went, "oauth"
        for user tokens, "bot" for bot tokens) and, once no token is left, ``app_uninstalled``
        (https://api.slack.com/events/app_uninstalled; "the order ... [is] not guaranteed"). Both are sent although
        the app no longer holds a token there; neither page shows an event_ts, so they carry none."""
        if not self.has_target():
            return
        if self.subscribed(ws, "tokens_revoked", None) and (bot_users or users):
            tokens: dict[str, list[str]] = {}
            if users:
                tokens["oauth"] = list(users)
            if bot_users:
                tokens["bot"] = list(bot_users)
            self._start(ws, lambda: {"type": "tokens_revoked", "tokens": tokens}, None)
        if uninstalled and self.subscribed(ws, "app_uninstalled", None):
            self._start(ws, lambda: {"type": "app_uninstalled"}, None)

    # ------------------------------------------------------------------ payloads

    def _fields(self, ws: Workspace, message: Message) -> dict[str, Any]:
        """A message as events carry it (the event itself, or message_changed's message and previous_message)."""
        obj: dict[str, Any] = {"type": "message", "user": message.user, "text": message.text, "ts": message.ts}
        if message.files:
            obj["subtype"] = "file_share"  # https://api.slack.com/events/message/file_share
        if message.user == ws.bot_user_id:
            # A bot token's post carries bot_id, app_id and bot_profile, and no bot_message subtype: that one is
            # for classic apps and integrations, https://api.slack.com/events/message/bot_message
            obj.update(bot_id=ws.bot_id, app_id=APP_ID, bot_profile=self._bot_profile(ws))
        elif message.app_bot is not None:
            obj.update(self._app_bot_fields(ws, message.app_bot))
        if not message.user:
            del obj["user"]  # an integration's bot_message has no user
        if message.client_msg_id:
            obj["client_msg_id"] = message.client_msg_id
        obj["team"] = ws.team_id
        obj["blocks"] = message.blocks or (rich_text(message.text) if message.text else [])
        if message.files:
            obj["files"] = [file_object(ws, f) for f in message.files if f in ws.files]
            obj["upload"] = False
            obj["display_as_bot"] = False
        if message.thread_ts and message.thread_ts != message.ts:
            obj["thread_ts"] = message.thread_ts
            parent = next((m for m in ws.messages if (m.channel, m.ts) == (message.channel, message.thread_ts)), None)
            if parent is not None:
                obj["parent_user_id"] = parent.user
        return obj

    def _bot_profile(self, ws: Workspace, bot: AppBot | None = None) -> dict[str, Any]:
        icons = {f"image_{size}": f"{ws.base_url}/img/bot_{size}.png" for size in (36, 48, 72)}
        return {
            "id": ws.bot_id if bot is None else bot.bot_id,
            "deleted": False,
            "name": BOT_NAME if bot is None else bot.name,
            "updated": 1700000000,
            "app_id": APP_ID if bot is None else bot.app_id,
            "icons": icons,
            "team_id": ws.team_id,
        }

    def _app_bot_fields(self, ws: Workspace, bot: AppBot) -> dict[str, Any]:
        """Another app's post (https://docs.slack.dev/reference/events/message/bot_message): from a current app's bot
        token, its bot user with bot_id, app_id and bot_profile; from a classic integration, an incoming webhook or a
        workflow, subtype bot_message with bot_id and username, and no user."""
        if bot.user_id is not None:
            return {"bot_id": bot.bot_id, "app_id": bot.app_id, "bot_profile": self._bot_profile(ws, bot)}
        return {"subtype": "bot_message", "bot_id": bot.bot_id, "username": bot.name, "icons": {}}

    def _app_mention(
        self, ws: Workspace, message: Message, event_ts: str, edited: dict[str, str] | None
    ) -> dict[str, Any]:
        # https://api.slack.com/events/app_mention : the message's fields under type app_mention; parent_user_id is
        # message events' only. Another app's post keeps bot_message (the audit's Slack reference notes: app_mention
        # "arrives for messages posted by other bots and integrations (bot_id, bot_profile, subtype: bot_message)").
        fields = self._fields(ws, message)
        if fields.get("subtype") != "bot_message":
            fields.pop("subtype", None)
        fields.pop("parent_user_id", None)
        if edited is not None:
            fields["edited"] = edited
        return {**fields, "type": "app_mention", "channel": message.channel, "event_ts": event_ts}

    def _message_event(self, ws: Workspace, change: MessageChange, kind: str, event_ts: str) -> dict[str, Any]:
        message = change.message
        where = {"channel": message.channel, "event_ts": event_ts, "channel_type": kind}
        if change.kind == "posted":
            return {**self._fields(ws, message), **where}
        assert change.previous is not None
        previous = self._fields(ws, change.previous)
        if change.kind == "changed":
            # https://api.slack.com/events/message/message_changed : hidden, the new message with `edited`, the old
            # one as previous_message; ts is the edit's.
            new = {**self._fields(ws, message), "edited": {"user": message.user, "ts": event_ts}}
            return {
                "type": "message",
                "subtype": "message_changed",
                "hidden": True,
                "message": new,
                "previous_message": previous,
                "ts": event_ts,
                **where,
            }
        # https://api.slack.com/events/message/message_deleted
        return {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "deleted_ts": message.ts,
            "previous_message": previous,
            "ts": event_ts,
            **where,
        }

    def _callback(self, ws: Workspace, event: dict[str, Any], org_install: bool) -> dict[str, Any]:
        """The event_callback body around an event (https://api.slack.com/apis/events-api#callback-field): the
        workspace it happened in, and in ``authorizations`` the installation it is for (an org-wide one carries
        the enterprise and is_enterprise_install, https://api.slack.com/enterprise/apps/reference)."""
        authorization = {
            "enterprise_id": ws.enterprise_id,
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "is_bot": True,
            "is_enterprise_install": org_install,
        }
        body: dict[str, Any] = {
            "token": VERIFICATION_TOKEN,
            "team_id": ws.team_id,
        }
        if ws.enterprise_id is not None:
            body["enterprise_id"] = ws.enterprise_id  # Enterprise Grid payloads name the org too
        event_ts = event.get("event_ts")
        return {
            **body,
            "context_team_id": ws.team_id,
            "context_enterprise_id": ws.enterprise_id,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev0{ws.next_seq():09d}",
            "event_time": int(float(event_ts)) if event_ts else int(time.time()),
            "authorizations": [authorization],
            "is_ext_shared_channel": False,
            "event_context": event_context(event["type"], ws.team_id, event.get("channel")),
        }

    # ------------------------------------------------------------------ delivery

    def _start(self, ws: Workspace, make: Callable[[], dict[str, Any]], key: tuple[str, str] | None) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop, so no server either: nothing could be sent
        # The installation as it is now: an uninstall's events still name the org-wide install they end.
        self._track(loop.create_task(self._deliver(ws, make, key, ws.org_installed)), key)

    def _track(self, task: asyncio.Task[Any], key: tuple[str, str] | None) -> None:
        self._tasks[task] = key
        task.add_done_callback(lambda done: self._tasks.pop(done, None))

    async def _deliver(
        self, ws: Workspace, make: Callable[[], dict[str, Any]], key: tuple[str, str] | None, org_install: bool
    ) -> None:
        # Built here, once the step that posted the message is over (files are shared by then), from the copies
        # taken at that moment.
        body = self._callback(ws, make(), org_install)
        self.callbacks.append(body)
        delays = self.app.event_retry_delays
        reason = ""
        for retry_num in range(len(delays) + 1):
            if retry_num:
                await asyncio.sleep(delays[retry_num - 1])
            reason, stop = await self._attempt(body, retry_num, reason, key)
            if reason == OK or stop:
                return

    async def _attempt(
        self, body: dict[str, Any], retry_num: int, reason: str, key: tuple[str, str] | None
    ) -> tuple[str, bool]:
        """One attempt; returns its outcome and whether the app asked for no retries."""
        if self.socket_mode.connected() or self.request_url is None:
            outcome = await self.socket_mode.push_event(body, retry_attempt=retry_num, retry_reason=reason)
            self._record(body, retry_num, reason, "socket_mode", outcome)
            return outcome, False
        return await self._attempt_http(self.request_url, body, retry_num, reason, key)

    def _record(self, body: dict[str, Any], retry_num: int, reason: str, via: str, outcome: str) -> EventAttempt:
        event = body["event"]
        event_type = event["type"] + (f"/{event['subtype']}" if event.get("subtype") else "")
        attempt = EventAttempt(
            event_id=body["event_id"],
            event_type=event_type,
            retry_num=retry_num,
            retry_reason=reason,
            via=via,
            status=None,
            outcome=outcome,
            at=time.monotonic(),
        )
        self.attempts.append(attempt)
        return attempt

    async def _attempt_http(
        self, url: str, body: dict[str, Any], retry_num: int, reason: str, key: tuple[str, str] | None
    ) -> tuple[str, bool]:
        raw = json.dumps(body).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": sign(self.signing_secret, timestamp, raw),
        }
        if retry_num:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason}
        attempt = self._record(body, retry_num, reason, "http", "pending")
        request = asyncio.get_running_loop().create_task(self._post(url, raw, headers, attempt))
        self._track(request, key)
        done, _ = await asyncio.wait({request}, timeout=self.app.event_ack_deadline)
        if not done:
            # Slack does not wait for a late answer: it retries at once, while this request stays open
            # (https://api.slack.com/apis/events-api, "Retries"). _post still notes the status when it comes.
            attempt.outcome = "http_timeout"
            return attempt.outcome, False
        return request.result()

    async def _post(self, url: str, raw: bytes, headers: dict[str, str], attempt: EventAttempt) -> tuple[str, bool]:
        outcome, no_retry = "unknown_error", False
        try:
            # Slack follows at most 2 redirects (https://api.slack.com/apis/events-api, failure conditions).
            async with self._session().post(url, data=raw, headers=headers, max_redirects=2) as response:
                await response.read()
            attempt.status = response.status
            outcome = OK if 200 <= response.status < 300 else "http_error"
            # An error answer with X-Slack-No-Retry: 1 turns the retries off (same page, "Turning retries off").
            no_retry = outcome != OK and response.headers.get("X-Slack-No-Retry") == "1"
        except aiohttp.TooManyRedirects:
            outcome = "too_many_redirects"
        except aiohttp.ClientConnectorError:
            outcome = "connection_failed"
        except (aiohttp.ClientError, OSError):
            outcome = "unknown_error"
        if attempt.outcome == "pending":  # not already given up on as http_timeout
            attempt.outcome = outcome
        return outcome, no_retry

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    # ------------------------------------------------------------------ for tests

    def pending(self, key: tuple[str, str] | None = None) -> set[asyncio.Task[Any]]:
        return {task for task, about in self._tasks.items() if key is None or about == key}

    # The timeout argument is part of the interface the app's tests use, hence the noqa.
    async def delivered(self, timeout: float, key: tuple[str, str] | None = None) -> None:  # noqa: ASYNC109
        """Wait until the deliveries (of the message ``key`` names, or all) are over, retries included."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while pending := self.pending(key):
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [
                    f"{a.event_id} {a.event_type} retry={a.retry_num} via={a.via} status={a.status} {a.outcome}"
                    for a in self.attempts[-8:]
                ]
                raise AssertionError(
                    f"events still being delivered after {timeout}s ({len(pending)} pending; retries wait "
                    f"{self.app.event_retry_delays}); last attempts: {recent}"
                )
            await asyncio.wait(pending, timeout=remaining)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.close()
            self._http = None

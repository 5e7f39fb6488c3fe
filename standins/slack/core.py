"""Shared state of the Slack stand-in: a workspace (users, channels, messages, files), its ids and tokens, and the
helpers every API family uses (errors, argument coercion, channel lookup, timestamps).

Nothing here serves HTTP; ``team.Team`` and ``server.SlackStandIn`` build on :class:`Workspace` and the family
modules take a ``Workspace`` to read and change. A stand-in holds several workspaces: the default one is numbered 1
and has the ids below (``TEAM_ID``, ``USER_ID``, ...); workspace *n* gets the same ids with *n* in them
(:func:`workspace_ids`), so ids never collide between workspaces, as in Slack.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-A0BANANA01-test"
TEAM_ID = "T0TEAM001"
BOT_USER_ID = "U0BOT0001"
BOT_ID = "B0BOT0001"
APP_ID = "A0APP0001"
USER_ID = "U0USER0001"
OTHER_USER_ID = "U0OTHER001"
ADMIN_USER_ID = "U0ADMIN001"
TEAM_NAME = "Test Team"
TEAM_DOMAIN = "banana-test"  # the team_domain tests/conftest.py has always sent with slash commands
BOT_NAME = "banana-bot"

# The app's OAuth credentials (https://api.slack.com/authentication/oauth-v2 : "Client ID" and "Client Secret" on the
# app's Basic Information page); SlackStandIn(client_id=..., client_secret=...) changes them.
CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "standin-client-secret-0123456789"
# Token rotation (https://api.slack.com/authentication/rotation): access tokens live 12 hours ("expires_in": 43200).
TOKEN_EXPIRES_IN = 43200
# An OAuth code must be exchanged within 10 minutes (https://api.slack.com/authentication/oauth-v2, step 3).
CODE_TTL = 600.0

# The bot scopes manifest.yml asks for, and no more (tests/test_standin_slack.py keeps the two equal): a scope the
# real install lacks gets missing_scope, https://api.slack.com/scopes . (im:write, for conversations.open, is not
# among them.)
DEFAULT_SCOPES = (
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

# The bot events manifest.yml subscribes to (settings.event_subscriptions.bot_events; tests/test_standin_slack.py
# keeps the two equal). Slack sends only these (https://api.slack.com/apis/events-api, subscribing to event types);
# the message.* events also need their history scope (https://api.slack.com/events/message.channels and siblings).
DEFAULT_BOT_EVENTS = ("app_home_opened", "app_mention", "app_uninstalled", "tokens_revoked", "message.im")

# Slack's Events API timing (https://api.slack.com/apis/events-api, "Retries"): a 2xx within 3 s, else up to 3 retries,
# "nearly immediately", then after 1 minute, then after 5 minutes. Workspace.event_* start at these.
EVENT_ACK_DEADLINE = 3.0
EVENT_RETRY_DELAYS = (0.0, 60.0, 300.0)

# A Web API method handler: the merged arguments in, the body's keys besides "ok" out (or SlackError raised).
Handler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float  # time.monotonic()
    status: int


@dataclass(frozen=True)
class AppBot:
    """Another app's bot in a workspace (``Team.add_app_bot``). With a bot user (``user_id``), a current app posting
    with its bot token; without one, a classic integration, an incoming webhook or a workflow, whose posts are
    ``bot_message``s with no user (https://docs.slack.dev/reference/events/message/bot_message)."""

    bot_id: str
    name: str
    app_id: str | None = None
    user_id: str | None = None


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    user: str
    files: list[str]
    edits: list[dict[str, Any]]  # {"text", "blocks", "at"} after each chat.update (or edit_message)
    deleted: bool = False
    # Posted with a thread_ts that was not a string (a JSON number): Slack answers ok, but the message shows
    # nowhere, neither in the channel nor in a thread (python-slack-sdk#840, node-slack-sdk#780).
    lost: bool = False
    # Set by Slack's clients on what a person types (https://api.slack.com/events/message); API posts have none.
    client_msg_id: str | None = None
    app_bot: AppBot | None = None  # posted by another app's bot, not by a person or Banana


def snapshot(message: Message) -> Message:
    """A copy of the message as it is now, for events built after it may have changed again."""
    return dataclasses.replace(
        message, blocks=list(message.blocks), files=list(message.files), edits=list(message.edits)
    )


@dataclass
class MessageChange:
    """What happened to a message, for the Events API (``events`` listens): "posted", "changed" or "deleted".
    ``message`` and ``previous`` (what it was before a change or deletion) are copies taken at that moment."""

    kind: str
    message: Message
    previous: Message | None


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    is_im: bool = False
    user: str | None = None  # the other party of an IM


@dataclass
class SlackUser:
    id: str
    name: str
    real_name: str = ""
    display_name: str = ""  # optional in a Slack profile: clients show real_name while it is empty
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    tz: str = "America/New_York"
    tz_offset: int = -18000
    deleted: bool = False


@dataclass
class SlackFile:
    id: str
    name: str
    title: str
    mimetype: str
    filetype: str
    data: bytes = field(repr=False)
    user: str
    channel: str | None
    thread_ts: str | None
    initial_comment: str | None
    alt_txt: str | None
    base_url: str = field(default="", repr=False)
    team_id: str = field(default=TEAM_ID, repr=False)
    created: int = field(default_factory=lambda: int(time.time()))
    share_ts: str | None = None  # ts of the message that shared the file
    deleted: bool = False  # files.delete: gone for files.info and downloads, a tombstone in messages
    # A remote file (files.remote.add): a link its app keeps elsewhere, no bytes here. Its url_private is that link,
    # on any host: https://docs.slack.dev/reference/methods/files.remote.info
    external_url: str | None = None
    external_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def url_private(self) -> str:
        if self.external_url is not None:
            return self.external_url
        return f"{self.base_url}/files-pri/{self.team_id}-{self.id}/{quote(self.name)}"

    @property
    def url_private_download(self) -> str:
        return f"{self.base_url}/files-pri/{self.team_id}-{self.id}/download/{quote(self.name)}"

    @property
    def permalink(self) -> str:
        return f"{self.base_url}/files/{self.user}/{self.id}/{quote(self.name)}"


class SlackError(Exception):
    """Raised by method handlers; becomes {"ok": false, "error": ...} plus extra keys."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def invalid_args(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]})


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def as_str(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def ts_arg(value: Any) -> str | None:
    """A message ts argument. It is a string on every method page ("type": string, e.g.
    https://api.slack.com/methods/chat.update#arg_ts); a JSON number finds no message."""
    return value if isinstance(value, str) and value else None


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def workspace_ids(number: int) -> dict[str, str]:
    """The ids of workspace ``number``: 1 gives the default workspace's (``TEAM_ID``, ``USER_ID``, ``C0GENERAL1``...),
    any other number the same pattern with that number in it."""
    n = number
    return {
        "team_id": f"T0TEAM{n:03d}",
        "bot_user_id": f"U0BOT{n:04d}",
        "bot_id": f"B0BOT{n:04d}",
        "user_id": f"U0USER{n:04d}",
        "other_user_id": f"U0OTHER{n:03d}",
        "admin_user_id": f"U0ADMIN{n:03d}",
        "general_channel": f"C0GENERAL{n}",
        "random_channel": f"C0RANDOM{n:02d}",
        "private_channel": f"G0PRIVATE{n}",
        "dm_channel": f"D0DIRECT{n:02d}",
    }


@dataclass
class Token:
    """An access token the stand-in issued: the default workspace's ``BOT_TOKEN``, or one minted by an install or a
    refresh (``oauth``). A token belongs to one workspace, or to every workspace of an org for an org-wide install."""

    value: str
    kind: str  # "bot" or "user"
    team_id: str  # the workspace it was issued in (the enterprise id for an org-wide install)
    user_id: str  # the bot user, or the person a user token acts for
    scopes: tuple[str, ...] = ()  # a user token's scopes; a bot token has its workspace's (Workspace.scopes)
    expires_at: float | None = None  # time.time() after which it answers token_expired; None: never
    revoked: bool = False
    enterprise_install: bool = False  # issued by an org-wide install (https://api.slack.com/enterprise/apps)

    def expired(self) -> bool:
        return self.expires_at is not None and time.time() >= self.expires_at


def short(args: dict[str, Any]) -> str:
    text = json.dumps(args, default=lambda v: f"<{type(v).__name__}>")
    return text if len(text) <= 160 else text[:157] + "..."


class Workspace:
    """One Slack workspace: its people, channels, messages and files, the app's installation in it (scopes and
    tokens), and a record of what the app did there (calls, responses, views, downloads, Socket Mode acks) for tests
    to read back.

    ``number`` picks its ids (:func:`workspace_ids`); 1, the default, is the workspace every test has always used.
    ``installed=False`` makes a workspace the app is not installed in yet (no token, no scopes: ``oauth`` installs it).
    """

    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        team_id: str | None = None,
        bot_user_id: str | None = None,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        bot_events: tuple[str, ...] = DEFAULT_BOT_EVENTS,
        number: int = 1,
        team_name: str = TEAM_NAME,
        domain: str = TEAM_DOMAIN,
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
        installed: bool = True,
        seq: itertools.count[int] | None = None,
        bot_id: str | None = None,
    ) -> None:
        ids = workspace_ids(number)
        self.number = number
        self.team_id = team_id or ids["team_id"]
        self.team_name = team_name
        self.domain = domain
        # Enterprise Grid: the org this workspace belongs to (https://api.slack.com/enterprise), None outside one.
        self.enterprise_id = enterprise_id
        self.enterprise_name = enterprise_name
        self.bot_user_id = bot_user_id or ids["bot_user_id"]
        self.bot_id = bot_id or ids["bot_id"]
        # The people and conversations every workspace starts with (tests read their ids from here).
        self.user_id = ids["user_id"]
        self.other_user_id = ids["other_user_id"]
        self.admin_user_id = ids["admin_user_id"]
        self.general_channel = ids["general_channel"]
        self.random_channel = ids["random_channel"]
        self.private_channel = ids["private_channel"]
        self.dm_channel = ids["dm_channel"]

        # The app's installation here. bot_token is the current bot token ("" while not installed); tokens holds
        # every token ever issued here, revoked and expired ones too, so each gets its own error.
        self.installed = installed
        self.org_installed = False  # installed through an org-wide install of its enterprise
        self.installer_user_id = self.user_id  # who installed the app (oauth.v2.access's authed_user)
        self.bot_token = bot_token if installed else ""
        self.tokens: dict[str, Token] = {}
        self.user_tokens: dict[str, str] = {}  # person -> their current user token (user_scope installs)
        self.refreshes = 0  # token refreshes granted for this workspace (oauth.v2.access, grant_type=refresh_token)
        self.refused_refreshes = 0  # refreshes refused with invalid_refresh_token (a refresh token used twice)
        if installed:
            self.tokens[bot_token] = Token(bot_token, "bot", self.team_id, self.bot_user_id)

        self.app_token = app_token
        self.scopes = scopes if installed else ()
        self.bot_events = bot_events  # the app's event subscriptions (manifest.yml's bot_events)
        self.event_ack_deadline = EVENT_ACK_DEADLINE  # an HTTP delivery answered later is http_timeout
        self.event_retry_delays = EVENT_RETRY_DELAYS  # before retries 1, 2, 3; tests shorten them
        self.base_url = ""
        self.api_url = ""
        self.trigger_ttl = 3.0  # https://api.slack.com/docs/triggers : a trigger_id expires in 3 s and works once
        self.socket_ack_deadline = 3.0  # https://api.slack.com/apis/socket-mode#acknowledge
        # manifest.yml's features.app_home.messages_tab_enabled (tests/test_standin_slack.py keeps the two equal).
        # Off, the app cannot post into its own DMs: messages_tab_disabled,
        # https://api.slack.com/methods/chat.postMessage#errors .
        self.messages_tab_enabled = True

        self.users: dict[str, SlackUser] = {}
        self.channels: dict[str, Channel] = {}
        self.messages: list[Message] = []
        self.files: dict[str, SlackFile] = {}
        self.calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.views_opened: list[dict[str, Any]] = []
        self.views_pushed: list[dict[str, Any]] = []
        self.views_updated: list[dict[str, Any]] = []
        self.views_published: dict[str, dict[str, Any]] = {}
        self.downloads: list[dict[str, Any]] = []
        self.socket_acks: list[dict[str, Any]] = []  # every ack the app sent over Socket Mode, in order
        self.socket_connections = 0  # websocket connections accepted so far
        # Called on every post, edit and deletion of a message (``events`` turns them into Events API events).
        self.message_listeners: list[Callable[[MessageChange], None]] = []

        self.add_user(self.user_id, "user").real_name = "Test User"
        self.add_user(self.other_user_id, "other").real_name = "Other User"
        self.add_user(self.admin_user_id, "admin", is_admin=True).real_name = "Admin User"
        # Slack gives bot users the Pacific time zone regardless of the workspace.
        self.users[self.bot_user_id] = SlackUser(
            id=self.bot_user_id,
            name=BOT_NAME,
            real_name="Banana",  # manifest.yml's bot_user.display_name, the name Slack shows for the bot
            is_bot=True,
            tz="America/Los_Angeles",
            tz_offset=-28800,
        )

        self.add_channel(self.general_channel, "general")
        self.add_channel(self.random_channel, "random", member=False)
        self.add_channel(self.private_channel, "secret", private=True, member=False)
        self.add_channel(self.dm_channel, "", member=True).user = self.user_id

        self._last_ts_us = 0
        # One counter for every minted id; the workspaces of one stand-in share it, so ids are unique among them.
        self._seq = seq if seq is not None else itertools.count(1)

    # ------------------------------------------------------------------ the installation's tokens

    def token_error(self, value: str | None) -> str | None:
        """None if ``value`` is a usable token of this workspace, else the error Slack answers for it:
        invalid_auth (unknown, or revoked and the app installed again since: bolt-python#1029), account_inactive
        (revoked while the app is uninstalled: bolt-python#1029, "Authentication token is for a deleted user or
        workspace", https://api.slack.com/methods/auth.test), token_expired (https://api.slack.com/authentication/rotation).
        """
        token = self.tokens.get(value) if value else None
        if token is None:
            return "invalid_auth"
        if token.revoked:
            return "invalid_auth" if self.installed else "account_inactive"
        if token.expired():
            return "token_expired"
        return None

    def bot_token_ok(self, value: str | None) -> bool:
        """Whether ``value`` is a usable bot token here (file downloads take nothing else)."""
        return self.token_error(value) is None and self.tokens[str(value)].kind == "bot"

    # ------------------------------------------------------------------ state helpers for tests

    def add_user(self, user_id: str, name: str, *, is_admin: bool = False, is_owner: bool = False) -> SlackUser:
        """A person in the workspace. Owners are admins too, as in Slack."""
        user = SlackUser(id=user_id, name=name, real_name=name, is_admin=is_admin or is_owner, is_owner=is_owner)
        self.users[user_id] = user
        return user

    def add_channel(self, channel_id: str, name: str, *, private: bool = False, member: bool = True) -> Channel:
        is_im = channel_id.startswith("D")
        channel = Channel(id=channel_id, name=name, is_private=private or is_im, is_member=member, is_im=is_im)
        self.channels[channel_id] = channel
        return channel

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        files: list[str] | None = None,
    ) -> Message:
        """A message posted by someone else (``user``, by default the workspace's ``user_id``; e.g. the target of a
        message shortcut). Its Events API events, if any, are delivered beside the caller; ``post_as_user`` also waits
        for them."""
        message = Message(
            channel=channel,
            ts=self.next_ts(),
            text=text,
            blocks=blocks or [],
            thread_ts=thread_ts,
            user=user or self.user_id,
            files=files or [],
            edits=[],
            client_msg_id=str(uuid.uuid4()),
        )
        self.messages.append(message)
        self.message_posted(message)
        return message

    def edit_message(self, channel: str, ts: str, text: str, *, blocks: list[dict[str, Any]] | None = None) -> Message:
        """A person edits their message (or any message): message_changed for the apps subscribed to it."""
        message = self.find_message(channel, ts)
        if message is None:
            raise KeyError(f"no message {channel}/{ts} to edit")
        before = snapshot(message)
        message.text, message.blocks = text, blocks or []
        message.edits.append({"text": text, "blocks": list(message.blocks), "at": time.monotonic()})
        self.message_changed(before, message)
        return message

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Replies in a thread (not the parent), oldest first; deleted replies are gone, as in Slack."""
        replies = [
            m
            for m in self.messages
            if m.channel == channel and m.thread_ts == thread_ts and m.ts != thread_ts and not (m.deleted or m.lost)
        ]
        return sorted(replies, key=lambda m: float(m.ts))

    def message(self, channel: str, ts: str) -> Message:
        for message in self.messages:
            if message.channel == channel and message.ts == ts:
                return message
        known = [(m.channel, m.ts) for m in self.messages]
        raise KeyError(f"no message {channel}/{ts}; known: {known}")

    # The timeout argument is part of the interface the app's tests use, hence the noqa.
    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                raise AssertionError(self._describe_timeout(predicate, timeout))
            await asyncio.sleep(0.01)

    def _describe_timeout(self, predicate: Callable[[], bool], timeout: float) -> str:
        try:
            source = inspect.getsource(predicate).strip()
        except (OSError, TypeError):
            source = getattr(predicate, "__qualname__", repr(predicate))
        calls = [f"{c.method}({c.status}) {short(c.args)}" for c in self.calls[-10:]]
        messages = [f"{m.channel}/{m.ts} thread={m.thread_ts} files={m.files} {m.text[:60]!r}" for m in self.messages]
        return (
            f"condition not met within {timeout}s: {source}\n"
            f"last calls: {calls}\nmessages: {messages[-10:]}\nresponses: {len(self.responses)}"
        )

    # ------------------------------------------------------------------ helpers for the API families

    def message_posted(self, message: Message) -> None:
        if not message.lost:  # a lost message shows nowhere, so nobody hears of it either
            self._tell(MessageChange("posted", snapshot(message), None))

    def message_changed(self, before: Message, message: Message) -> None:
        """``before`` is a snapshot taken before the change."""
        self._tell(MessageChange("changed", snapshot(message), before))

    def message_deleted(self, message: Message) -> None:
        self._tell(MessageChange("deleted", snapshot(message), snapshot(message)))

    def _tell(self, change: MessageChange) -> None:
        for listener in self.message_listeners:
            listener(change)

    def require_started(self) -> None:
        if not self.base_url:
            raise RuntimeError("SlackStandIn.start() must be awaited first")

    def next_seq(self) -> int:
        """One counter for every minted id (files, views, IMs, triggers, response URLs, events, tokens), shared by
        the workspaces of one stand-in."""
        return next(self._seq)

    def next_ts(self) -> str:
        # Real-looking epoch ts, strictly increasing even within one microsecond.
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def next_file_id(self) -> str:
        return f"F0FILE{self.next_seq():05d}"

    def find_message(self, channel: str, ts: str | None) -> Message | None:
        for message in self.messages:
            if message.channel == channel and message.ts == ts and not (message.deleted or message.lost):
                return message
        return None

    def lookup_channel(self, raw: Any) -> Channel | None:
        if not isinstance(raw, str) or not raw:
            return None
        if raw in self.channels:
            return self.channels[raw]
        name = raw.removeprefix("#")
        for channel in self.channels.values():
            if channel.name and channel.name == name:
                return channel
        return None

    def visible_channel(self, raw: Any) -> Channel:
        """The channel as the bot sees it: private channels it is not in do not exist (channel_not_found on every
        method page, e.g. https://api.slack.com/methods/chat.postMessage#errors)."""
        channel = self.lookup_channel(raw)
        if channel is None or (channel.is_private and not channel.is_member):
            raise SlackError("channel_not_found")
        return channel

    def open_im(self, user: str) -> Channel:
        for channel in self.channels.values():
            if channel.is_im and channel.user == user:
                return channel
        channel = self.add_channel(f"D0IM{self.next_seq():06d}", "")
        channel.user = user
        return channel

    def postable_channel(self, raw: Any, *, public_needs_membership: bool) -> Channel:
        # chat.postMessage to a user id posts into the app's DM with that user
        # (https://api.slack.com/methods/chat.postMessage#channels). In a public channel the bot is not in, a post
        # needs chat:write.public (https://api.slack.com/scopes/chat:write.public), else not_in_channel.
        if isinstance(raw, str) and raw[:1] in ("U", "W") and raw not in self.channels:
            if raw not in self.users:
                raise SlackError("channel_not_found")
            channel = self.open_im(raw)
        else:
            channel = self.visible_channel(raw)
        if channel.is_im and not self.messages_tab_enabled:
            raise SlackError("messages_tab_disabled")
        if not channel.is_member and (public_needs_membership or "chat:write.public" not in self.scopes):
            raise SlackError("not_in_channel")
        return channel

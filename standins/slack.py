"""A local stand-in for the Slack Web API, served by aiohttp.

The app talks to it exactly as it would talk to Slack: through ``SLACK_API_URL=<base_url>/api/`` and through the
URLs the stand-in hands out (upload_url, url_private, response_url). Errors follow Slack's protocol: HTTP 200 with
``{"ok": false, "error": ...}``, HTTP 429 with ``Retry-After`` when rate limited, 302 to an HTML login page for file
downloads without a usable token.

What slack_sdk 3.47 actually sends (the parsing below is shaped by it):
- ``chat.*`` (except delete), ``views.*``: JSON body, token only in ``Authorization: Bearer``.
- ``auth.test``, ``conversations.join``, ``chat.delete``, ``files.getUploadURLExternal``,
  ``files.completeUploadExternal``: POST with every argument in the *query string* and an empty body;
  ``files`` is a JSON string there.
- ``files.delete``: POST with ``file`` in the query string and an empty body.
- ``conversations.info``, ``files.info``, ``users.info``: GET with query string (booleans such as
  ``include_locale`` arrive as ``1``/``0``; ``None`` arguments are left out).
- the upload step of ``files_upload_v2``: a raw ``application/octet-stream`` POST to upload_url with no token.
- ``AsyncWebhookClient`` (Bolt's ``respond()``): a JSON POST to response_url.
- ``apps.connections.open`` (Socket Mode): POST, the *app-level* token (``xapp-...``) as Bearer, empty body.

Socket Mode: ``apps.connections.open`` hands out a single-use ``ws://.../link/?ticket=...`` URL. On connect the
stand-in sends ``hello``; ``socket_send()`` then pushes an envelope (``slash_commands``, ``interactive``,
``events_api``) and waits for the app's ack ``{"envelope_id": ..., "payload": {...}}``. Pings are answered by
aiohttp's autoping.

Run ``python -m standins.slack --port 8082`` for manual trials.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import json
import math
import mimetypes
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import WSMsgType, web

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
BOT_NAME = "banana-bot"

DEFAULT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:join",
    "files:read",
    "files:write",
    "im:write",
    "users:read",
)

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_VIEW_BYTES = 250_000
MAX_MESSAGE_TEXT = 40_000
MAX_ALT_TXT = 1000
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL = 30 * 60.0

# Methods that take the app-level token (and only it); every other method refuses it.
APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
SOCKET_CLOSE_TIMEOUT = 2.0  # how long stop() waits for a client's close frame
STATS_PATH = "/standin/stats"  # not Slack's: what a benchmark in another process reads back
RESPONSE_URLS_PATH = "/standin/response_urls"  # not Slack's: fresh response_urls for requests sent from elsewhere

# Arguments Slack accepts as JSON-encoded strings in query/form bodies.
JSON_ARGS = ("blocks", "files", "view", "attachments", "metadata")

# Scope each method needs; conversations.info is checked per channel type in its handler.
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.join": "channels:join",
    "conversations.open": "im:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.info": "files:read",
    "files.list": "files:read",
    "files.delete": "files:write",
    "users.info": "users:read",
}

# tz_offset -> tz_label, as Slack words it; anything else gets a "GMT+hh:mm" label.
TZ_LABELS = {
    0: "Greenwich Mean Time",
    3600: "Central European Time",
    7200: "Central European Summer Time",
    -14400: "Eastern Daylight Time",
    -18000: "Eastern Standard Time",
    -21600: "Central Standard Time",
    -25200: "Pacific Daylight Time",
    -28800: "Pacific Standard Time",
}

BLOCK_TYPES = {
    "actions",
    "call",
    "context",
    "context_actions",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "table",
    "video",
}
SLACK_FILE_IMAGE_TYPES = {"png", "jpg", "jpeg", "gif"}

FILETYPES = {
    "image/png": ("png", "PNG"),
    "image/jpeg": ("jpg", "JPEG"),
    "image/gif": ("gif", "GIF"),
    "image/webp": ("webp", "WebP"),
    "text/plain": ("text", "Plain Text"),
    "application/pdf": ("pdf", "PDF"),
    "application/json": ("json", "JSON"),
}

LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head>"
    "<body><h1>Sign in to Test Team</h1><form>...</form></body></html>"
)


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float  # time.monotonic()
    status: int


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    user: str
    files: list[str]
    edits: list[dict[str, Any]]  # {"text", "blocks", "at"} after each chat.update
    deleted: bool = False


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

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def url_private(self) -> str:
        return f"{self.base_url}/files-pri/{self.team_id}-{self.id}/{quote(self.name)}"

    @property
    def url_private_download(self) -> str:
        return f"{self.base_url}/files-pri/{self.team_id}-{self.id}/download/{quote(self.name)}"

    @property
    def permalink(self) -> str:
        return f"{self.base_url}/files/{self.user}/{self.id}/{quote(self.name)}"


@dataclass
class _PendingUpload:
    file_id: str
    filename: str
    length: int
    alt_txt: str | None
    snippet_type: str | None
    data: bytes | None = None


@dataclass
class _ResponseHook:
    url: str
    created: float
    channel: str | None
    message_ts: str | None
    uses: int = 0


@dataclass
class _Fault:
    kind: str  # "ratelimited" | "error" | "http"
    error: str = ""
    retry_after: int = 1
    status: int = 500


class SlackError(Exception):
    """Raised by method handlers; becomes {"ok": false, "error": ...} plus extra keys."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _invalid_args(*messages: str) -> SlackError:
    return SlackError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]})


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def _sniff_mimetype(data: bytes, filename: str) -> str:
    # Slack identifies type by content first, so a wrongly named PNG is still a PNG.
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def _filetype(mimetype: str) -> tuple[str, str]:
    return FILETYPES.get(mimetype, ("binary", "Binary"))


def _text_input_errors(element: dict[str, Any], at: str) -> list[str]:
    """Slack's limits on a plain_text_input: lengths from 0 to 3000, and an initial value within them."""
    errors: list[str] = []
    for key in ("min_length", "max_length"):
        value = element.get(key)
        if value is not None and (not isinstance(value, int) or not 0 <= value <= 3000):
            errors.append(f"must be between 0 and 3000 [json-pointer:{at}/{key}]")
    initial = element.get("initial_value")
    if initial is not None and (not isinstance(initial, str) or len(initial) > 3000):
        errors.append(f"must be less than 3001 characters [json-pointer:{at}/initial_value]")
    return errors


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _tz_label(offset: int) -> str:
    if offset in TZ_LABELS:
        return TZ_LABELS[offset]
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"GMT{sign}{hours:02d}:{minutes:02d}"


def _text_errors(obj: Any, pointer: str, *, max_len: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"must provide a text object [json-pointer:{pointer}]"]
    if plain_only and obj["type"] != "plain_text":
        return [f"must be a plain_text object [json-pointer:{pointer}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(text) > max_len:
        return [f"must be less than {max_len + 1} characters [json-pointer:{pointer}/text]"]
    return []


class SlackStandIn:
    def __init__(
        self,
        *,
        bot_token: str = BOT_TOKEN,
        app_token: str = APP_TOKEN,
        team_id: str = TEAM_ID,
        bot_user_id: str = BOT_USER_ID,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.scopes = scopes
        self.base_url = ""
        self.api_url = ""
        self.trigger_ttl = 3.0

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

        self.add_user(USER_ID, "user").real_name = "Test User"
        self.add_user(OTHER_USER_ID, "other").real_name = "Other User"
        self.add_user(ADMIN_USER_ID, "admin", is_admin=True).real_name = "Admin User"
        # Slack gives bot users the Pacific time zone regardless of the workspace.
        self.users[bot_user_id] = SlackUser(
            id=bot_user_id, name=BOT_NAME, real_name=BOT_NAME, is_bot=True, tz="America/Los_Angeles", tz_offset=-28800
        )

        self.add_channel("C0GENERAL1", "general")
        self.add_channel("C0RANDOM01", "random", member=False)
        self.add_channel("G0PRIVATE1", "secret", private=True, member=False)
        self.add_channel("D0DIRECT01", "", member=True).user = USER_ID

        self._runner: web.AppRunner | None = None
        self._last_ts_us = 0
        self._seq = 0
        self._uploads: dict[str, _PendingUpload] = {}
        self._hooks: dict[str, _ResponseHook] = {}
        self._triggers: dict[str, float] = {}
        self._used_triggers: set[str] = set()
        self._faults: dict[str, deque[_Fault]] = {}
        self._update_per_minute: int | None = None
        self._post_per_second: float | None = None
        self._update_times: deque[float] = deque()
        self._post_buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, last refill)
        self._socket_tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []  # open Socket Mode connections, oldest first
        self._pending_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}

        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.join": self._conversations_join,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
            "files.list": self._files_list,
            "files.upload": self._files_upload_v1,
            "files.delete": self._files_delete,
            "users.info": self._users_info,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/upload/v1/{upload_id}", self._handle_upload)
        app.router.add_get("/files-pri/{team_file}/download/{name}", self._handle_download)
        app.router.add_get("/files-pri/{team_file}/{name}", self._handle_download)
        app.router.add_get("/link/", self._handle_socket)
        app.router.add_get(STATS_PATH, self._handle_stats)
        app.router.add_get(RESPONSE_URLS_PATH, self._handle_response_urls)
        app.router.add_get("/", self._handle_login_page)
        app.router.add_get("/{tail:.+}", self._handle_web_page)
        app.router.add_post("/{tail:.+}", self._handle_response_url)
        # Runs after the listening socket is closed and before aiohttp waits for handlers to finish.
        app.on_shutdown.append(self._close_sockets)
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
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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
        user: str = USER_ID,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        files: list[str] | None = None,
    ) -> Message:
        """A message posted by someone else (e.g. the target of a message shortcut)."""
        message = Message(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks or [],
            thread_ts=thread_ts,
            user=user,
            files=files or [],
            edits=[],
        )
        self.messages.append(message)
        return message

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
        user an error (slash commands, interactions); this only checks ``timeout``.
        """
        self._require_started()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        ack: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending_acks[envelope_id] = ack
        try:
            while not await self._deliver(envelope):
                if loop.time() >= deadline:
                    opened = len(self.calls_to("apps.connections.open"))
                    raise AssertionError(
                        f"no Socket Mode connection within {timeout}s to deliver a {envelope_type} envelope "
                        f"(connections so far: {self.socket_connections}, apps.connections.open calls: {opened})"
                    )
                await asyncio.sleep(0.01)
            try:
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    return await ack
            except TimeoutError:
                raise AssertionError(
                    f"no ack for {envelope_type} envelope {envelope_id} within {timeout}s "
                    f"(open connections: {len(self._sockets)}, last acks: {self.socket_acks[-5:]})"
                ) from None
        finally:
            self._pending_acks.pop(envelope_id, None)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """Replies in a thread (not the parent), oldest first; deleted replies are gone, as in Slack."""
        replies = [
            m
            for m in self.messages
            if m.channel == channel and m.thread_ts == thread_ts and m.ts != thread_ts and not m.deleted
        ]
        return sorted(replies, key=lambda m: float(m.ts))

    def message(self, channel: str, ts: str) -> Message:
        for message in self.messages:
            if message.channel == channel and message.ts == ts:
                return message
        known = [(m.channel, m.ts) for m in self.messages]
        raise KeyError(f"no message {channel}/{ts}; known: {known}")

    def response_url(self, key: str = "commands", *, channel: str | None = None, message_ts: str | None = None) -> str:
        """A fresh response URL like https://hooks.slack.com/commands/T/123/abc.

        ``key`` is the first path segment ("commands" for slash commands, "actions" for interactions). Give
        ``channel`` so in_channel responses become messages, and ``message_ts`` so replace_original/delete_original
        act on that message.
        """
        self._require_started()
        if not key or "/" in key or key == "api":
            raise ValueError(f"bad response_url key {key!r}")
        self._seq += 1
        path = f"/{key}/{self.team_id}/{1_000_000_000 + self._seq}/{secrets.token_urlsafe(18)}"
        url = self.base_url + path
        self._hooks[path] = _ResponseHook(url=url, created=time.monotonic(), channel=channel, message_ts=message_ts)
        return url

    def trigger_id(self) -> str:
        """A fresh trigger id, valid for ``trigger_ttl`` seconds (3 s) and usable once."""
        self._seq += 1
        trigger = f"{self._seq}.{int(time.time())}.{secrets.token_hex(16)}"
        self._triggers[trigger] = time.monotonic()
        return trigger

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
        filetype, _ = _filetype(mimetype)
        file = SlackFile(
            id=self._next_file_id(),
            name=name,
            title=name,
            mimetype=mimetype,
            filetype=filetype,
            data=data,
            user=user,
            channel=None,
            thread_ts=None,
            initial_comment=None,
            alt_txt=None,
            base_url=self.base_url,
            team_id=self.team_id,
        )
        self.files[file.id] = file
        if channel is not None:
            message = self.add_message(channel, text, user=user, thread_ts=thread_ts, files=[file.id])
            file.channel, file.thread_ts, file.share_ts = channel, thread_ts, message.ts
        return file

    def user_object(self, user_id: str, *, include_locale: bool = False) -> dict[str, Any]:
        """The user as users.info returns it."""
        user = self.users[user_id]
        real_name = user.real_name or user.name
        profile: dict[str, Any] = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": "" if user.is_bot else user.name,
            "display_name_normalized": "" if user.is_bot else user.name,
            "team": self.team_id,
        }
        if user.is_bot:
            profile.update(bot_id=BOT_ID, api_app_id=APP_ID, always_active=True)
        obj: dict[str, Any] = {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "real_name": real_name,
            "tz": user.tz,
            "tz_label": _tz_label(user.tz_offset),
            "tz_offset": user.tz_offset,
            "profile": profile,
            "is_admin": user.is_admin,
            "is_owner": user.is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
        }
        if include_locale:
            obj["locale"] = "en-US"
        return obj

    def file_object(self, file_id: str, *, with_shares: bool = True) -> dict[str, Any]:
        file = self.files[file_id]
        _, pretty_type = _filetype(file.mimetype)
        obj: dict[str, Any] = {
            "id": file.id,
            "created": file.created,
            "timestamp": file.created,
            "name": file.name,
            "title": file.title,
            "mimetype": file.mimetype,
            "filetype": file.filetype,
            "pretty_type": pretty_type,
            "user": file.user,
            "user_team": self.team_id,
            "editable": False,
            "size": file.size,
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": file.url_private,
            "url_private_download": file.url_private_download,
            "permalink": file.permalink,
            "permalink_public": f"{self.base_url}/{self.team_id}-{file.id}-{secrets.token_hex(5)}",
            "channels": [],
            "groups": [],
            "ims": [],
            "shares": {},
            "comments_count": 0,
            "has_rich_preview": False,
            "file_access": "visible",
        }
        if file.alt_txt is not None:
            obj["alt_txt"] = file.alt_txt
        if file.initial_comment:
            obj["initial_comment"] = {"comment": file.initial_comment, "user": file.user}
        channel = self.channels.get(file.channel) if file.channel else None
        if with_shares and channel is not None and file.share_ts is not None:
            kind = "private" if channel.is_private else "public"
            obj["is_public"] = kind == "public"
            obj["ims" if channel.is_im else "groups" if channel.is_private else "channels"] = [channel.id]
            share: dict[str, Any] = {
                "reply_users": [],
                "reply_users_count": 0,
                "reply_count": 0,
                "ts": file.share_ts,
                "channel_name": channel.name,
                "team_id": self.team_id,
                "share_user_id": file.user,
                "source": "UNKNOWN",
            }
            if file.thread_ts:
                share["thread_ts"] = file.thread_ts
            obj["shares"] = {kind: {channel.id: [share]}}
        return obj

    # ------------------------------------------------------------------ fault injection

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 429. ``method`` may also be "upload" or "response_url"."""
        queue = self._faults.setdefault(method, deque())
        queue.extend(_Fault(kind="ratelimited", retry_after=retry_after) for _ in range(times))

    def fail_next(self, method: str, error: str, *, times: int = 1) -> None:
        queue = self._faults.setdefault(method, deque())
        queue.extend(_Fault(kind="error", error=error) for _ in range(times))

    def server_error(self, method: str, *, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls get an HTTP 5xx (what AsyncServerErrorRetryHandler retries)."""
        queue = self._faults.setdefault(method, deque())
        queue.extend(_Fault(kind="http", status=status) for _ in range(times))

    def enforce_tiers(
        self,
        chat_update_per_minute: int | None = None,
        post_message_per_second_per_channel: float | None = None,
    ) -> None:
        """Turn on real-rate enforcement; None leaves that limit off. Slack's real numbers: ~50/min, ~1/s."""
        self._update_per_minute = chat_update_per_minute
        self._post_per_second = post_message_per_second_per_channel
        self._update_times.clear()
        self._post_buckets.clear()

    # The timeout argument is part of the interface the app's tests use, hence the noqa.
    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                raise AssertionError(self._describe_timeout(predicate, timeout))
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ internals

    def _require_started(self) -> None:
        if not self.base_url:
            raise RuntimeError("SlackStandIn.start() must be awaited first")

    def _describe_timeout(self, predicate: Callable[[], bool], timeout: float) -> str:
        try:
            source = inspect.getsource(predicate).strip()
        except (OSError, TypeError):
            source = getattr(predicate, "__qualname__", repr(predicate))
        calls = [f"{c.method}({c.status}) {_short(c.args)}" for c in self.calls[-10:]]
        messages = [f"{m.channel}/{m.ts} thread={m.thread_ts} files={m.files} {m.text[:60]!r}" for m in self.messages]
        return (
            f"condition not met within {timeout}s: {source}\n"
            f"last calls: {calls}\nmessages: {messages[-10:]}\nresponses: {len(self.responses)}"
        )

    def _next_ts(self) -> str:
        # Real-looking epoch ts, strictly increasing even within one microsecond.
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _next_file_id(self) -> str:
        self._seq += 1
        return f"F0FILE{self._seq:05d}"

    def _take_fault(self, key: str) -> _Fault | None:
        queue = self._faults.get(key)
        if queue:
            return queue.popleft()
        return None

    def _find_message(self, channel: str, ts: str | None) -> Message | None:
        for message in self.messages:
            if message.channel == channel and message.ts == ts and not message.deleted:
                return message
        return None

    def _lookup_channel(self, raw: Any) -> Channel | None:
        if not isinstance(raw, str) or not raw:
            return None
        if raw in self.channels:
            return self.channels[raw]
        name = raw.removeprefix("#")
        for channel in self.channels.values():
            if channel.name and channel.name == name:
                return channel
        return None

    def _visible_channel(self, raw: Any) -> Channel:
        """The channel as the bot sees it: private channels it is not in do not exist."""
        channel = self._lookup_channel(raw)
        if channel is None or (channel.is_private and not channel.is_member):
            raise SlackError("channel_not_found")
        return channel

    def _open_im(self, user: str) -> Channel:
        for channel in self.channels.values():
            if channel.is_im and channel.user == user:
                return channel
        self._seq += 1
        channel = self.add_channel(f"D0IM{self._seq:06d}", "")
        channel.user = user
        return channel

    def _postable_channel(self, raw: Any, *, public_needs_membership: bool) -> Channel:
        # chat.postMessage to a user id posts into the app's DM with that user.
        if isinstance(raw, str) and raw[:1] in ("U", "W") and raw not in self.channels:
            return self._open_im(raw)
        channel = self._visible_channel(raw)
        if not channel.is_member and (public_needs_membership or "chat:write.public" not in self.scopes):
            raise SlackError("not_in_channel")
        return channel

    def _text_arg(self, args: dict[str, Any]) -> str | None:
        text = _as_str(args.get("text"))
        if text is not None and len(text) > MAX_MESSAGE_TEXT:
            raise SlackError("msg_too_long")
        return text

    def _blocks_arg(self, args: dict[str, Any], limit: int) -> list[dict[str, Any]] | None:
        raw = args.get("blocks")
        if raw is None or raw == "":
            return None
        if not isinstance(raw, list):
            # A string here is one that did not decode as JSON.
            raise SlackError("invalid_blocks_format")
        errors = self._block_errors(raw, limit, "/blocks")
        if errors:
            raise SlackError(
                "invalid_blocks", errors=errors, response_metadata={"messages": [f"[ERROR] {e}" for e in errors]}
            )
        return raw

    def _block_errors(self, blocks: Any, limit: int, pointer: str) -> list[str]:
        if not isinstance(blocks, list):
            return [f"must provide an array [json-pointer:{pointer}]"]
        errors: list[str] = []
        if len(blocks) > limit:
            errors.append(f"no more than {limit} items allowed [json-pointer:{pointer}]")
        block_ids: set[str] = set()
        for index, block in enumerate(blocks):
            at = f"{pointer}/{index}"
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                errors.append(f"must provide an object with a type [json-pointer:{at}]")
                continue
            block_type = block["type"]
            if block_type not in BLOCK_TYPES:
                errors.append(f"unsupported type: {block_type} [json-pointer:{at}/type]")
                continue
            block_id = block.get("block_id")
            if block_id is not None:
                if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                    errors.append(f"must be 1-255 characters [json-pointer:{at}/block_id]")
                elif block_id in block_ids:
                    errors.append(f"duplicate block_id [json-pointer:{at}/block_id]")
                block_ids.add(str(block_id))
            errors.extend(self._one_block_errors(block, at))
        return errors

    def _one_block_errors(self, block: dict[str, Any], at: str) -> list[str]:
        block_type = block["type"]
        errors: list[str] = []
        if block_type == "section":
            if "text" not in block and "fields" not in block:
                errors.append(f"must provide either text or fields [json-pointer:{at}]")
            if "text" in block:
                errors.extend(_text_errors(block["text"], f"{at}/text", max_len=3000))
            fields = block.get("fields")
            if fields is not None:
                if not isinstance(fields, list) or not 0 < len(fields) <= 10:
                    errors.append(f"must provide 1-10 items [json-pointer:{at}/fields]")
                else:
                    for i, item in enumerate(fields):
                        errors.extend(_text_errors(item, f"{at}/fields/{i}", max_len=2000))
            if "accessory" in block:
                errors.extend(self._element_errors(block["accessory"], f"{at}/accessory"))
        elif block_type == "header":
            errors.extend(_text_errors(block.get("text"), f"{at}/text", max_len=150, plain_only=True))
        elif block_type == "image":
            errors.extend(self._image_errors(block, at))
            if "title" in block:
                errors.extend(_text_errors(block["title"], f"{at}/title", max_len=2000, plain_only=True))
        elif block_type == "actions":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 25:
                errors.append(f"must provide 1-25 items [json-pointer:{at}/elements]")
            else:
                action_ids: set[str] = set()
                for i, element in enumerate(elements):
                    errors.extend(self._element_errors(element, f"{at}/elements/{i}"))
                    action_id = element.get("action_id") if isinstance(element, dict) else None
                    if action_id is not None:
                        if action_id in action_ids:
                            errors.append(f"duplicate action_id [json-pointer:{at}/elements/{i}/action_id]")
                        action_ids.add(action_id)
        elif block_type == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 10:
                errors.append(f"must provide 1-10 items [json-pointer:{at}/elements]")
            else:
                for i, element in enumerate(elements):
                    if isinstance(element, dict) and element.get("type") == "image":
                        errors.extend(self._image_errors(element, f"{at}/elements/{i}"))
                    else:
                        errors.extend(_text_errors(element, f"{at}/elements/{i}", max_len=3000))
        elif block_type == "input":
            errors.extend(_text_errors(block.get("label"), f"{at}/label", max_len=2000, plain_only=True))
            element = block.get("element")
            if not isinstance(element, dict) or not isinstance(element.get("type"), str):
                errors.append(f"must provide an element [json-pointer:{at}/element]")
            else:
                errors.extend(self._element_errors(element, f"{at}/element"))
            if "hint" in block:
                errors.extend(_text_errors(block["hint"], f"{at}/hint", max_len=2000, plain_only=True))
        elif block_type == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or not 0 < len(text) <= 12000:
                errors.append(f"must be 1-12000 characters [json-pointer:{at}/text]")
        return errors

    def _element_errors(self, element: Any, at: str) -> list[str]:
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            return [f"must provide an element object [json-pointer:{at}]"]
        errors: list[str] = []
        action_id = element.get("action_id")
        if action_id is not None and (not isinstance(action_id, str) or not 0 < len(action_id) <= 255):
            errors.append(f"must be 1-255 characters [json-pointer:{at}/action_id]")
        if element["type"] == "button":
            errors.extend(_text_errors(element.get("text"), f"{at}/text", max_len=75, plain_only=True))
            value = element.get("value")
            if value is not None and (not isinstance(value, str) or len(value) > 2000):
                errors.append(f"must be less than 2001 characters [json-pointer:{at}/value]")
            url = element.get("url")
            if url is not None and (not isinstance(url, str) or len(url) > 3000):
                errors.append(f"must be less than 3001 characters [json-pointer:{at}/url]")
            if element.get("style") not in (None, "primary", "danger"):
                errors.append(f"must be primary or danger [json-pointer:{at}/style]")
        elif element["type"] == "image":
            errors.extend(self._image_errors(element, at))
        elif element["type"] == "plain_text_input":
            errors.extend(_text_input_errors(element, at))
        return errors

    def _image_errors(self, image: dict[str, Any], at: str) -> list[str]:
        errors: list[str] = []
        alt_text = image.get("alt_text")
        if not isinstance(alt_text, str) or not 0 < len(alt_text) <= 2000:
            errors.append(f"must be 1-2000 characters [json-pointer:{at}/alt_text]")
        has_url, has_file = "image_url" in image, "slack_file" in image
        if has_url == has_file:
            errors.append(f"must provide exactly one of image_url or slack_file [json-pointer:{at}]")
        elif has_url:
            url = image["image_url"]
            if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 3000:
                errors.append(f"downloading image failed [json-pointer:{at}/image_url]")
        else:
            problem = self._slack_file_problem(image["slack_file"])
            if problem:
                errors.append(f"{problem} [json-pointer:{at}/slack_file]")
        return errors

    def _slack_file_problem(self, ref: Any) -> str | None:
        if not isinstance(ref, dict) or ("id" in ref) == ("url" in ref):
            return "must provide exactly one of id or url"
        file: SlackFile | None
        if "id" in ref:
            file = self.files.get(ref["id"])
        else:
            file = next(
                (f for f in self.files.values() if ref["url"] in (f.url_private, f.url_private_download, f.permalink)),
                None,
            )
        # A file uploaded without a channel is private to the uploader: Slack says "invalid slack file".
        if file is None or file.deleted or file.share_ts is None or file.filetype not in SLACK_FILE_IMAGE_TYPES:
            return "invalid slack file"
        return None

    def _message_json(self, message: Message) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "type": "message",
            "user": message.user,
            "text": message.text,
            "ts": message.ts,
            "team": self.team_id,
        }
        if message.user == self.bot_user_id:
            obj.update(bot_id=BOT_ID, app_id=APP_ID)
        if message.blocks:
            obj["blocks"] = message.blocks
        if message.thread_ts:
            obj["thread_ts"] = message.thread_ts
            parent = self._find_message(message.channel, message.thread_ts)
            if parent is not None and parent.ts != message.ts:
                obj["parent_user_id"] = parent.user
        if message.files:
            # A deleted file stays in the message as a tombstone, as in Slack.
            obj["files"] = [
                {"id": f, "mode": "tombstone"} if self.files[f].deleted else self.file_object(f)
                for f in message.files
                if f in self.files
            ]
            obj["upload"] = True
        if message.edits:
            obj["edited"] = {"user": message.user, "ts": self._next_ts()}
        return obj

    def _channel_json(self, channel: Channel) -> dict[str, Any]:
        if channel.is_im:
            return {
                "id": channel.id,
                "created": 1700000000,
                "is_im": True,
                "is_org_shared": False,
                "user": channel.user,
                "is_user_deleted": False,
                "priority": 0,
                "context_team_id": self.team_id,
            }
        return {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "is_channel": not channel.is_private,
            "is_group": channel.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": channel.is_private,
            "is_archived": False,
            "is_general": channel.name == "general",
            "is_member": channel.is_member,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "created": 1700000000,
            "creator": USER_ID,
            "context_team_id": self.team_id,
        }

    def _check_tiers(self, method: str, args: dict[str, Any]) -> int | None:
        """Seconds to wait if the real-rate limits are on and exceeded, else None (and the call is counted)."""
        now = time.monotonic()
        if method == "chat.update" and self._update_per_minute is not None:
            while self._update_times and now - self._update_times[0] >= 60.0:
                self._update_times.popleft()
            if len(self._update_times) >= self._update_per_minute:
                return max(1, math.ceil(self._update_times[0] + 60.0 - now))
            self._update_times.append(now)
        if method == "chat.postMessage" and self._post_per_second is not None:
            rate = self._post_per_second
            capacity = max(1.0, rate)  # a short burst is allowed, as in Slack
            key = str(args.get("channel"))
            tokens, last = self._post_buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens < 1.0:
                self._post_buckets[key] = (tokens, now)
                return max(1, math.ceil((1.0 - tokens) / rate))
            self._post_buckets[key] = (tokens - 1.0, now)
        return None

    # ------------------------------------------------------------------ HTTP: /api/<method>

    async def _read_args(self, request: web.Request) -> tuple[dict[str, Any], str | None, bool]:
        """Merge query, form and JSON arguments; return (args, token, body_was_bad_json)."""
        args: dict[str, Any] = dict(request.query)
        bad_json = False
        json_body: dict[str, Any] = {}
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
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
            value = args.get(key)
            if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(value)
        token = _bearer(request) or (form_token if isinstance(form_token, str) and form_token else None)
        return args, token, bad_json

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, token, bad_json = await self._read_args(request)
        status, body, headers = self._run_method(method, args, token, bad_json)
        self.calls.append(Call(method=method, args=args, at=time.monotonic(), status=status))
        headers["x-oauth-scopes"] = "connections:write" if token == self.app_token else ",".join(self.scopes)
        return web.json_response(body, status=status, headers=headers)

    def _run_method(
        self, method: str, args: dict[str, Any], token: str | None, bad_json: bool
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if token is None:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token not in (self.bot_token, self.app_token):
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if (token == self.app_token) != (method in APP_TOKEN_METHODS):
            return 200, {"ok": False, "error": "not_allowed_token_type"}, {}
        if bad_json:
            return 200, {"ok": False, "error": "invalid_json"}, {}
        fault = self._take_fault(method)
        if fault is not None:
            return self._fault_response(fault)
        handler = self._methods.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        needed = METHOD_SCOPES.get(method)
        headers = {"x-accepted-oauth-scopes": needed or ""}
        if needed and needed not in self.scopes:
            body = {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(self.scopes)}
            return 200, body, headers
        wait = self._check_tiers(method, args)
        if wait is not None:
            return 429, {"ok": False, "error": "ratelimited"}, {**headers, "Retry-After": str(wait)}
        try:
            result = handler(args)
        except SlackError as exc:
            return 200, {"ok": False, "error": exc.error, **exc.extra}, headers
        return 200, {"ok": True, **result}, headers

    def _fault_response(self, fault: _Fault) -> tuple[int, dict[str, Any], dict[str, str]]:
        if fault.kind == "ratelimited":
            return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
        if fault.kind == "http":
            return fault.status, {"ok": False, "error": "fatal_error"}, {}
        return 200, {"ok": False, "error": fault.error}, {}

    # ------------------------------------------------------------------ methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"{self.base_url}/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = secrets.token_hex(16)
        self._socket_tickets.add(ticket)
        ws_base = "ws" + self.base_url.removeprefix("http")
        return {"url": f"{ws_base}/link/?ticket={ticket}&app_id={APP_ID}"}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._postable_channel(args.get("channel"), public_needs_membership=False)
        text = self._text_arg(args)
        blocks = self._blocks_arg(args, MAX_MESSAGE_BLOCKS)
        markdown_text = _as_str(args.get("markdown_text"))
        if markdown_text is not None:
            if text is not None or blocks is not None:
                raise SlackError("markdown_text_conflict")
            text = markdown_text
        if not (text and text.strip()) and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        message = Message(
            channel=channel.id,
            ts=self._next_ts(),
            text=text or "",
            blocks=blocks or [],
            thread_ts=_as_str(args.get("thread_ts")) or None,
            user=self.bot_user_id,
            files=[],
            edits=[],
        )
        self.messages.append(message)
        return {"channel": channel.id, "ts": message.ts, "message": self._message_json(message)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(args.get("channel"))
        message = self._find_message(channel.id, _as_str(args.get("ts")))
        if message is None:
            raise SlackError("message_not_found")
        if message.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        text = self._text_arg(args)
        blocks = self._blocks_arg(args, MAX_MESSAGE_BLOCKS)
        if not (text and text.strip()) and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        if blocks is not None:
            message.blocks = blocks
        elif text is not None:
            message.blocks = []  # Slack drops the old blocks when only text is sent
        if text is not None:
            message.text = text
        message.edits.append({"text": message.text, "blocks": list(message.blocks), "at": time.monotonic()})
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_json(message),
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(args.get("channel"))
        message = self._find_message(channel.id, _as_str(args.get("ts")))
        if message is None:
            raise SlackError("message_not_found")
        if message.user != self.bot_user_id:
            raise SlackError("cant_delete_message")
        message.deleted = True
        return {"channel": channel.id, "ts": message.ts}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(args.get("channel"))
        user = _as_str(args.get("user"))
        if not user:
            raise SlackError("user_not_in_channel")
        text = self._text_arg(args)
        blocks = self._blocks_arg(args, MAX_MESSAGE_BLOCKS)
        if not (text and text.strip()) and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        message_ts = self._next_ts()
        self.ephemerals.append(
            {
                "via": "chat.postEphemeral",
                "channel": channel.id,
                "user": user,
                "text": text or "",
                "blocks": blocks or [],
                "thread_ts": _as_str(args.get("thread_ts")),
                "message_ts": message_ts,
                "at": time.monotonic(),
            }
        )
        return {"message_ts": message_ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(args.get("channel"))
        message = self._find_message(channel.id, _as_str(args.get("message_ts")))
        if message is None:
            raise SlackError("message_not_found")
        permalink = f"{self.base_url}/archives/{channel.id}/p{message.ts.replace('.', '')}"
        if message.thread_ts and message.thread_ts != message.ts:
            permalink += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": permalink}

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(args.get("channel"))
        if channel.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        result: dict[str, Any] = {}
        if channel.is_member:
            result["warning"] = "already_in_channel"
            result["response_metadata"] = {"warnings": ["already_in_channel"]}
        channel.is_member = True
        return {"channel": self._channel_json(channel), **result}

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._visible_channel(args.get("channel"))
        needed = "im:read" if channel.is_im else "groups:read" if channel.is_private else "channels:read"
        if needed not in self.scopes:
            raise SlackError("missing_scope", needed=needed, provided=",".join(self.scopes))
        return {"channel": self._channel_json(channel)}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = self._visible_channel(args["channel"])
        else:
            users = [u for u in str(args.get("users") or "").split(",") if u]
            if not users:
                raise SlackError("users_list_not_supplied")
            if len(users) > 1:
                raise _invalid_args("the stand-in only opens 1:1 DMs")
            channel = self._open_im(users[0])
        if _truthy(args.get("return_im")):
            return {"channel": self._channel_json(channel)}
        return {"channel": {"id": channel.id}}

    # views ---------------------------------------------------------------

    def _validate_view(self, raw: Any, *, allowed_types: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise _invalid_args("must provide an object [json-pointer:/view]")
        if len(json.dumps(raw)) > MAX_VIEW_BYTES:
            raise SlackError("view_too_large")
        view_type = raw.get("type")
        if view_type not in allowed_types:
            raise _invalid_args(f"must be one of {', '.join(allowed_types)} [json-pointer:/view/type]")
        errors = self._block_errors(raw.get("blocks"), MAX_VIEW_BLOCKS, "/view/blocks")
        if view_type == "modal":
            if isinstance(raw.get("blocks"), list) and not raw["blocks"]:
                errors.append("must provide at least 1 item [json-pointer:/view/blocks]")
            errors.extend(_text_errors(raw.get("title"), "/view/title", max_len=24, plain_only=True))
            for key in ("submit", "close"):
                if key in raw:
                    errors.extend(_text_errors(raw[key], f"/view/{key}", max_len=24, plain_only=True))
            blocks = raw.get("blocks") if isinstance(raw.get("blocks"), list) else []
            has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
            if has_input and "submit" not in raw:
                errors.append("must provide submit when the view has input blocks [json-pointer:/view/submit]")
        metadata = raw.get("private_metadata")
        if metadata is not None and (not isinstance(metadata, str) or len(metadata) > 3000):
            errors.append("must be less than 3001 characters [json-pointer:/view/private_metadata]")
        for key in ("callback_id", "external_id"):
            value = raw.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > 255):
                errors.append(f"must be less than 256 characters [json-pointer:/view/{key}]")
        if errors:
            raise _invalid_args(*errors)
        return raw

    def _new_view(self, raw: dict[str, Any], *, view_id: str | None = None) -> dict[str, Any]:
        if view_id is None:
            self._seq += 1
            view_id = f"V0VIEW{self._seq:05d}"
        view = {
            "id": view_id,
            "team_id": self.team_id,
            "type": raw["type"],
            "blocks": raw.get("blocks", []),
            "private_metadata": raw.get("private_metadata", ""),
            "callback_id": raw.get("callback_id", ""),
            "external_id": raw.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(raw.get("clear_on_close", False)),
            "notify_on_close": bool(raw.get("notify_on_close", False)),
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "app_installed_team_id": self.team_id,
            "bot_id": BOT_ID,
        }
        for key in ("title", "submit", "close"):
            if key in raw:
                view[key] = raw[key]
        self.views[view_id] = view
        return view

    def _check_trigger(self, trigger: Any) -> str:
        if not isinstance(trigger, str) or not trigger:
            raise _invalid_args("missing required field: trigger_id")
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        issued = self._triggers.get(trigger)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        if time.monotonic() - issued > self.trigger_ttl:
            raise SlackError("expired_trigger_id")
        return trigger

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._check_trigger(args.get("trigger_id"))
        raw = self._validate_view(args.get("view"), allowed_types=("modal",))
        self._used_triggers.add(trigger)
        view = self._new_view(raw)
        self.views_opened.append(view)
        return {"view": view}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._check_trigger(args.get("trigger_id"))
        raw = self._validate_view(args.get("view"), allowed_types=("modal",))
        self._used_triggers.add(trigger)
        view = self._new_view(raw)
        self.views_pushed.append(view)
        return {"view": view}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        current: dict[str, Any] | None = None
        if args.get("view_id"):
            current = self.views.get(str(args["view_id"]))
        elif args.get("external_id"):
            current = next((v for v in self.views.values() if v["external_id"] == args["external_id"]), None)
        else:
            raise _invalid_args("must provide view_id or external_id")
        if current is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        raw = self._validate_view(args.get("view"), allowed_types=(current["type"],))
        view = self._new_view(raw, view_id=current["id"])
        self.views_updated.append(view)
        for user, published in self.views_published.items():
            if published["id"] == view["id"]:
                self.views_published[user] = view
        return {"view": view}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = _as_str(args.get("user_id"))
        if not user:
            raise _invalid_args("missing required field: user_id")
        current = self.views_published.get(user)
        if args.get("hash") and (current is None or args["hash"] != current["hash"]):
            raise SlackError("hash_conflict")
        raw = self._validate_view(args.get("view"), allowed_types=("home",))
        view = self._new_view(raw, view_id=current["id"] if current else None)
        self.views_published[user] = view
        return {"view": view}

    # files ---------------------------------------------------------------

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = _as_str(args.get("filename"))
        try:
            length = int(str(args.get("length")))
        except ValueError:
            length = -1
        if not filename or length < 0:
            raise _invalid_args("missing required field: filename/length")
        alt_txt = _as_str(args.get("alt_txt"))
        if alt_txt is not None and len(alt_txt) > MAX_ALT_TXT:
            raise SlackError("alt_txt_too_large")
        if length > MAX_UPLOAD_BYTES:
            raise SlackError("file_upload_size_restricted")
        upload_id = secrets.token_urlsafe(24)
        file_id = self._next_file_id()
        self._uploads[upload_id] = _PendingUpload(
            file_id=file_id,
            filename=filename,
            length=length,
            alt_txt=alt_txt,
            snippet_type=_as_str(args.get("snippet_type")),
        )
        return {"upload_url": f"{self.base_url}/upload/v1/{upload_id}", "file_id": file_id}

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise _invalid_args("must provide files as a JSON array of {id, title}")
        pending: list[tuple[str, _PendingUpload, str]] = []
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("id"):
                raise _invalid_args("each file needs an id")
            found = next(((k, u) for k, u in self._uploads.items() if u.file_id == entry["id"]), None)
            if found is None or found[1].data is None:
                raise SlackError("file_not_found")
            pending.append((found[0], found[1], _as_str(entry.get("title")) or found[1].filename))

        targets: list[str] = []
        if args.get("channel_id"):
            targets = [str(args["channel_id"])]
        elif args.get("channels"):
            raw_channels = args["channels"]
            targets = raw_channels if isinstance(raw_channels, list) else str(raw_channels).split(",")
            targets = [t.strip() for t in targets if t.strip()]
        thread_ts = _as_str(args.get("thread_ts")) or None
        if thread_ts and len(targets) > 1:
            raise _invalid_args("provide only one channel when using thread_ts")
        channels: list[Channel] = []
        for target in targets:
            if target[:1] in ("U", "W"):
                raise _invalid_args(f"{target} is a user id, not a channel id")
            channel = self._visible_channel(target)
            if not channel.is_member:
                # Unlike chat.postMessage, chat:write.public does not help here.
                raise SlackError("not_in_channel")
            channels.append(channel)
        initial_comment = _as_str(args.get("initial_comment")) or None
        blocks = None if initial_comment else self._blocks_arg(args, MAX_MESSAGE_BLOCKS)

        files: list[SlackFile] = []
        for upload_id, upload, title in pending:
            del self._uploads[upload_id]
            assert upload.data is not None
            mimetype = _sniff_mimetype(upload.data, upload.filename)
            file = SlackFile(
                id=upload.file_id,
                name=upload.filename,
                title=title,
                mimetype=mimetype,
                filetype=_filetype(mimetype)[0],
                data=upload.data,
                user=self.bot_user_id,
                channel=None,
                thread_ts=None,
                initial_comment=initial_comment,
                alt_txt=upload.alt_txt,
                base_url=self.base_url,
                team_id=self.team_id,
            )
            self.files[file.id] = file
            files.append(file)
        for channel in channels:
            message = Message(
                channel=channel.id,
                ts=self._next_ts(),
                text=initial_comment or "",
                blocks=blocks or [],
                thread_ts=thread_ts,
                user=self.bot_user_id,
                files=[f.id for f in files],
                edits=[],
            )
            self.messages.append(message)
            for file in files:
                file.channel, file.thread_ts, file.share_ts = channel.id, thread_ts, message.ts
        # As in Slack, the shares are not in this response yet; files.info has them.
        return {"files": [self.file_object(f.id, with_shares=False) for f in files]}

    def _files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = _as_str(args.get("file"))
        if not file_id or file_id not in self.files:
            raise SlackError("file_not_found")
        if self.files[file_id].deleted:
            raise SlackError("file_deleted")
        return {"file": self.file_object(file_id), "comments": [], "response_metadata": {"next_cursor": ""}}

    def _files_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """Files shared in a channel (or all), newest first, filtered by time and user like Slack's files.list."""
        channel = _as_str(args.get("channel"))
        user = _as_str(args.get("user"))
        ts_from = float(_as_str(args.get("ts_from")) or 0)
        ts_to = float(_as_str(args.get("ts_to")) or "inf")
        count = int(_as_str(args.get("count")) or 100)
        found = [
            f
            for f in self.files.values()
            if not f.deleted
            and (not channel or f.channel == channel)
            and (not user or f.user == user)
            and ts_from <= f.created <= ts_to
        ]
        found.sort(key=lambda f: f.created, reverse=True)
        files = [self.file_object(f.id) for f in found[:count]]
        paging = {"count": count, "total": len(found), "page": 1, "pages": 1}
        return {"files": files, "paging": paging}

    def _files_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = _as_str(args.get("file"))
        if not file_id:
            raise _invalid_args("missing required field: file")
        file = self.files.get(file_id)
        if file is None:
            raise SlackError("file_not_found")
        if file.deleted:
            raise SlackError("file_deleted")
        if file.user != self.bot_user_id:
            # A bot token may only delete the files its bot uploaded.
            raise SlackError("cant_delete_file")
        file.deleted = True
        # Slack removes a message that was nothing but the share of now-deleted files.
        for message in self.messages:
            if (
                file_id in message.files
                and not message.deleted
                and not message.text.strip()
                and not message.blocks
                and all(f not in self.files or self.files[f].deleted for f in message.files)
            ):
                message.deleted = True
        return {}

    # users ---------------------------------------------------------------

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = _as_str(args.get("user"))
        if not user_id:
            raise _invalid_args("missing required field: user")
        user = self.users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        return {"user": self.user_object(user_id, include_locale=_truthy(args.get("include_locale")))}

    def _files_upload_v1(self, args: dict[str, Any]) -> dict[str, Any]:
        # files.upload was retired; slack_sdk's files_upload_v2 does not use it.
        raise SlackError("method_deprecated")

    # ------------------------------------------------------------------ HTTP: other endpoints

    async def _handle_upload(self, request: web.Request) -> web.Response:
        upload = self._uploads.get(request.match_info["upload_id"])
        if upload is None:
            return web.Response(status=404, text="Not Found")
        fault = self._take_fault("upload")
        if fault is not None:
            status, _, headers = self._fault_response(fault)
            return web.Response(status=status, text="rate limited" if status == 429 else "error", headers=headers)
        if request.content_type == "multipart/form-data":
            form = await request.post()
            part = form.get("file") or next((v for v in form.values() if isinstance(v, web.FileField)), None)
            if isinstance(part, web.FileField):
                data = part.file.read()
            elif isinstance(part, str):
                data = part.encode()
            else:
                return web.Response(status=400, text="missing file")
        else:
            data = await request.read()
        if len(data) != upload.length:
            return web.Response(status=400, text=f"length mismatch: expected {upload.length}, got {len(data)}")
        upload.data = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        team_file = request.match_info["team_file"]
        file_id = team_file.split("-", 1)[-1]
        authorized = _bearer(request) == self.bot_token and "files:read" in self.scopes
        record: dict[str, Any] = {"path": request.path, "file_id": file_id, "at": time.monotonic()}
        self.downloads.append(record)
        if not authorized:
            # What Slack does for a missing/bad token or a token without files:read.
            record["status"] = 302
            location = f"{self.base_url}/?redir={quote(request.path_qs, safe='')}"
            raise web.HTTPFound(location, headers={"x-slack-meta": "acl_fail"})
        file = self.files.get(file_id)
        if file is None or file.deleted:
            record["status"] = 404
            return web.Response(status=404, text="<html><body>File not found</body></html>", content_type="text/html")
        record["status"] = 200
        disposition = "attachment" if "/download/" in request.path else "inline"
        return web.Response(
            body=file.data,
            content_type=file.mimetype,
            headers={"Content-Disposition": f'{disposition}; filename="{file.name}"'},
        )

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._socket_tickets:
            # Tickets are single use: a reconnect must call apps.connections.open again.
            return web.Response(status=401, text="invalid_ticket")
        self._socket_tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True, timeout=SOCKET_CLOSE_TIMEOUT)
        await ws.prepare(request)
        self.socket_connections += 1
        self._sockets.append(ws)
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "debug_info": {
                        "host": "applink-standin",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": APP_ID},
                }
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._receive_ack(msg.data)
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    def _receive_ack(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict) or "envelope_id" not in message:
            return
        self.socket_acks.append(message)
        waiter = self._pending_acks.get(str(message["envelope_id"]))
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    async def _deliver(self, envelope: dict[str, Any]) -> bool:
        """Send to the newest open connection; False if there is none (or it went away meanwhile)."""
        for ws in reversed(self._sockets):
            if ws.closed:
                continue
            try:
                await ws.send_json(envelope)
            except ConnectionError:
                continue
            return True
        return False

    async def _close_sockets(self, app: web.Application) -> None:
        self._socket_tickets.clear()
        sockets, self._sockets = self._sockets, []
        for ws in sockets:
            await ws.close(code=1001, message=b"server shutdown")
        for waiter in self._pending_acks.values():
            if not waiter.done():
                waiter.set_exception(AssertionError("the Slack stand-in stopped before the ack arrived"))

    async def _handle_stats(self, request: web.Request) -> web.Response:
        """Every Web API call (method, HTTP status, time on this machine's monotonic clock) and every file the bot
        shared, with the moment its share completed: what a benchmark in another process needs."""
        # [method, HTTP status, time, channel, ts]: enough to tell which message an edit was for.
        calls = [
            [call.method, call.status, call.at, _as_str(call.args.get("channel")), _as_str(call.args.get("ts"))]
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
        return web.json_response({"now": time.monotonic(), "calls": calls, "files": files, "edits": edits})

    async def _handle_response_urls(self, request: web.Request) -> web.Response:
        count = min(10_000, max(1, int(request.query.get("count", "1"))))
        return web.json_response({"response_urls": [self.response_url() for _ in range(count)]})

    async def _handle_login_page(self, request: web.Request) -> web.Response:
        return web.Response(text=LOGIN_PAGE, content_type="text/html")

    async def _handle_web_page(self, request: web.Request) -> web.Response:
        # Permalinks and other web pages need a browser session; an API client only ever sees the login page.
        if request.path.startswith(("/files/", "/archives/")):
            raise web.HTTPFound(f"{self.base_url}/?redir={quote(request.path_qs, safe='')}")
        return web.Response(status=404, text="Not Found")

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        hook = self._hooks.get(request.path)
        if hook is None:
            return web.Response(status=404, text="no_service")
        fault = self._take_fault("response_url")
        if fault is not None:
            status, _, headers = self._fault_response(fault)
            return web.Response(status=status, text="rate_limited" if status == 429 else "error", headers=headers)
        if time.monotonic() - hook.created > RESPONSE_URL_TTL:
            return web.Response(status=404, text="expired_url")
        if hook.uses >= RESPONSE_URL_MAX_USES:
            return web.Response(status=404, text="used_url")
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.Response(status=400, text="invalid_payload")
        delete = _truthy(body.get("delete_original"))
        raw_blocks = body.get("blocks")
        if raw_blocks is not None and self._block_errors(raw_blocks, MAX_MESSAGE_BLOCKS, "/blocks"):
            return web.Response(status=400, text="invalid_blocks")
        text = _as_str(body.get("text")) or ""
        if not delete and not text.strip() and not raw_blocks and not body.get("attachments"):
            return web.Response(status=400, text="no_text")
        hook.uses += 1
        entry = {**body, "response_url": hook.url, "json": body, "at": time.monotonic()}
        self.responses.append(entry)
        self._apply_response(hook, body, text, raw_blocks or [], delete)
        if not delete and body.get("response_type", "ephemeral") == "ephemeral":
            self.ephemerals.append({**entry, "via": "response_url"})
        return web.Response(text="ok", content_type="text/html")

    def _apply_response(
        self, hook: _ResponseHook, body: dict[str, Any], text: str, blocks: list[dict[str, Any]], delete: bool
    ) -> None:
        """Make response_url posts visible where Slack would, when the hook knows its channel/message."""
        original = self._find_message(hook.channel, hook.message_ts) if hook.channel and hook.message_ts else None
        if delete:
            if original is not None:
                original.deleted = True
            return
        if _truthy(body.get("replace_original")) and original is not None:
            original.text, original.blocks = text, blocks
            original.edits.append({"text": text, "blocks": list(blocks), "at": time.monotonic()})
            return
        if body.get("response_type") == "in_channel" and hook.channel:
            self.messages.append(
                Message(
                    channel=hook.channel,
                    ts=self._next_ts(),
                    text=text,
                    blocks=blocks,
                    thread_ts=_as_str(body.get("thread_ts")),
                    user=self.bot_user_id,
                    files=[],
                    edits=[],
                )
            )


def _short(args: dict[str, Any]) -> str:
    text = json.dumps(args, default=lambda v: f"<{type(v).__name__}>")
    return text if len(text) <= 160 else text[:157] + "..."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Slack Web API stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--chat-update-per-minute", type=int, default=None, help="enforce chat.update's tier (~50)")
    parser.add_argument("--post-per-second", type=float, default=None, help="enforce chat.postMessage per channel (~1)")
    parser.add_argument("--channels", type=int, default=0, help="add this many public channels the bot is in")
    options = parser.parse_args(argv)

    async def serve() -> None:
        stand_in = SlackStandIn()
        stand_in.enforce_tiers(options.chat_update_per_minute, options.post_per_second)
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


if __name__ == "__main__":
    main()

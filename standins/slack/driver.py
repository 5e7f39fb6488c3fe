"""A person in Slack, toward the app: :class:`SlackDriver`.

It does what a person does (types a slash command, picks a shortcut, presses a button, submits a form) and hands the
app what Slack would send for it, shaped by ``team``'s payload functions. Where the ids come from is a
:class:`Source` (the workspace in this process, or a stand-in in another one over its ``/standin/...`` routes); how
the request travels is a ``Send`` (signed HTTP to the Request URL, :func:`over_http`, or a Socket Mode envelope,
:func:`over_socket`). The tests, the sandbox and the benchmark all drive the app through it.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlencode

import aiohttp

from .events import sign
from .team import (
    Sender,
    Team,
    block_actions,
    command_form,
    event_callback,
    global_shortcut,
    interaction_fields,
    message_action,
    view_submission,
)

if TYPE_CHECKING:
    from .server import SlackStandIn

R = TypeVar("R")
TRIGGER_BATCH_AGE = 2.0  # seconds a batch of trigger ids fetched from another process is used for
Kind = Literal["slash_commands", "interactive", "events_api"]  # Socket Mode's envelope types


@dataclass(frozen=True)
class Delivery:
    """What Slack hands the app for one act: its kind and its payload."""

    kind: Kind
    payload: dict[str, Any]


@dataclass(frozen=True)
class SignedRequest:
    """A delivery as an HTTP request to the app's Request URL, signed as Slack signs
    (https://api.slack.com/authentication/verifying-requests-from-slack)."""

    url: str
    body: bytes
    headers: dict[str, str]


def encode(delivery: Delivery) -> tuple[bytes, str]:
    """The body and Content-Type Slack POSTs: a command's fields form-encoded, an interaction as one form field
    ``payload`` holding JSON, an event as JSON."""
    if delivery.kind == "slash_commands":
        return urlencode(delivery.payload).encode(), "application/x-www-form-urlencoded"
    if delivery.kind == "interactive":
        return urlencode({"payload": json.dumps(delivery.payload)}).encode(), "application/x-www-form-urlencoded"
    return json.dumps(delivery.payload).encode(), "application/json"


def signed(url: str, secret: str, body: bytes, content_type: str, **headers: str) -> SignedRequest:
    """``body`` POSTed to ``url`` with Slack's timestamp and signature headers (and any ``headers`` beside)."""
    timestamp = str(int(time.time()))
    signature = sign(secret, timestamp, body)
    base = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    return SignedRequest(url, body, {**base, **headers})


Post = Callable[[SignedRequest], Awaitable[R]]
Send = Callable[[Delivery], Awaitable[R]]


def over_http(url: str | Callable[[], str], secret: str, post: Post[R]) -> Send[R]:
    """Each delivery signed with ``secret`` and POSTed to ``url`` (the app's ``.../slack/events``, or a function
    naming it for each request, as a load balancer in front of several processes would) by ``post``, the caller's
    HTTP client (its answer is what the driver's methods return)."""

    async def send(delivery: Delivery) -> R:
        return await post(signed(url if isinstance(url, str) else url(), secret, *encode(delivery)))

    return send


def over_socket(slack: SlackStandIn) -> Send[dict[str, Any]]:
    """Each delivery as a Socket Mode envelope over the app's open connection; returns the app's ack."""

    async def send(delivery: Delivery) -> dict[str, Any]:
        return await slack.socket_send(delivery.kind, delivery.payload)

    return send


class Source(Protocol):
    """Where a person's names and Slack's fresh ids come from."""

    async def sender(self, user: str | None, channel: str | None) -> Sender: ...

    async def response_url(self, key: str, channel: str, message_ts: str | None = None) -> str: ...

    async def trigger_id(self) -> str: ...


class TeamSource:
    """A workspace of a stand-in in this process."""

    def __init__(self, team: Team) -> None:
        self.team = team

    async def sender(self, user: str | None, channel: str | None) -> Sender:
        return self.team.sender(user, channel)

    async def response_url(self, key: str, channel: str, message_ts: str | None = None) -> str:
        return self.team.response_url(key, channel=channel, message_ts=message_ts)

    async def trigger_id(self) -> str:
        return self.team.trigger_id()


class StandInSource:
    """A workspace of a Slack stand-in in another process, read over its ``/standin/...`` routes (not Slack's).
    Response URLs are fetched in batches, as they stay good for 30 minutes; trigger ids one at a time, as they
    last 3 s (https://api.slack.com/interactivity/handling#modal_responses): a batch is used for 2 s at most."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, team: str = "") -> None:
        self.http = http
        self.base_url = base_url
        self.team = team
        self._senders: dict[tuple[str, str], Sender] = {}
        self._response_urls: dict[str, list[str]] = {}
        self._trigger_ids: list[str] = []
        self._minted_at = 0.0

    async def _get(self, path: str, **params: str) -> Any:
        async with self.http.get(f"{self.base_url}{path}", params={"team": self.team, **params}) as response:
            response.raise_for_status()
            return await response.json()

    async def sender(self, user: str | None, channel: str | None) -> Sender:
        key = (user or "", channel or "")
        if key not in self._senders:
            self._senders[key] = Sender(**await self._get("/standin/sender", user=key[0], channel=key[1]))
        return self._senders[key]

    async def prepare(self, count: int, key: str = "commands") -> None:
        """Fetch ``count`` response URLs now, so that sending later asks the stand-in nothing."""
        minted = await self._get("/standin/response_urls", count=str(count), key=key)
        self._response_urls.setdefault(key, []).extend(minted["response_urls"])

    async def response_url(self, key: str, channel: str, message_ts: str | None = None) -> str:
        # Minted without a channel: the app's in_channel responses are not turned into messages here.
        if not self._response_urls.get(key):
            await self.prepare(100, key)
        return self._response_urls[key].pop()

    async def trigger_id(self) -> str:
        if not self._trigger_ids or time.monotonic() - self._minted_at > TRIGGER_BATCH_AGE:
            self._trigger_ids = (await self._get("/standin/trigger_ids", count="20"))["trigger_ids"]
            self._minted_at = time.monotonic()
        return str(self._trigger_ids.pop())


class SlackDriver(Generic[R]):
    """A person in one workspace acting toward the app: each method returns what ``send`` returns (the app's
    HTTP answer, or its Socket Mode ack)."""

    def __init__(self, source: Source, send: Send[R]) -> None:
        self.source = source
        self.send = send
        self._events = itertools.count(1)

    async def command(
        self, text: str, *, user: str | None = None, channel: str | None = None, command: str = "/banana"
    ) -> R:
        """``command text`` typed in ``channel``."""
        sender = await self.source.sender(user, channel)
        response_url = await self.source.response_url("commands", sender.channel_id)
        form = command_form(
            sender, text, command=command, response_url=response_url, trigger_id=await self.source.trigger_id()
        )
        return await self.send(Delivery("slash_commands", form))

    async def interaction(self, payload: dict[str, Any], *, user: str | None = None, channel: str | None = None) -> R:
        """``payload`` (type, callback_id, actions, view...) with the fields every interaction carries."""
        sender = await self.source.sender(user, channel)
        fields = interaction_fields(sender, await self.source.trigger_id())
        return await self.send(Delivery("interactive", {**fields, **payload}))

    async def message_shortcut(
        self,
        message: dict[str, Any],
        *,
        callback_id: str = "remix_message",
        user: str | None = None,
        channel: str | None = None,
    ) -> R:
        """The shortcut ``callback_id`` chosen from ``message``'s menu (``message`` as Slack shows it)."""
        sender = await self.source.sender(user, channel)
        response_url = await self.source.response_url("actions", sender.channel_id)
        payload = message_action(sender, message, callback_id=callback_id, response_url=response_url)
        return await self.interaction(payload, user=user, channel=channel)

    async def global_shortcut(self, callback_id: str, *, user: str | None = None) -> R:
        """The shortcut ``callback_id`` chosen from the shortcuts menu."""
        return await self.interaction(global_shortcut(callback_id), user=user)

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        message_ts: str | None = None,
        user: str | None = None,
        channel: str | None = None,
        view_id: str = "V0HOME",
    ) -> R:
        """A button pressed on the message ``message_ts`` or, without one, in the view ``view_id`` (the Home tab)."""
        sender = await self.source.sender(user, channel)
        action = {"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": "1"}
        response_url = None
        if message_ts is not None:
            response_url = await self.source.response_url("actions", sender.channel_id, message_ts)
        payload = block_actions(sender, action, message_ts=message_ts, response_url=response_url, view_id=view_id)
        return await self.interaction(payload, user=user, channel=channel)

    async def submit(self, view: dict[str, Any], *, user: str | None = None, **fields: Any) -> R:
        """The opened modal ``view`` submitted: ``fields`` (by block id) where the person typed or chose, the
        form's own values elsewhere."""
        return await self.interaction(view_submission(view, fields), user=user)

    async def event(self, event: dict[str, Any]) -> R:
        """An Events API callback around ``event``, as if it happened in this workspace."""
        sender = await self.source.sender(None, None)
        event_id = f"Ev0DRIVER{next(self._events):06d}{time.time_ns() % 10**9:09d}"
        return await self.send(Delivery("events_api", event_callback(sender, event, event_id)))

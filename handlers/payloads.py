"""What a listener reads from Slack's payloads, read once per payload kind: one typed `Request` (team, enterprise,
user, channel, thread, whether the channel is public) and the `Origin` a task records, built in one place. Also the
Bolt side of the engine: `services_of` (the engine from Bolt's context), `people_only` and `claims` (listener
middleware).

Not a listener: it registers nothing, and every listener module may import it (tests/test_layers.py).

The workspace is the one Bolt authorized the request for (`context.team_id`, read by Bolt from the payload's
`authorizations`, `team_id` or `team.id`); only when Bolt found none is the payload's own field read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

from bot.services import Services
from bot.services.people import from_a_person
from bot.services.privacy import public_in_command, public_in_event, public_in_interaction
from prompts.tasks import Origin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """Who asked, and where, as one payload says it."""

    team_id: str
    user_id: str
    enterprise_id: str | None = None
    channel_id: str | None = None  # None: the payload names no conversation (a form, the Home tab, a global shortcut)
    thread_ts: str | None = None  # the thread the payload is in, as Slack sent it
    message_ts: str | None = None  # the message an event or a message shortcut is about
    public_channel: bool | None = None  # of `channel_id` (bot.services.privacy): None when the payload does not say
    response_url: str | None = None
    trigger_id: str | None = None
    view_id: str | None = None

    @property
    def reply_thread(self) -> str | None:
        """The thread the message replies in; None for a message outside a thread, or a thread's first message."""
        return self.thread_ts if self.thread_ts and self.thread_ts != self.message_ts else None

    def origin(self, channel_id: str | None = None, *, thread_ts: str | None = None) -> Origin:
        """Where a task asked by this request comes from: this request's conversation, or `channel_id` (a task's,
        a form's choice), whose publicness the payload says nothing of unless it is this request's own."""
        channel = channel_id or self.channel_id or ""
        public = self.public_channel if channel == self.channel_id else public_in_interaction({}, channel)
        return Origin(
            team_id=self.team_id,
            channel_id=channel,
            user_id=self.user_id,
            response_url=self.response_url,
            thread_ts=thread_ts,
            view_id=self.view_id,
            public_channel=public,
        )


def _team(context: AsyncBoltContext, *fallbacks: object) -> str:
    found = context.team_id or next((f for f in fallbacks if f), "")
    return str(found)


def _enterprise(context: AsyncBoltContext, payload: Mapping[str, Any]) -> str | None:
    return context.enterprise_id or (payload.get("enterprise") or {}).get("id") or payload.get("enterprise_id")


def command_request(command: Mapping[str, Any], context: AsyncBoltContext) -> Request:
    """A slash command (https://api.slack.com/interactivity/slash-commands)."""
    return Request(
        team_id=_team(context, command.get("team_id")),
        enterprise_id=_enterprise(context, command),
        user_id=command["user_id"],
        channel_id=command.get("channel_id"),
        public_channel=public_in_command(command),
        response_url=command.get("response_url"),
        trigger_id=command.get("trigger_id"),
    )


def action_request(body: Mapping[str, Any], context: AsyncBoltContext) -> Request:
    """A button press (block_actions), on a message or in the Home tab, or a shortcut (a message's: it names its
    conversation and message; a global one: neither) (https://api.slack.com/reference/interaction-payloads)."""
    container = body.get("container") or {}
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    return Request(
        team_id=_team(context, (body.get("team") or {}).get("id")),
        enterprise_id=_enterprise(context, body),
        user_id=body["user"]["id"],
        channel_id=channel,
        thread_ts=message.get("thread_ts"),
        message_ts=message.get("ts"),
        public_channel=public_in_interaction(body, channel) if channel else None,
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
    )


shortcut_request = action_request  # a shortcut's payload has the same fields, where it has them


def view_request(body: Mapping[str, Any], view: Mapping[str, Any], context: AsyncBoltContext) -> Request:
    """A modal's submission (view_submission): no conversation of its own, the modal to report back in."""
    return Request(
        team_id=_team(context, (body.get("team") or {}).get("id"), view.get("team_id")),
        enterprise_id=_enterprise(context, body),
        user_id=body["user"]["id"],
        view_id=view.get("id"),
    )


def event_request(event: Mapping[str, Any], context: AsyncBoltContext) -> Request:
    """An Events API event (a message, a mention, the Home tab opened)."""
    return Request(
        team_id=_team(context, event.get("team")),
        enterprise_id=_enterprise(context, event),
        user_id=event.get("user") or "",
        channel_id=event.get("channel"),
        thread_ts=event.get("thread_ts"),
        message_ts=event.get("ts"),
        public_channel=public_in_event(event) if event.get("channel") else None,
    )


def services_of(context: AsyncBoltContext) -> Services:
    """The engine, as a listener gets it: put in every request's context by the app's middleware."""
    services = context["services"]
    assert isinstance(services, Services)
    return services


async def people_only(
    event: dict[str, Any], context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
) -> BoltResponse | None:
    """Bolt listener middleware (`app.event(..., middleware=[people_only])`): the listener hears only people
    (`bot.services.people.from_a_person`). Any other event is answered 200 and dropped here, quietly: nothing stored,
    nothing said (answering a bot could loop)."""
    if from_a_person(event, context.bot_user_id):
        await next()
        return None
    log.debug("ignored a %s that no person wrote (subtype %s)", event.get("type"), event.get("subtype"))
    return BoltResponse(status=200, body="")


# Whether a listener has started on a request, for the catch-alls that answer stale buttons, shortcuts and forms
# (handlers/actions.py `register_stale`). Bolt 1.30 has no public hook that runs when a listener starts: its
# `AsyncListenerStartHandler` is fixed when AsyncApp builds its listener runner and AsyncApp takes none. So each
# button, shortcut and form listener carries `claims` as listener middleware (public: `middleware=[...]`, run only
# once the listener matched, just before it), and the catch-alls match only `unclaimed` requests.
CLAIMED = "banana_claimed"


async def claims(context: AsyncBoltContext, next: Callable[[], Awaitable[None]]) -> None:
    context[CLAIMED] = True
    await next()


async def unclaimed(context: AsyncBoltContext) -> bool:
    return not context.get(CLAIMED)

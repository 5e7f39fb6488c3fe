"""A workspace with the Web API families that act on it: :class:`Team`.

Each workspace of the stand-in is a ``Team``: its own chat, conversations, views, files and users families (so its
response URLs, trigger ids and upload URLs are its own), its own rate-limit counters and injected faults (Slack
counts "per app per workspace", https://api.slack.com/apis/rate-limits), and the helpers tests use to act in it as
its people (post, edit, upload, open the Home tab) and to build what Slack sends the app from it (slash commands,
interactions). ``server.SlackStandIn`` is the default workspace's ``Team`` plus everything app-wide.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .chat import ChatAPI
from .conversations import ConversationsAPI, is_mpim
from .core import APP_ID, AppBot, Channel, Handler, Message, SlackFile, SlackUser, Workspace
from .events import VERIFICATION_TOKEN, EventsAPI
from .files import FilesAPI, file_object
from .limits import Limits
from .users import UsersAPI, user_object
from .views import ViewsAPI


class Team(Workspace):
    """One workspace and the Web API families acting on it; see ``core.Workspace`` for its state and arguments."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.limits = Limits()
        self.chat_api = ChatAPI(self, self.limits)
        self.conversations_api = ConversationsAPI(self)
        self.views_api = ViewsAPI(self)
        self.files_api = FilesAPI(self, self.limits)
        self.users_api = UsersAPI(self)
        # The Web API methods a token of this workspace reaches (the server adds auth.*, oauth.* and Socket Mode's).
        self.methods: dict[str, Handler] = {
            **self.chat_api.methods(),
            **self.conversations_api.methods(),
            **self.views_api.methods(),
            **self.files_api.methods(),
            **self.users_api.methods(),
        }
        self.events_api: EventsAPI | None = None  # the app's, set when the stand-in takes the workspace in

    def _events(self) -> EventsAPI:
        if self.events_api is None:
            raise RuntimeError("this workspace is not part of a SlackStandIn (use SlackStandIn.add_workspace)")
        return self.events_api

    # ------------------------------------------------------------------ people acting in the workspace

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The events made so far from this workspace (the ``event`` of each callback), of one type if given
        ("app_mention", "message", or "message/message_changed" for a subtype)."""
        return events_of(self._events().callbacks, event_type, self.team_id)

    # The timeout argument is part of the interface the app's tests use, hence the noqa.
    async def events_delivered(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every event so far (of every workspace) was delivered (acked with a 2xx, or given up on after
        the retries). Raises AssertionError, with the last attempts, if that takes longer than ``timeout``."""
        await self._events().delivered(timeout)

    async def post_as_user(
        self,
        channel: str,
        text: str,
        *,
        user: str | None = None,
        thread_ts: str | None = None,
        files: Sequence[SlackFile] = (),
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        """A person (by default the workspace's ``user_id``) posts ``text`` (with ``files`` they uploaded, from
        ``add_file`` without a channel, shared here); returns the message once its events were delivered (see
        ``events_delivered``)."""
        message = self.add_message(channel, text, user=user, thread_ts=thread_ts, files=[f.id for f in files])
        for file in files:
            file.channel, file.thread_ts, file.share_ts = channel, thread_ts, message.ts
        await self._events().delivered(timeout, (channel, message.ts))
        return message

    async def dm_as_user(
        self,
        text: str,
        *,
        user: str | None = None,
        thread_ts: str | None = None,
        files: Sequence[SlackFile] = (),
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        """A person (by default the workspace's ``user_id``) writes to the app in their DM with it, its Messages tab:
        ``post_as_user`` there, so the app gets message.im (``channel_type: "im"``,
        https://docs.slack.dev/reference/events/message.im), with ``files`` as file_share, when it subscribes and
        holds im:history. People can write there only while the app's Messages tab is on
        (features.app_home.messages_tab_enabled, https://docs.slack.dev/reference/app-manifest)."""
        if not self.messages_tab_enabled:
            raise ValueError("the app's Messages tab is off: nobody can write to it")
        channel = self.open_im(user or self.user_id).id
        return await self.post_as_user(channel, text, user=user, thread_ts=thread_ts, files=files, timeout=timeout)

    def add_app_bot(self, name: str, *, integration: bool = False) -> AppBot:
        """Another app installed here, with a bot user of its own; with ``integration``, a classic integration,
        incoming webhook or workflow instead, which posts with no user (``bot_message``)."""
        seq = self.next_seq()
        if integration:
            return AppBot(bot_id=f"B0INT{seq:05d}", name=name)
        user_id = f"U0APP{seq:05d}"
        self.users[user_id] = SlackUser(id=user_id, name=name, real_name=name, is_bot=True)
        return AppBot(bot_id=f"B0APP{seq:05d}", name=name, app_id=f"A0APP{seq:05d}", user_id=user_id)

    async def post_as_bot(
        self,
        bot: AppBot,
        channel: str,
        text: str,
        *,
        thread_ts: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        """``bot`` (from ``add_app_bot``) posts ``text`` through chat.postMessage with its own token: no
        client_msg_id, as for every API post. Returns the message once its events were delivered."""
        message = Message(
            channel=channel,
            ts=self.next_ts(),
            text=text,
            blocks=[],
            thread_ts=thread_ts,
            user=bot.user_id or "",
            files=[],
            edits=[],
            app_bot=bot,
        )
        self.messages.append(message)
        self.message_posted(message)
        await self._events().delivered(timeout, (channel, message.ts))
        return message

    async def edit_as_user(self, channel: str, ts: str, text: str, *, timeout: float = 5.0) -> Message:  # noqa: ASYNC109
        """``edit_message``, then wait until its events (message_changed if the app subscribes, and app_mention again
        if the new text mentions the bot) were delivered."""
        message = self.edit_message(channel, ts, text)
        await self._events().delivered(timeout, (channel, ts))
        return message

    async def open_app_home(self, user: str | None = None, *, tab: str = "home", timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """``user`` (by default the workspace's ``user_id``) opens the app's Home (or "messages") tab:
        app_home_opened, once delivered."""
        self._events().app_home_opened(self, user or self.user_id, tab)
        await self._events().delivered(timeout)

    def add_file(
        self,
        data: bytes,
        name: str,
        mimetype: str,
        *,
        user: str | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
        text: str = "",
    ) -> SlackFile:
        """A file uploaded by a user (by default the workspace's ``user_id``). With ``channel`` it is also shared
        there in a message by that user."""
        return self.files_api.add_file(data, name, mimetype, user=user, channel=channel, thread_ts=thread_ts, text=text)

    def add_remote_file(
        self, external_url: str, title: str, *, filetype: str | None = None, external_id: str | None = None
    ) -> SlackFile:
        """A remote file another app added (files.remote.add): a link to ``external_url``, anywhere, shared nowhere
        yet. Share it in a message as any file: ``post_as_user(..., files=[it])``."""
        return self.files_api.add_remote(external_url, title, filetype=filetype, external_id=external_id)

    # ------------------------------------------------------------------ what Slack hands the app from here

    def response_url(self, key: str = "commands", *, channel: str | None = None, message_ts: str | None = None) -> str:
        """A fresh response URL like https://hooks.slack.com/commands/T/123/abc.

        ``key`` is the first path segment ("commands" for slash commands, "actions" for interactions). Give
        ``channel`` so in_channel responses become messages, and ``message_ts`` so replace_original/delete_original
        act on that message.
        """
        return self.chat_api.response_url(key, channel=channel, message_ts=message_ts)

    def trigger_id(self) -> str:
        """A fresh trigger id, valid for ``trigger_ttl`` seconds (3 s) and usable once, in this workspace only."""
        return self.views_api.trigger_id()

    def sender(self, user: str | None = None, channel: str | None = None) -> Sender:
        """``user`` (by default the workspace's ``user_id``) in ``channel`` (by default its general channel), named
        as Slack names them in what it sends the app."""
        user = user or self.user_id
        channel = channel or self.general_channel
        return Sender(
            team_id=self.team_id,
            domain=self.domain,
            user_id=user,
            user_name=self.users[user].name if user in self.users else "someone",
            channel_id=channel,
            channel_name=conversation_name(self.channels.get(channel)),
            bot_user_id=self.bot_user_id,
            enterprise_id=self.enterprise_id,
            enterprise_name=self.enterprise_name or "",
            org_installed=self.org_installed,
        )

    def command_payload(
        self,
        text: str,
        *,
        command: str = "/banana",
        user: str | None = None,
        channel: str | None = None,
    ) -> dict[str, str]:
        """:func:`command_form` typed here, with a fresh response_url and trigger_id."""
        sender = self.sender(user, channel)
        response_url = self.response_url(channel=sender.channel_id)
        return command_form(sender, text, command=command, response_url=response_url, trigger_id=self.trigger_id())

    def message_payload(self, message: Message) -> dict[str, Any]:
        """``message`` as a message shortcut's payload carries it: type, user, ts, text, its files, its thread
        (https://api.slack.com/reference/interaction-payloads/shortcuts#message_actions)."""
        payload: dict[str, Any] = {"type": "message", "user": message.user, "ts": message.ts, "text": message.text}
        if message.files:
            payload["files"] = [self.file_object(file_id) for file_id in message.files]
        if message.thread_ts:
            payload["thread_ts"] = message.thread_ts
        return payload

    def channel_field(self, channel: str) -> dict[str, str]:
        """The ``channel`` an interaction from a conversation carries (a button on a message, a message shortcut):
        its id, and its name as :func:`conversation_name` gives it
        (https://api.slack.com/reference/interaction-payloads/block-actions-payload)."""
        return {"id": channel, "name": conversation_name(self.channels.get(channel))}

    def interaction_payload(self, payload: dict[str, Any], *, user: str | None = None) -> dict[str, Any]:
        """``payload`` (type, actions, view...) with :func:`interaction_fields` from here and a fresh trigger_id.
        Slack form-encodes it as ``payload=<json>`` (:meth:`interaction_form`)."""
        return {**interaction_fields(self.sender(user), self.trigger_id()), **payload}

    def interaction_form(self, payload: dict[str, Any], *, user: str | None = None) -> dict[str, str]:
        """:meth:`interaction_payload` as Slack POSTs it: one form field, ``payload``, holding the JSON."""
        return {"payload": json.dumps(self.interaction_payload(payload, user=user))}

    # ------------------------------------------------------------------ reading back

    def user_object(self, user_id: str, *, include_locale: bool = False) -> dict[str, Any]:
        """The user as users.info returns it."""
        return user_object(self, user_id, include_locale=include_locale)

    def file_object(self, file_id: str, *, with_shares: bool = True) -> dict[str, Any]:
        return file_object(self, file_id, with_shares=with_shares)

    def _validate_view(self, raw: Any, *, allowed_types: tuple[str, ...]) -> dict[str, Any]:
        # tests/test_studio.py checks the app's views with this, as Slack would before showing them.
        return self.views_api.validate_view(raw, allowed_types=allowed_types)

    # ------------------------------------------------------------------ fault injection (this workspace's calls)

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` get HTTP 429. ``method`` may also be "upload" or "response_url"."""
        self.limits.rate_limit(method, times=times, retry_after=retry_after)

    def fail_next(self, method: str, error: str, *, times: int = 1) -> None:
        self.limits.fail_next(method, error, times=times)

    def server_error(self, method: str, *, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls get an HTTP 5xx (what AsyncServerErrorRetryHandler retries)."""
        self.limits.server_error(method, status=status, times=times)

    def drop_answer(self, method: str, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` take effect, but their connection closes before the answer."""
        self.limits.drop_answer(method, times=times)


@dataclass(frozen=True)
class Sender:
    """Who does something in Slack and where, as Slack's payloads name them (``Team.sender``; another process
    reads it from the stand-in's ``/standin/sender``)."""

    team_id: str
    domain: str
    user_id: str
    user_name: str
    channel_id: str
    channel_name: str  # conversation_name's
    bot_user_id: str
    enterprise_id: str | None = None
    enterprise_name: str = ""
    org_installed: bool = False


# ---------------------------------------------------------------------- what Slack sends the app, by kind


def command_form(sender: Sender, text: str, *, command: str, response_url: str, trigger_id: str) -> dict[str, str]:
    """The form fields Slack POSTs for a slash command
    (https://api.slack.com/interactivity/slash-commands#app_command_handling). In a workspace of an Enterprise Grid
    org it names the org too, and ``is_enterprise_install`` says whether the app is installed org-wide."""
    form = {"token": VERIFICATION_TOKEN, "team_id": sender.team_id, "team_domain": sender.domain}
    if sender.enterprise_id is not None:
        form["enterprise_id"] = sender.enterprise_id
        form["enterprise_name"] = sender.enterprise_name
    return {
        **form,
        "channel_id": sender.channel_id,
        "channel_name": sender.channel_name,
        "user_id": sender.user_id,
        "user_name": sender.user_name,
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "true" if sender.org_installed else "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def interaction_fields(sender: Sender, trigger_id: str) -> dict[str, Any]:
    """The fields every interaction carries: team, user, enterprise, is_enterprise_install, api_app_id, token and
    the trigger_id (https://api.slack.com/reference/interaction-payloads)."""
    team: dict[str, Any] = {"id": sender.team_id, "domain": sender.domain}
    enterprise = None
    if sender.enterprise_id is not None:
        team["enterprise_id"] = sender.enterprise_id
        team["enterprise_name"] = sender.enterprise_name
        enterprise = {"id": sender.enterprise_id, "name": sender.enterprise_name}
    user = {"id": sender.user_id, "username": sender.user_name, "name": sender.user_name, "team_id": sender.team_id}
    return {
        "team": team,
        "enterprise": enterprise,
        "user": user,
        "api_app_id": APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "is_enterprise_install": sender.org_installed,
    }


def message_action(sender: Sender, message: dict[str, Any], *, callback_id: str, response_url: str) -> dict[str, Any]:
    """A message shortcut chosen from a message's menu
    (https://api.slack.com/reference/interaction-payloads/shortcuts#message_actions)."""
    return {
        "type": "message_action",
        "callback_id": callback_id,
        "channel": {"id": sender.channel_id, "name": sender.channel_name},
        "message": message,
        "message_ts": message["ts"],
        "action_ts": f"{time.time():.6f}",
        "response_url": response_url,
    }


def global_shortcut(callback_id: str) -> dict[str, Any]:
    """A global shortcut, from the shortcuts menu (https://api.slack.com/reference/interaction-payloads/shortcuts)."""
    return {"type": "shortcut", "callback_id": callback_id, "action_ts": f"{time.time():.6f}"}


def block_actions(
    sender: Sender, action: dict[str, Any], *, message_ts: str | None, response_url: str | None, view_id: str = ""
) -> dict[str, Any]:
    """``action`` pressed on a message (``message_ts``) or, without one, in a view such as the Home tab
    (https://api.slack.com/reference/interaction-payloads/block-actions-payload)."""
    payload: dict[str, Any] = {"type": "block_actions", "actions": [action]}
    if message_ts is None:
        payload["container"] = {"type": "view", "view_id": view_id}
        payload["view"] = {"id": view_id, "type": "home", "blocks": []}
        return payload
    payload["container"] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": sender.channel_id,
        "is_ephemeral": False,
    }
    payload["channel"] = {"id": sender.channel_id, "name": sender.channel_name}
    payload["message"] = {"ts": message_ts, "type": "message"}
    payload["response_url"] = response_url
    return payload


def view_submission(view: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A modal submitted as a person would: each input left as the form set it, except ``fields`` (by block id:
    a text, a select's value, a conversation id, a list of file objects, the values of boxes to tick)
    (https://api.slack.com/reference/interaction-payloads/views#view_submission)."""
    values: dict[str, dict[str, Any]] = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        element, given = block["element"], fields.get(block["block_id"])
        kind = element["type"]
        if kind == "plain_text_input":
            state: dict[str, Any] = {"value": given if given is not None else element.get("initial_value")}
        elif kind == "static_select":
            state = {"selected_option": element.get("initial_option") if given is None else {"value": given}}
        elif kind == "conversations_select":
            state = {"selected_conversation": given or element.get("initial_conversation")}
        # Multi-selects carry a list of ids (https://api.slack.com/reference/block-kit/block-elements#conversation_multi_select,
        # https://api.slack.com/reference/block-kit/block-elements#users_multi_select).
        elif kind == "multi_conversations_select":
            state = {"selected_conversations": element.get("initial_conversations", []) if given is None else given}
        elif kind == "multi_users_select":
            state = {"selected_users": element.get("initial_users", []) if given is None else given}
        elif kind == "file_input":
            state = {"files": given or []}
        # Ticked boxes carry their whole options (https://docs.slack.dev/reference/block-kit/block-elements/checkboxes-element);
        # ``given`` is a list of the values to tick.
        elif kind == "checkboxes":
            options = element.get("options", [])
            chosen = (
                element.get("initial_options", []) if given is None else [o for o in options if o["value"] in given]
            )
            state = {"selected_options": chosen}
        else:
            raise ValueError(f"unexpected input element {kind}")
        values[block["block_id"]] = {element["action_id"]: {"type": kind, **state}}
    return {"type": "view_submission", "view": {**view, "state": {"values": values}}, "response_urls": []}


def event_callback(sender: Sender, event: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An Events API callback around ``event`` from the sender's workspace, with the installation it is for in
    ``authorizations`` (https://api.slack.com/apis/events-api#callback-field)."""
    body: dict[str, Any] = {"token": VERIFICATION_TOKEN, "team_id": sender.team_id, "api_app_id": APP_ID}
    if sender.enterprise_id is not None:
        body["enterprise_id"] = sender.enterprise_id
    authorization = {
        "enterprise_id": sender.enterprise_id,
        "team_id": sender.team_id,
        "user_id": sender.bot_user_id,
        "is_bot": True,
        "is_enterprise_install": sender.org_installed,
    }
    return {
        **body,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [authorization],
    }


def conversation_name(channel: Channel | None) -> str:
    """A conversation as slash commands (``channel_name``) and interactions (``channel.name``) name it: a public
    channel by its name, a private channel ``privategroup``, a DM ``directmessage``, a group DM by its ``mpdm-…`` name.
    That is what Slack sends; its page (https://api.slack.com/interactivity/slash-commands) shows only a public
    channel's name. A conversation the workspace does not know is taken as a private channel."""
    if channel is None:
        return "privategroup"
    if channel.is_im:
        return "directmessage"
    if is_mpim(channel) or not channel.is_private:
        return channel.name
    return "privategroup"


def events_of(callbacks: list[dict[str, Any]], event_type: str | None, team_id: str | None) -> list[dict[str, Any]]:
    """The ``event`` of each callback (of one workspace if ``team_id``), of one type if given."""
    found = []
    for body in callbacks:
        if team_id is not None and body["team_id"] != team_id:
            continue
        event = body["event"]
        full_type = event["type"] + (f"/{event['subtype']}" if event.get("subtype") else "")
        if event_type in (None, event["type"], full_type):
            found.append(event)
    return found

"""Messages: chat.postMessage, chat.update, chat.delete, chat.postEphemeral, chat.getPermalink, and response_url
(what Bolt's ``respond()`` posts to through ``AsyncWebhookClient``: JSON, at most 5 uses within 30 minutes).

Each method follows its page, https://api.slack.com/methods/<method> (arguments, errors); the scopes and tiers are
in ``server.METHOD_SCOPES`` and ``limits.METHOD_TIERS``, the Block Kit checks in ``blocks``.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .blocks import MAX_MESSAGE_BLOCKS, block_errors, blocks_arg, text_arg
from .core import (
    APP_ID,
    Channel,
    Handler,
    Message,
    SlackError,
    Workspace,
    as_str,
    snapshot,
    truthy,
    ts_arg,
)
from .files import file_object
from .limits import Limits, fault_response

# "up to 5 times within 30 minutes": https://api.slack.com/interactivity/handling#message_responses
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL = 30 * 60.0


@dataclass
class _ResponseHook:
    url: str
    created: float
    channel: str | None
    message_ts: str | None
    uses: int = 0


def message_json(ws: Workspace, message: Message) -> dict[str, Any]:
    """The message as chat.postMessage and chat.update return it."""
    obj: dict[str, Any] = {
        "type": "message",
        "user": message.user,
        "text": message.text,
        "ts": message.ts,
        "team": ws.team_id,
    }
    if message.user == ws.bot_user_id:
        obj.update(bot_id=ws.bot_id, app_id=APP_ID)
    if message.blocks:
        obj["blocks"] = message.blocks
    if message.thread_ts:
        obj["thread_ts"] = message.thread_ts
        parent = ws.find_message(message.channel, message.thread_ts)
        if parent is not None and parent.ts != message.ts:
            obj["parent_user_id"] = parent.user
    if message.files:
        # A deleted file stays in the message as a tombstone, as in Slack.
        obj["files"] = [
            {"id": f, "mode": "tombstone"} if ws.files[f].deleted else file_object(ws, f)
            for f in message.files
            if f in ws.files
        ]
        obj["upload"] = True
    if message.edits:
        obj["edited"] = {"user": message.user, "ts": ws.next_ts()}
    return obj


class ChatAPI:
    def __init__(self, ws: Workspace, limits: Limits) -> None:
        self.ws = ws
        self.limits = limits
        self._hooks: dict[str, _ResponseHook] = {}  # response_url path -> hook

    def methods(self) -> dict[str, Handler]:
        return {
            "chat.postMessage": self.post_message,
            "chat.update": self.update,
            "chat.delete": self.delete,
            "chat.postEphemeral": self.post_ephemeral,
            "chat.getPermalink": self.get_permalink,
        }

    def response_url(self, key: str = "commands", *, channel: str | None = None, message_ts: str | None = None) -> str:
        """A fresh response URL like https://hooks.slack.com/commands/T/123/abc.

        ``key`` is the first path segment ("commands" for slash commands, "actions" for interactions). Give
        ``channel`` so in_channel responses become messages, and ``message_ts`` so replace_original/delete_original
        act on that message.
        """
        ws = self.ws
        ws.require_started()
        if not key or "/" in key or key == "api":
            raise ValueError(f"bad response_url key {key!r}")
        path = f"/{key}/{ws.team_id}/{1_000_000_000 + ws.next_seq()}/{secrets.token_urlsafe(18)}"
        url = ws.base_url + path
        self._hooks[path] = _ResponseHook(url=url, created=time.monotonic(), channel=channel, message_ts=message_ts)
        return url

    # ------------------------------------------------------------------ methods

    def post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/chat.postMessage : channel_not_found, not_in_channel (without
        # chat:write.public), messages_tab_disabled, no_text, invalid_blocks(_format), markdown_text_conflict.
        ws = self.ws
        channel = ws.postable_channel(args.get("channel"), public_needs_membership=False)
        raw_thread_ts = args.get("thread_ts")
        text = text_arg(args)
        blocks = blocks_arg(args, MAX_MESSAGE_BLOCKS, ws.files)
        markdown_text = as_str(args.get("markdown_text"))
        if markdown_text is not None:
            if text is not None or blocks is not None:
                raise SlackError("markdown_text_conflict")
            text = markdown_text
        if not (text and text.strip()) and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        message = Message(
            channel=channel.id,
            ts=ws.next_ts(),
            text=text or "",
            blocks=blocks or [],
            thread_ts=as_str(raw_thread_ts) or None,
            user=ws.bot_user_id,
            files=[],
            edits=[],
            # thread_ts is a string (https://api.slack.com/methods/chat.postMessage#arg_thread_ts); a JSON number is
            # answered ok, but the message appears nowhere (python-slack-sdk#840, node-slack-sdk#780).
            lost=raw_thread_ts is not None and not isinstance(raw_thread_ts, str),
        )
        ws.messages.append(message)
        ws.message_posted(message)  # the Events API hears of it too (events.py)
        return {"channel": channel.id, "ts": message.ts, "message": message_json(ws, message)}

    def _own_message(self, args: dict[str, Any], *, not_mine: str) -> tuple[Channel, Message]:
        """The message `channel` and `ts` name, which the bot may change only if it posted it."""
        channel = self.ws.visible_channel(args.get("channel"))
        message = self.ws.find_message(channel.id, ts_arg(args.get("ts")))
        if message is None:
            raise SlackError("message_not_found")
        if message.user != self.ws.bot_user_id:
            raise SlackError(not_mine)
        return channel, message

    def update(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/chat.update : the channel's id (a DM's D..., not a user id), ts as a string;
        # message_not_found, cant_update_message (not the bot's), no_text, and text alone drops the blocks.
        ws = self.ws
        channel, message = self._own_message(args, not_mine="cant_update_message")
        text = text_arg(args)
        blocks = blocks_arg(args, MAX_MESSAGE_BLOCKS, ws.files)
        if not (text and text.strip()) and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        before = snapshot(message)
        if blocks is not None:
            message.blocks = blocks
        elif text is not None:
            message.blocks = []  # Slack drops the old blocks when only text is sent
        if text is not None:
            message.text = text
        message.edits.append({"text": message.text, "blocks": list(message.blocks), "at": time.monotonic()})
        ws.message_changed(before, message)
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": message_json(ws, message),
        }

    def delete(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/chat.delete : message_not_found, cant_delete_message (not the bot's).
        channel, message = self._own_message(args, not_mine="cant_delete_message")
        message.deleted = True
        self.ws.message_deleted(message)
        return {"channel": channel.id, "ts": message.ts}

    def post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/chat.postEphemeral : like chat.postMessage for the channel (not_in_channel,
        # messages_tab_disabled), and user_not_in_channel for someone who is not there (here: not in the workspace,
        # or a private channel's non-member; the stand-in does not track who is in public channels).
        ws = self.ws
        channel = ws.postable_channel(args.get("channel"), public_needs_membership=False)
        user = as_str(args.get("user"))
        if not user or user not in ws.users or ws.users[user].deleted:
            raise SlackError("user_not_in_channel")
        if channel.is_im and channel.user != user:
            raise SlackError("user_not_in_channel")
        text = text_arg(args)
        blocks = blocks_arg(args, MAX_MESSAGE_BLOCKS, ws.files)
        if not (text and text.strip()) and not blocks and not args.get("attachments"):
            raise SlackError("no_text")
        message_ts = ws.next_ts()
        ws.ephemerals.append(
            {
                "via": "chat.postEphemeral",
                "channel": channel.id,
                "user": user,
                "text": text or "",
                "blocks": blocks or [],
                "thread_ts": as_str(args.get("thread_ts")),
                "message_ts": message_ts,
                "at": time.monotonic(),
            }
        )
        return {"message_ts": message_ts}

    def get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/chat.getPermalink : no scope; channel_not_found, message_not_found.
        ws = self.ws
        channel = ws.visible_channel(args.get("channel"))
        message = ws.find_message(channel.id, ts_arg(args.get("message_ts")))
        if message is None:
            raise SlackError("message_not_found")
        permalink = f"{ws.base_url}/archives/{channel.id}/p{message.ts.replace('.', '')}"
        if message.thread_ts and message.thread_ts != message.ts:
            permalink += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": permalink}

    # ------------------------------------------------------------------ HTTP: response_url

    async def handle_response_url(self, request: web.Request) -> web.Response:
        """A POST to a response_url: https://api.slack.com/interactivity/handling#message_responses (5 uses in 30
        minutes, response_type ephemeral by default, replace_original/delete_original) and Block Kit's limits."""
        ws = self.ws
        hook = self._hooks.get(request.path)
        if hook is None:
            return web.Response(status=404, text="no_service")
        fault = self.limits.take_fault("response_url")
        if fault is not None:
            status, _, headers = fault_response(fault)
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
        delete = truthy(body.get("delete_original"))
        raw_blocks = body.get("blocks")
        if raw_blocks is not None and block_errors(raw_blocks, MAX_MESSAGE_BLOCKS, "/blocks", ws.files):
            return web.Response(status=400, text="invalid_blocks")
        text = as_str(body.get("text")) or ""
        if not delete and not text.strip() and not raw_blocks and not body.get("attachments"):
            return web.Response(status=400, text="no_text")
        hook.uses += 1
        entry = {**body, "response_url": hook.url, "json": body, "at": time.monotonic()}
        ws.responses.append(entry)
        self._apply_response(hook, body, text, raw_blocks or [], delete)
        if not delete and body.get("response_type", "ephemeral") == "ephemeral":
            ws.ephemerals.append({**entry, "via": "response_url"})
        return web.Response(text="ok", content_type="text/html")

    def _apply_response(
        self, hook: _ResponseHook, body: dict[str, Any], text: str, blocks: list[dict[str, Any]], delete: bool
    ) -> None:
        """Make response_url posts visible where Slack would, when the hook knows its channel/message."""
        ws = self.ws
        original = ws.find_message(hook.channel, hook.message_ts) if hook.channel and hook.message_ts else None
        if delete:
            if original is not None:
                original.deleted = True
                ws.message_deleted(original)
            return
        if truthy(body.get("replace_original")) and original is not None:
            before = snapshot(original)
            original.text, original.blocks = text, blocks
            original.edits.append({"text": text, "blocks": list(blocks), "at": time.monotonic()})
            ws.message_changed(before, original)
            return
        if body.get("response_type") == "in_channel" and hook.channel:
            message = Message(
                channel=hook.channel,
                ts=ws.next_ts(),
                text=text,
                blocks=blocks,
                thread_ts=as_str(body.get("thread_ts")),
                user=ws.bot_user_id,
                files=[],
                edits=[],
            )
            ws.messages.append(message)
            ws.message_posted(message)

"""conversations.join, conversations.info and conversations.open, and the channel object Slack returns.

Kinds of conversation, as the workspace models them: public channels (the bot may be in them or not), private
channels, IMs (``D…`` ids; the bot is in its own DMs only) and group DMs (MPIMs: private, named ``mpdm-…`` as Slack
names them). Private channels, IMs and MPIMs the bot is not in are invisible to it: ``channel_not_found``.
"""

from __future__ import annotations

from typing import Any

from .core import Channel, Handler, SlackError, Workspace, invalid_args, truthy

MPIM_PREFIX = "mpdm-"  # Slack names a group DM "mpdm-<user>--<user>--...-1"


def is_mpim(channel: Channel) -> bool:
    return channel.is_private and not channel.is_im and channel.name.startswith(MPIM_PREFIX)


def channel_json(ws: Workspace, channel: Channel) -> dict[str, Any]:
    if channel.is_im:
        return {
            "id": channel.id,
            "created": 1700000000,
            "is_im": True,
            "is_org_shared": False,
            "user": channel.user,
            "is_user_deleted": False,
            "priority": 0,
            "context_team_id": ws.team_id,
        }
    return {
        "id": channel.id,
        "name": channel.name,
        "name_normalized": channel.name,
        "is_channel": not channel.is_private,
        "is_group": channel.is_private,  # MPIMs too, as Slack's objects for them show
        "is_im": False,
        "is_mpim": is_mpim(channel),
        "is_private": channel.is_private,
        "is_archived": False,
        "is_general": channel.name == "general",
        "is_member": channel.is_member,
        "is_shared": False,
        "is_ext_shared": False,
        "is_org_shared": False,
        "created": 1700000000,
        "creator": ws.user_id,
        "context_team_id": ws.team_id,
    }


class ConversationsAPI:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def methods(self) -> dict[str, Handler]:
        return {
            "conversations.join": self.join,
            "conversations.info": self.info,
            "conversations.open": self.open,
        }

    def join(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/conversations.join : scope channels:join (checked by the server's table);
        # a conversation the bot cannot see is channel_not_found (private channels, IMs and MPIMs it is not in);
        # one it can see but may not join is method_not_supported_for_channel_type (a private channel, IM or MPIM
        # it is already in); a public channel is joined, with the already_in_channel warning when it was a member.
        channel = self.ws.visible_channel(args.get("channel"))
        if channel.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        result: dict[str, Any] = {}
        if channel.is_member:
            result["warning"] = "already_in_channel"
            result["response_metadata"] = {"warnings": ["already_in_channel"]}
        channel.is_member = True
        return {"channel": channel_json(self.ws, channel), **result}

    def info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.ws.visible_channel(args.get("channel"))
        # The scope depends on the channel type, so it is checked here rather than in the server's table:
        # https://api.slack.com/methods/conversations.info
        if channel.is_im:
            needed = "im:read"
        elif is_mpim(channel):
            needed = "mpim:read"
        else:
            needed = "groups:read" if channel.is_private else "channels:read"
        if needed not in self.ws.scopes:
            raise SlackError("missing_scope", needed=needed, provided=",".join(self.ws.scopes))
        return {"channel": channel_json(self.ws, channel)}

    def open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = self.ws.visible_channel(args["channel"])
        else:
            users = [u for u in str(args.get("users") or "").split(",") if u]
            if not users:
                raise SlackError("users_list_not_supplied")
            if len(users) > 1:
                raise invalid_args("the stand-in only opens 1:1 DMs")
            channel = self.ws.open_im(users[0])
        if truthy(args.get("return_im")):
            return {"channel": channel_json(self.ws, channel)}
        return {"channel": {"id": channel.id}}

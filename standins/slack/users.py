"""users.info, and the user object Slack returns for it."""

from __future__ import annotations

from typing import Any

from .core import APP_ID, Handler, SlackError, SlackUser, Workspace, as_str, invalid_args, truthy

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


def _tz_label(offset: int) -> str:
    if offset in TZ_LABELS:
        return TZ_LABELS[offset]
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"GMT{sign}{hours:02d}:{minutes:02d}"


def shown_name(user: SlackUser) -> str:
    """The name Slack's clients show for a user, beside their messages and for a `<@U…>` mention: the profile's
    display name, else the real name, else the username (https://api.slack.com/reference/surfaces/formatting#mentioning-users,
    https://api.slack.com/types/user)."""
    return user.display_name or user.real_name or user.name


def user_object(ws: Workspace, user_id: str, *, include_locale: bool = False) -> dict[str, Any]:
    """The user as users.info returns it."""
    user = ws.users[user_id]
    real_name = user.real_name or user.name
    profile: dict[str, Any] = {
        "real_name": real_name,
        "real_name_normalized": real_name,
        "display_name": user.display_name,
        "display_name_normalized": user.display_name,
        "team": ws.team_id,
    }
    if user.is_bot:
        profile.update(bot_id=ws.bot_id, api_app_id=APP_ID, always_active=True)
    obj: dict[str, Any] = {
        "id": user.id,
        "team_id": ws.team_id,
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


class UsersAPI:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    def methods(self) -> dict[str, Handler]:
        return {"users.info": self.info}

    def info(self, args: dict[str, Any]) -> dict[str, Any]:
        # https://api.slack.com/methods/users.info : scope users:read (server.METHOD_SCOPES), a GET without JSON
        # input (server.JSON_METHODS), user_not_found; include_locale adds "locale".
        user_id = as_str(args.get("user"))
        if not user_id:
            raise invalid_args("missing required field: user")
        user = self.ws.users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user_object(self.ws, user_id, include_locale=truthy(args.get("include_locale")))}

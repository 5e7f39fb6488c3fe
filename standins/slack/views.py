"""Views: views.open, views.push, views.update, views.publish, trigger ids, and the view limits (100 blocks,
250 kB of JSON, 24-character titles, 3000-character private_metadata).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from .blocks import block_errors, slack_file_errors, text_errors
from .core import APP_ID, Handler, SlackError, Workspace, as_str, invalid_args

MAX_VIEW_BLOCKS = 100
MAX_VIEW_BYTES = 250_000


class ViewsAPI:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._triggers: dict[str, float] = {}  # trigger id -> when it was issued (time.monotonic())
        self._used_triggers: set[str] = set()

    def methods(self) -> dict[str, Handler]:
        return {
            "views.open": self.open,
            "views.push": self.push,
            "views.update": self.update,
            "views.publish": self.publish,
        }

    def trigger_id(self) -> str:
        """A fresh trigger id, valid for ``trigger_ttl`` seconds (3 s) and usable once."""
        trigger = f"{self.ws.next_seq()}.{int(time.time())}.{secrets.token_hex(16)}"
        self._triggers[trigger] = time.monotonic()
        return trigger

    def validate_view(self, raw: Any, *, allowed_types: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise invalid_args("must provide an object [json-pointer:/view]")
        if len(json.dumps(raw)) > MAX_VIEW_BYTES:
            raise SlackError("view_too_large")
        view_type = raw.get("type")
        if view_type not in allowed_types:
            raise invalid_args(f"must be one of {', '.join(allowed_types)} [json-pointer:/view/type]")
        # The shape first (invalid_arguments); the files the images point at after (invalid_blocks, below).
        errors = block_errors(raw.get("blocks"), MAX_VIEW_BLOCKS, "/view/blocks", None)
        if view_type == "modal":
            if isinstance(raw.get("blocks"), list) and not raw["blocks"]:
                errors.append("must provide at least 1 item [json-pointer:/view/blocks]")
            errors.extend(text_errors(raw.get("title"), "/view/title", max_len=24, plain_only=True))
            for key in ("submit", "close"):
                if key in raw:
                    errors.extend(text_errors(raw[key], f"/view/{key}", max_len=24, plain_only=True))
            raw_blocks = raw.get("blocks")
            blocks: list[Any] = raw_blocks if isinstance(raw_blocks, list) else []
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
            raise invalid_args(*errors)
        # An image whose slack_file is unknown, deleted (files.delete, or by a person in Slack itself) or not shared
        # fails the whole view with invalid_blocks, as chat.postMessage does: a Home tab showing the thumbnail of a
        # result deleted in Slack can no longer be published (bolt-python#1251).
        # https://api.slack.com/reference/block-kit/composition-objects#slack_file
        # https://api.slack.com/methods/views.publish
        file_errors = slack_file_errors(raw.get("blocks"), "/view/blocks", self.ws.files)
        if file_errors:
            raise SlackError(
                "invalid_blocks",
                errors=file_errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in file_errors]},
            )
        return raw

    def _new_view(self, raw: dict[str, Any], *, view_id: str | None = None) -> dict[str, Any]:
        ws = self.ws
        if view_id is None:
            view_id = f"V0VIEW{ws.next_seq():05d}"
        view = {
            "id": view_id,
            "team_id": ws.team_id,
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
            "app_installed_team_id": ws.team_id,
            "bot_id": ws.bot_id,
        }
        for key in ("title", "submit", "close"):
            if key in raw:
                view[key] = raw[key]
        ws.views[view_id] = view
        return view

    def _check_trigger(self, trigger: Any) -> str:
        if not isinstance(trigger, str) or not trigger:
            raise invalid_args("missing required field: trigger_id")
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        issued = self._triggers.get(trigger)
        if issued is None:
            raise SlackError("invalid_trigger_id")
        if time.monotonic() - issued > self.ws.trigger_ttl:
            raise SlackError("expired_trigger_id")
        return trigger

    # ------------------------------------------------------------------ methods

    def open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._check_trigger(args.get("trigger_id"))
        raw = self.validate_view(args.get("view"), allowed_types=("modal",))
        self._used_triggers.add(trigger)
        view = self._new_view(raw)
        self.ws.views_opened.append(view)
        return {"view": view}

    def push(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._check_trigger(args.get("trigger_id"))
        raw = self.validate_view(args.get("view"), allowed_types=("modal",))
        self._used_triggers.add(trigger)
        view = self._new_view(raw)
        self.ws.views_pushed.append(view)
        return {"view": view}

    def update(self, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        current: dict[str, Any] | None = None
        if args.get("view_id"):
            current = ws.views.get(str(args["view_id"]))
        elif args.get("external_id"):
            current = next((v for v in ws.views.values() if v["external_id"] == args["external_id"]), None)
        else:
            raise invalid_args("must provide view_id or external_id")
        if current is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        raw = self.validate_view(args.get("view"), allowed_types=(current["type"],))
        view = self._new_view(raw, view_id=current["id"])
        ws.views_updated.append(view)
        for user, published in ws.views_published.items():
            if published["id"] == view["id"]:
                ws.views_published[user] = view
        return {"view": view}

    def publish(self, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        user = as_str(args.get("user_id"))
        if not user:
            raise invalid_args("missing required field: user_id")
        current = ws.views_published.get(user)
        if args.get("hash") and (current is None or args["hash"] != current["hash"]):
            raise SlackError("hash_conflict")
        raw = self.validate_view(args.get("view"), allowed_types=("home",))
        view = self._new_view(raw, view_id=current["id"] if current else None)
        ws.views_published[user] = view
        return {"view": view}

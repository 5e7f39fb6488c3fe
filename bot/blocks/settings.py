"""Pure builder for the settings modal a workspace's admins open from their Home tab.

Every field is optional: empty means "the operator's" (for channels: every channel Banana is in).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    ConversationFilter,
    ConversationMultiSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    StaticSelectElement,
    UserMultiSelectElement,
)
from slack_sdk.models.blocks.blocks import Block
from slack_sdk.models.views import View

from bot.blocks.inputs import text_input
from bot.blocks.text import CONTEXT_CHARS, clip
from prompts.options import ASPECT_RATIOS, OUTPUT_FORMATS, RESOLUTIONS, Options

SETTINGS_CALLBACK = "banana_settings"
HOME_SETTINGS = "home_settings"  # the Home tab's Settings button, shown only to those who may change them
DAILY_CAP = "settings_daily_cap"
MONTHLY_CAP = "settings_monthly_cap"
RATIO = "settings_ratio"
RESOLUTION = "settings_resolution"
FORMAT = "settings_format"
REPLIES = "settings_replies"
CHANNELS = "settings_channels"
ADMINS = "settings_admins"
KIE_KEY = "settings_kie_key"
REMOVE_KEY = "remove"  # typed in the key field: back to the operator's key
OPERATORS = "operator"  # a select's value for "the operator's"
MAX_LISTED = 100  # Slack's most initial items in a multi-select


@dataclass(frozen=True)
class Change:
    """One line of the change log, as shown."""

    user_id: str
    at: float
    change: str


@dataclass(frozen=True)
class SettingsForm:
    """What the modal shows: the workspace's own values (JSON-like, as stored) and the operator's."""

    chosen: Mapping[str, Any]
    operator: Options
    daily_ceiling: int | None
    monthly_ceiling: int | None
    replies_allowed: bool
    changes: Sequence[Change] = ()
    key_last4: str | None = None  # the workspace's own kie.ai key, as shown once saved; None: the operator's
    keys_kept: bool = True  # the operator set BANANA_ENCRYPTION_KEYS, so a key can be kept sealed


def changes_text(changes: Sequence[Change]) -> str:
    lines = [f"• {time.strftime('%Y-%m-%d %H:%M', time.gmtime(c.at))} UTC, <@{c.user_id}>: {c.change}" for c in changes]
    return clip("*Recent changes*\n" + "\n".join(lines), CONTEXT_CHARS)


def settings_modal(form: SettingsForm) -> dict[str, Any]:
    chosen, operator = form.chosen, form.operator
    blocks: list[Block] = [
        _cap(DAILY_CAP, "Daily credits per person", chosen.get("user_daily_cap"), form.daily_ceiling),
        _cap(
            MONTHLY_CAP, "Monthly credits for the workspace", chosen.get("workspace_monthly_cap"), form.monthly_ceiling
        ),
        _choice(RATIO, "Default ratio", ASPECT_RATIOS, chosen.get("aspect_ratio"), operator.aspect_ratio),
        _choice(RESOLUTION, "Default resolution", RESOLUTIONS, chosen.get("resolution"), operator.resolution),
        _choice(FORMAT, "Default format", OUTPUT_FORMATS, chosen.get("output_format"), operator.output_format),
    ]
    if form.replies_allowed:
        replies = chosen.get("thread_replies")
        initial = OPERATORS if replies is None else ("on" if replies else "off")
        options = [Option(value=OPERATORS, text="On (the operator's)"), Option(value="on", text="On")]
        options.append(Option(value="off", text="Off: only mentions edit an image"))
        blocks.append(
            InputBlock(
                block_id=REPLIES,
                label="Plain thread replies edit the image",
                optional=True,
                element=StaticSelectElement(
                    action_id=REPLIES, options=options, initial_option=next(o for o in options if o.value == initial)
                ),
            )
        )
    channels = list(chosen.get("channels") or [])[:MAX_LISTED]
    blocks.append(
        InputBlock(
            block_id=CHANNELS,
            label="Channels Banana works in",
            hint="Empty: every channel Banana is in. Group DMs count as channels. A DM with Banana always works.",
            optional=True,
            element=ConversationMultiSelectElement(
                action_id=CHANNELS,
                initial_conversations=channels or None,
                placeholder="All channels",
                # a DM with Banana always works; other DMs cannot have it; a group DM is listed like a channel
                filter=ConversationFilter(include=["public", "private", "mpim"], exclude_bot_users=True),
            ),
        )
    )
    admins = list(chosen.get("admins") or [])[:MAX_LISTED]
    blocks.append(
        InputBlock(
            block_id=ADMINS,
            label="Banana admins",
            hint="They may change these settings too, as workspace admins and owners may.",
            optional=True,
            element=UserMultiSelectElement(action_id=ADMINS, initial_users=admins or None, placeholder="Nobody else"),
        )
    )
    blocks.append(_key_field(form))
    if form.changes:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=changes_text(form.changes))]))
    return View(
        type="modal",
        callback_id=SETTINGS_CALLBACK,
        title="Banana settings",
        submit="Save",
        close="Cancel",
        blocks=blocks,
    ).to_dict()


def _key_field(form: SettingsForm) -> InputBlock:
    """Write-only: never pre-filled, and once saved only its last four characters are shown."""
    if not form.keys_kept:
        hint = "Banana's operator must set BANANA_ENCRYPTION_KEYS before a workspace key can be kept."
    elif form.key_last4 is None:
        hint = "Empty: Banana uses its operator's kie.ai account. A key is checked with kie.ai before it is saved."
    else:
        hint = (
            f"Saved: …{form.key_last4}. Type a new key to replace it, "
            f"or “{REMOVE_KEY}” to go back to the operator's key."
        )
    return text_input(
        KIE_KEY, "kie.ai API key", None, most=200, optional=True, placeholder="Your own kie.ai API key", hint=hint
    )


def _cap(block_id: str, label: str, value: int | None, ceiling: int | None) -> InputBlock:
    most = "no limit" if ceiling is None else f"{ceiling:,}"
    hint = f"Empty: the operator's ({most}). At most {most}." if ceiling is not None else "Empty: no limit."
    return text_input(block_id, label, None if value is None else str(value), most=12, optional=True, hint=hint)


def _choice(block_id: str, label: str, allowed: Sequence[str], value: str | None, operators: str) -> InputBlock:
    options = [Option(value=OPERATORS, text=f"{operators} (the operator's)")]
    options += [Option(value=v, text=v) for v in allowed]
    initial = value if value in allowed else OPERATORS
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=True,
        element=StaticSelectElement(
            action_id=block_id, options=options, initial_option=next(o for o in options if o.value == initial)
        ),
    )

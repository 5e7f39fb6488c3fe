"""Who may see what: an image made in a private conversation is shown and reused only there.

Slack says whether a conversation is a public channel in some payloads and not in others. Each reader below gives
True (a public channel), False (a private channel, a DM or a group DM) or None (the payload does not say); what is not
known to be public counts as private, and a task asked where Slack does not say takes its parent's word when it is in
the parent's conversation (`prompts.tasks.new_task`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from prompts.tasks import Task

# The names Slack gives a conversation that is not a public channel, in slash commands' `channel_name` and in
# interaction payloads' `channel.name`; a group DM is named `mpdm-…`.
PRIVATE_NAMES = frozenset({"privategroup", "directmessage"})
GROUP_DM_PREFIX = "mpdm-"
# A family line whose parent is hidden names its nearest visible ancestor with this, which the card reads "from #N".
INDIRECT = "indirect"


def _public_by_name(channel_id: str, name: str | None) -> bool | None:
    if channel_id.startswith(("D", "G")):  # a DM, or a private channel or group DM from before conversation ids
        return False
    if not name:
        return None
    if name in PRIVATE_NAMES or name.startswith(GROUP_DM_PREFIX):
        return False
    return channel_id.startswith("C")


def public_in_command(command: Mapping[str, Any]) -> bool | None:
    """Whether a slash command was typed in a public channel: Slack names the conversation in `channel_name`
    (https://api.slack.com/interactivity/slash-commands)."""
    return _public_by_name(str(command.get("channel_id") or ""), command.get("channel_name"))


def public_in_interaction(body: Mapping[str, Any], channel_id: str) -> bool | None:
    """Whether `channel_id` is a public channel, from an interaction's `channel` (a button on a message, a message
    shortcut: https://api.slack.com/reference/interaction-payloads); None when the payload names another one or none
    (a button in the Home tab)."""
    channel = body.get("channel") or {}
    if channel.get("id") != channel_id:
        return _public_by_name(channel_id, None)
    return _public_by_name(channel_id, channel.get("name"))


def public_in_event(event: Mapping[str, Any]) -> bool | None:
    """Whether an event happened in a public channel: message events carry `channel_type` ("channel" for a public
    one, https://api.slack.com/events/message); app_mention does not."""
    kind = event.get("channel_type")
    if kind is not None:
        return bool(kind == "channel")
    return _public_by_name(str(event.get("channel") or ""), None)


def visible_to(task: Task, viewer_user_id: str) -> bool:
    """Whether a person could already see this task in Slack: their own, or one made in a public channel."""
    return task.user_id == viewer_user_id or task.public_channel


def seen_by(kin: Sequence[Task], viewer_user_id: str) -> list[Task]:
    """A family as `viewer_user_id` may see it: the tasks they could not see left out without a trace, and each
    remaining task hung under its nearest remaining ancestor, so the tree stays whole and names no hidden task."""
    by_id = {task.id: task for task in kin}
    shown = {task.id for task in kin if visible_to(task, viewer_user_id)}
    return [_relinked(task, by_id, shown) for task in kin if task.id in shown]


def _relinked(task: Task, by_id: dict[int, Task], shown: set[int]) -> Task:
    up, passed = task.parent_task_id, set()
    while up is not None and up not in shown and up in by_id and up not in passed:
        passed.add(up)
        up = by_id[up].parent_task_id
    if up is None or up not in shown:
        return dataclasses.replace(task, parent_task_id=None, relation=None, ancestry="")
    if up != task.parent_task_id:
        return dataclasses.replace(task, parent_task_id=up, relation=INDIRECT, ancestry=f'[["{INDIRECT}", {up}]]')
    chain = list(itertools.takewhile(lambda link: link[1] in shown, task.chain))  # cut at the first hidden one
    return dataclasses.replace(task, ancestry=json.dumps([list(link) for link in chain]) if chain else "")

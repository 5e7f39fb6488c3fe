"""Saving a task's prompt under a name: the name's rules, and one name per workspace (in any letter case)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.store import NameTaken, TaskStore
from prompts.tasks import SavedPrompt, Task


@dataclass(frozen=True)
class NameRefused:
    """Why the name cannot be used, for the person, beside the name's field."""

    reason: str


async def save_prompt(store: TaskStore, task: Task, user_id: str, name: str) -> SavedPrompt | NameRefused:
    """The task's prompt and options saved as `name` (spaces already tidied), or why not."""
    if not name:
        return NameRefused("Give it a name.")
    taken = NameRefused(f"A saved prompt is already called “{name}”.")
    if await store.find_prompt(task.team_id, name):  # the usual case, said without trying
        return taken
    try:  # the store's unique key decides between two people saving one name at once
        return await store.save_prompt(task.team_id, user_id, name, task.prompt, task.options, avoid=task.avoid)
    except NameTaken:
        return taken

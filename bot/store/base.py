"""The store's interface and what both backends share: the columns, reading a row back into a Task, and errors."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from typing import Any, Protocol

from prompts.options import Options
from prompts.tasks import NewTask, SavedPrompt, Task, TaskEvent, TaskState, Usage


class StoreUnavailable(Exception):
    """The database cannot be reached just now; the message is safe to log (no password)."""


@dataclass(frozen=True)
class WorkspaceRecords:
    """What Banana keeps about one workspace: what `forget_workspace` deletes."""

    tasks: int  # each with its history
    saved_prompts: int
    installed: bool  # an installation or its bot is stored (installed through OAuth)

    @property
    def empty(self) -> bool:
        return not (self.tasks or self.saved_prompts or self.installed)


class TaskStore(Protocol):
    """Every task, its history, saved prompts, and what replicas share: leases on in-flight work, signals between
    replicas, Slack's repeated requests, locks and rate slots. Two backends: SQLite (one process) and PostgreSQL
    (several replicas)."""

    backend: str  # "sqlite" or "postgresql", as /healthz reports it
    shared: bool  # whether several processes share this store (then limits and locks must go through it)

    async def add(self, new: NewTask, *, holder: str | None = None, lease_seconds: float = 0) -> Task: ...
    async def add_set(
        self, news: list[NewTask], *, holder: str | None = None, lease_seconds: float = 0
    ) -> list[Task]: ...
    async def get(self, task_id: int) -> Task | None: ...
    async def update(self, task_id: int, **changes: Any) -> Task: ...
    async def set_state(self, task_id: int, state: TaskState, detail: str = "", **changes: Any) -> Task: ...
    async def events(self, task_id: int) -> list[TaskEvent]: ...
    async def unfinished(self) -> list[Task]: ...
    async def for_user(self, team_id: str, user_id: str, limit: int = 20) -> list[Task]: ...
    async def by_file_id(self, team_id: str, file_id: str) -> Task | None: ...
    async def in_thread(self, team_id: str, channel_id: str, thread_ts: str) -> list[Task]: ...
    async def set_of(self, set_id: int) -> list[Task]: ...
    async def family(self, task_id: int) -> list[Task]: ...
    async def with_children(self, task_ids: list[int], viewer: str) -> frozenset[int]: ...
    async def reusable(self, team_id: str, request_key: str, channel_id: str) -> Task | None: ...
    async def history(
        self, team_id: str, user_id: str, states: tuple[TaskState, ...], offset: int, limit: int
    ) -> list[Task]: ...
    async def count(self, team_id: str, user_id: str, states: tuple[TaskState, ...]) -> int: ...
    async def usage(self, team_id: str, user_id: str, since: float) -> Usage: ...
    async def team_usage(self, team_id: str, since: float) -> Usage: ...
    async def recent_kie_seconds(self, resolution: str, limit: int = 30) -> list[float]: ...
    async def save_prompt(
        self, team_id: str, user_id: str, name: str, prompt: str, options: Options, avoid: str = ""
    ) -> SavedPrompt: ...
    async def list_prompts(self, team_id: str, limit: int = 20, contains: str = "") -> list[SavedPrompt]: ...
    async def get_prompt(self, team_id: str, prompt_id: int) -> SavedPrompt | None: ...
    async def find_prompt(self, team_id: str, name: str) -> SavedPrompt | None: ...
    async def ping(self) -> bool: ...
    # Everything kept about one workspace (tasks and their history, saved prompts, its installation), deleted.
    async def forget_workspace(self, team_id: str) -> int: ...
    # What forget_workspace would delete, counted; reads only.
    async def workspace_records(self, team_id: str) -> WorkspaceRecords: ...
    # Leases: a unit of work (a task, or a set of variations, whose first task carries the lease) is held by one
    # replica at a time, until its lease runs out.
    async def claim(self, holder: str, lease_seconds: float, limit: int = 100) -> list[list[Task]]: ...
    async def renew(self, holder: str, units: list[int], lease_seconds: float) -> list[int]: ...
    async def release(self, holder: str, unit: int) -> None: ...
    # Signals: "poke" (kie called back) and "cancel", delivered to every replica's handler, the sender's included.
    async def signal(self, task_id: int, kind: str) -> None: ...
    async def listen(self, handler: Callable[[int, str], None]) -> None: ...
    # Slack's retries and repeated triggers: True the first time a key is seen.
    async def first_time(self, key: str, keep_seconds: float = 3600) -> bool: ...
    # One holder at a time across replicas, for checks that must not interleave (the caps).
    def exclusive(self, name: str) -> AbstractAsyncContextManager[None]: ...
    # A shared rate limit: 0 when one of `limit` slots per `window` seconds was taken, else seconds until one frees.
    async def take_slot(self, name: str, limit: int, window: float) -> float: ...
    async def close(self) -> None: ...


# The schema grows by adding columns here: missing ones are added at start-up, existing rows are kept.
TASK_COLUMNS: dict[str, type] = {
    "id": int,
    "team_id": str,
    "user_id": str,
    "channel_id": str,
    "prompt": str,
    "avoid": str,
    "aspect_ratio": str,
    "resolution": str,
    "output_format": str,
    "state": str,
    "created_at": float,
    "updated_at": float,
    "response_url": str,
    "message_ts": str,
    "thread_ts": str,
    "kie_task_id": str,
    "result_url": str,
    "slack_file_id": str,
    "credits": int,  # INTEGER affinity: whole numbers stay whole, a fractional cost from kie is kept as it is
    "duration": float,
    "finished_at": float,
    "error_code": str,
    "error_message": str,
    "input_files": str,
    "parent_task_id": int,
    "relation": str,
    "permalink": str,
    "deleted_at": float,
    "create_started_at": float,
    "upload_started_at": float,
    "request_key": str,
    "reused_from": int,
    "fresh": int,
    "source": str,
    "view_id": str,
    "credits_exact": int,
    "kie_seconds": float,
    "file_gone_at": float,
    "ancestry": str,
    "set_id": int,
    "slot": int,
    "cancel_requested_at": float,
    "public_channel": int,  # 1 where Slack said the channel is public; rows from before it was kept count as private
    # The lease (on a unit's first task): which replica holds the work, and until when (seconds since the epoch).
    "lease_owner": str,
    "lease_until": float,
}
EVENT_COLUMNS: dict[str, type] = {"id": int, "task_id": int, "state": str, "at": float, "detail": str}
TASK_FIELDS = {f.name for f in fields(Task)}
SEEN_COLUMNS: dict[str, type] = {"key": str, "at": float}
SAVED_PROMPT_COLUMNS: dict[str, type] = {
    "id": int,
    "team_id": str,
    "user_id": str,
    "name": str,
    "prompt": str,
    "avoid": str,
    "aspect_ratio": str,
    "resolution": str,
    "output_format": str,
    "created_at": float,
}


def saved_prompt_row(
    team_id: str, user_id: str, name: str, prompt: str, options: Options, avoid: str, created_at: float
) -> dict[str, Any]:
    """A saved prompt as both backends store it."""
    return {
        "team_id": team_id,
        "user_id": user_id,
        "name": name,
        "prompt": prompt,
        "avoid": avoid,
        "aspect_ratio": options.aspect_ratio,
        "resolution": options.resolution,
        "output_format": options.output_format,
        "created_at": created_at,
    }


FINISHED = tuple(state.value for state in TaskState if state.finished)


def history_filter(team_id: str, user_id: str, states: tuple[TaskState, ...]) -> tuple[str, list[Any]]:
    marks = ", ".join("?" * len(states))
    where = f"team_id = ? and user_id = ? and deleted_at is null and state in ({marks})"
    return where, [team_id, user_id, *(s.value for s in states)]


def task_from_row(row: dict[str, Any]) -> Task:
    values: dict[str, Any] = {name: row.get(name) for name in TASK_FIELDS}
    values["state"] = TaskState(row["state"])
    values["avoid"] = row.get("avoid") or ""
    values["input_files"] = row.get("input_files") or ""
    values["ancestry"] = row.get("ancestry") or ""
    values["fresh"] = bool(row.get("fresh"))
    values["credits_exact"] = bool(row.get("credits_exact"))
    values["public_channel"] = bool(row.get("public_channel"))
    values["source"] = row.get("source") or "command"  # rows from before sources were kept
    return Task(**values)

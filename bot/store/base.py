"""The store's interface, by role (task records, coordination between replicas), reading a row back into a Task,
and errors. The schema is schema.py's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from typing import Any, Protocol

from bot.store.database import Database, Statement
from prompts.options import NANO_BANANA_PRO, Options
from prompts.tasks import BrandImage, NewTask, SavedPrompt, StoredBrand, Task, TaskEvent, TaskState, Usage


class StoreUnavailable(Exception):
    """The database cannot be reached just now; the message is safe to log (no password)."""


@dataclass(frozen=True)
class WorkspaceRecords:
    """What Banana keeps about one workspace: what `forget_workspace` deletes."""

    tasks: int  # each with its history
    saved_prompts: int
    installed: bool  # an installation or its bot is stored (installed through OAuth)
    settings: bool = False  # its admins' settings or their change log, or its brand kit

    @property
    def empty(self) -> bool:
        return not (self.tasks or self.saved_prompts or self.installed or self.settings)


@dataclass(frozen=True)
class SettingsChange:
    """One save of a workspace's settings: who, when, and what changed (written for people)."""

    team_id: str
    user_id: str
    at: float
    change: str


class NameTaken(Exception):
    """A workspace already has a saved prompt of this name (in any letter case)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a saved prompt is already called {name!r}")
        self.name = name


class TaskRecords(Protocol):
    """Every task, its history, saved prompts and usage: the same queries on both backends (records.py)."""

    async def add(self, new: NewTask, *, holder: str | None = None, lease_seconds: float = 0) -> Task: ...
    async def add_set(
        self, news: list[NewTask], *, holder: str | None = None, lease_seconds: float = 0
    ) -> list[Task]: ...
    async def get(self, task_id: int) -> Task | None: ...
    # Both refuse a field a Task does not have (ValueError).
    async def update(self, task_id: int, **changes: Any) -> Task: ...
    async def set_state(self, task_id: int, state: TaskState, detail: str = "", **changes: Any) -> Task: ...
    async def events(self, task_id: int) -> list[TaskEvent]: ...
    async def unfinished(self, team_id: str) -> list[Task]: ...
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
    # NameTaken when the workspace has a prompt of that name, in any letter case (a unique key: of two people saving
    # one name at once, exactly one wins).
    async def save_prompt(
        self, team_id: str, user_id: str, name: str, prompt: str, options: Options, avoid: str = ""
    ) -> SavedPrompt: ...
    async def list_prompts(self, team_id: str, limit: int = 20, contains: str = "") -> list[SavedPrompt]: ...
    async def get_prompt(self, team_id: str, prompt_id: int) -> SavedPrompt | None: ...
    async def find_prompt(self, team_id: str, name: str) -> SavedPrompt | None: ...
    # A workspace's own settings (empty when its admins set none); saving them records the change in one transaction.
    async def workspace_settings(self, team_id: str) -> dict[str, Any]: ...
    async def save_workspace_settings(
        self,
        team_id: str,
        user_id: str,
        data: dict[str, Any],
        change: str,
        also: Callable[[float], Sequence[Statement]] = ...,
    ) -> None: ...
    async def settings_changes(self, team_id: str, limit: int = 5) -> list[SettingsChange]: ...
    # A workspace's brand kit. Saving writes the fields, the images (those with `data` are new, those without are kept
    # as stored; any other is deleted) and the change, in one transaction.
    async def workspace_brand(self, team_id: str) -> StoredBrand | None: ...
    async def brand_image(self, team_id: str, sha256: str) -> BrandImage | None: ...
    async def save_workspace_brand(
        self, team_id: str, user_id: str, data: dict[str, Any], images: list[BrandImage], change: str
    ) -> None: ...
    async def remember_kie_url(self, team_id: str, sha256: str, url: str, at: float) -> None: ...
    # Its settings, their log and its brand kit, deleted.
    async def forget_settings(self, team_id: str) -> None: ...
    # Everything kept about one workspace (tasks and their history, saved prompts, settings, installation), deleted.
    async def forget_workspace(self, team_id: str) -> int: ...
    # What forget_workspace would delete, counted; reads only.
    async def workspace_records(self, team_id: str) -> WorkspaceRecords: ...


class Coordination(Protocol):
    """What replicas share beyond the records. Leases and repeated requests are SQL, written once (leases.py);
    signals, locks and rate slots are in-process on SQLite (one process) and go through PostgreSQL otherwise."""

    # Whether several processes share this store: then limits and locks must go through it (the rate slots), and a
    # person's Home may have been opened on another replica. That is the question callers ask, so it is the name.
    shared: bool

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


class TaskStore(TaskRecords, Coordination, Protocol):
    """The store: records and coordination on one database. Two backends: SQLite (one process) and PostgreSQL
    (several replicas); `database` runs the SQL both share (installations.py uses it)."""

    backend: str  # "sqlite" or "postgresql", as /healthz reports it
    database: Database

    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


TASK_FIELDS = {f.name for f in fields(Task)}
FINISHED = tuple(state.value for state in TaskState if state.finished)


def task_from_row(row: dict[str, Any]) -> Task:
    values: dict[str, Any] = {name: row.get(name) for name in TASK_FIELDS}
    values["state"] = TaskState(row["state"])
    values["avoid"] = row.get("avoid") or ""
    values["input_files"] = row.get("input_files") or ""
    values["ancestry"] = row.get("ancestry") or ""
    values["fresh"] = bool(row.get("fresh"))
    values["credits_exact"] = bool(row.get("credits_exact"))
    values["card_pending"] = bool(row.get("card_pending"))
    values["public_channel"] = bool(row.get("public_channel"))
    values["source"] = row.get("source") or "command"  # rows from before sources were kept
    values["model"] = row.get("model") or NANO_BANANA_PRO
    values["brand"] = row.get("brand") or ""
    return Task(**values)

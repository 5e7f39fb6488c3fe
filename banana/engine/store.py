"""Where every task lives. The rest of the app sees the `TaskStore` interface; only this module writes SQL.

SQLite (through sqlite-utils, in WAL mode) is the embedded default. Its calls run on one dedicated thread, so the event
loop never waits on the disk and the connection is only ever used from the thread that owns it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import sqlite_utils

from banana.domain.options import Options
from banana.domain.tasks import NewTask, SavedPrompt, Task, TaskEvent, TaskState, Usage

T = TypeVar("T")


class TaskStore(Protocol):
    async def add(self, new: NewTask) -> Task: ...
    async def add_set(self, news: list[NewTask]) -> list[Task]: ...
    async def get(self, task_id: int) -> Task | None: ...
    async def update(self, task_id: int, **changes: Any) -> Task: ...
    async def set_state(self, task_id: int, state: TaskState, detail: str = "", **changes: Any) -> Task: ...
    async def events(self, task_id: int) -> list[TaskEvent]: ...
    async def unfinished(self) -> list[Task]: ...
    async def for_user(self, user_id: str, limit: int = 20) -> list[Task]: ...
    async def by_file_id(self, file_id: str) -> Task | None: ...
    async def in_thread(self, team_id: str, channel_id: str, thread_ts: str) -> list[Task]: ...
    async def set_of(self, set_id: int) -> list[Task]: ...
    async def family(self, task_id: int) -> list[Task]: ...
    async def with_children(self, task_ids: list[int]) -> frozenset[int]: ...
    async def reusable(self, team_id: str, request_key: str) -> Task | None: ...
    async def history(self, user_id: str, states: tuple[TaskState, ...], offset: int, limit: int) -> list[Task]: ...
    async def count(self, user_id: str, states: tuple[TaskState, ...]) -> int: ...
    async def usage(self, user_id: str, since: float) -> Usage: ...
    async def team_usage(self, team_id: str, since: float) -> Usage: ...
    async def recent_durations(self, resolution: str, limit: int = 20) -> list[float]: ...
    async def recent_kie_seconds(self, resolution: str, limit: int = 30) -> list[float]: ...
    async def save_prompt(
        self, team_id: str, user_id: str, name: str, prompt: str, options: Options, avoid: str = ""
    ) -> SavedPrompt: ...
    async def list_prompts(self, team_id: str, limit: int = 20, contains: str = "") -> list[SavedPrompt]: ...
    async def get_prompt(self, prompt_id: int) -> SavedPrompt | None: ...
    async def find_prompt(self, team_id: str, name: str) -> SavedPrompt | None: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


# The schema grows by adding columns here: missing ones are added at start-up, existing rows are kept.
_TASK_COLUMNS: dict[str, type] = {
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
}
_EVENT_COLUMNS: dict[str, type] = {"id": int, "task_id": int, "state": str, "at": float, "detail": str}
_TASK_FIELDS = {f.name for f in fields(Task)}
_SAVED_PROMPT_COLUMNS: dict[str, type] = {
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


class SqliteTaskStore:
    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite_utils.Database | None = None

    async def open(self) -> SqliteTaskStore:
        await self._run(self._open)
        return self

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(sqlite3.connect(self._path, check_same_thread=False))
        db.enable_wal()
        db.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash may lose the last commit, never corrupt
        db.execute("PRAGMA foreign_keys=ON")
        _ensure_table(db, "tasks", _TASK_COLUMNS)
        _ensure_table(db, "task_events", _EVENT_COLUMNS, foreign_keys=[("task_id", "tasks", "id")])
        db.table("tasks").create_index(["user_id", "created_at"], if_not_exists=True)
        db.table("tasks").create_index(["state"], if_not_exists=True)
        db.table("tasks").create_index(["slack_file_id"], if_not_exists=True)
        db.table("tasks").create_index(["request_key"], if_not_exists=True)
        db.table("tasks").create_index(["channel_id", "thread_ts"], if_not_exists=True)
        db.table("tasks").create_index(["parent_task_id"], if_not_exists=True)
        db.table("tasks").create_index(["set_id"], if_not_exists=True)
        db.table("task_events").create_index(["task_id"], if_not_exists=True)
        _ensure_table(db, "saved_prompts", _SAVED_PROMPT_COLUMNS)
        db.table("saved_prompts").create_index(["team_id", "created_at"], if_not_exists=True)
        self._db = db

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def add(self, new: NewTask) -> Task:
        now = self._clock()
        row = {**new.__dict__, "state": TaskState.PENDING.value, "created_at": now, "updated_at": now}

        def insert() -> Task:
            with self.db.conn:
                task_id = cast(int, self.db.table("tasks").insert(row).last_pk)
                self._add_event(task_id, TaskState.PENDING, now, "")
            return self._get(task_id)

        return await self._run(insert)

    async def add_set(self, news: list[NewTask]) -> list[Task]:
        """Store variations made together, in one transaction: each knows the set (its first task's id) and its slot."""
        now = self._clock()
        pending = {"state": TaskState.PENDING.value, "created_at": now, "updated_at": now}
        rows = [{**new.__dict__, **pending} for new in news]

        def insert() -> list[Task]:
            ids: list[int] = []
            with self.db.conn:
                for slot, row in enumerate(rows, start=1):
                    task_id = cast(int, self.db.table("tasks").insert(row).last_pk)
                    ids.append(task_id)
                    self.db.table("tasks").update(task_id, {"set_id": ids[0], "slot": slot})
                    self._add_event(task_id, TaskState.PENDING, now, f"variation {slot} of {len(rows)}")
            return [self._get(task_id) for task_id in ids]

        return await self._run(insert)

    async def get(self, task_id: int) -> Task | None:
        return await self._run(lambda: self._find(task_id))

    async def update(self, task_id: int, **changes: Any) -> Task:
        unknown = set(changes) - _TASK_FIELDS
        if unknown:
            raise ValueError(f"unknown task fields: {sorted(unknown)}")

        def write() -> Task:
            with self.db.conn:
                self.db.table("tasks").update(task_id, {**changes, "updated_at": self._clock()})
            return self._get(task_id)

        return await self._run(write)

    async def set_state(self, task_id: int, state: TaskState, detail: str = "", **changes: Any) -> Task:
        """Move a task to `state` and keep the change, with its time, in the task's history."""
        now = self._clock()
        changes = {**changes, "state": state.value, "updated_at": now}
        if state.finished:
            changes.setdefault("finished_at", now)

        def write() -> Task:
            with self.db.conn:
                self.db.table("tasks").update(task_id, changes)
                self._add_event(task_id, state, now, detail)
            return self._get(task_id)

        return await self._run(write)

    async def events(self, task_id: int) -> list[TaskEvent]:
        def read() -> list[TaskEvent]:
            rows = self.db.table("task_events").rows_where("task_id = ?", [task_id], order_by="id")
            return [TaskEvent(r["task_id"], r["state"], r["at"], r["detail"] or "") for r in rows]

        return await self._run(read)

    async def unfinished(self) -> list[Task]:
        finished = [s.value for s in TaskState if s.finished]
        where = f"state not in ({', '.join('?' * len(finished))})"
        return await self._run(lambda: self._tasks(where, finished, order_by="id"))

    async def for_user(self, user_id: str, limit: int = 20) -> list[Task]:
        return await self._run(lambda: self._tasks("user_id = ?", [user_id], order_by="created_at desc", limit=limit))

    async def history(self, user_id: str, states: tuple[TaskState, ...], offset: int, limit: int) -> list[Task]:
        """A page of a person's tasks in the given states, newest first, leaving out results they deleted."""
        where, args = _history_filter(user_id, states)
        return await self._run(
            lambda: self._tasks(where, args, order_by="created_at desc, id desc", limit=limit, offset=offset)
        )

    async def count(self, user_id: str, states: tuple[TaskState, ...]) -> int:
        where, args = _history_filter(user_id, states)
        return await self._run(lambda: self.db.table("tasks").count_where(where, args))

    async def usage(self, user_id: str, since: float) -> Usage:
        """Images delivered to a person since a time, and the credits their tasks cost."""
        return await self._run(lambda: self._usage("user_id", user_id, since))

    async def team_usage(self, team_id: str, since: float) -> Usage:
        """The same for a whole workspace."""
        return await self._run(lambda: self._usage("team_id", team_id, since))

    def _usage(self, column: str, value: str, since: float) -> Usage:
        sql = (
            "select count(*) filter (where state = ?), coalesce(sum(credits), 0),"
            " coalesce(sum(credits) filter (where credits_exact), 0) from tasks "
            f"where {column} = ? and created_at >= ?"
        )
        images, credits, exact = self.db.execute(sql, [TaskState.DONE.value, value, since]).fetchone()
        return Usage(images=images, credits=credits, exact_credits=exact)

    async def reusable(self, team_id: str, request_key: str) -> Task | None:
        """The newest finished task of a workspace with this exact request whose image is still in Slack."""
        where = (
            "team_id = ? and request_key = ? and state = ? and slack_file_id is not null"
            " and deleted_at is null and file_gone_at is null"
        )
        args = [team_id, request_key, TaskState.DONE.value]
        found = await self._run(lambda: self._tasks(where, args, order_by="finished_at desc", limit=1))
        return found[0] if found else None

    async def by_file_id(self, file_id: str) -> Task | None:
        """The task whose result is this Slack file, if any: how a remix finds its parent."""
        found = await self._run(lambda: self._tasks("slack_file_id = ?", [file_id], limit=1))
        return found[0] if found else None

    async def in_thread(self, team_id: str, channel_id: str, thread_ts: str) -> list[Task]:
        """A workspace's tasks whose card or result is in this thread, oldest first: what a mention there can edit."""
        where = "team_id = ? and channel_id = ? and (thread_ts = ? or message_ts = ?)"
        args = [team_id, channel_id, thread_ts, thread_ts]
        return await self._run(lambda: self._tasks(where, args, order_by="id"))

    async def set_of(self, set_id: int) -> list[Task]:
        """The variations made together with the task `set_id`, by slot."""
        return await self._run(lambda: self._tasks("set_id = ?", [set_id], order_by="slot, id"))

    async def family(self, task_id: int) -> list[Task]:
        """A task's family: its first ancestor and every task that came from it, however far down, in one workspace.

        Parents always have smaller ids than their children, so one walk down the ids finds every descendant."""

        def read() -> list[Task]:
            task = self._find(task_id)
            if task is None:
                return []
            root: Task | None = task
            while root is not None:
                task, up = root, root.parent_task_id or (root.set_id if root.set_id != root.id else None)
                root = self._find(up) if up is not None else None
                root = root if root is not None and root.team_id == task.team_id else None
            root = task
            sql = (
                "with recursive kin(id) as (select ? union select t.id from tasks t join kin"
                " on t.parent_task_id = kin.id or (t.set_id = kin.id and t.id != kin.id)) select id from kin"
            )
            ids = [row[0] for row in self.db.execute(sql, [root.id]).fetchall()]
            marks = ", ".join("?" * len(ids))
            return self._tasks(f"id in ({marks}) and team_id = ?", [*ids, task.team_id], order_by="id")

        return await self._run(read)

    async def with_children(self, task_ids: list[int]) -> frozenset[int]:
        """Which of these tasks have tasks made from them."""
        if not task_ids:
            return frozenset()
        marks = ", ".join("?" * len(task_ids))
        sql = f"select distinct parent_task_id from tasks where parent_task_id in ({marks})"
        return await self._run(lambda: frozenset(row[0] for row in self.db.execute(sql, task_ids).fetchall()))

    async def recent_durations(self, resolution: str, limit: int = 20) -> list[float]:
        """Seconds from the command to the image in the thread, for recent tasks of a resolution, newest first."""
        return await self._run(lambda: self._recent("duration", resolution, limit))

    async def recent_kie_seconds(self, resolution: str, limit: int = 30) -> list[float]:
        """How long kie took (create to image ready) for recent tasks of a resolution, newest first: what the poll
        schedule learns from. It survives restarts with the rows."""
        return await self._run(lambda: self._recent("kie_seconds", resolution, limit))

    def _recent(self, column: str, resolution: str, limit: int) -> list[float]:
        rows = self.db.table("tasks").rows_where(
            f"state = ? and resolution = ? and {column} is not null",
            [TaskState.DONE.value, resolution],
            select=column,
            order_by="finished_at desc",
            limit=limit,
        )
        return [row[column] for row in rows]

    async def save_prompt(
        self, team_id: str, user_id: str, name: str, prompt: str, options: Options, avoid: str = ""
    ) -> SavedPrompt:
        row: dict[str, Any] = {
            "team_id": team_id,
            "user_id": user_id,
            "name": name,
            "prompt": prompt,
            "avoid": avoid,
            "aspect_ratio": options.aspect_ratio,
            "resolution": options.resolution,
            "output_format": options.output_format,
            "created_at": self._clock(),
        }

        def insert() -> SavedPrompt:
            with self.db.conn:
                prompt_id = cast(int, self.db.table("saved_prompts").insert(row).last_pk)
            return SavedPrompt(id=prompt_id, **row)

        return await self._run(insert)

    async def list_prompts(self, team_id: str, limit: int = 20, contains: str = "") -> list[SavedPrompt]:
        """A workspace's saved prompts, newest first; `contains` narrows them to names with all those words in them.

        Names are compared in Python, with casefold: SQLite's lower() only knows ASCII letters. A library holds
        hundreds of prompts at most, so reading a workspace's names is cheap.
        """
        words = contains.casefold().split()
        saved = await self._run(lambda: self._saved("team_id = ?", [team_id], order_by="created_at desc, id desc"))
        return [p for p in saved if all(word in p.name.casefold() for word in words)][:limit]

    async def get_prompt(self, prompt_id: int) -> SavedPrompt | None:
        found = await self._run(lambda: self._saved("id = ?", [prompt_id]))
        return found[0] if found else None

    async def find_prompt(self, team_id: str, name: str) -> SavedPrompt | None:
        """The workspace's saved prompt with this name, in any letter case."""
        saved = await self._run(lambda: self._saved("team_id = ?", [team_id]))
        return next((p for p in saved if p.name.casefold() == name.casefold()), None)

    async def ping(self) -> bool:
        try:
            return await self._run(lambda: self.db.execute("select 1").fetchone() == (1,))
        except (sqlite3.Error, RuntimeError):
            return False

    @property
    def db(self) -> sqlite_utils.Database:
        if self._db is None:
            raise RuntimeError("the task store is not open")
        return self._db

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _add_event(self, task_id: int, state: TaskState, at: float, detail: str) -> None:
        self.db.table("task_events").insert({"task_id": task_id, "state": state.value, "at": at, "detail": detail})

    def _find(self, task_id: int) -> Task | None:
        found = self._tasks("id = ?", [task_id])
        return found[0] if found else None

    def _get(self, task_id: int) -> Task:
        task = self._find(task_id)
        if task is None:
            raise KeyError(f"task {task_id} does not exist")
        return task

    def _tasks(self, where: str, args: list[Any], **query: Any) -> list[Task]:
        rows = self.db.table("tasks").rows_where(where, args, **query)
        return [_task_from_row(row) for row in rows]

    def _saved(self, where: str, args: list[Any], **query: Any) -> list[SavedPrompt]:
        rows = self.db.table("saved_prompts").rows_where(where, args, **query)
        return [SavedPrompt(**{**row, "avoid": row.get("avoid") or ""}) for row in rows]


def _history_filter(user_id: str, states: tuple[TaskState, ...]) -> tuple[str, list[Any]]:
    marks = ", ".join("?" * len(states))
    return f"user_id = ? and deleted_at is null and state in ({marks})", [user_id, *(s.value for s in states)]


def _ensure_table(
    db: sqlite_utils.Database,
    name: str,
    columns: dict[str, type],
    foreign_keys: list[tuple[str, str, str]] | None = None,
) -> None:
    table = db.table(name)
    if not table.exists():
        table.create(columns, pk="id", foreign_keys=foreign_keys or [])
        return
    existing = table.columns_dict
    for column, kind in columns.items():
        if column not in existing:
            table.add_column(column, kind)


def _task_from_row(row: dict[str, Any]) -> Task:
    values: dict[str, Any] = {name: row.get(name) for name in _TASK_FIELDS}
    values["state"] = TaskState(row["state"])
    values["avoid"] = row.get("avoid") or ""
    values["input_files"] = row.get("input_files") or ""
    values["ancestry"] = row.get("ancestry") or ""
    values["fresh"] = bool(row.get("fresh"))
    values["credits_exact"] = bool(row.get("credits_exact"))
    values["source"] = row.get("source") or "command"  # rows from before sources were kept
    return Task(**values)

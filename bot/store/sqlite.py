"""The embedded store: SQLite through sqlite-utils, in WAL mode, for one process.

Its calls run on one dedicated thread, so the event loop never waits on the disk and the connection is only ever used
from the thread that owns it. One process is the only replica: leases have one holder, signals are calls within the
process, and locks are asyncio locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar, cast

import sqlite_utils

from bot.store.base import (
    EVENT_COLUMNS,
    FINISHED,
    SAVED_PROMPT_COLUMNS,
    SEEN_COLUMNS,
    TASK_COLUMNS,
    TASK_FIELDS,
    StoreUnavailable,
    WorkspaceRecords,
    history_filter,
    saved_prompt_row,
    task_from_row,
)
from prompts.options import Options
from prompts.tasks import NewTask, SavedPrompt, Task, TaskEvent, TaskState, Usage

T = TypeVar("T")


def _owner_only(path: Path) -> None:
    """Make the database's missing folders and the file itself readable by their owner only, whatever the umask: it
    holds Slack's installations and everyone's prompts. An older file, and its WAL files, lose any group or world
    access; SQLite gives the WAL files it creates the database file's mode."""
    missing = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by someone else: theirs, left as it is
            folder.mkdir(mode=0o700)
            folder.chmod(0o700)  # mkdir's mode is masked by the umask
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        path.chmod(0o600)
    for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        with contextlib.suppress(FileNotFoundError):
            mode = file.stat().st_mode
            if mode & 0o077:
                file.chmod(mode & 0o700)


class SqliteTaskStore:
    backend = "sqlite"
    shared = False

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time, tool: bool = False) -> None:
        self._path = path
        self._tool = tool  # a command beside a running app (forget-workspace): it must not take the app's work
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite_utils.Database | None = None
        self._handlers: list[Callable[[int, str], None]] = []
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def open(self) -> SqliteTaskStore:
        """Open (and make, or bring up to date) the database. A file Banana cannot use raises StoreUnavailable, saying
        what is wrong with DATABASE_PATH and what to do; the caller says it in one line."""
        try:
            await self._run(self._open)
        except (OSError, sqlite3.Error) as error:
            raise StoreUnavailable(_unusable(self._path, error)) from None
        return self

    def _open(self) -> None:
        # Checked before _owner_only, which would take a folder's or another file's group and world access away
        if self._path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(self._path))
        if self._path.is_file() and not _sqlite_or_empty(self._path):
            raise sqlite3.DatabaseError("file is not a database")
        _owner_only(self._path)
        db = sqlite_utils.Database(sqlite3.connect(self._path, check_same_thread=False))
        try:
            self._prepare(db)
        except BaseException:
            db.close()
            raise
        self._db = db

    def _prepare(self, db: sqlite_utils.Database) -> None:
        db.enable_wal()
        db.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash may lose the last commit, never corrupt
        db.execute("PRAGMA foreign_keys=ON")
        _ensure_table(db, "tasks", TASK_COLUMNS)
        _ensure_table(db, "task_events", EVENT_COLUMNS, foreign_keys=[("task_id", "tasks", "id")])
        db.table("tasks").create_index(["user_id", "created_at"], if_not_exists=True)
        db.table("tasks").create_index(["state"], if_not_exists=True)
        db.table("tasks").create_index(["slack_file_id"], if_not_exists=True)
        db.table("tasks").create_index(["request_key"], if_not_exists=True)
        db.table("tasks").create_index(["channel_id", "thread_ts"], if_not_exists=True)
        db.table("tasks").create_index(["parent_task_id"], if_not_exists=True)
        db.table("tasks").create_index(["set_id"], if_not_exists=True)
        db.table("task_events").create_index(["task_id"], if_not_exists=True)
        db.table("tasks").create_index(["lease_until"], if_not_exists=True)
        _ensure_table(db, "seen_requests", SEEN_COLUMNS, pk="key")
        db.table("seen_requests").create_index(["at"], if_not_exists=True)
        _ensure_table(db, "saved_prompts", SAVED_PROMPT_COLUMNS)
        if not self._tool:
            # One app process uses the file: a lease found here is a previous run's, its work free to take at once.
            db.execute("update tasks set lease_owner = null, lease_until = null where lease_owner is not null")
        db.table("saved_prompts").create_index(["team_id", "created_at"], if_not_exists=True)

    async def close(self) -> None:
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    async def add(self, new: NewTask, *, holder: str | None = None, lease_seconds: float = 0) -> Task:
        (task,) = await self._insert([new], holder=holder, lease_seconds=lease_seconds, grouped=False)
        return task

    async def add_set(self, news: list[NewTask], *, holder: str | None = None, lease_seconds: float = 0) -> list[Task]:
        """Store variations made together, in one transaction: each knows the set (its first task's id) and its slot."""
        return await self._insert(news, holder=holder, lease_seconds=lease_seconds, grouped=True)

    async def _insert(
        self, news: list[NewTask], *, holder: str | None, lease_seconds: float, grouped: bool
    ) -> list[Task]:
        """New tasks, held by `holder` from the start (the unit's first task carries the lease), so no other replica
        claims them before they run."""
        now = self._clock()
        pending = {"state": TaskState.PENDING.value, "created_at": now, "updated_at": now}
        lease = {"lease_owner": holder, "lease_until": now + lease_seconds} if holder else {}

        def insert() -> list[Task]:
            ids: list[int] = []
            with self.db.conn:
                for slot, new in enumerate(news, start=1):
                    row = {**new.__dict__, **pending, **(lease if not ids else {})}
                    task_id = cast(int, self.db.table("tasks").insert(row).last_pk)
                    ids.append(task_id)
                    detail = ""
                    if grouped:
                        self.db.table("tasks").update(task_id, {"set_id": ids[0], "slot": slot})
                        detail = f"variation {slot} of {len(news)}"
                    self._add_event(task_id, TaskState.PENDING, now, detail)
            return [self._get(task_id) for task_id in ids]

        return await self._run(insert)

    async def get(self, task_id: int) -> Task | None:
        return await self._run(lambda: self._find(task_id))

    async def update(self, task_id: int, **changes: Any) -> Task:
        unknown = set(changes) - TASK_FIELDS
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

    async def for_user(self, team_id: str, user_id: str, limit: int = 20) -> list[Task]:
        where, args = "team_id = ? and user_id = ?", [team_id, user_id]
        return await self._run(lambda: self._tasks(where, args, order_by="created_at desc", limit=limit))

    async def history(
        self, team_id: str, user_id: str, states: tuple[TaskState, ...], offset: int, limit: int
    ) -> list[Task]:
        """A page of a person's tasks in the given states, newest first, leaving out results they deleted."""
        where, args = history_filter(team_id, user_id, states)
        return await self._run(
            lambda: self._tasks(where, args, order_by="created_at desc, id desc", limit=limit, offset=offset)
        )

    async def count(self, team_id: str, user_id: str, states: tuple[TaskState, ...]) -> int:
        where, args = history_filter(team_id, user_id, states)
        return await self._run(lambda: self.db.table("tasks").count_where(where, args))

    async def usage(self, team_id: str, user_id: str, since: float) -> Usage:
        """Images delivered to a person of a workspace since a time, and the credits their tasks cost."""
        return await self._run(lambda: self._usage("team_id = ? and user_id = ?", [team_id, user_id], since))

    async def team_usage(self, team_id: str, since: float) -> Usage:
        """The same for a whole workspace."""
        return await self._run(lambda: self._usage("team_id = ?", [team_id], since))

    def _usage(self, whose: str, args: list[Any], since: float) -> Usage:
        sql = (
            "select count(*) filter (where state = ?), coalesce(sum(credits), 0),"
            " coalesce(sum(credits) filter (where credits_exact), 0) from tasks "
            f"where {whose} and created_at >= ?"
        )
        images, credits, exact = self.db.execute(sql, [TaskState.DONE.value, *args, since]).fetchone()
        return Usage(images=images, credits=credits, exact_credits=exact)

    async def reusable(self, team_id: str, request_key: str, channel_id: str) -> Task | None:
        """The newest finished task of a workspace with this exact request whose image is still in Slack, made in
        this conversation or in a public channel: a private conversation's image is never posted outside it."""
        where = (
            "team_id = ? and request_key = ? and state = ? and slack_file_id is not null"
            " and deleted_at is null and file_gone_at is null and (channel_id = ? or public_channel = 1)"
        )
        args = [team_id, request_key, TaskState.DONE.value, channel_id]
        found = await self._run(lambda: self._tasks(where, args, order_by="finished_at desc", limit=1))
        return found[0] if found else None

    async def by_file_id(self, team_id: str, file_id: str) -> Task | None:
        """The workspace's task whose result is this Slack file, if any: how a remix finds its parent."""
        found = await self._run(lambda: self._tasks("team_id = ? and slack_file_id = ?", [team_id, file_id], limit=1))
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

    async def with_children(self, task_ids: list[int], viewer: str) -> frozenset[int]:
        """Which of these tasks have tasks made from them that `viewer` may see: their own, or made in a public
        channel (privacy.visible_to), so Home offers Family only where Family has something to show."""
        if not task_ids:
            return frozenset()
        marks = ", ".join("?" * len(task_ids))
        sql = (
            f"select distinct parent_task_id from tasks where parent_task_id in ({marks})"
            " and (user_id = ? or public_channel = 1)"
        )
        args = [*task_ids, viewer]
        return await self._run(lambda: frozenset(row[0] for row in self.db.execute(sql, args).fetchall()))

    async def recent_kie_seconds(self, resolution: str, limit: int = 30) -> list[float]:
        """How long kie took (create to image ready) for recent tasks of a resolution, newest first: what the poll
        schedule and the card's estimate learn from. It survives restarts with the rows."""
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
        row = saved_prompt_row(team_id, user_id, name, prompt, options, avoid, self._clock())

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

    async def get_prompt(self, team_id: str, prompt_id: int) -> SavedPrompt | None:
        found = await self._run(lambda: self._saved("team_id = ? and id = ?", [team_id, prompt_id]))
        return found[0] if found else None

    async def find_prompt(self, team_id: str, name: str) -> SavedPrompt | None:
        """The workspace's saved prompt with this name, in any letter case."""
        saved = await self._run(lambda: self._saved("team_id = ?", [team_id]))
        return next((p for p in saved if p.name.casefold() == name.casefold()), None)

    async def claim(self, holder: str, lease_seconds: float, limit: int = 100) -> list[list[Task]]:
        """Units with unfinished work whose lease is free or has run out, now held by `holder`; each unit's tasks by
        slot. One process holds everything, so this takes what a previous run left behind."""
        now = self._clock()
        marks = ", ".join("?" * len(FINISHED))
        # From the unfinished tasks (the state index finds them), not from every unit ever made.
        sql = (
            "select id from tasks u where (u.set_id is null or u.set_id = u.id)"
            " and (u.lease_until is null or u.lease_until < ?)"
            f" and u.id in (select coalesce(m.set_id, m.id) from tasks m where m.state not in ({marks}))"
            " order by id limit ?"
        )

        def take() -> list[list[Task]]:
            with self.db.conn:
                units = [row[0] for row in self.db.execute(sql, [now, *FINISHED, limit]).fetchall()]
                for unit in units:
                    self.db.table("tasks").update(unit, {"lease_owner": holder, "lease_until": now + lease_seconds})
            return [self._tasks("coalesce(set_id, id) = ?", [unit], order_by="slot, id") for unit in units]

        return await self._run(take)

    async def renew(self, holder: str, units: list[int], lease_seconds: float) -> list[int]:
        """Extend `holder`'s leases; the units it still holds (a lease another has taken over stays theirs)."""
        if not units:
            return []
        marks = ", ".join("?" * len(units))
        until = self._clock() + lease_seconds

        def extend() -> list[int]:
            with self.db.conn:
                self.db.execute(
                    f"update tasks set lease_until = ? where id in ({marks}) and lease_owner = ?",
                    [until, *units, holder],
                )
                held = self.db.execute(
                    f"select id from tasks where id in ({marks}) and lease_owner = ?", [*units, holder]
                )
                return [row[0] for row in held.fetchall()]

        return await self._run(extend)

    async def release(self, holder: str, unit: int) -> None:
        def free() -> None:
            with self.db.conn:
                self.db.execute(
                    "update tasks set lease_owner = null, lease_until = null where id = ? and lease_owner = ?",
                    [unit, holder],
                )

        await self._run(free)

    async def signal(self, task_id: int, kind: str) -> None:
        for handler in self._handlers:
            asyncio.get_running_loop().call_soon(handler, task_id, kind)

    async def listen(self, handler: Callable[[int, str], None]) -> None:
        self._handlers.append(handler)

    async def first_time(self, key: str, keep_seconds: float = 3600) -> bool:
        now = self._clock()

        def mark() -> bool:
            with self.db.conn:
                self.db.execute("delete from seen_requests where at < ?", [now - keep_seconds])
                cursor = self.db.execute("insert or ignore into seen_requests (key, at) values (?, ?)", [key, now])
                return cursor.rowcount == 1

        return await self._run(mark)

    def exclusive(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._locks[name]

    async def take_slot(self, name: str, limit: int, window: float) -> float:
        """One process: its own limiters are all the pacing there is, so a slot is always free."""
        return 0.0

    async def forget_workspace(self, team_id: str) -> int:
        """Delete everything kept about a workspace; how many tasks there were."""

        def forget() -> int:
            with self.db.conn:
                ids = "select id from tasks where team_id = ?"
                self.db.execute(f"delete from task_events where task_id in ({ids})", [team_id])
                tasks = self.db.execute("delete from tasks where team_id = ?", [team_id]).rowcount
                self.db.execute("delete from saved_prompts where team_id = ?", [team_id])
                for table in ("installed_bots", "installations"):  # there once it was installed through OAuth
                    if self.db.table(table).exists():
                        self.db.execute(f"delete from {table} where team_id = ?", [team_id])
                return tasks

        return await self._run(forget)

    async def workspace_records(self, team_id: str) -> WorkspaceRecords:
        def count() -> WorkspaceRecords:
            def rows(table: str) -> int:
                if not self.db.table(table).exists():  # the installation tables: there once installed through OAuth
                    return 0
                return int(self.db.execute(f"select count(*) from {table} where team_id = ?", [team_id]).fetchone()[0])

            installed = rows("installed_bots") + rows("installations") > 0
            return WorkspaceRecords(rows("tasks"), rows("saved_prompts"), installed)

        return await self._run(count)

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
        return [task_from_row(row) for row in rows]

    def _saved(self, where: str, args: list[Any], **query: Any) -> list[SavedPrompt]:
        rows = self.db.table("saved_prompts").rows_where(where, args, **query)
        return [SavedPrompt(**{**row, "avoid": row.get("avoid") or ""}) for row in rows]


def _sqlite_or_empty(path: Path) -> bool:
    """Whether a file starts as every SQLite database does (https://www.sqlite.org/fileformat.html), or is empty
    (SQLite makes an empty file a new database)."""
    with path.open("rb") as file:
        start = file.read(16)
    return start in (b"", b"SQLite format 3\x00")


def _unusable(path: Path, error: OSError | sqlite3.Error) -> str:
    """What is wrong with DATABASE_PATH, in one line that ends with what to do."""
    if isinstance(error, IsADirectoryError):
        return f"DATABASE_PATH {path} is a folder: set DATABASE_PATH to a file, such as {path / 'banana.db'}"
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename and str(error.filename) != str(path) else ""
        return (
            f"DATABASE_PATH {path} cannot be made or opened: {error.strerror or error}{where}; set DATABASE_PATH to a "
            "file in a folder Banana may write to"
        )
    if "not a database" in str(error):
        return (
            f"DATABASE_PATH {path} is not a SQLite database: set DATABASE_PATH to Banana's database, or to a file "
            "that does not exist yet"
        )
    if "readonly" in str(error) or "unable to open" in str(error):
        return (
            f"DATABASE_PATH {path} cannot be written ({error}): Banana needs to write the file and the folder it is "
            "in (SQLite keeps its journal beside it)"
        )
    return f"DATABASE_PATH {path} cannot be used ({error}): set DATABASE_PATH to Banana's database"


def _ensure_table(
    db: sqlite_utils.Database,
    name: str,
    columns: dict[str, type],
    foreign_keys: list[tuple[str, str, str]] | None = None,
    pk: str = "id",
) -> None:
    table = db.table(name)
    if not table.exists():
        table.create(columns, pk=pk, foreign_keys=foreign_keys or [])
        return
    existing = table.columns_dict
    for column, kind in columns.items():
        if column not in existing:
            table.add_column(column, kind)

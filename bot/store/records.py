"""The task records' queries, written once for both backends (tasks, their history, families, usage, saved prompts,
and what a workspace leaves behind): each runs through a `Database`, so a query, a column or an ordering cannot differ
between SQLite and PostgreSQL. Every ordering ends with `id` (or names where NULLs go), so ties sort alike too."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from bot.store.base import FINISHED, TASK_FIELDS, NameTaken, SettingsChange, WorkspaceRecords, task_from_row
from bot.store.database import Database, Duplicate, Row, Session, Statement, in_marks
from prompts.options import NANO_BANANA_PRO, TOPAZ_UPSCALE, Options
from prompts.tasks import BrandImage, NewTask, SavedPrompt, StoredBrand, Task, TaskEvent, TaskState, Usage

_BOOLEAN_COLUMNS = frozenset({"fresh", "credits_exact", "card_pending"})
NEWEST_FIRST = "order by created_at desc nulls last, id desc"
_SETTINGS_TABLES = ("workspace_settings", "settings_changes", "workspace_brands", "brand_images", "workspace_kie_keys")
_IMAGE_COLUMNS = "team_id, sha256, role, position, name, mime, width, height, kie_url, kie_url_at"


def _value(column: str, value: Any) -> Any:
    """A value as its column takes it: PostgreSQL's booleans are not integers, nor its integers booleans."""
    if value is None:
        return None
    if column in _BOOLEAN_COLUMNS:
        return bool(value)
    return int(value) if isinstance(value, bool) else value


def _whole(value: Any) -> Any:
    """A whole float as an int, as SQLite's INTEGER affinity gives it back (18.0 → 18; 17.5 stays)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def task_of(row: Row) -> Task:
    return task_from_row({**row, "credits": _whole(row.get("credits"))})


def _saved(row: Row) -> SavedPrompt:
    return SavedPrompt(
        id=row["id"],
        team_id=row["team_id"],
        user_id=row["user_id"],
        name=row["name"],
        prompt=row["prompt"],
        avoid=row["avoid"] or "",
        aspect_ratio=row["aspect_ratio"],
        resolution=row["resolution"],
        output_format=row["output_format"],
        created_at=row["created_at"],
    )


def _history(team_id: str, user_id: str, states: tuple[TaskState, ...]) -> tuple[str, list[Any]]:
    where = f"team_id = ? and user_id = ? and deleted_at is null and state in {in_marks(states)}"
    return where, [team_id, user_id, *(s.value for s in states)]


class Records:
    """Every task, its history, and saved prompts, on the store's `database`. Times the app writes (created, updated,
    finished) come from the store's clock; leases are timed by the database (`epoch_now()`)."""

    database: Database
    _clock: Callable[[], float]

    async def _tasks(self, where: str, args: Sequence[Any] = (), tail: str = "") -> list[Task]:
        rows = await self.database.fetch(f"select * from tasks where {where} {tail}", args)
        return [task_of(row) for row in rows]

    # Tasks

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
        tasks: list[Task] = []
        async with self.database.transaction() as session:
            for slot, new in enumerate(news, start=1):
                row: dict[str, Any] = {**new.__dict__, "state": TaskState.PENDING.value, "created_at": now}
                row["updated_at"] = now
                if grouped and tasks:
                    row |= {"set_id": tasks[0].id, "slot": slot}
                names, marks = list(row), ["?"] * len(row)
                args = [_value(name, value) for name, value in row.items()]
                if holder is not None and not tasks:
                    names += ["lease_owner", "lease_until"]
                    marks += ["?", "epoch_now() + ?"]
                    args += [holder, lease_seconds]
                query = f"insert into tasks ({', '.join(names)}) values ({', '.join(marks)}) returning *"
                (created,) = await session.fetch(query, args)
                if grouped and not tasks:
                    (created,) = await session.fetch(
                        "update tasks set set_id = id, slot = 1 where id = ? returning *", [created["id"]]
                    )
                task = task_of(created)
                detail = f"variation {slot} of {len(news)}" if grouped else ""
                await self._add_event(session, task.id, TaskState.PENDING, now, detail)
                tasks.append(task)
        return tasks

    async def get(self, task_id: int) -> Task | None:
        found = await self._tasks("id = ?", [task_id])
        return found[0] if found else None

    async def update(self, task_id: int, **changes: Any) -> Task:
        _known(changes)
        async with self.database.transaction() as session:
            return await self._write(session, task_id, {**changes, "updated_at": self._clock()})

    async def set_state(self, task_id: int, state: TaskState, detail: str = "", **changes: Any) -> Task:
        """Move a task to `state` and keep the change, with its time, in the task's history."""
        _known(changes)
        now = self._clock()
        changes = {**changes, "state": state.value, "updated_at": now}
        if state.finished:
            changes.setdefault("finished_at", now)
        async with self.database.transaction() as session:
            task = await self._write(session, task_id, changes)
            await self._add_event(session, task_id, state, now, detail)
        return task

    async def _write(self, session: Session, task_id: int, changes: dict[str, Any]) -> Task:
        changes = {name: value for name, value in changes.items() if name != "id"}
        assignments = ", ".join(f"{name} = ?" for name in changes)  # names checked against Task's fields
        rows = await session.fetch(
            f"update tasks set {assignments} where id = ? returning *",
            [*(_value(name, value) for name, value in changes.items()), task_id],
        )
        if not rows:
            raise KeyError(f"task {task_id} does not exist")
        return task_of(rows[0])

    async def _add_event(self, session: Session, task_id: int, state: TaskState, at: float, detail: str) -> None:
        await session.execute(
            "insert into task_events (task_id, state, at, detail) values (?, ?, ?, ?)",
            [task_id, state.value, at, detail],
        )

    async def events(self, task_id: int) -> list[TaskEvent]:
        rows = await self.database.fetch("select * from task_events where task_id = ? order by id", [task_id])
        return [TaskEvent(r["task_id"], r["state"], r["at"], r["detail"] or "") for r in rows]

    async def unfinished(self, team_id: str) -> list[Task]:
        """A workspace's tasks still running."""
        return await self._tasks(
            f"team_id = ? and state not in {in_marks(FINISHED)}", [team_id, *FINISHED], "order by id"
        )

    async def for_user(self, team_id: str, user_id: str, limit: int = 20) -> list[Task]:
        """A person's tasks in a workspace, newest first."""
        return await self._tasks("team_id = ? and user_id = ?", [team_id, user_id, limit], f"{NEWEST_FIRST} limit ?")

    async def history(
        self, team_id: str, user_id: str, states: tuple[TaskState, ...], offset: int, limit: int
    ) -> list[Task]:
        """A page of a person's tasks in the given states, newest first, leaving out results they deleted."""
        where, args = _history(team_id, user_id, states)
        return await self._tasks(where, [*args, limit, offset], f"{NEWEST_FIRST} limit ? offset ?")

    async def count(self, team_id: str, user_id: str, states: tuple[TaskState, ...]) -> int:
        where, args = _history(team_id, user_id, states)
        (row,) = await self.database.fetch(f"select count(*) as n from tasks where {where}", args)
        return int(row["n"])

    async def usage(self, team_id: str, user_id: str, since: float) -> Usage:
        """Images delivered to a person of a workspace since a time, and the credits their tasks cost."""
        return await self._usage("team_id = ? and user_id = ?", [team_id, user_id], since)

    async def team_usage(self, team_id: str, since: float) -> Usage:
        """The same for a whole workspace."""
        return await self._usage("team_id = ?", [team_id], since)

    async def _usage(self, whose: str, args: list[Any], since: float) -> Usage:
        (row,) = await self.database.fetch(
            "select count(*) filter (where state = ?) as images, coalesce(sum(credits), 0) as credits,"
            " coalesce(sum(credits) filter (where credits_exact), 0) as exact"
            f" from tasks where {whose} and created_at >= ?",
            [TaskState.DONE.value, *args, since],
        )
        return Usage(images=int(row["images"]), credits=_whole(row["credits"]), exact_credits=_whole(row["exact"]))

    async def reusable(self, team_id: str, request_key: str, channel_id: str) -> Task | None:
        """The newest finished task of a workspace with this exact request whose image is still in Slack, made in
        this conversation or in a public channel: a private conversation's image is never posted outside it."""
        where = (
            "team_id = ? and request_key = ? and state = ? and slack_file_id is not null"
            " and deleted_at is null and file_gone_at is null and (channel_id = ? or public_channel = 1)"
        )
        args = [team_id, request_key, TaskState.DONE.value, channel_id]
        found = await self._tasks(where, args, "order by finished_at desc nulls last, id desc limit 1")
        return found[0] if found else None

    async def by_file_id(self, team_id: str, file_id: str) -> Task | None:
        """The workspace's task whose result is this Slack file, if any: how a remix finds its parent."""
        found = await self._tasks("team_id = ? and slack_file_id = ?", [team_id, file_id], "order by id limit 1")
        return found[0] if found else None

    async def in_thread(self, team_id: str, channel_id: str, thread_ts: str) -> list[Task]:
        """A workspace's tasks whose card or result is in this thread, oldest first: what a mention there can edit."""
        where = "team_id = ? and channel_id = ? and (thread_ts = ? or message_ts = ?)"
        return await self._tasks(where, [team_id, channel_id, thread_ts, thread_ts], "order by id")

    async def set_of(self, set_id: int) -> list[Task]:
        """The variations made together with the task `set_id`, by slot."""
        return await self._tasks("set_id = ?", [set_id], "order by slot nulls first, id")

    async def family(self, task_id: int) -> list[Task]:
        """A task's family: its first ancestor and every task that came from it, however far down, in one workspace.

        Parents always have smaller ids than their children, so one walk down the ids finds every descendant."""
        task = await self.get(task_id)
        if task is None:
            return []
        root: Task | None = task
        while root is not None:
            task, up = root, root.parent_task_id or (root.set_id if root.set_id != root.id else None)
            root = await self.get(up) if up is not None else None
            root = root if root is not None and root.team_id == task.team_id else None
        rows = await self.database.fetch(
            "with recursive kin(id) as (select cast(? as bigint) union select t.id from tasks t join kin"
            " on t.parent_task_id = kin.id or (t.set_id = kin.id and t.id <> kin.id))"
            " select * from tasks where id in (select id from kin) and team_id = ? order by id",
            [task.id, task.team_id],
        )
        return [task_of(row) for row in rows]

    async def with_children(self, task_ids: list[int], viewer: str) -> frozenset[int]:
        """Which of these tasks have tasks made from them that `viewer` may see: their own, or made in a public
        channel (privacy.visible_to), so Home offers Family only where Family has something to show."""
        if not task_ids:
            return frozenset()
        rows = await self.database.fetch(
            f"select distinct parent_task_id from tasks where parent_task_id in {in_marks(task_ids)}"
            " and (user_id = ? or public_channel = 1)",
            [*task_ids, viewer],
        )
        return frozenset(row["parent_task_id"] for row in rows)

    async def recent_kie_seconds(self, resolution: str, limit: int = 30) -> list[float]:
        """How long kie took (create to image ready) for recent Nano Banana Pro tasks of a resolution, or with the
        upscaler's id for recent upscales (`Task.timing_key`), newest first: what the poll schedule and the card's
        estimate learn from. It survives restarts with the rows."""
        upscales = resolution == TOPAZ_UPSCALE
        rows = await self.database.fetch(
            f"select kie_seconds from tasks where state = ? and {'model' if upscales else 'resolution'} = ?"
            " and model = ? and kie_seconds is not null order by finished_at desc nulls last, id desc limit ?",
            [TaskState.DONE.value, resolution, TOPAZ_UPSCALE if upscales else NANO_BANANA_PRO, limit],
        )
        return [row["kie_seconds"] for row in rows]

    # Saved prompts: a name is unique in its workspace in any letter case (Python's casefold, kept in name_key)

    async def save_prompt(
        self, team_id: str, user_id: str, name: str, prompt: str, options: Options, avoid: str = ""
    ) -> SavedPrompt:
        """Keep a prompt under a name; NameTaken when the workspace has one of that name (in any letter case),
        also when two people save the name at once: the database's unique key lets exactly one of them in."""
        try:
            (row,) = await self.database.fetch(
                "insert into saved_prompts (team_id, user_id, name, name_key, prompt, avoid, aspect_ratio,"
                " resolution, output_format, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) returning *",
                [
                    team_id,
                    user_id,
                    name,
                    name.casefold(),
                    prompt,
                    avoid,
                    options.aspect_ratio,
                    options.resolution,
                    options.output_format,
                    self._clock(),
                ],
            )
        except Duplicate:
            raise NameTaken(name) from None
        return _saved(row)

    async def list_prompts(self, team_id: str, limit: int = 20, contains: str = "") -> list[SavedPrompt]:
        """A workspace's saved prompts, newest first; `contains` narrows them to names with all those words in them.

        Names are compared in Python, with casefold: SQLite's lower() only knows ASCII letters. A library holds
        hundreds of prompts at most, so reading a workspace's names is cheap.
        """
        words = contains.casefold().split()
        rows = await self.database.fetch(f"select * from saved_prompts where team_id = ? {NEWEST_FIRST}", [team_id])
        saved = [_saved(row) for row in rows]
        return [p for p in saved if all(word in p.name.casefold() for word in words)][:limit]

    async def get_prompt(self, team_id: str, prompt_id: int) -> SavedPrompt | None:
        rows = await self.database.fetch(
            "select * from saved_prompts where team_id = ? and id = ?", [team_id, prompt_id]
        )
        return _saved(rows[0]) if rows else None

    async def find_prompt(self, team_id: str, name: str) -> SavedPrompt | None:
        """The workspace's saved prompt with this name, in any letter case."""
        rows = await self.database.fetch(
            "select * from saved_prompts where team_id = ? and name_key = ?", [team_id, name.casefold()]
        )
        return _saved(rows[0]) if rows else None

    # A workspace's own settings, kept as JSON text (the same on both backends), and their change log

    async def workspace_settings(self, team_id: str) -> dict[str, Any]:
        rows = await self.database.fetch("select data from workspace_settings where team_id = ?", [team_id])
        return dict(json.loads(rows[0]["data"])) if rows else {}

    async def save_workspace_settings(
        self,
        team_id: str,
        user_id: str,
        data: dict[str, Any],
        change: str,
        also: Callable[[float], Sequence[Statement]] = lambda now: (),
    ) -> None:
        """Replace the workspace's settings and record who changed what, together or not at all; `also(now)`: more
        statements in the same transaction (a new kie.ai key, kie_keys.py's)."""
        now = self._clock()
        async with self.database.transaction() as session:
            for query, args in also(now):
                await session.execute(query, args)
            await session.execute(
                "insert into workspace_settings (team_id, data, updated_at) values (?, ?, ?)"
                " on conflict (team_id) do update set data = excluded.data, updated_at = excluded.updated_at",
                [team_id, json.dumps(data, sort_keys=True), now],
            )
            await session.execute(
                "insert into settings_changes (team_id, user_id, at, change) values (?, ?, ?, ?)",
                [team_id, user_id, now, change],
            )

    async def settings_changes(self, team_id: str, limit: int = 5) -> list[SettingsChange]:
        rows = await self.database.fetch(
            "select * from settings_changes where team_id = ? order by at desc, id desc limit ?", [team_id, limit]
        )
        return [SettingsChange(r["team_id"], r["user_id"], r["at"], r["change"]) for r in rows]

    async def forget_settings(self, team_id: str) -> None:
        """A workspace's settings, their log and its brand kit, deleted (on uninstall; its task history stays until
        forgotten)."""
        async with self.database.transaction() as session:
            for table in _SETTINGS_TABLES:
                await session.execute(f"delete from {table} where team_id = ?", [team_id])

    # A workspace's brand kit: its fields as JSON text, its images as the bytes prepared for kie

    async def workspace_brand(self, team_id: str) -> StoredBrand | None:
        rows = await self.database.fetch("select * from workspace_brands where team_id = ?", [team_id])
        if not rows:
            return None
        images = await self.database.fetch(
            f"select {_IMAGE_COLUMNS} from brand_images where team_id = ? order by role, position, sha256", [team_id]
        )
        return StoredBrand(
            team_id, dict(json.loads(rows[0]["data"])), tuple(_image(r) for r in images), rows[0]["updated_at"]
        )

    async def brand_image(self, team_id: str, sha256: str) -> BrandImage | None:
        rows = await self.database.fetch(
            f"select {_IMAGE_COLUMNS}, data from brand_images where team_id = ? and sha256 = ?", [team_id, sha256]
        )
        return _image(rows[0]) if rows else None

    async def save_workspace_brand(
        self, team_id: str, user_id: str, data: dict[str, Any], images: list[BrandImage], change: str
    ) -> None:
        """Replace the workspace's brand kit and record the change, together or not at all. An image without `data`
        is one already stored (it keeps its bytes and kie's URL; KeyError if it is gone); images not listed go."""
        now = self._clock()
        async with self.database.transaction() as session:
            await session.execute(
                "insert into workspace_brands (team_id, data, updated_at) values (?, ?, ?)"
                " on conflict (team_id) do update set data = excluded.data, updated_at = excluded.updated_at",
                [team_id, json.dumps(data), now],  # in its order: a brand's first colour is its main one
            )
            kept = [image.sha256 for image in images]
            await session.execute(
                f"delete from brand_images where team_id = ? and sha256 not in {in_marks(kept)}", [team_id, *kept]
            )
            for image in images:
                await _save_image(session, team_id, image)
            await session.execute(
                "insert into settings_changes (team_id, user_id, at, change) values (?, ?, ?, ?)",
                [team_id, user_id, now, change],
            )

    async def remember_kie_url(self, team_id: str, sha256: str, url: str, at: float) -> None:
        await self.database.execute(
            "update brand_images set kie_url = ?, kie_url_at = ? where team_id = ? and sha256 = ?",
            [url, at, team_id, sha256],
        )

    # A workspace's records

    async def forget_workspace(self, team_id: str) -> int:
        """Delete everything kept about a workspace, in one transaction; how many tasks there were."""
        async with self.database.transaction() as session:
            await session.execute(
                "delete from task_events where task_id in (select id from tasks where team_id = ?)", [team_id]
            )
            tasks = await session.execute("delete from tasks where team_id = ?", [team_id])
            for table in ("saved_prompts", *_SETTINGS_TABLES, "installed_bots", "installations"):
                await session.execute(f"delete from {table} where team_id = ?", [team_id])
        return tasks

    async def workspace_records(self, team_id: str) -> WorkspaceRecords:
        """What forget_workspace would delete, counted; reads only."""
        (row,) = await self.database.fetch(
            "select (select count(*) from tasks where team_id = ?) as tasks,"
            " (select count(*) from saved_prompts where team_id = ?) as saved_prompts,"
            " (select count(*) from installed_bots where team_id = ?)"
            " + (select count(*) from installations where team_id = ?) as installed,"
            " (select count(*) from workspace_settings where team_id = ?)"
            " + (select count(*) from settings_changes where team_id = ?)"
            " + (select count(*) from workspace_brands where team_id = ?)"
            " + (select count(*) from workspace_kie_keys where team_id = ?) as settings",
            [team_id] * 8,
        )
        return WorkspaceRecords(
            int(row["tasks"]), int(row["saved_prompts"]), int(row["installed"]) > 0, int(row["settings"]) > 0
        )


def _image(row: Row) -> BrandImage:
    data = row.get("data")
    return BrandImage(
        team_id=row["team_id"],
        sha256=row["sha256"],
        role=row["role"],
        position=int(row["position"]),
        name=row["name"],
        mime=row["mime"],
        width=int(row["width"]),
        height=int(row["height"]),
        data=bytes(data) if data is not None else None,
        kie_url=row["kie_url"] or "",
        kie_url_at=row["kie_url_at"],
    )


async def _save_image(session: Session, team_id: str, image: BrandImage) -> None:
    place = [image.role, image.position, image.name]
    if image.data is None:
        if not await session.execute(
            "update brand_images set role = ?, position = ?, name = ? where team_id = ? and sha256 = ?",
            [*place, team_id, image.sha256],
        ):
            raise KeyError(f"brand image {image.sha256} is no longer stored")
        return
    await session.execute(
        "insert into brand_images (team_id, sha256, role, position, name, mime, width, height, data)"
        " values (?, ?, ?, ?, ?, ?, ?, ?, ?) on conflict (team_id, sha256) do update set role = excluded.role,"
        " position = excluded.position, name = excluded.name",
        [team_id, image.sha256, *place, image.mime, image.width, image.height, image.data],
    )


def _known(changes: dict[str, Any]) -> None:
    unknown = set(changes) - TASK_FIELDS
    if unknown:
        raise ValueError(f"unknown task fields: {sorted(unknown)}")

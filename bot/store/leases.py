"""The coordination between replicas that is SQL, written once: leases on units of work, and Slack's repeated
requests. Timed by the database's clock (`epoch_now()`), never a replica's. Signals, locks and rate slots differ by
mechanism (in-process on SQLite; LISTEN/NOTIFY and advisory locks on PostgreSQL) and stay with each backend."""

from __future__ import annotations

import time

from bot.store.base import FINISHED
from bot.store.database import Database, in_marks
from bot.store.records import task_of
from prompts.tasks import Task


class Leases:
    """A unit of work (a task, or a set of variations, whose first task carries the lease) is held by one replica at a
    time, until its lease runs out."""

    database: Database
    _next_prune = 0.0  # when to prune old seen requests next (time.monotonic())

    async def claim(self, holder: str, lease_seconds: float, limit: int = 100) -> list[list[Task]]:
        """Units with unfinished work (a task still running, or a card's final edit still owed) whose lease is free or
        has run out, now held by `holder`; each unit's tasks by slot. Safe with several replicas claiming at once: a
        unit another is claiming is skipped (SKIP LOCKED on PostgreSQL; SQLite's transaction locks the file), and one
        whose lease was just taken is seen as taken."""
        async with self.database.transaction() as session:
            # From the unfinished tasks (an index finds them), not from every unit ever made.
            taken = await session.fetch(
                "with units as (select u.id from tasks u where (u.set_id is null or u.set_id = u.id)"
                " and (u.lease_until is null or u.lease_until < epoch_now())"
                " and u.id in (select coalesce(m.set_id, m.id) from tasks m"
                f" where m.state not in {in_marks(FINISHED)} or m.card_pending)"
                f" order by u.id limit ?{self.database.skip_locked})"
                " update tasks set lease_owner = ?, lease_until = epoch_now() + ?"
                " where id in (select id from units) returning id",
                [*FINISHED, limit, holder, lease_seconds],
            )
            units = sorted(row["id"] for row in taken)
            if not units:
                return []
            rows = await session.fetch(
                f"select * from tasks where id in {in_marks(units)} or set_id in {in_marks(units)}"
                " order by coalesce(set_id, id), slot nulls first, id",
                [*units, *units],
            )
        members: dict[int, list[Task]] = {unit: [] for unit in units}
        for row in rows:
            task = task_of(row)
            members[task.set_id or task.id].append(task)
        return [members[unit] for unit in units]

    async def renew(self, holder: str, units: list[int], lease_seconds: float) -> list[int]:
        """Extend `holder`'s leases; the units it still holds (a lease another has taken over stays theirs)."""
        if not units:
            return []
        rows = await self.database.fetch(
            f"update tasks set lease_until = epoch_now() + ? where id in {in_marks(units)} and lease_owner = ?"
            " returning id",
            [lease_seconds, *units, holder],
        )
        return sorted(row["id"] for row in rows)

    async def release(self, holder: str, unit: int) -> None:
        await self.database.execute(
            "update tasks set lease_owner = null, lease_until = null where id = ? and lease_owner = ?", [unit, holder]
        )

    async def first_time(self, key: str, keep_seconds: float = 3600) -> bool:
        """True the first time `key` is seen within `keep_seconds` (shared by every replica); a key seen longer ago
        counts as new. Old keys are pruned at most once a minute."""
        if time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + 60
            await self.database.execute("delete from seen_requests where at < epoch_now() - ?", [keep_seconds])
        changed = await self.database.execute(
            "insert into seen_requests (key, at) values (?, epoch_now()) on conflict (key) do update"
            " set at = excluded.at where seen_requests.at < excluded.at - ?",
            [key, keep_seconds],
        )
        return changed == 1

"""A workspace's own kie.ai keys, sealed with `sealed.py`'s Fernet keys: the current one, and replaced ones that its
unfinished tasks still spend from (a task records the fingerprint of the key it was created with, never the key).

A key is sealed by the caller; this module only stores, finds and forgets the sealed text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.store.base import FINISHED
from bot.store.database import Database, Row, Statement, in_marks
from bot.store.sealed import Sealer

TABLE = "workspace_kie_keys"


@dataclass(frozen=True)
class StoredKey:
    team_id: str
    fingerprint: str
    sealed: str
    last4: str


@dataclass(frozen=True)
class NewKey:
    """A key to make current, as stored: sealed, with its fingerprint and the last four characters shown."""

    fingerprint: str
    sealed: str
    last4: str


def _stored(row: Row) -> StoredKey:
    return StoredKey(row["team_id"], row["fingerprint"], row["sealed"], row["last4"])


async def current_key(db: Database, team_id: str) -> StoredKey | None:
    rows = await db.fetch(f"select * from {TABLE} where team_id = ? and retired_at is null", [team_id])
    return _stored(rows[0]) if rows else None


async def all_keys(db: Database) -> list[StoredKey]:
    """Every workspace's stored keys, current and replaced (for `banana-bot doctor`)."""
    return [_stored(row) for row in await db.fetch(f"select * from {TABLE} order by team_id, fingerprint")]


async def key_by_fingerprint(db: Database, team_id: str, fingerprint: str) -> StoredKey | None:
    """The key a task was created with, current or replaced; None once it is gone (removed and no task needs it)."""
    rows = await db.fetch(f"select * from {TABLE} where team_id = ? and fingerprint = ?", [team_id, fingerprint])
    return _stored(rows[0]) if rows else None


def change_statements(team_id: str, new: NewKey | None, now: float) -> list[Statement]:
    """What replaces the workspace's current key with `new` (None: no own key any more), to run in the same
    transaction as the settings it is saved with. The key replaced stays while unfinished tasks use it."""
    statements: list[Statement] = [
        (f"update {TABLE} set retired_at = ? where team_id = ? and retired_at is null", [now, team_id])
    ]
    if new is not None:
        statements.append(
            (
                f"insert into {TABLE} (team_id, fingerprint, sealed, last4, added_at, retired_at)"
                " values (?, ?, ?, ?, ?, null) on conflict (team_id, fingerprint)"
                " do update set sealed = excluded.sealed, retired_at = null",
                [team_id, new.fingerprint, new.sealed, new.last4, now],
            )
        )
    statements.append(_prune(team_id))
    return statements


def _prune(team_id: str) -> Statement:
    return (
        f"delete from {TABLE} where team_id = ? and retired_at is not null and fingerprint not in"
        f" (select kie_key from tasks where team_id = ? and kie_key is not null"
        f" and state not in {in_marks(FINISHED)})",
        [team_id, team_id, *FINISHED],
    )


async def prune(db: Database, team_id: str) -> None:
    """Forget the workspace's replaced keys that no unfinished task spends from any more."""
    await db.execute(*_prune(team_id))


async def reencrypt_kie_keys(db: Database, keys: Sequence[str]) -> int:
    """Seal every stored workspace key again with the newest of `keys` (`banana-bot reencrypt`); how many rows.
    UnknownKey (nothing changed) when a row's key is not among `keys`."""
    sealer = Sealer(keys)
    rows = await db.fetch(f"select team_id, fingerprint, sealed from {TABLE}")
    writes: list[Statement] = [
        (
            f"update {TABLE} set sealed = ? where team_id = ? and fingerprint = ? and sealed = ?",
            [sealer.seal(sealer.open(r["sealed"])), r["team_id"], r["fingerprint"], r["sealed"]],
        )
        for r in rows
    ]
    if writes:
        async with db.transaction() as session:
            for query, args in writes:
                await session.execute(query, args)
        await db.compact([TABLE])
    return len(writes)

"""Where every task lives. The rest of the app sees the `TaskStore` interface (task records and coordination between
replicas); only this package writes SQL, each query once for both backends (records.py, leases.py, installations.py,
the schema in schema.py), run through database.py.

SQLite is the embedded default, for one process. PostgreSQL (`DATABASE_URL=postgresql://…`) lets several replicas
share everything: tasks, leases on in-flight work, signals, Slack's repeated requests, the caps and the rate limits.
Slack installations and OAuth states live in the same database (`installation_stores`, `bot_for`), their tokens
sealed with BANANA_ENCRYPTION_KEYS (`reencrypt_installations` after a key rotation).
"""

import contextlib
from pathlib import Path

from bot.store.base import Coordination, NameTaken, StoreUnavailable, TaskRecords, TaskStore, WorkspaceRecords
from bot.store.database import urgent
from bot.store.installations import (
    InstallationStore,
    OAuthStateStore,
    StoredBot,
    bot_for,
    installation_stores,
    reencrypt_installations,
    stored_bots,
)
from bot.store.postgres import PostgresTaskStore, masked
from bot.store.sealed import UnknownKey
from bot.store.sqlite import SqliteTaskStore

__all__ = [
    "Coordination",
    "InstallationStore",
    "NameTaken",
    "OAuthStateStore",
    "PostgresTaskStore",
    "SqliteTaskStore",
    "StoreUnavailable",
    "StoredBot",
    "TaskRecords",
    "TaskStore",
    "UnknownKey",
    "WorkspaceRecords",
    "bot_for",
    "installation_stores",
    "masked",
    "new_paths",
    "open_store",
    "reencrypt_installations",
    "remove_paths",
    "stored_bots",
    "urgent",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


async def open_store(database_url: str | None, database_path: Path, *, tool: bool = False) -> TaskStore:
    """The store, open: PostgreSQL when `database_url` is a postgresql:// (or postgres://) URL, else SQLite at
    `database_path`. An unreachable PostgreSQL raises StoreUnavailable, naming DATABASE_URL with its password masked.
    `tool`: opened by a command beside a running app, which must leave the app's leases alone."""
    if database_url and database_url.startswith(POSTGRES_SCHEMES):
        return await PostgresTaskStore(database_url).open()
    return await SqliteTaskStore(database_path, tool=tool).open()


def new_paths(database_url: str | None, database_path: Path) -> list[Path]:
    """What opening the store would create that is not there now (SQLite's file, its WAL files and the folders
    missing above it), deepest first: a start that is then refused takes them away again (`remove_paths`)."""
    if database_url and database_url.startswith(POSTGRES_SCHEMES):
        return []
    wal = [database_path.with_name(f"{database_path.name}{suffix}") for suffix in ("-wal", "-shm")]
    return [path for path in (*wal, database_path, *database_path.parents) if not path.exists()]


def remove_paths(paths: list[Path]) -> None:
    """Remove what `new_paths` listed, deepest first; a folder something else has since put a file in stays."""
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)

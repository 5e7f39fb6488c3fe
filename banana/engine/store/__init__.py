"""Where every task lives. The rest of the app sees the `TaskStore` interface; only this package writes SQL.

SQLite is the embedded default, for one process. PostgreSQL (`DATABASE_URL=postgresql://…`) lets several replicas
share everything: tasks, leases on in-flight work, signals, Slack's repeated requests, the caps and the rate limits.
Slack installations and OAuth states live in the same database (`installation_stores`, `bot_for`), their tokens
sealed with BANANA_ENCRYPTION_KEYS (`reencrypt_installations` after a key rotation).
"""

from pathlib import Path

from banana.engine.store.base import StoreUnavailable, TaskStore
from banana.engine.store.installations import (
    PostgresInstallationStore,
    PostgresOAuthStateStore,
    SqliteInstallationStore,
    SqliteOAuthStateStore,
    StoredBot,
    bot_for,
    installation_stores,
    reencrypt_installations,
    stored_bots,
)
from banana.engine.store.postgres import PostgresTaskStore, masked
from banana.engine.store.sealed import UnknownKey
from banana.engine.store.sqlite import SqliteTaskStore

__all__ = [
    "PostgresInstallationStore",
    "PostgresOAuthStateStore",
    "PostgresTaskStore",
    "SqliteInstallationStore",
    "SqliteOAuthStateStore",
    "SqliteTaskStore",
    "StoreUnavailable",
    "StoredBot",
    "TaskStore",
    "UnknownKey",
    "bot_for",
    "installation_stores",
    "masked",
    "open_store",
    "reencrypt_installations",
    "stored_bots",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


async def open_store(database_url: str | None, database_path: Path, *, tool: bool = False) -> TaskStore:
    """The store, open: PostgreSQL when `database_url` is a postgresql:// (or postgres://) URL, else SQLite at
    `database_path`. An unreachable PostgreSQL raises StoreUnavailable, naming DATABASE_URL with its password masked.
    `tool`: opened by a command beside a running app, which must leave the app's leases alone."""
    if database_url and database_url.startswith(POSTGRES_SCHEMES):
        return await PostgresTaskStore(database_url).open()
    return await SqliteTaskStore(database_path, tool=tool).open()

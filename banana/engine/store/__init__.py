"""Where every task lives. The rest of the app sees the `TaskStore` interface; only this package writes SQL.

SQLite is the embedded default, for one process. PostgreSQL (`DATABASE_URL=postgresql://…`) lets several replicas
share everything: tasks, leases on in-flight work, signals, Slack's repeated requests, the caps and the rate limits.
"""

from banana.engine.store.base import StoreUnavailable, TaskStore
from banana.engine.store.sqlite import SqliteTaskStore

__all__ = ["SqliteTaskStore", "StoreUnavailable", "TaskStore"]

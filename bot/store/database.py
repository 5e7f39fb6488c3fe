"""One way to run SQL on either backend: the store's queries are written once, with `?` for each parameter, and run
through a `Database`. Only what really differs between SQLite and PostgreSQL is decided here:

- the clock: `epoch_now()` in a query is the time in seconds since the epoch: on PostgreSQL the database's own clock
  (every replica agrees on it), on SQLite the store's clock (a Python function, so tests can set the time);
- the placeholder: `?` as written (SQLite), `%s` for psycopg (PostgreSQL);
- a unique key broken: both drivers' errors surface as `Duplicate`;
- locking rows another replica is claiming (`skip_locked`), the catalog of a table's columns, and compacting.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

import psycopg
import sqlite_utils
from psycopg import AsyncConnection
from psycopg.rows import DictRow

T = TypeVar("T")
Row = dict[str, Any]
Statement = tuple[str, Sequence[Any]]

# The database's clock, in seconds since the epoch: what every lease, seen request and rate slot is timed by.
NOW = "extract(epoch from clock_timestamp())::double precision"


class Duplicate(Exception):
    """A row would break a unique key (a saved prompt's name in its workspace, …)."""


class Session(Protocol):
    """Statements run one after another on one connection (within a transaction, when it is one)."""

    async def fetch(self, query: str, args: Sequence[Any] = ()) -> list[Row]: ...
    async def execute(self, query: str, args: Sequence[Any] = ()) -> int: ...
    async def columns(self, table: str) -> set[str]: ...


class Database(Session, Protocol):
    """A Session of its own for each call (each statement committed as it runs), and transactions."""

    dialect: str  # "sqlite" or "postgresql"
    skip_locked: str  # appended to a SELECT of rows to lock against other replicas: they skip the locked ones

    def transaction(self) -> AbstractAsyncContextManager[Session]: ...
    def migrating(self) -> AbstractAsyncContextManager[Session]: ...
    async def compact(self, tables: Sequence[str]) -> None: ...


async def run(db: Database, statements: Sequence[Statement]) -> list[list[Row]]:
    """The statements in one transaction; each one's rows (empty for those that return none)."""
    async with db.transaction() as session:
        return [await session.fetch(query, args) for query, args in statements]


def in_marks(values: Sequence[Any]) -> str:
    """`(?, ?, …)`, one mark per value, for `in`: the same text on both backends (never empty: `(null)`)."""
    return f"({', '.join('?' * len(values))})" if values else "(null)"


# SQLite

_URGENT: ContextVar[bool] = ContextVar("store_urgent", default=False)


@contextlib.contextmanager
def urgent() -> Iterator[None]:
    """The store calls made inside go before background work where the connection is shared (SQLite's one thread):
    the few a person waits on (a command's ack) must not queue behind a thousand jobs' writes. Tasks created inside
    inherit it, so start them after the block."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


class _Turns:
    """A lock whose urgent waiters go first, each kind in the order it came; asyncio.Lock has no priorities."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._rest: deque[asyncio.Future[None]] = deque()

    async def __aenter__(self) -> None:
        if not self._held:
            self._held = True
            return
        turn = asyncio.get_running_loop().create_future()
        (self._urgent if _URGENT.get() else self._rest).append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # the turn was handed over as the waiter was cancelled
                self._release()
            raise

    async def __aexit__(self, *_: object) -> None:
        self._release()

    def _release(self) -> None:
        for waiting in (self._urgent, self._rest):
            while waiting:
                turn = waiting.popleft()
                if not turn.done():  # a cancelled waiter's turn is skipped
                    turn.set_result(None)  # held on: the turn passes straight to the next waiter
                    return
        self._held = False


def _rows(cursor: sqlite3.Cursor) -> list[Row]:
    names = [column[0] for column in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class SqliteDatabase:
    """SQLite through sqlite-utils' connection, on one thread: the event loop never waits on the disk and the
    connection is only ever used from the thread that owns it. A lock keeps a transaction's statements together (no
    other call's statement runs on the connection in between); `urgent` calls take it first."""

    dialect = "sqlite"
    skip_locked = ""  # one process, and a transaction locks the whole file

    def __init__(self, db: sqlite_utils.Database, executor: ThreadPoolExecutor, clock: Callable[[], float]) -> None:
        self.db = db
        self._executor = executor
        self._lock = _Turns()
        db.conn.create_function("epoch_now", 0, clock)

    async def call(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _execute(self, query: str, args: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self.db.conn.execute(query, list(args))
        except sqlite3.IntegrityError as error:
            if "UNIQUE" in str(error):
                raise Duplicate(str(error)) from None
            raise

    def _committed(self, work: Callable[[], T]) -> T:
        with self.db.conn:  # commits the statement's implicit transaction; rolls back on error
            return work()

    async def fetch(self, query: str, args: Sequence[Any] = ()) -> list[Row]:
        async with self._lock:
            return await self.call(lambda: self._committed(lambda: _rows(self._execute(query, args))))

    async def execute(self, query: str, args: Sequence[Any] = ()) -> int:
        async with self._lock:
            return await self.call(lambda: self._committed(lambda: self._execute(query, args).rowcount))

    async def columns(self, table: str) -> set[str]:
        return await self.call(lambda: set(self.db.table(table).columns_dict))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self._lock:
            await self.call(lambda: self.db.conn.execute("begin immediate"))
            try:
                yield _SqliteSession(self)
            except BaseException:
                await self.call(self.db.conn.rollback)
                raise
            await self.call(self.db.conn.commit)

    def migrating(self) -> AbstractAsyncContextManager[Session]:
        return self.transaction()  # "begin immediate": one writer at a time, across processes too

    async def compact(self, tables: Sequence[str]) -> None:
        """VACUUM the whole file (SQLite cannot do one table), then empty its WAL."""

        def vacuum() -> None:
            self.db.conn.execute("vacuum")
            self.db.conn.execute("pragma wal_checkpoint(truncate)")

        async with self._lock:
            await self.call(vacuum)


class _SqliteSession:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    async def fetch(self, query: str, args: Sequence[Any] = ()) -> list[Row]:
        return await self._database.call(lambda: _rows(self._database._execute(query, args)))

    async def execute(self, query: str, args: Sequence[Any] = ()) -> int:
        return await self._database.call(lambda: self._database._execute(query, args).rowcount)

    async def columns(self, table: str) -> set[str]:
        return await self._database.columns(table)


# PostgreSQL

Connection = AsyncConnection[DictRow]


@functools.lru_cache(maxsize=512)
def postgres_sql(query: str) -> str:
    """A query as written here, as psycopg takes it: `%s` marks, a literal `%` doubled, the database's clock."""
    return query.replace("%", "%%").replace("?", "%s").replace("epoch_now()", NOW)


class PostgresDatabase:
    """PostgreSQL through connections `connect()` lends (a pool's, in autocommit)."""

    dialect = "postgresql"
    skip_locked = " for update of u skip locked"  # `u`: the rows claimed, by that name

    def __init__(self, connect: Callable[[], AbstractAsyncContextManager[Connection]], schema: str) -> None:
        self._connect = connect
        self._schema = schema

    async def fetch(self, query: str, args: Sequence[Any] = ()) -> list[Row]:
        async with self._connect() as conn:
            return await _PostgresSession(conn).fetch(query, args)

    async def execute(self, query: str, args: Sequence[Any] = ()) -> int:
        async with self._connect() as conn:
            return await _PostgresSession(conn).execute(query, args)

    async def columns(self, table: str) -> set[str]:
        async with self._connect() as conn:
            return await _PostgresSession(conn).columns(table)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        async with self._connect() as conn, conn.transaction():
            yield _PostgresSession(conn)

    @contextlib.asynccontextmanager
    async def migrating(self) -> AsyncIterator[Session]:
        """A transaction under the schema's advisory lock: replicas that start together wait for each other."""
        async with self.transaction() as session:
            await session.fetch("select pg_advisory_xact_lock(hashtextextended(?, 0))", [f"{self._schema}:migrations"])
            yield session

    async def compact(self, tables: Sequence[str]) -> None:
        """VACUUM FULL the tables (their files rewritten; PostgreSQL's own WAL and backups are the operator's)."""
        async with self._connect() as conn:  # autocommit: VACUUM runs outside a transaction
            await conn.execute(f"vacuum full {', '.join(tables)}")


class _PostgresSession:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def _cursor(self, query: str, args: Sequence[Any]) -> Any:
        try:
            return await self._conn.execute(postgres_sql(query), list(args))
        except psycopg.errors.UniqueViolation as error:
            raise Duplicate(str(error)) from None

    async def fetch(self, query: str, args: Sequence[Any] = ()) -> list[Row]:
        cursor = await self._cursor(query, args)
        return [dict(row) for row in await cursor.fetchall()] if cursor.description else []

    async def execute(self, query: str, args: Sequence[Any] = ()) -> int:
        return int((await self._cursor(query, args)).rowcount)

    async def columns(self, table: str) -> set[str]:
        rows = await self.fetch(  # pg_attribute: information_schema takes ten times as long
            "select attname as name from pg_attribute where attrelid = to_regclass(?) and attnum > 0"
            " and not attisdropped",
            [table],
        )
        return {row["name"] for row in rows}

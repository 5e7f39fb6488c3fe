"""The shared store: PostgreSQL through psycopg 3's async driver and a connection pool, for several replicas.

Its queries are records.py's and leases.py's, run through database.py (`?` becomes `%s`, `epoch_now()` the database's
clock). What only PostgreSQL does is here: the pool, signals (LISTEN/NOTIFY), locks (advisory locks) and rate slots
shared by replicas. The schema is schema.py's; its migrations run at `open()` in one transaction under an advisory
lock, so replicas that start together never race.

Locks, signals and migrations are kept apart per schema, so two deployments (or two test runs) may share a database.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import random
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from bot.settings import database_password
from bot.store import schema
from bot.store.base import StoreUnavailable
from bot.store.database import Connection, PostgresDatabase
from bot.store.leases import Leases
from bot.store.records import Records

log = logging.getLogger("banana.store")


def masked(url: str) -> str:
    """DATABASE_URL as safe to show: `***` wherever a password could be written (see `_password_spans`). A URL libpq
    cannot parse shows only its scheme, as any part of it could be the password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        scheme = url.partition("://")[0]
        return f"{scheme}://…(unparseable)" if scheme in ("postgresql", "postgres") else "…(unparseable)"
    if "://" not in url:  # keyword/value form: libpq's own reading, rebuilt
        return make_conninfo("", **{key: "***" if key == "password" else value for key, value in params.items()})
    shown = url
    for start, end in reversed(_password_spans(url)):
        shown = f"{shown[:start]}***{shown[end:]}"
    return shown


def _password_spans(url: str) -> list[tuple[int, int]]:
    """Where a password could be written in a PostgreSQL URL, in order. libpq ends the user part at the first `@`
    (and a `#` or `?` before it belongs to the password); an unescaped `@` in a password moves that `@`, so the
    password is taken to run to the last `@`. With no `@`, a "port" that is not a number is a password that lost its
    host (`postgresql://user:password`). And any `password=` parameter."""
    start = url.find("://") + 3
    if start < 3:
        return []
    spans: list[tuple[int, int]] = []
    at = url.rfind("@", start)
    if at >= 0:
        colon = url.find(":", start, at)
        if colon >= 0:
            spans.append((colon + 1, at))
        rest = at + 1
    else:
        end = min((i for i in (url.find("/", start), url.find("?", start)) if i >= 0), default=len(url))
        if not _HOSTS.fullmatch(url[start:end]):
            colon = url.find(":", start, end)
            spans.append((colon + 1 if colon >= 0 else start, end))
        rest = start
    query = url.find("?", rest)
    if query >= 0:
        offset = query + 1
        for pair in url[query + 1 :].split("&"):
            key, equals, _value = pair.partition("=")
            if equals and unquote(key) == "password":
                spans.append((offset + len(key) + 1, offset + len(pair)))
            offset += len(pair) + 1
    return spans


# host[:port] or [ipv6][:port], comma-separated, the ports numbers
_HOSTS = re.compile(r"(?:\[[^\]]*\]|[^:,\[\]]*)(?::\d*)?(?:,(?:\[[^\]]*\]|[^:,\[\]]*)(?::\d*)?)*")


def _secrets(url: str) -> list[str]:
    """The password as written in the URL, as decoded and as libpq reads it, to scrub from any message."""
    written = [url[start:end] for start, end in _password_spans(url)]
    found = {*written, *map(unquote, written), database_password(url) or ""}
    return sorted(found - {""}, key=len, reverse=True)


async def migrate(conn: AsyncConnection[Any], *, up_to: int | None = None) -> list[int]:
    """Bring the schema on `conn`'s search path up to date (or up to version `up_to`): schema.py's migrations, in
    one transaction under an advisory lock. Returns the versions applied now."""
    conn.row_factory = dict_row

    @contextlib.asynccontextmanager
    async def lend() -> AsyncIterator[Connection]:
        yield conn

    return await schema.migrate(PostgresDatabase(lend, await _current_schema(conn)), up_to=up_to)


async def _current_schema(conn: AsyncConnection[Any]) -> str:
    cursor = await conn.execute("select current_schema()")
    row = await cursor.fetchone()
    schema = _first(row) if row is not None else None
    if not schema:
        raise StoreUnavailable("the database's search_path names no schema that exists: create it, or fix the URL")
    return str(schema)


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


class PostgresTaskStore(Records, Leases):
    """The TaskStore on PostgreSQL, shared by every replica that points at the same database (and schema)."""

    backend = "postgresql"
    shared = True

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        open_timeout: float = 10.0,
        acquire_timeout: float = 10.0,
        ping_timeout: float = 3.0,
        application_name: str = "banana",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._url = url
        self._min_size = min_size
        self._max_size = max_size
        self._open_timeout = open_timeout
        self._acquire_timeout = acquire_timeout
        self._ping_timeout = ping_timeout
        self._clock = clock
        self._secrets = _secrets(url)
        self._connect_kwargs: dict[str, Any] = {"connect_timeout": max(2, math.ceil(open_timeout))}
        if "application_name" not in self._conninfo():
            self._connect_kwargs["application_name"] = application_name
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._schema = ""
        self._channel = ""
        self._handlers: list[Callable[[int, str], None]] = []
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._local_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.database = PostgresDatabase(self._connect, "")  # its schema known once open

    def _conninfo(self) -> dict[str, Any]:
        try:
            return conninfo_to_dict(self._url)
        except psycopg.Error:
            return {}

    @property
    def _where(self) -> str:
        """The database, as safe to log: DATABASE_URL with its password masked."""
        return f"DATABASE_URL={masked(self._url)}"

    def _scrub(self, message: object) -> str:
        text = " ".join(str(message).split())  # one line: libpq's messages span several
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def open(self) -> PostgresTaskStore:
        """Connect, migrate, then open the pool. An unreachable database raises StoreUnavailable within
        `open_timeout` seconds, naming DATABASE_URL (password masked) and what went wrong."""
        try:
            async with asyncio.timeout(self._open_timeout):
                first = await AsyncConnection.connect(
                    self._url, autocommit=True, row_factory=dict_row, **self._connect_kwargs
                )
        except TimeoutError:
            raise StoreUnavailable(
                f"PostgreSQL did not answer within {self._open_timeout:g} s at {self._where}"
            ) from None
        except psycopg.OperationalError as error:
            raise StoreUnavailable(f"cannot reach PostgreSQL at {self._where}: {self._scrub(error)}") from None
        except psycopg.Error as error:
            raise ValueError(f"{self._where} is not a usable PostgreSQL URL: {self._scrub(error)}") from None
        try:
            async with first:
                self._schema = await _current_schema(first)
                await migrate(first)
        except psycopg.OperationalError as error:
            raise StoreUnavailable(
                f"PostgreSQL failed during migrations at {self._where}: {self._scrub(error)}"
            ) from None
        self.database = PostgresDatabase(self._connect, self._schema)
        self._channel = _channel_for(self._schema)
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            self._url,
            connection_class=AsyncConnection[DictRow],
            kwargs={**self._connect_kwargs, "autocommit": True, "row_factory": dict_row},
            min_size=self._min_size,
            max_size=self._max_size,
            timeout=self._acquire_timeout,
            check=AsyncConnectionPool.check_connection,  # a connection the database dropped is replaced, not used
            name="banana-store",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=self._open_timeout)
        except psycopg.OperationalError as error:
            await pool.close()
            raise StoreUnavailable(
                f"cannot open connections to PostgreSQL at {self._where}: {self._scrub(error)}"
            ) from None
        self._pool = pool
        return self

    async def close(self) -> None:
        """Stop listening and close the pool."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        self._handlers.clear()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[Connection]:
        """A pool connection (in autocommit: use `conn.transaction()` for more than one statement); a database that
        cannot be reached surfaces as StoreUnavailable."""
        if self._pool is None:
            raise RuntimeError("the task store is not open")
        try:
            async with self._pool.connection() as conn:
                yield conn
        except psycopg.OperationalError as error:
            raise StoreUnavailable(f"PostgreSQL is unavailable at {self._where}: {self._scrub(error)}") from None

    # Signals

    async def signal(self, task_id: int, kind: str) -> None:
        """Tell every replica listening on this database (this one included): NOTIFY, payload "123:poke"."""
        async with self._connect() as conn:
            await conn.execute("select pg_notify(%s, %s)", [self._channel, f"{task_id}:{kind}"])

    async def listen(self, handler: Callable[[int, str], None]) -> None:
        """Call `handler(task_id, kind)` for every signal from now on, from any store on this database. One dedicated
        connection listens (not from the pool); it reconnects with backoff when dropped, and stops on `close()`.
        Returns once it listens; StoreUnavailable if it cannot within `open_timeout` seconds."""
        if self._pool is None:
            raise RuntimeError("the task store is not open")
        self._handlers.append(handler)
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever(), name="banana-store-listener")
        try:
            async with asyncio.timeout(self._open_timeout):
                await self._listening.wait()
        except TimeoutError:
            self._handlers.remove(handler)
            if not self._handlers and self._listener is not None:
                self._listener.cancel()
                self._listener = None
            raise StoreUnavailable(f"cannot listen for signals at {self._where}") from None

    async def _listen_forever(self) -> None:
        delay = 0.05
        while True:
            try:
                async with await AsyncConnection.connect(self._url, **self._listener_kwargs()) as conn:
                    await conn.execute(sql.SQL("listen {}").format(sql.Identifier(self._channel)))
                    self._listening.set()
                    delay = 0.05
                    while True:
                        async for note in conn.notifies(timeout=30.0):
                            self._deliver(note.payload)
                        async with asyncio.timeout(10.0):  # quiet for a while: is the connection still there?
                            await conn.execute("select 1")
            except (psycopg.Error, TimeoutError) as error:
                log.warning("signals: the listening connection dropped (%s); reconnecting", self._scrub(error))
            finally:
                self._listening.clear()
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 5.0)

    def _listener_kwargs(self) -> dict[str, Any]:
        name = self._connect_kwargs.get("application_name") or self._conninfo().get("application_name") or "banana"
        return {**self._connect_kwargs, "autocommit": True, "application_name": f"{name}:listen"}

    def _deliver(self, payload: str) -> None:
        """Hand "123:kind" to the handlers. Any role that can reach the database can NOTIFY this channel, so a signal
        is only a hint: the handlers check it against their own tasks, and anything malformed is dropped here."""
        task_id, _, kind = payload.partition(":")
        if not (task_id.isascii() and task_id.isdigit() and len(task_id) <= 18):
            log.debug("signals: ignored a malformed signal %.60r", payload)
            return
        target = int(task_id)
        for handler in list(self._handlers):
            try:
                handler(target, kind)
            except Exception:
                log.exception("signals: the handler failed on %r", payload)

    # Locks and rate slots

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """One holder at a time across replicas: a session advisory lock held on a pool connection for the block,
        released after it (also on error or cancellation). Within one replica, waiters queue on an asyncio lock
        first, so they don't each hold a pool connection while they wait."""
        key = f"{self._schema}:lock:{name}"
        async with self._local_locks[name], self._connect() as conn:
            try:
                await conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", [key])
            except BaseException:
                await conn.close()  # it may hold the lock after all (granted as it was cancelled): the session ends
                raise
            try:
                yield
            finally:
                try:
                    await conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", [key])
                except BaseException:
                    await conn.close()  # ending the session releases its locks
                    raise

    async def take_slot(self, name: str, limit: int, window: float) -> float:
        """Take one of `limit` slots per `window` seconds, shared by every replica: 0.0 when taken, else the seconds
        until a slot leaves the window (then nothing is taken)."""
        if limit < 1:
            raise ValueError("a rate limit needs at least one slot")
        async with self.database.transaction() as session:
            (row,) = await session.fetch(
                "select pg_advisory_xact_lock(hashtextextended(?, 0)), epoch_now() as now",
                [f"{self._schema}:slot:{name}"],
            )
            now: float = row["now"]
            since = now - window
            (row,) = await session.fetch(
                "with gone as (delete from rate_slots where name = ? and at <= ?)"
                " select (select count(*) from rate_slots where name = ? and at > ?) as taken,"
                " (select at from rate_slots where name = ? and at > ? order by at desc offset ? limit 1) as last",
                [name, since, name, since, name, since, limit - 1],
            )
            if row["taken"] < limit:
                await session.execute("insert into rate_slots (name, at) values (?, ?)", [name, now])
                return 0.0
            return max(float(row["last"]) + window - now, 1e-6)

    async def ping(self) -> bool:
        """Whether the database answers, within `ping_timeout` seconds; never raises."""
        try:
            async with asyncio.timeout(self._ping_timeout), self._connect() as conn:
                cursor = await conn.execute("select 1 as one")
                row = await cursor.fetchone()
                return row is not None and row["one"] == 1
        except (StoreUnavailable, psycopg.Error, RuntimeError, TimeoutError, OSError):
            return False


def _channel_for(schema: str) -> str:
    """The NOTIFY channel for a schema: replicas of one deployment share it, another schema's don't hear it."""
    channel = f"banana:{schema}"
    if len(channel.encode()) > 63:  # PostgreSQL's limit on a name
        channel = f"banana:{hashlib.sha256(schema.encode()).hexdigest()[:32]}"
    return channel

"""The embedded store: SQLite through sqlite-utils (the connection, WAL, the schema's introspection), for one process.

Its queries are records.py's and leases.py's, run on one dedicated thread (database.py). One process is the only
replica: signals are calls within the process, locks are asyncio locks, and rate slots are always free.
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

import sqlite_utils

from bot.store.base import StoreUnavailable
from bot.store.database import SqliteDatabase
from bot.store.leases import Leases
from bot.store.records import Records
from bot.store.schema import migrate


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


class SqliteTaskStore(Records, Leases):
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
            db = await asyncio.get_running_loop().run_in_executor(self._executor, self._connect)
            self._db, self.database = db, SqliteDatabase(db, self._executor, self._clock)
            await migrate(self.database)
            if not self._tool:
                # One app process uses the file: a lease found here is a previous run's, its work free to take at once.
                await self.database.execute(
                    "update tasks set lease_owner = null, lease_until = null where lease_owner is not null"
                )
        except (OSError, sqlite3.Error) as error:
            await self.close()
            raise StoreUnavailable(_unusable(self._path, error)) from None
        return self

    def _connect(self) -> sqlite_utils.Database:
        # Checked before _owner_only, which would take a folder's or another file's group and world access away
        if self._path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(self._path))
        if self._path.is_file() and not _sqlite_or_empty(self._path):
            raise sqlite3.DatabaseError("file is not a database")
        _owner_only(self._path)
        db = sqlite_utils.Database(sqlite3.connect(self._path, check_same_thread=False))
        try:
            db.enable_wal()
            db.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash may lose the last commit, never corrupt
            db.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            db.close()
            raise
        return db

    async def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=True)

    async def signal(self, task_id: int, kind: str) -> None:
        for handler in self._handlers:
            asyncio.get_running_loop().call_soon(handler, task_id, kind)

    async def listen(self, handler: Callable[[int, str], None]) -> None:
        self._handlers.append(handler)

    def exclusive(self, name: str) -> AbstractAsyncContextManager[None]:
        return self._locks[name]

    async def take_slot(self, name: str, limit: int, window: float) -> float:
        """One process: its own limiters are all the pacing there is, so a slot is always free."""
        return 0.0

    async def ping(self) -> bool:
        if self._db is None:
            return False
        try:
            return await self.database.fetch("select 1 as one") == [{"one": 1}]
        except (sqlite3.Error, RuntimeError):
            return False

    @property
    def db(self) -> sqlite_utils.Database:
        """The sqlite-utils database, for a look from outside (tests); the store's own SQL goes through `database`."""
        if self._db is None:
            raise RuntimeError("the task store is not open")
        return self._db


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

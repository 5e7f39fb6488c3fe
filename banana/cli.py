"""The `banana-bot` command: run the app from the environment, or try it in the sandbox."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import signal
import sys
import threading
from dataclasses import replace

from cryptography.fernet import Fernet

from banana.app import doctor
from banana.app.server import BananaServer
from banana.app.wiring import StartupError
from bot import redaction
from bot.settings import WORKSPACE_ID, Settings, SettingsError, load_database, load_settings
from bot.store import (
    StoreUnavailable,
    TaskStore,
    UnknownKey,
    WorkspaceRecords,
    open_store,
    reencrypt_installations,
)
from bot.store.kie_keys import reencrypt_kie_keys

log = logging.getLogger("banana")
# Libraries that log each request at INFO: quiet unless LOG_LEVEL=DEBUG.
CHATTY_LOGGERS = ("httpx", "httpcore", "slack_sdk.web")


def configure_logging(settings: Settings) -> None:
    """One handler, on the root logger, for every library's logger (slack_sdk, Bolt, httpx, aiohttp, psycopg, asyncio):
    each line is redacted whole, traceback included, of the configured secrets and anything shaped like a token."""
    redaction.remember(*settings.secrets)
    handler = redaction.RedactingHandler()
    handler.setFormatter(redaction.RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level, handlers=[handler], force=True)
    # Every request's line (httpx's "HTTP Request: GET …" for each kie read, slack_sdk's retries) only when asked for
    chatter = logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatter)
    # Python prints an exception nothing caught straight to stderr: through the log instead, redacted
    sys.excepthook = lambda kind, error, _trace: _log_uncaught(kind, error)
    threading.excepthook = lambda hook: _log_uncaught(hook.exc_type, hook.exc_value)


def _log_uncaught(kind: type[BaseException], error: BaseException | None) -> None:
    log.critical("uncaught %s", kind.__name__, exc_info=error)


async def run(settings: Settings) -> None:
    server = BananaServer(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    starting = asyncio.create_task(server.start())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait((starting, stopped), return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not starting.done():  # Ctrl-C or SIGTERM while starting: start undoes what it did
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        log.info("Banana stopped before it was up")
        return
    try:
        starting.result()
    except StartupError as error:
        raise SystemExit(f"Banana cannot start: {error}") from None
    try:
        await stop.wait()
    finally:
        log.info("Banana is stopping")
        await server.stop()


async def forget_workspace(team_id: str, *, yes: bool = False) -> int:
    """`banana-bot forget-workspace T…`: the exit code, after showing what is kept about the workspace, asking
    (unless `yes`) and saying what was deleted. A database that is not there is never created."""
    if not WORKSPACE_ID.fullmatch(team_id):
        print(
            f"{team_id!r} is not a workspace id: Slack's start with T (E for an Enterprise Grid org), such as the "
            "T0123ABCD in app.slack.com/client/T0123ABCD",
            file=sys.stderr,
        )
        return 2
    try:
        settings = load_database()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    store = await _open_existing(settings)
    if store is None:
        return 1
    try:
        records = await store.workspace_records(team_id)
        if records.empty:
            print(f"Nothing is stored for workspace {team_id}; nothing was deleted.")
            return 0
        print(f"Stored for workspace {team_id}: {_described(records)}.")
        if not yes and not sys.stdin.isatty():
            print("Nothing was deleted: no terminal to ask at; add --yes to delete without asking.", file=sys.stderr)
            return 2
        if not yes and not _confirmed("Delete all of it? Its images in Slack stay. [y/N] "):
            print("Nothing was deleted.", file=sys.stderr)
            return 1
        forgotten = replace(records, tasks=await store.forget_workspace(team_id))
    finally:
        await store.close()
    print(f"Forgot workspace {team_id}: {_described(forgotten)}.")
    return 0


def _described(records: WorkspaceRecords) -> str:
    parts = [f"{records.tasks} task(s) and their history", f"{records.saved_prompts} saved prompt(s)"]
    parts.append("its installation (the bot token)" if records.installed else "no installation")
    if records.settings:
        parts.append("its settings, brand kit and their change log")
    return ", ".join(parts)


def _confirmed(question: str) -> bool:
    """A person's yes at the terminal."""
    try:
        return input(question).strip().casefold() in ("y", "yes")
    except EOFError:
        return False


async def _open_existing(settings: Settings) -> TaskStore | None:
    """The store the settings name, for a command beside the app; None, after saying why on one line, when it cannot
    be opened or is not there (a SQLite file is never created here)."""
    if not settings.database_url and not settings.database_path.exists():
        print(
            f"No database at {settings.database_path}: set DATABASE_PATH or DATABASE_URL to Banana's "
            "(as the app has them)",
            file=sys.stderr,
        )
        return None
    try:
        return await open_store(settings.database_url, settings.database_path, tool=True)
    except StoreUnavailable as error:
        print(f"Banana cannot use its database: {error}", file=sys.stderr)
        return None


def new_key() -> int:
    """`banana-bot new-key`: a fresh Fernet key on stdout, how to use it on stderr."""
    print(Fernet.generate_key().decode())
    print(
        "Put it first in BANANA_ENCRYPTION_KEYS; when replacing a key, keep the old one after it until "
        "`banana-bot reencrypt` has run.",
        file=sys.stderr,
    )
    return 0


async def reencrypt() -> int:
    """`banana-bot reencrypt`: the exit code, after saying how many installation rows now use the newest key."""
    try:
        settings = load_database(encryption_keys=True)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    store = await _open_existing(settings)
    if store is None:
        return 1
    rows: int | None = None
    try:
        rows = await reencrypt_installations(store, settings.encryption_keys)
        keys = await reencrypt_kie_keys(store.database, settings.encryption_keys)
    except UnknownKey as error:
        done = "Nothing was changed" if rows is None else f"Re-encrypted {rows} installation row(s), but no kie.ai key"
        print(f"{done}: {error}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    print(
        f"Re-encrypted {rows} installation row(s) and {keys} workspace kie.ai key(s) with the first key of "
        "BANANA_ENCRYPTION_KEYS."
    )
    return 0


def version() -> str:
    try:
        return importlib.metadata.version("banana-bot")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed: pip install -e .)"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="banana-bot",
        description="Run Banana, configured from the environment and .env (see docs/install.md). "
        "`banana-bot sandbox` tries the whole app locally instead, with no accounts.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", metavar="{sandbox,doctor,forget-workspace,new-key,reencrypt}")
    sandbox = commands.add_parser(
        "sandbox",
        help="try the whole app locally, no Slack workspace or kie.ai key needed",
        description="Run Banana between local kie.ai and Slack stand-ins, play a short conversation, and leave "
        "the images and an HTML page of the simulated channel in an output folder.",
    )
    sandbox.add_argument("--out", default="sandbox-output", help="output folder (default: %(default)s)")
    commands.add_parser(
        "doctor",
        help="check the settings, Slack, kie.ai, the database, the port and PUBLIC_URL",
        description="Check everything Banana needs against the configured endpoints (the environment and .env, "
        "as `banana-bot` reads them), one line each: ✓ holds, ! worth knowing, ✗ fails and what to do. Exits 0 "
        "when nothing fails. Prints no secret and leaves nothing behind.",
    )
    forget = commands.add_parser(
        "forget-workspace",
        help="delete everything Banana keeps about one workspace",
        description="Delete one workspace's tasks and their history, its saved prompts and its installation from "
        "Banana's database (DATABASE_URL or DATABASE_PATH). Its images in Slack stay. Uninstalling Banana from the "
        "workspace keeps its history until this is run. It shows what is stored and asks before deleting; "
        "--yes deletes without asking.",
    )
    forget.add_argument("team_id", help="the workspace's id, T…")
    forget.add_argument("--yes", action="store_true", help="delete without asking (for scripts)")
    commands.add_parser(
        "new-key",
        help="print a new key for BANANA_ENCRYPTION_KEYS",
        description="Print a new Fernet key, for BANANA_ENCRYPTION_KEYS (the keys that encrypt the Slack tokens "
        "Banana stores).",
    )
    commands.add_parser(
        "reencrypt",
        help="encrypt every stored installation again with the newest key",
        description="After putting a new key first in BANANA_ENCRYPTION_KEYS (the old ones after it), rewrite every "
        "Slack installation stored in Banana's database (DATABASE_URL or DATABASE_PATH) with the new key. Then "
        "the old keys can be dropped. Safe to run beside the app.",
    )
    args = parser.parse_args(argv)
    if args.command == "forget-workspace":
        raise SystemExit(asyncio.run(forget_workspace(args.team_id, yes=args.yes)))
    if args.command == "doctor":
        raise SystemExit(doctor.main())
    if args.command == "new-key":
        raise SystemExit(new_key())
    if args.command == "reencrypt":
        raise SystemExit(asyncio.run(reencrypt()))
    if args.command == "sandbox":
        try:
            from banana.sandbox import run_cli
        except ImportError as error:  # the stand-ins need nothing beyond Banana's own dependencies (Pillow among them)
            raise SystemExit(f"The sandbox could not start ({error}); reinstall Banana: pip install -e .") from None
        raise SystemExit(run_cli(args.out))
    try:
        settings = load_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings)
    asyncio.run(run(settings))

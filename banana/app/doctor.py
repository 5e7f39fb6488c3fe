"""`banana-bot doctor`: everything Banana needs, checked against the configured endpoints, one line each.

Marks: ✓ holds; ! worth knowing, not a failure (what doctor cannot verify from here, or what a choice costs);
✗ fails, saying what to do; - not checked, because a setting it needs is broken (that setting's ✗ says which).
The exit status is 0 when no line is ✗.

Doctor reads the settings as `banana-bot` does (`load_settings`: the environment, then `.env`). It leaves nothing
behind: no SQLite file is created where there is none, the store is opened as a tool (no lease is taken), the port is
bound only for the check, Socket Mode's URL is asked for and not used. Each check has a short timeout. Its output holds
no secret: only the names of settings, DATABASE_URL masked, and every line redacted of the configured secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import secrets
import socket
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web
from cryptography.fernet import Fernet
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from banana.app.wiring import BOT_SCOPES, SLACK_EVENTS_PATH
from bot import redaction
from bot.clients.kie import KieAuthError, KieClient, KieError, KieUnavailable
from bot.settings import Settings, SettingsError, database_password, load_settings, read_environment
from bot.store import (
    PostgresTaskStore,
    SqliteTaskStore,
    StoreUnavailable,
    TaskStore,
    masked,
    stored_bots,
)
from bot.store.kie_keys import all_keys
from bot.store.sealed import Sealer, UnknownKey
from prompts.options import RESOLUTIONS, Prices

TIMEOUT = 5.0  # seconds any one endpoint may take to answer
CHECK_TIMEOUT = 12.0  # seconds one check may take in all (a client may retry once within it)


class Mark(Enum):
    OK = "✓"
    NOTE = "!"
    FAIL = "✗"
    SKIPPED = "-"


@dataclass(frozen=True)
class Check:
    mark: Mark
    topic: str
    text: str


def ok(topic: str, text: str) -> Check:
    return Check(Mark.OK, topic, text)


def note(topic: str, text: str) -> Check:
    return Check(Mark.NOTE, topic, text)


def fail(topic: str, text: str) -> Check:
    return Check(Mark.FAIL, topic, text)


def render(checks: list[Check]) -> str:
    """The report: one line a check, then a summary line."""
    lines = [f"{check.mark.value} {check.topic}: {check.text}" for check in checks]
    failed = sum(check.mark is Mark.FAIL for check in checks)
    if failed:
        lines.append(f"{failed} check(s) failed (✗): fix them and run `banana-bot doctor` again.")
    else:
        lines.append("Everything Banana needs is in place; ! lines are worth reading. Start it with `banana-bot`.")
    return "\n".join(lines)


def exit_code(checks: list[Check]) -> int:
    return 1 if any(check.mark is Mark.FAIL for check in checks) else 0


# ---------------------------------------------------------------- settings

# A setting's name as problems write it: PORT, SLACK_BOT_TOKEN, PRICE_1K.
SETTING_NAME = re.compile(r"\b[A-Z][A-Z0-9_]{2,}\b")
# What a required setting is replaced with when it is broken, so the checks that do not need it still run.
STAND_INS = {"SLACK_BOT_TOKEN": "xoxb-unset", "SLACK_SIGNING_SECRET": "unset", "KIEAI_API_KEY": "unset"}
# Settings that only work together: when one is broken, the rest is read without either.
PAIRS = {"SLACK_CLIENT_ID": "SLACK_CLIENT_SECRET", "SLACK_CLIENT_SECRET": "SLACK_CLIENT_ID"}
# The settings each group of checks reads: a group is not run while one of them is broken.
SLACK_NEEDS = frozenset(
    {"SLACK_BOT_TOKEN", "SLACK_API_URL", "SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"}
)
EVENTS_NEEDS = frozenset({"SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "SLACK_CLIENT_ID", "PUBLIC_URL"})
KIE_NEEDS = frozenset({"KIEAI_API_KEY", "KIEAI_BASE_URL", "PRICE_1K", "PRICE_2K", "PRICE_4K", "DEFAULT_RESOLUTION"})
DATABASE_NEEDS = frozenset({"DATABASE_URL", "DATABASE_PATH", "SLACK_CLIENT_ID", "BANANA_ENCRYPTION_KEYS"})
PORT_NEEDS = frozenset({"HOST", "PORT", "PUBLIC_URL"})


@dataclass(frozen=True)
class ReadSettings:
    """The settings as far as they could be read: every problem `load_settings` names, and the settings those
    problems concern (left out or replaced in `settings`, so the checks that do not read them can still run)."""

    settings: Settings | None
    problems: tuple[str, ...]
    broken: frozenset[str]


def read_settings(values: Mapping[str, str]) -> ReadSettings:
    """`load_settings` on `values`; when it names problems, again without the settings they name (a required one
    gets a stand-in value) until the rest reads, a few rounds at most. Only the first round's problems are the
    configuration's own: later ones come from what was left out."""
    values, broken = dict(values), frozenset[str]()
    problems: tuple[str, ...] = ()
    for _ in range(4):
        try:
            return ReadSettings(load_settings(values, env_file=None), problems, broken)
        except SettingsError as error:
            problems = problems or tuple(error.problems)
            # A problem starts with the setting it is about; later names are what to do instead ("…: set
            # SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)") and are not broken.
            firsts = (SETTING_NAME.search(problem) for problem in error.problems)
            named = {found.group() for found in firsts if found}
            named = (named | {PAIRS[name] for name in named if name in PAIRS}) - broken
            if not named:
                break
            broken |= named
            for name in named:
                values.pop(name, None)
                if name in STAND_INS:
                    values[name] = STAND_INS[name]
                elif name == "BANANA_ENCRYPTION_KEYS":
                    values[name] = Fernet.generate_key().decode()
    return ReadSettings(None, problems, broken)


def choices(settings: Settings) -> list[Check]:
    """What the configuration chose, and what each choice costs."""
    if settings.socket_mode:
        mode = ok("mode", "Socket Mode (SLACK_APP_TOKEN): Slack needs no public URL, but one workspace only (no OAuth)")
    else:
        mode = ok(
            "mode",
            f"HTTP (no SLACK_APP_TOKEN): Slack sends its requests to {SLACK_EVENTS_PATH} at a public HTTPS URL, which "
            "lets Banana install through OAuth and run as several replicas",
        )
    if settings.oauth:
        workspaces = ok(
            "workspaces",
            "many, through OAuth (SLACK_CLIENT_ID): each workspace installs from /slack/install and gets its own "
            f"token, stored encrypted; caps hold by default; ALLOWED_WORKSPACES: {_allowed(settings)}",
        )
    else:
        workspaces = ok("workspaces", "one, SLACK_BOT_TOKEN's: for many, set SLACK_CLIENT_ID and SLACK_CLIENT_SECRET")
    if settings.callbacks:
        results = ok("results", "kie.ai calls back at PUBLIC_URL: images land as soon as kie.ai finishes")
    else:
        results = note(
            "results",
            "no PUBLIC_URL, so Banana polls kie.ai: images land a second or two after kie.ai finishes; set PUBLIC_URL "
            "where kie.ai can reach Banana to have them at once",
        )
    return [mode, workspaces, results]


def _allowed(settings: Settings) -> str:
    if not settings.allowed_workspaces:
        return "not set, so any workspace may install and spend your kie.ai credits"
    return ", ".join(sorted(settings.allowed_workspaces))


# ---------------------------------------------------------------- Slack


async def slack_checks(settings: Settings) -> list[Check]:
    """The bot token (auth.test) and the scopes it was granted; with OAuth there is no one token to try."""
    if settings.oauth:
        return [
            note(
                "Slack",
                "with OAuth each workspace has its own token (checked under installs); SLACK_CLIENT_ID and "
                "SLACK_CLIENT_SECRET are only checked by an install: open PUBLIC_URL/slack/install",
            )
        ]
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=int(TIMEOUT))
    try:
        response = await client.auth_test()
    except SlackApiError as error:
        refused = fail(
            "Slack",
            f"Slack refused SLACK_BOT_TOKEN ({error.response.get('error')}): copy the Bot User OAuth Token (xoxb-…) "
            "from your app's OAuth & Permissions page at https://api.slack.com/apps",
        )
        return [refused, Check(Mark.SKIPPED, "scopes", "not checked until SLACK_BOT_TOKEN works")]
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        return [fail("Slack", f"Slack could not be reached at SLACK_API_URL ({type(error).__name__})")]
    who = f"bot @{response.get('user')} in {response.get('team')} ({response.get('team_id')})"
    return [ok("Slack", f"SLACK_BOT_TOKEN works: {who}"), scopes_check(response.headers.get("x-oauth-scopes"))]


def scopes_check(granted: str | None) -> Check:
    """The scopes Slack says a token has (auth.test's `x-oauth-scopes` header, comma-separated) against the app's."""
    if granted is None:
        return note("scopes", "Slack did not say which scopes the bot token has; manifest.yml lists those Banana needs")
    have = {scope.strip() for scope in granted.split(",")}
    missing = [scope for scope in BOT_SCOPES if scope not in have]
    if missing:
        return fail(
            "scopes",
            f"the bot token lacks {', '.join(missing)}: add them to the app (paste manifest.yml again at "
            "https://api.slack.com/apps), then reinstall the app in the workspace",
        )
    return ok("scopes", f"the bot token has every scope manifest.yml asks for ({len(BOT_SCOPES)})")


async def events_check(settings: Settings) -> Check:
    """Whether Slack can reach Banana: in Socket Mode, whether the app token opens a connection (the URL is not used);
    in HTTP mode only Slack knows, so say where it must reach."""
    if not settings.socket_mode:
        where = (
            f"{settings.public_url}{SLACK_EVENTS_PATH}"
            if settings.public_url
            else f"your public URL's {SLACK_EVENTS_PATH}"
        )
        return note(
            "events",
            f"HTTP mode, SLACK_SIGNING_SECRET set: Slack must reach {where} (the Request URL of Event Subscriptions, "
            "Interactivity and /banana); only Slack can tell whether it does",
        )
    client = AsyncWebClient(base_url=settings.slack_api_url, timeout=int(TIMEOUT))
    try:
        await client.apps_connections_open(app_token=settings.slack_app_token or "")
    except SlackApiError as error:
        return fail(
            "events",
            f"Slack refused SLACK_APP_TOKEN ({error.response.get('error')}): create an App-Level Token with the "
            "connections:write scope under Basic Information at https://api.slack.com/apps",
        )
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        return fail("events", f"Slack could not be reached at SLACK_API_URL ({type(error).__name__})")
    return ok("events", "Socket Mode: SLACK_APP_TOKEN opens a connection, so Slack's requests will arrive")


# ---------------------------------------------------------------- kie.ai


async def kie_checks(settings: Settings) -> list[Check]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        kie = KieClient(
            http,
            api_key=settings.kieai_api_key,
            base_url=settings.kieai_base_url,
            upload_url=settings.kieai_upload_url,
            retry_delays=(),
        )
        try:
            balance = await kie.get_credits()
        except KieAuthError:
            return [
                fail("kie.ai", "kie.ai refused KIEAI_API_KEY: copy the key from your kie.ai account's API key page")
            ]
        except KieUnavailable as error:
            return [fail("kie.ai", f"kie.ai could not be reached at KIEAI_BASE_URL ({error.detail})")]
        except KieError as error:
            return [fail("kie.ai", f"kie.ai did not give the balance ({error.summary}): try again in a minute")]
    return [ok("kie.ai", "KIEAI_API_KEY works"), balance_check(balance, settings.prices, settings.default_resolution)]


def balance_check(balance: float, prices: Prices, default_resolution: str) -> Check:
    """The balance, and how many images it buys at each resolution."""
    buys = ", ".join(f"{int(balance // prices[r]):,} at {r}" for r in RESOLUTIONS)
    shown = f"{balance:,.0f}" if float(balance).is_integer() else f"{balance:,.1f}"
    top_up = "add credits to the kie.ai account (kie.ai, Billing)"
    if balance < min(prices[r] for r in RESOLUTIONS):
        return fail("balance", f"{shown} credits, not enough for one image: {top_up}")
    if balance < prices[default_resolution]:
        return note(
            "balance", f"{shown} credits, not enough for one image at {default_resolution} (the default): {top_up}"
        )
    return ok("balance", f"{shown} credits: images it buys: {buys}")


# ---------------------------------------------------------------- the database


async def database_checks(settings: Settings) -> list[Check]:
    """The database reachable, writable and migrated, and (with OAuth) the installations it keeps. A SQLite file that
    is not there yet is not created: Banana makes it at its first start."""
    if settings.database_url:
        where = f"PostgreSQL at DATABASE_URL={masked(settings.database_url)}"
        opening: Callable[[], Awaitable[TaskStore]] = PostgresTaskStore(
            settings.database_url, min_size=1, max_size=2, open_timeout=TIMEOUT, ping_timeout=TIMEOUT
        ).open
    else:
        path = settings.database_path
        where = f"SQLite at DATABASE_PATH={path}"
        if path.is_dir():
            return [fail("database", f"{where} is a folder: name a file in it, such as {path / 'banana.db'}")]
        if not path.exists():
            return _not_created_yet(settings, path, where)
        opening = SqliteTaskStore(path, tool=True).open
    try:
        store = await opening()
    except (StoreUnavailable, ValueError) as error:
        return [fail("database", f"{error}")]
    except (sqlite3.Error, OSError) as error:
        return [fail("database", f"{where} cannot be opened ({_first_line(error)})")]
    try:
        checks = [await _usable(store, where), *([await installs_check(store, settings)] if settings.oauth else [])]
        return [*checks, *await kie_keys_check(store, settings)]
    finally:
        await store.close()


async def _usable(store: TaskStore, where: str) -> Check:
    try:
        # A write through the store's own API: a key no Slack request has, forgotten within the hour like theirs.
        await store.first_time(f"banana-doctor:{secrets.token_hex(8)}")
    except (StoreUnavailable, sqlite3.Error, OSError) as error:
        return fail("database", f"{where} opens but cannot be written ({_first_line(error)}): check its permissions")
    return ok("database", f"{where}: reachable, writable, schema up to date")


def _not_created_yet(settings: Settings, path: Path, where: str) -> list[Check]:
    folder = next((p for p in path.absolute().parents if p.exists()), Path("/"))
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return [fail("database", f"{where} cannot be created: {folder} is not a folder this user may write in")]
    checks = [ok("database", f"{where}: not there yet, Banana creates it at its first start")]
    if settings.oauth:
        checks.append(note("installs", "no workspace has installed Banana yet: open PUBLIC_URL/slack/install"))
    return checks


async def installs_check(store: TaskStore, settings: Settings) -> Check:
    """The workspaces installed through OAuth: how many, whether BANANA_ENCRYPTION_KEYS opens their tokens, and
    whether each granted every scope (an older install may lack one added since)."""
    bots = await stored_bots(store, settings.slack_client_id or "", settings.encryption_keys)
    if not bots:
        return note("installs", "no workspace has installed Banana yet: open PUBLIC_URL/slack/install")
    sealed = [bot.team_id or bot.enterprise_id for bot in bots if bot.scopes is None]
    if sealed:
        return fail(
            "installs",
            f"BANANA_ENCRYPTION_KEYS opens no key of {len(sealed)} of {len(bots)} workspace(s) ({', '.join(sealed)}): "
            "put the key they were stored with back in the list, after the newest",
        )
    lacking = {
        bot.team_id or bot.enterprise_id: [scope for scope in BOT_SCOPES if scope not in (bot.scopes or ())]
        for bot in bots
    }
    lacking = {team: scopes for team, scopes in lacking.items() if scopes}
    if lacking:
        named = "; ".join(f"{team} lacks {', '.join(scopes)}" for team, scopes in lacking.items())
        return fail("installs", f"{named}: someone there must install Banana again from /slack/install")
    return ok("installs", f"{len(bots)} workspace(s) installed, their tokens open with BANANA_ENCRYPTION_KEYS")


async def kie_keys_check(store: TaskStore, settings: Settings) -> list[Check]:
    """Workspaces' own kie.ai keys: whether BANANA_ENCRYPTION_KEYS opens them, or lets them be kept at all."""
    keys = await all_keys(store.database)
    if not settings.encryption_keys:
        if keys:
            return [
                fail(
                    "workspace keys",
                    f"{len(keys)} workspace kie.ai key(s) are stored, but BANANA_ENCRYPTION_KEYS "
                    "is not set: set it as it was, or their workspaces' images cannot be made",
                )
            ]
        return [
            note("workspace keys", "workspaces cannot give their own kie.ai key until BANANA_ENCRYPTION_KEYS is set")
        ]
    sealer = Sealer(settings.encryption_keys)
    closed = []
    for key in keys:
        try:
            sealer.open(key.sealed)
        except UnknownKey:
            closed.append(key.team_id)
    if closed:
        return [
            fail(
                "workspace keys",
                f"BANANA_ENCRYPTION_KEYS opens no key of {len(closed)} workspace kie.ai key(s) "
                f"({', '.join(sorted(set(closed)))}): put the key they were stored with back in the list",
            )
        ]
    return (
        [ok("workspace keys", f"{len(keys)} workspace kie.ai key(s) stored, all open with BANANA_ENCRYPTION_KEYS")]
        if keys
        else []
    )


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# ---------------------------------------------------------------- the port and PUBLIC_URL


async def port_and_public_url_checks(settings: Settings) -> list[Check]:
    """The port free (bound, then closed), and PUBLIC_URL reaching this host. While the port is bound, doctor answers
    /healthz on it with a token of its own, so a PUBLIC_URL that leads to this host's port is told apart from one
    that leads elsewhere, before Banana has ever run."""
    try:
        bound = _bind(settings.host, settings.port)
    except OSError as error:
        running = await _banana_answers(settings)
        checks = [port_taken(settings.host, settings.port, error, running=running)]
        if settings.public_url:
            checks.append(await public_url_check(settings.public_url, token=None))
        return checks
    with bound:
        port = bound.getsockname()[1]
        checks = [ok("port", f"{settings.host}:{port} is free" if settings.port else f"PORT=0: any free port ({port})")]
        if not settings.public_url:
            return checks
        token = secrets.token_hex(8)
        runner = web.AppRunner(_answering(token), access_log=None)
        await runner.setup()
        try:
            await web.SockSite(runner, bound).start()
            checks.append(await public_url_check(settings.public_url, token=token, port=port))
        finally:
            await runner.cleanup()
    return checks


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to HOST:PORT as Banana's server binds it (aiohttp reuses addresses on Unix)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError:
        sock.close()
        raise
    return sock


def port_taken(host: str, port: int, error: OSError, *, running: bool) -> Check:
    if running:
        return note("port", f"{host}:{port} is taken by a Banana that is running (its /healthz answers)")
    if error.errno == errno.EADDRINUSE:
        return fail("port", f"{host}:{port} is in use: stop what uses it, or set PORT to a free port")
    if error.errno == errno.EACCES:
        return fail("port", f"{host}:{port} needs privileges: set PORT to 1024 or above")
    return fail(
        "port", f"{host}:{port} cannot be bound ({error.strerror or type(error).__name__}): check HOST and PORT"
    )


async def _banana_answers(settings: Settings) -> bool:
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(settings.host, settings.host)
    host = f"[{host}]" if ":" in host else host
    try:  # a Banana on this host answers at once; anything else holding the port need not answer at all
        async with httpx.AsyncClient(timeout=2.0) as http:
            body = (await http.get(f"http://{host}:{settings.port}/healthz")).json()
    except (httpx.HTTPError, ValueError):
        return False
    return isinstance(body, dict) and "database_backend" in body


def _answering(token: str) -> web.Application:
    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"doctor": token})

    app = web.Application()
    app.router.add_get("/healthz", health)
    return app


async def public_url_check(public_url: str, *, token: str | None, port: int = 0) -> Check:
    """GET PUBLIC_URL/healthz from this host. With `token`, doctor itself answers on this host's port."""
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True) as http:
            response = await http.get(f"{public_url}/healthz")
    except httpx.HTTPError as error:
        return fail(
            "PUBLIC_URL",
            f"{public_url}/healthz could not be reached from this host ({type(error).__name__}): kie.ai could not "
            "call back; fix PUBLIC_URL, or leave it out and Banana polls",
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and token is not None and body.get("doctor") == token:
        return ok("PUBLIC_URL", f"{public_url} leads to this host's port {port}: kie.ai's callbacks will arrive")
    if isinstance(body, dict) and "database_backend" in body:
        return ok("PUBLIC_URL", f"{public_url} leads to a running Banana: kie.ai's callbacks will arrive")
    return fail(
        "PUBLIC_URL",
        f"{public_url}/healthz answered HTTP {response.status_code}, not Banana: point PUBLIC_URL at this host's "
        "port (through your proxy or load balancer)",
    )


# ---------------------------------------------------------------- all of them


async def diagnose(values: Mapping[str, str], env_problems: Sequence[str] = ()) -> list[Check]:
    """Every check on the settings `values` hold (and `.env`'s own problems), in a fixed order; the independent ones
    run at once."""
    read = read_settings(values)
    checks = [fail("settings", problem) for problem in (*env_problems, *read.problems)]
    settings = read.settings
    if settings is None:
        return [*checks, Check(Mark.SKIPPED, "everything else", "not checked until the settings above are fixed")]
    if not checks:
        checks.append(ok("settings", "complete and consistent"))
    if not read.broken & {"SLACK_APP_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "PUBLIC_URL"}:
        checks += choices(settings)
    groups: list[tuple[str, frozenset[str], Callable[[], Awaitable[list[Check]]]]] = [
        ("Slack", SLACK_NEEDS, lambda: slack_checks(settings)),
        ("events", EVENTS_NEEDS, lambda: _one(events_check(settings))),
        ("kie.ai", KIE_NEEDS, lambda: kie_checks(settings)),
        ("database", DATABASE_NEEDS, lambda: database_checks(settings)),
        ("port", PORT_NEEDS, lambda: port_and_public_url_checks(settings)),
    ]
    results = await asyncio.gather(*(_guarded(topic, needs, read.broken, run) for topic, needs, run in groups))
    return [*checks, *(check for result in results for check in result)]


async def _one(check: Awaitable[Check]) -> list[Check]:
    return [await check]


async def _guarded(
    topic: str, needs: frozenset[str], broken: frozenset[str], run: Callable[[], Awaitable[list[Check]]]
) -> list[Check]:
    """A group of checks, skipped while a setting it reads is broken, and cut short after CHECK_TIMEOUT."""
    if needs & broken:
        names = sorted(needs & broken)
        verb = "is" if len(names) == 1 else "are"
        return [Check(Mark.SKIPPED, topic, f"not checked until {', '.join(names)} {verb} fixed")]
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await run()
    except TimeoutError:
        return [fail(topic, f"no answer within {CHECK_TIMEOUT:g} s")]
    except Exception as error:  # a diagnosis reports what it could not check rather than stop with a traceback
        return [fail(topic, f"could not be checked ({type(error).__name__})")]


# Settings whose values are secrets (BANANA_ENCRYPTION_KEYS: each of its keys), kept out of the report even when
# they could not be read as settings.
SECRET_SETTINGS = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_CLIENT_SECRET",
    "KIEAI_API_KEY",
    "KIEAI_WEBHOOK_HMAC_KEY",
    "METRICS_TOKEN",
    "BANANA_ENCRYPTION_KEYS",
)


def secrets_in(values: Mapping[str, str]) -> list[str]:
    found = [part.strip() for name in SECRET_SETTINGS for part in values.get(name, "").split(",")]
    return [*found, database_password(values.get("DATABASE_URL")) or ""]


async def run(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> int:
    """Print the report, redacted of every configured secret besides; the exit status."""
    values, env_problems = read_environment(environ, env_file)  # what `banana-bot` itself reads, and refuses
    checks = await diagnose(values, env_problems)
    redaction.remember(*secrets_in(values))
    print(redaction.redact(render(checks)))
    return exit_code(checks)


def main() -> int:
    """`banana-bot doctor`. Libraries' own log lines are kept out of the report: each check says what went wrong."""
    logging.disable(logging.CRITICAL)
    with contextlib.suppress(AttributeError):
        sys.stdout.reconfigure(encoding="utf-8")  # type: ignore[union-attr]  # the marks, whatever the locale
    return asyncio.run(run())

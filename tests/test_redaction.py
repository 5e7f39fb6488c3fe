"""No secret reaches the log, whichever library logs it and at whatever level, tracebacks included; DATABASE_URL is
shown with its password masked as libpq reads it, whatever the password holds.

The logging tests go through the app's own `configure_logging` (the one handler on the root logger), writing to a
captured stderr."""

from __future__ import annotations

import io
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from banana.cli import configure_logging
from bot.settings import load_settings
from bot.store import PostgresTaskStore, StoreUnavailable, masked
from standins.slack import APP_ID, CLIENT_ID, CLIENT_SECRET, SlackStandIn

KIE_KEY = "kie-key-0123456789abcdef"
DB_PASSWORD = "database-pw-42"
ENV = {
    "SLACK_BOT_TOKEN": "xoxb-1-configured-bot-token",
    "SLACK_SIGNING_SECRET": "signing-secret-0123456789",
    "KIEAI_API_KEY": KIE_KEY,
    "DATABASE_URL": f"postgresql://banana:{DB_PASSWORD}@127.0.0.1:1/banana",
    "LOG_LEVEL": "DEBUG",
}
# A Slack token nobody configured: a workspace's, learnt at run time
UNKNOWN_TOKEN = "xoxb-2-unconfigured-workspace-token"
LIBRARIES = ("slack_sdk", "slack_bolt", "httpx", "httpcore", "aiohttp", "psycopg", "asyncio", "banana")


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], io.StringIO]]:
    """`configure_logging` as the app runs it, DEBUG, its output captured; logging put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    hooks = sys.excepthook, threading.excepthook
    stream = io.StringIO()

    def configure() -> io.StringIO:
        # The app's handler writes to stderr (set here, in the test: pytest sets its own between setup and call)
        monkeypatch.setattr(sys, "stderr", stream)
        configure_logging(load_settings(ENV, env_file=None))
        return stream

    yield configure
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook, threading.excepthook = hooks


@pytest.fixture
async def slack() -> Any:
    stand_in = SlackStandIn()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


async def test_a_token_rotation_logged_by_slack_sdk_at_debug_shows_no_token(logs, slack: SlackStandIn) -> None:
    out = logs()
    slack.token_rotation_enabled = True
    team = slack.add_workspace()
    installed = slack.install(team.team_id)
    bot = Bot(
        app_id=APP_ID,
        team_id=team.team_id,
        bot_token=installed["access_token"],
        bot_refresh_token=installed["refresh_token"],
        bot_token_expires_in=installed["expires_in"],
        bot_id=team.bot_id,
        bot_user_id=team.bot_user_id,
        installed_at=time.time(),
    )
    rotator = AsyncTokenRotator(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, client=AsyncWebClient(base_url=slack.api_url)
    )
    rotated = await rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=24 * 60)
    assert rotated is not None and rotated.bot_token and rotated.bot_refresh_token
    await AsyncWebClient(token=rotated.bot_token, base_url=slack.api_url).auth_test()

    text = out.getvalue()
    # slack_sdk did log both bodies of the refresh, at DEBUG
    assert "oauth.v2.access" in text and "'refresh_token': '[redacted]'" in text
    assert "'access_token': '[redacted]'" in text and "auth.test" in text
    for secret in (
        installed["access_token"],
        installed["refresh_token"],
        rotated.bot_token,
        rotated.bot_refresh_token,
        CLIENT_SECRET,  # not configured here
    ):
        assert secret not in text
        assert secret[-16:] not in text  # not even its end


@pytest.mark.parametrize("library", LIBRARIES)
def test_every_library_logger_is_redacted(logs, library: str) -> None:
    out = logs()
    logging.getLogger(f"{library}.somewhere").warning(
        "sent %s with %s, form refresh_token=%s&code=%s, header Authorization: Bearer %s, %s",
        KIE_KEY,
        UNKNOWN_TOKEN,
        "opaque-refresh-value",
        "oauth-code-value",
        "opaque-bearer-value",
        "postgresql://u:p#ss?word@db/banana",
    )
    text = out.getvalue()
    assert f"WARNING {library}.somewhere: sent [redacted] with xoxb-[redacted]" in text
    for secret in (KIE_KEY, UNKNOWN_TOKEN, "opaque", "oauth-code", "p#ss", "?word"):
        assert secret not in text


def test_a_traceback_holds_no_secret_even_for_another_handler(logs) -> None:
    out = logs()
    other = io.StringIO()
    logging.getLogger().addHandler(logging.StreamHandler(other))  # a plain handler after the app's
    try:
        try:
            raise ConnectionError(f"Slack refused {UNKNOWN_TOKEN}")
        except ConnectionError as error:
            raise RuntimeError(f"kie.ai refused the key {KIE_KEY} and {DB_PASSWORD}") from error
    except RuntimeError:
        logging.getLogger("banana").exception("creating the task broke")
    text = out.getvalue()
    assert "Traceback" in text and "ConnectionError: Slack refused xoxb-[redacted]" in text
    assert "RuntimeError: kie.ai refused the key [redacted] and [redacted]" in text
    for secret in (KIE_KEY, UNKNOWN_TOKEN, DB_PASSWORD):
        assert secret not in text
        assert secret not in other.getvalue()  # the cached traceback (record.exc_text) is the redacted one


def test_a_stack_and_an_uncaught_exception_are_redacted(logs) -> None:
    out = logs()
    logging.getLogger("banana").warning("where was %s", UNKNOWN_TOKEN, stack_info=True)
    try:
        raise RuntimeError(f"kie said no to {KIE_KEY}")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())  # what Python calls for an exception nothing caught
    text = out.getvalue()
    assert "Stack (most recent call last)" in text and "RuntimeError: kie said no to [redacted]" in text
    assert KIE_KEY not in text and UNKNOWN_TOKEN not in text


def test_a_log_call_that_cannot_be_formatted_does_not_print_its_arguments(logs) -> None:
    out = logs()
    logging.getLogger("slack_sdk").info("token %s and %s", UNKNOWN_TOKEN)  # one argument short
    text = out.getvalue()
    assert "Logging error" in text and "test_redaction.py" in text
    assert UNKNOWN_TOKEN not in text


async def test_a_url_with_a_token_logged_by_httpx_is_redacted(logs, slack: SlackStandIn) -> None:
    out = logs()
    async with httpx.AsyncClient() as client:
        await client.get(f"{slack.api_url}auth.test", params={"token": UNKNOWN_TOKEN})
    text = out.getvalue()
    assert "INFO httpx: HTTP Request: GET" in text and "auth.test?token=[redacted]" in text
    assert UNKNOWN_TOKEN not in text


# ------------------------------------------------------------------------------------------------ DATABASE_URL

# (the password as written in the URL, as libpq reads it)
PASSWORDS = [
    ("p#ss", "p#ss"),
    ("p?ss", "p?ss"),
    ("p:ss", "p:ss"),
    ("p%40ss%2Fword", "p@ss/word"),
    ("%23encoded", "#encoded"),
]


@pytest.mark.parametrize(("written", "password"), PASSWORDS)
def test_masked_hides_a_password_whatever_it_holds(written: str, password: str) -> None:
    shown = masked(f"postgresql://banana:{written}@db:5432/banana?sslmode=require")
    assert shown == "postgresql://banana:***@db:5432/banana?sslmode=require"
    shown = masked(f"postgresql://db/banana?sslmode=require&password={written}")
    assert shown == "postgresql://db/banana?sslmode=require&password=***"


def test_masked_hides_what_a_mistyped_url_could_hold() -> None:
    # An @ and a / left unescaped: libpq reads the password "p" and the host "ss", but all of it was meant as one.
    assert masked("postgresql://banana:p@ss/word@db/banana") == "postgresql://banana:***@db/banana"
    # No host at all: libpq takes the password for a port.
    assert "s3cret" not in masked("postgresql://banana:s3cret")
    # A URL libpq cannot parse: any part of it could be the password.
    assert masked("postgresql://banana:p%zz@db/banana") == "postgresql://…(unparseable)"


@pytest.mark.parametrize(("written", "password"), [*PASSWORDS, ("p%zz", "p%zz")])
async def test_an_unreachable_database_names_its_url_without_the_password(written: str, password: str) -> None:
    url = f"postgresql://banana:{written}@127.0.0.1:1/banana"
    with pytest.raises((StoreUnavailable, ValueError)) as raised:
        await PostgresTaskStore(url, open_timeout=3).open()
    message = str(raised.value)
    assert "DATABASE_URL=postgresql://" in message
    assert written not in message and password not in message

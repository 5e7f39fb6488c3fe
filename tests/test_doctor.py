"""`banana-bot doctor` against the stand-ins: healthy, then each thing a newcomer gets wrong, one at a time. Every
report is checked for secrets."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation

from banana.app import doctor
from banana.app.doctor import Check, Mark, balance_check, exit_code, render, scopes_check
from banana.app.wiring import BOT_SCOPES
from bot.store import PostgresTaskStore, SqliteTaskStore, StoredBot, installation_stores, stored_bots
from prompts.options import PRICES
from standins import kie as kie_standin
from standins import slack as slack_standin
from tests.conftest import SIGNING_SECRET, TEST_ENCRYPTION_KEY, free_port

DB_PASSWORD = "s3cret-db-pw"
ROOT = Path(__file__).parent.parent


async def diagnose(env: dict[str, str]) -> tuple[int, str]:
    """The exit status and the report (before the last redaction, so the checks themselves must keep secrets out)."""
    checks = await doctor.diagnose(env)
    report = render(checks)
    for secret in doctor.secrets_in(env):
        assert not secret or secret not in report, f"a secret is in the report:\n{report}"
    return exit_code(checks), report


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def lines(report: str, mark: Mark) -> list[str]:
    return [line for line in report.splitlines() if line.startswith(f"{mark.value} ")]


def healthy(app_env: dict[str, str]) -> dict[str, str]:
    """The stand-ins' settings, with PUBLIC_URL leading to the port Banana would listen on."""
    port = free_port()
    return {**app_env, "PORT": str(port), "PUBLIC_URL": f"http://127.0.0.1:{port}"}


async def test_healthy_settings_hold_everywhere_and_leave_nothing_behind(app_env, slack):
    env = healthy(app_env)
    status, report = await diagnose(env)
    assert status == 0, report
    assert lines(report, Mark.FAIL) == []
    assert "✓ settings: complete and consistent" in report
    assert "✓ Slack: SLACK_BOT_TOKEN works: bot @" in report
    assert f"✓ scopes: the bot token has every scope manifest.yml asks for ({len(BOT_SCOPES)})" in report
    assert "✓ kie.ai: KIEAI_API_KEY works" in report
    assert "✓ balance: 10,000 credits: images it buys: 555 at 1K, 555 at 2K, 416 at 4K" in report
    assert f"✓ PUBLIC_URL: {env['PUBLIC_URL']} leads to this host's port {env['PORT']}" in report
    assert f"✓ port: 127.0.0.1:{env['PORT']} is free" in report
    assert "not there yet, Banana creates it at its first start" in report
    # HTTP mode: only Slack knows whether it reaches /slack/events, so that is said, not claimed
    assert [line.split(":")[0] for line in lines(report, Mark.NOTE)] == ["! events"]
    assert files_in(Path(env["DATABASE_PATH"]).parent) == []
    assert not slack.calls_to("apps.connections.open")


async def test_an_existing_database_is_reachable_writable_and_migrated(app_env):
    store = await SqliteTaskStore(Path(app_env["DATABASE_PATH"])).open()
    await store.close()
    status, report = await diagnose(app_env)
    assert status == 0, report
    assert f"✓ database: SQLite at DATABASE_PATH={app_env['DATABASE_PATH']}: reachable, writable" in report


async def test_polling_is_said_with_its_cost(app_env):
    status, report = await diagnose(app_env)
    assert status == 0, report
    assert "! results: no PUBLIC_URL, so Banana polls kie.ai: images land a second or two after" in report


async def test_a_wrong_slack_token_names_slack_bot_token(app_env):
    status, report = await diagnose({**app_env, "SLACK_BOT_TOKEN": "xoxb-not-a-real-token-0123"})
    assert status != 0
    (refused,) = lines(report, Mark.FAIL)
    assert refused.startswith("✗ Slack: Slack refused SLACK_BOT_TOKEN (invalid_auth): copy the Bot User OAuth Token")
    assert "- scopes: not checked until SLACK_BOT_TOKEN works" in report


async def test_a_missing_scope_is_named_with_the_reinstall(app_env, slack):
    # A workspace that installed the app before files:read was asked for: Slack grants what the install asked for
    # (https://api.slack.com/scopes), and auth.test's x-oauth-scopes header lists it.
    slack.scopes = tuple(scope for scope in slack.scopes if scope != "files:read")
    status, report = await diagnose(app_env)
    assert status != 0
    (missing,) = lines(report, Mark.FAIL)
    assert missing.startswith("✗ scopes: the bot token lacks files:read: add them to the app")
    assert "reinstall the app in the workspace" in missing


async def test_a_refused_kie_key(app_env):
    status, report = await diagnose({**app_env, "KIEAI_API_KEY": "not-the-key-0123"})
    assert status != 0
    assert lines(report, Mark.FAIL) == [
        "✗ kie.ai: kie.ai refused KIEAI_API_KEY: copy the key from your kie.ai account's API key page"
    ]


async def test_an_empty_balance_says_what_to_do(app_env, kie):
    kie.credits = 0
    status, report = await diagnose(app_env)
    assert status != 0
    assert lines(report, Mark.FAIL) == [
        "✗ balance: 0 credits, not enough for one image: add credits to the kie.ai account (kie.ai, Billing)"
    ]


def test_a_balance_short_of_the_default_resolution_is_a_note():
    short = balance_check(20, PRICES, "4K")
    assert short.mark is Mark.NOTE and "not enough for one image at 4K (the default)" in short.text
    assert balance_check(17.5, PRICES, "2K") == Check(
        Mark.FAIL,
        "balance",
        "17.5 credits, not enough for one image: add credits to the kie.ai account (kie.ai, Billing)",
    )


async def test_a_database_away_is_named_with_its_password_masked(app_env):
    url = f"postgresql://banana:{DB_PASSWORD}@127.0.0.1:1/banana"
    status, report = await diagnose({**app_env, "DATABASE_URL": url})
    assert status != 0
    (away,) = lines(report, Mark.FAIL)
    assert away.startswith("✗ database: cannot reach PostgreSQL at DATABASE_URL=postgresql://banana:***@127.0.0.1:1/")


async def test_a_healthy_postgresql(app_env, postgres_url):
    status, report = await diagnose({**app_env, "DATABASE_URL": postgres_url})
    assert status == 0, report
    assert "✓ database: PostgreSQL at DATABASE_URL=" in report and "reachable, writable, schema up to date" in report


async def test_an_unreachable_public_url(app_env):
    status, report = await diagnose({**app_env, "PUBLIC_URL": "http://127.0.0.1:1"})
    assert status != 0
    (unreachable,) = lines(report, Mark.FAIL)
    assert unreachable.startswith("✗ PUBLIC_URL: http://127.0.0.1:1/healthz could not be reached from this host")
    assert "leave it out and Banana polls" in unreachable


async def test_a_public_url_that_leads_elsewhere(app_env, kie):
    status, report = await diagnose({**app_env, "PUBLIC_URL": kie.base_url})
    assert status != 0
    (elsewhere,) = lines(report, Mark.FAIL)
    assert elsewhere.startswith(f"✗ PUBLIC_URL: {kie.base_url}/healthz answered HTTP 404, not Banana")


async def test_a_port_in_use(app_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        status, report = await diagnose({**app_env, "PORT": str(port)})
    assert status != 0
    assert lines(report, Mark.FAIL) == [
        f"✗ port: 127.0.0.1:{port} is in use: stop what uses it, or set PORT to a free port"
    ]


async def test_a_port_held_by_a_running_banana_is_a_note(app_env, start_banana):
    banana = await start_banana()
    status, report = await diagnose({**app_env, "PORT": str(banana.server.port)})
    assert status == 0, report
    assert f"! port: 127.0.0.1:{banana.server.port} is taken by a Banana that is running" in report


async def test_socket_mode_asks_for_a_connection_and_keeps_none(app_env, slack):
    env = {**app_env, "SLACK_APP_TOKEN": slack_standin.APP_TOKEN}
    status, report = await diagnose(env)
    assert status == 0, report
    assert "✓ mode: Socket Mode (SLACK_APP_TOKEN): Slack needs no public URL, but one workspace only" in report
    assert "✓ events: Socket Mode: SLACK_APP_TOKEN opens a connection" in report
    assert len(slack.calls_to("apps.connections.open")) == 1 and slack.socket_connections == 0

    status, report = await diagnose({**env, "SLACK_APP_TOKEN": "xapp-1-not-the-token"})
    assert status != 0
    (refused,) = lines(report, Mark.FAIL)
    assert refused.startswith("✗ events: Slack refused SLACK_APP_TOKEN (invalid_auth): create an App-Level Token")


async def test_broken_settings_are_one_line_each_and_the_other_checks_still_run(app_env):
    env = {**app_env, "PORT": "http", "PRICE_4K": "free"}
    del env["KIEAI_API_KEY"]
    status, report = await diagnose(env)
    assert status != 0
    assert lines(report, Mark.FAIL) == [
        "✗ settings: KIEAI_API_KEY is missing",
        "✗ settings: PORT must be a whole number from 0 to 65535, got 'http'",
        "✗ settings: PRICE_4K must be a whole number from 1 to 1000000, got 'free'",
    ]
    assert "- kie.ai: not checked until KIEAI_API_KEY, PRICE_4K are fixed" in report
    assert "- port: not checked until PORT is fixed" in report
    assert "✓ Slack: SLACK_BOT_TOKEN works" in report and "✓ database: SQLite" in report


async def test_a_missing_signing_secret_names_both_ways_and_still_checks_slack(app_env):
    env = dict(app_env)
    del env["SLACK_SIGNING_SECRET"]
    status, report = await diagnose(env)
    assert status != 0
    assert "SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)" in report
    assert "✓ Slack: SLACK_BOT_TOKEN works" in report  # the way out it names is not itself broken
    assert "not checked until SLACK_APP_TOKEN" not in report


async def test_a_conflict_between_socket_mode_and_oauth(app_env):
    env = {
        **app_env,
        "SLACK_APP_TOKEN": slack_standin.APP_TOKEN,
        "SLACK_CLIENT_ID": "1.2",
        "SLACK_CLIENT_SECRET": "secret-0123",
    }
    status, report = await diagnose(env)
    assert status != 0
    assert lines(report, Mark.FAIL)[0].startswith(
        "✗ settings: SLACK_APP_TOKEN (Socket Mode) cannot go with SLACK_CLIENT_ID"
    )
    assert "- Slack: not checked until" in report and "✓ kie.ai: KIEAI_API_KEY works" in report


async def save_install(path: Path, key: str, scopes: tuple[str, ...]) -> None:
    store = await SqliteTaskStore(path).open()
    try:
        installations, _states = installation_stores(store, slack_standin.CLIENT_ID, [key])
        await installations.async_save(
            Installation(
                app_id=slack_standin.APP_ID,
                team_id="T0NORTH001",
                user_id="U0NORTH001",
                bot_token="xoxb-stored-token-0123",
                bot_id="B0NORTH001",
                bot_user_id="U0NORTHBOT",
                bot_scopes=list(scopes),
                installed_at=time.time(),
            )
        )
    finally:
        await store.close()


def oauth_env(app_env: dict[str, str], key: str = TEST_ENCRYPTION_KEY) -> dict[str, str]:
    env = {**app_env, "SLACK_CLIENT_ID": slack_standin.CLIENT_ID, "SLACK_CLIENT_SECRET": slack_standin.CLIENT_SECRET}
    del env["SLACK_BOT_TOKEN"]
    return {**env, "BANANA_ENCRYPTION_KEYS": key}


async def test_with_oauth_the_stored_installations_are_checked(app_env):
    path = Path(app_env["DATABASE_PATH"])
    status, report = await diagnose(oauth_env(app_env))
    assert status == 0, report
    assert "! Slack: with OAuth each workspace has its own token" in report
    assert "! installs: no workspace has installed Banana yet" in report

    await save_install(path, TEST_ENCRYPTION_KEY, BOT_SCOPES)
    status, report = await diagnose(oauth_env(app_env))
    assert status == 0, report
    assert "✓ installs: 1 workspace(s) installed, their tokens open with BANANA_ENCRYPTION_KEYS" in report

    status, report = await diagnose(oauth_env(app_env, Fernet.generate_key().decode()))
    assert status != 0
    (sealed,) = lines(report, Mark.FAIL)
    assert sealed.startswith("✗ installs: BANANA_ENCRYPTION_KEYS opens no key of 1 of 1 workspace(s) (T0NORTH001)")

    await save_install(path, TEST_ENCRYPTION_KEY, tuple(s for s in BOT_SCOPES if s != "users:read"))
    status, report = await diagnose(oauth_env(app_env))
    assert status != 0
    assert lines(report, Mark.FAIL) == [
        "✗ installs: T0NORTH001 lacks users:read: someone there must install Banana again from /slack/install"
    ]


def test_the_report_and_its_exit_status():
    notes = [Check(Mark.OK, "port", "free"), Check(Mark.NOTE, "events", "only Slack knows")]
    assert exit_code(notes) == 0
    assert render(notes).splitlines() == [
        "✓ port: free",
        "! events: only Slack knows",
        "Everything Banana needs is in place; ! lines are worth reading. Start it with `banana-bot`.",
    ]
    failing = [*notes, Check(Mark.FAIL, "kie.ai", "refused"), Check(Mark.SKIPPED, "balance", "not checked")]
    assert exit_code(failing) == 1
    assert render(failing).splitlines()[-1] == "1 check(s) failed (✗): fix them and run `banana-bot doctor` again."
    assert scopes_check(None).mark is Mark.NOTE


@pytest.mark.parametrize("broken", [False, True])
async def test_the_command(app_env, tmp_path, broken):
    """`banana-bot doctor` as an operator runs it: one line a check, no traceback, no secret, and its exit status."""
    env = {**healthy(app_env), **({"KIEAI_API_KEY": "wrong-key-0123"} if broken else {})}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "banana",
        "doctor",
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    report = out.decode()
    assert process.returncode == (1 if broken else 0), report
    assert err == b"" and "Traceback" not in report
    assert "✓ Slack: SLACK_BOT_TOKEN works" in report
    for secret in (slack_standin.BOT_TOKEN, SIGNING_SECRET, kie_standin.API_KEY, env["KIEAI_API_KEY"]):
        assert secret not in report
    assert files_in(tmp_path) == []


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request, tmp_path):
    if request.param == "sqlite":
        opened = await SqliteTaskStore(tmp_path / "banana.db").open()
    else:
        opened = await PostgresTaskStore(request.getfixturevalue("postgres_url"), min_size=1, max_size=2).open()
    yield opened
    await opened.close()


async def test_stored_bots_name_each_workspace_and_whether_its_row_opens(store):
    installations, _states = installation_stores(store, slack_standin.CLIENT_ID, [TEST_ENCRYPTION_KEY])
    await installations.async_save(
        Installation(team_id="T0NORTH001", user_id="U1", bot_token="xoxb-stored-0123", bot_scopes=["commands"])
    )
    other_key = Fernet.generate_key().decode()
    assert await stored_bots(store, slack_standin.CLIENT_ID, [TEST_ENCRYPTION_KEY]) == [
        StoredBot("T0NORTH001", "", ("commands",))
    ]
    assert await stored_bots(store, slack_standin.CLIENT_ID, [other_key]) == [StoredBot("T0NORTH001", "", None)]
    assert await stored_bots(store, "another-app", [TEST_ENCRYPTION_KEY]) == []


async def test_a_dotenv_line_banana_would_refuse_is_refused_here_too(app_env, tmp_path, capsys):
    """doctor reads the environment as `banana-bot` does: a `.env` line it cannot parse fails the start, so here too."""
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=INFO\nthis line is not a setting\n")
    status = await doctor.run(environ=app_env, env_file=env_file)
    report = capsys.readouterr().out
    assert status != 0
    assert f"✗ settings: {env_file} line 2 cannot be read: write it as NAME=value" in report
    assert "complete and consistent" not in report

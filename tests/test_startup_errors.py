"""Every start-up failure a newcomer can cause is one line on stderr, with no traceback, naming the setting and what to
do, and the refused start leaves nothing behind (banana/cli.py, banana/app/server.py and wiring.py, settings.py,
store/sqlite.py). Each test runs `python -m banana` as an operator would, in an empty folder of its own."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from standins.slack import APP_TOKEN
from tests.conftest import free_port

EXIT_DEADLINE = 60.0  # only for a start that never ends: a failure is expected within seconds


@pytest.fixture
def folder(tmp_path) -> Path:
    """Where the app runs: empty, with no .env, so the default DATABASE_PATH (data/banana.db) would land here."""
    run = tmp_path / "run"
    run.mkdir()
    return run


@pytest.fixture
def env(app_env) -> dict[str, str]:
    """The stand-ins' settings, the default database path, a free port, and nothing from the test's environment."""
    settings = {key: value for key, value in app_env.items() if key != "DATABASE_PATH"}
    return {"PATH": os.environ["PATH"], **settings, "PORT": str(free_port()), "LOG_LEVEL": "INFO"}


async def refused(folder: Path, env: dict[str, str], *args: str) -> str:
    """Run Banana until it exits; check that it failed and said why on exactly one line, and return that line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "banana",
        *args,
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(EXIT_DEADLINE):
            _, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("Banana neither started nor stopped") from None
    text = err.decode()
    assert process.returncode != 0, text
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    return text.strip()


def contents(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every path under `folder`, with its mode and (for a file) its bytes."""
    return {
        str(path.relative_to(folder)): (path.stat().st_mode, path.read_bytes() if path.is_file() else b"")
        for path in sorted(folder.rglob("*"))
    }


async def test_a_refused_bot_token_is_one_line_and_leaves_no_database(folder, env):
    line = await refused(folder, {**env, "SLACK_BOT_TOKEN": "xoxb-not-this-one"})
    assert line.startswith("Banana cannot start: Slack refused SLACK_BOT_TOKEN (invalid_auth): ")
    assert "OAuth & Permissions" in line
    assert contents(folder) == {}  # no data/ folder, no data/banana.db


async def test_a_refused_app_token_ends_the_start_in_one_line(folder, env, slack):
    line = await refused(folder, {**env, "SLACK_APP_TOKEN": "xapp-1-A0BANANA01-wrong", "SLACK_SIGNING_SECRET": ""})
    assert line.startswith("Banana cannot start: Slack refused SLACK_APP_TOKEN (invalid_auth): ")
    assert "connections:write" in line
    assert slack.socket_connections == 0
    assert contents(folder) == {}


async def test_a_port_in_use_is_named_with_its_setting_and_nothing_is_left(folder, env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = await refused(folder, {**env, "PORT": str(port)})
    assert line == f"Banana cannot start: port {port} is in use on 127.0.0.1: stop what is using it or set PORT"
    assert contents(folder) == {}  # the database made on the way is taken away again


async def test_a_host_that_is_not_this_machines(folder, env):
    line = await refused(folder, {**env, "HOST": "192.0.2.1"})  # TEST-NET-1: never an address of this machine
    assert line.startswith("Banana cannot start: HOST 192.0.2.1 is not an address of this machine: set HOST")
    assert contents(folder) == {}


async def test_a_database_path_that_is_a_folder_is_left_as_it_was(folder, env):
    (folder / "db").mkdir()
    (folder / "db").chmod(0o755)
    before = contents(folder)
    line = await refused(folder, {**env, "DATABASE_PATH": "db"})
    assert line == (
        "Banana cannot start: DATABASE_PATH db is a folder: set DATABASE_PATH to a file, such as db/banana.db"
    )
    assert contents(folder) == before and stat.S_IMODE((folder / "db").stat().st_mode) == 0o755


async def test_a_database_path_under_a_file_cannot_be_made(folder, env):
    (folder / "notes.txt").write_text("mine")
    before = contents(folder)
    line = await refused(folder, {**env, "DATABASE_PATH": "notes.txt/data/banana.db"})
    assert line.startswith("Banana cannot start: DATABASE_PATH notes.txt/data/banana.db cannot be made or opened: ")
    assert line.endswith("set DATABASE_PATH to a file in a folder Banana may write to")
    assert contents(folder) == before


async def test_a_database_path_under_a_folder_that_cannot_exist(folder, env):
    line = await refused(folder, {**env, "DATABASE_PATH": "/proc/no-such-process/banana.db"})
    assert line.startswith("Banana cannot start: DATABASE_PATH /proc/no-such-process/banana.db cannot be made")
    assert contents(folder) == {}


async def test_a_database_path_that_is_not_a_database_is_left_untouched(folder, env):
    (folder / "banana.db").write_text("these are my notes, not a database\n")
    (folder / "banana.db").chmod(0o644)
    before = contents(folder)
    line = await refused(folder, {**env, "DATABASE_PATH": "banana.db"})
    assert line.startswith("Banana cannot start: DATABASE_PATH banana.db is not a SQLite database: ")
    assert contents(folder) == before  # its mode and bytes as they were, no -wal or -shm beside it


async def test_missing_settings_name_both_ways_to_reach_slack(folder, env):
    line = await refused(folder, {**env, "SLACK_SIGNING_SECRET": ""})
    assert line == (
        "Banana cannot start: SLACK_SIGNING_SECRET is missing: set SLACK_SIGNING_SECRET (HTTP mode) or "
        "SLACK_APP_TOKEN (Socket Mode)"
    )
    assert contents(folder) == {}


async def test_a_line_of_dotenv_that_cannot_be_read_is_named_by_number_not_shown(folder, env):
    (folder / ".env").write_text('PORT=3000\nKIEAI_API_KEY "kie-secret-typed-wrong"\n')
    line = await refused(folder, env)
    assert line == "Banana cannot start: .env line 2 cannot be read: write it as NAME=value"
    assert set(contents(folder)) == {".env"}


async def test_a_brand_file_that_is_not_toml_names_brand_file(folder, env):
    (folder / "brand.toml").write_text("name = [unclosed\n")
    line = await refused(folder, {**env, "BRAND_FILE": "brand.toml"})
    assert line.startswith("Banana cannot start: BRAND_FILE cannot be used (")
    assert "brand.toml: is not valid TOML" in line
    assert set(contents(folder)) == {"brand.toml"}


async def test_a_database_url_postgresql_cannot_read_is_a_setting_problem(folder, env):
    line = await refused(folder, {**env, "DATABASE_URL": "postgresql://banana:pass word@db/banana"})
    assert line.startswith("Banana cannot start: DATABASE_URL is not a URL PostgreSQL can read: ")
    assert "pass word" not in line


async def test_slack_api_url_that_is_not_slack_or_not_there(folder, env, kie):
    line = await refused(folder, {**env, "SLACK_API_URL": f"{kie.base_url}/api/"})
    assert line.startswith(f"Banana cannot start: SLACK_API_URL {kie.base_url}/api/ does not answer as Slack's")
    nowhere = f"http://127.0.0.1:{free_port()}/api/"
    line = await refused(folder, {**env, "SLACK_API_URL": nowhere})
    assert line.startswith(f"Banana cannot start: Slack could not be reached at SLACK_API_URL {nowhere} ")
    assert contents(folder) == {}


async def test_a_good_start_is_up_without_bolts_token_warning_and_stops_on_sigterm(folder, env, slack):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "banana",
        cwd=folder,
        env={**env, "SLACK_APP_TOKEN": APP_TOKEN},
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(EXIT_DEADLINE):
            while not any("Banana is up: Socket mode" in line for line in lines):
                line = (await process.stderr.readline()).decode()
                assert line, f"Banana exited: {lines}"
                lines.append(line)
            process.send_signal(signal.SIGTERM)
            lines += (await process.stderr.read()).decode().splitlines()
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert not any("will be unused" in line or "Traceback" in line for line in lines), lines
    assert slack.socket_connections == 1


async def test_version_is_the_installed_packages(folder, env):
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "banana", "--version", cwd=folder, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode == 0 and out.decode().strip() == f"banana-bot {version('banana-bot')}"

"""The docs name what the code has: every setting, scope, bot event and route, and nothing the code lacks."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from banana.app.wiring import BOT_SCOPES, SLACK_EVENTS_PATH
from bot.jobs.runner import CALLBACK_PATH

ROOT = Path(__file__).resolve().parent.parent
INSTALL = (ROOT / "docs" / "install.md").read_text()
SETTING = re.compile(r"`([A-Z][A-Z0-9_]{2,})`")


def settings_in_code() -> set[str]:
    """The names bot/settings.py reads from the environment (log levels are values, not settings)."""
    source = (ROOT / "bot" / "settings.py").read_text()
    names = set(re.findall(r'"([A-Z][A-Z0-9_]{2,})"', source))
    return names - {"DEBUG", "INFO", "WARNING", "ERROR"}


def settings_in_table() -> set[str]:
    """The names in the first column of docs/install.md's settings table."""
    table = INSTALL.split("## Settings", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in SETTING.findall(row.split(" | ")[0])}


def test_every_setting_is_in_the_settings_table_and_every_row_is_read():
    in_code, in_docs = settings_in_code(), settings_in_table()
    assert in_code - in_docs == set(), "settings the code reads but docs/install.md's table does not list"
    assert in_docs - in_code == set(), "settings docs/install.md's table lists but the code does not read"


def test_every_scope_and_bot_event_is_named_in_the_install_steps():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    step = INSTALL.split("1. **Create the Slack app.**", 1)[1].split("2. **Get the tokens.**", 1)[0]
    documented_scopes = set(re.findall(r"^\s*\| `([a-z_:.]+)` \|", step, re.MULTILINE))
    assert documented_scopes == set(BOT_SCOPES) == set(manifest["oauth_config"]["scopes"]["bot"])
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        assert f"`{event}`" in step, f"the bot event {event} is not named in docs/install.md's first step"


def test_the_routes_the_docs_name_are_served():
    docs = "\n".join(path.read_text() for path in (ROOT / "docs").glob("*.md")) + (ROOT / "README.md").read_text()
    served = {SLACK_EVENTS_PATH, CALLBACK_PATH, "/healthz", "/metrics", "/slack/install", "/slack/oauth_redirect"}
    named = set(re.findall(r"(?<![\w.])(/(?:slack|kie)/[a-z_/]+|/healthz|/metrics)\b", docs))
    assert named <= served, f"routes the docs name that Banana does not serve: {named - served}"
    server = (ROOT / "banana" / "app" / "server.py").read_text()
    for route in ("/healthz", "/metrics"):
        assert f'"{route}"' in server

"""manifest.yml is what a user pastes into Slack: it must be complete and ask for exactly the scopes the app uses."""

from pathlib import Path

import yaml

from banana.app.wiring import BOT_SCOPES
from handlers import shortcuts as shortcuts_module
from handlers.commands import COMMAND

MANIFEST = Path(__file__).parent.parent / "manifest.yml"


def load() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def test_display_information_fits_slack_limits():
    info = load()["display_information"]
    assert 0 < len(info["name"]) <= 35
    assert len(info["description"]) <= 140
    assert 175 <= len(info["long_description"]) <= 4000


def test_features_the_app_listens_for():
    manifest = load()
    features = manifest["features"]
    (command,) = features["slash_commands"]
    assert command["command"] == COMMAND and len(command["command"]) <= 32
    assert command["should_escape"] is False  # the app escapes user text itself
    assert features["app_home"]["home_tab_enabled"] is True
    assert features["bot_user"]["display_name"]
    shortcuts = {(s["type"], s["callback_id"]) for s in features["shortcuts"]}
    assert shortcuts == {("message", shortcuts_module.REMIX_MESSAGE), ("global", shortcuts_module.NEW_IMAGE)}
    assert all(len(s["name"]) <= 24 for s in features["shortcuts"])
    settings = manifest["settings"]
    events = ["app_home_opened", "app_mention", "app_uninstalled", "tokens_revoked", "message.im"]
    assert settings["event_subscriptions"]["bot_events"] == events
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["socket_mode_enabled"] is True


def test_scopes_are_exactly_what_the_app_asks_for_each_with_a_reason():
    scopes = load()["oauth_config"]["scopes"]["bot"]
    # BOT_SCOPES is what an install asks for and what doctor checks a token against.
    assert sorted(scopes) == sorted(BOT_SCOPES) and len(set(scopes)) == len(scopes)
    lines = MANIFEST.read_text().splitlines()
    for scope in scopes:
        (index,) = [i for i, line in enumerate(lines) if line.strip() == f"- {scope}"]
        assert lines[index - 1].strip().startswith("#"), f"{scope} has no comment saying why"


def test_an_install_comes_back_to_banana():
    manifest = load()
    assert all(url.endswith("/slack/oauth_redirect") for url in manifest["oauth_config"]["redirect_urls"])

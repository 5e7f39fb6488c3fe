"""Slack installations, OAuth states and token rotation, on both backends (bot/store/installations.py)."""

import asyncio
import time
from contextlib import asynccontextmanager

import pytest
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

from bot.store import (
    InstallationStore,
    OAuthStateStore,
    PostgresTaskStore,
    SqliteTaskStore,
    bot_for,
    installation_stores,
)
from bot.store.database import run
from tests.conftest import TEST_ENCRYPTION_KEY

CLIENT_ID = "1111.2222"
KEYS = (TEST_ENCRYPTION_KEY,)
SMALL = {"min_size": 1, "max_size": 3, "open_timeout": 5, "acquire_timeout": 2, "ping_timeout": 1}
INSTALLED_AT = 1_700_000_000.25


def postgres(url):
    return PostgresTaskStore(url, **SMALL)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request, tmp_path):
    if request.param == "sqlite":
        opened = await SqliteTaskStore(tmp_path / "banana.db").open()
    else:
        opened = await postgres(request.getfixturevalue("postgres_url")).open()
    yield opened
    await opened.close()


@pytest.fixture
def installations(store):
    return installation_stores(store, CLIENT_ID, KEYS)[0]


@pytest.fixture
def states(store):
    return installation_stores(store, CLIENT_ID, KEYS)[1]


@asynccontextmanager
async def replicas(url, count=2):
    """`count` task stores on one PostgreSQL database, as replicas see it."""
    opened = [await postgres(url).open() for _ in range(count)]
    try:
        yield opened
    finally:
        for each in opened:
            await each.close()


async def rows(store, query):
    (found,) = await run(store.database, [(query, [])])
    return found


def installation(**changes) -> Installation:
    """An installation with every field set (and a custom value), rotation on."""
    values = {
        "app_id": "A0BANANA01",
        "enterprise_id": "E1",
        "enterprise_name": "Big Co",
        "enterprise_url": "https://bigco.enterprise.slack.com/",
        "team_id": "T1",
        "team_name": "Bananas",
        "bot_token": "xoxe.xoxb-1",
        "bot_id": "B1",
        "bot_user_id": "U0BOT",
        "bot_scopes": ["commands", "chat:write", "files:write"],
        "bot_refresh_token": "xoxe-1-bot",
        "bot_token_expires_at": int(time.time()) + 12 * 3600,
        "user_id": "U1",
        "user_token": "xoxe.xoxp-1",
        "user_scopes": ["search:read"],
        "user_refresh_token": "xoxe-1-user",
        "user_token_expires_at": int(time.time()) + 12 * 3600,
        "incoming_webhook_url": "https://hooks.slack.com/services/T1/B1/x",
        "incoming_webhook_channel": "#general",
        "incoming_webhook_channel_id": "C1",
        "incoming_webhook_configuration_url": "https://bananas.slack.com/services/B1",
        "is_enterprise_install": False,
        "token_type": "bot",
        "installed_at": INSTALLED_AT,
        "custom_values": {"plan": "pro", "seats": 12},
    }
    return Installation(**{**values, **changes})


def everything(thing: Bot | Installation | None) -> dict:
    assert thing is not None
    return thing.to_dict_for_copying()


# Installations and bots


async def test_an_installation_and_its_bot_round_trip_every_field(installations):
    saved = installation()
    await installations.async_save(saved)
    found = await installations.async_find_installation(enterprise_id="E1", team_id="T1", user_id="U1")
    assert everything(found) == everything(saved)
    assert everything(await installations.async_find_installation(enterprise_id="E1", team_id="T1")) == everything(
        saved
    )
    bot = await installations.async_find_bot(enterprise_id="E1", team_id="T1")
    assert everything(bot) == everything(saved.to_bot())
    assert bot is not None and bot.bot_refresh_token == "xoxe-1-bot" and bot.installed_at == INSTALLED_AT


async def test_a_workspace_without_an_enterprise_and_a_bot_saved_alone(installations):
    bot = Bot(
        team_id="T2",
        bot_token="xoxb-2",
        bot_id="B2",
        bot_user_id="U0BOT2",
        bot_scopes="commands,chat:write",
        installed_at=INSTALLED_AT,
    )
    await installations.async_save_bot(bot)
    found = await installations.async_find_bot(enterprise_id=None, team_id="T2")
    assert everything(found) == everything(bot)
    assert found is not None and found.bot_token_expires_at is None and found.enterprise_id is None
    assert await installations.async_find_installation(enterprise_id=None, team_id="T2") is None


async def test_a_second_install_of_a_workspace_replaces_its_bot_and_an_older_one_never_does(installations):
    await installations.async_save(installation())
    later = installation(
        user_id="U2", user_token="xoxp-2", bot_token="xoxb-2", bot_id="B2", installed_at=INSTALLED_AT + 60
    )
    await installations.async_save(later)
    bot = await installations.async_find_bot(enterprise_id="E1", team_id="T1")
    assert bot is not None and (bot.bot_token, bot.bot_id) == ("xoxb-2", "B2")
    latest = await installations.async_find_installation(enterprise_id="E1", team_id="T1")
    assert latest is not None and (latest.user_id, latest.bot_token) == ("U2", "xoxb-2")
    first = await installations.async_find_installation(enterprise_id="E1", team_id="T1", user_id="U1")
    # the first installer keeps their user token, with the workspace's current bot
    assert first is not None and (first.user_token, first.bot_token, first.bot_id) == ("xoxe.xoxp-1", "xoxb-2", "B2")
    # a copy of the first install's bot (as a rotation that raced the reinstall would save) does not win
    await installations.async_save_bot(installation(bot_token="stale").to_bot())
    bot = await installations.async_find_bot(enterprise_id="E1", team_id="T1")
    assert bot is not None and bot.bot_token == "xoxb-2"
    assert len(await rows(installations._store, "select * from installed_bots")) == 1


async def test_an_installation_with_user_scopes_only_leaves_the_bot_alone(installations):
    await installations.async_save(installation())
    await installations.async_save(
        installation(user_id="U3", bot_token=None, bot_id=None, bot_user_id=None, installed_at=INSTALLED_AT + 60)
    )
    bot = await installations.async_find_bot(enterprise_id="E1", team_id="T1")
    assert bot is not None and bot.bot_token == "xoxe.xoxb-1"
    latest = await installations.async_find_installation(enterprise_id="E1", team_id="T1")
    assert latest is not None and (latest.user_id, latest.bot_token) == ("U3", "xoxe.xoxb-1")


async def test_an_org_wide_install_is_found_for_any_team_of_its_enterprise(installations):
    org = installation(team_id=None, team_name=None, is_enterprise_install=True, bot_token="xoxb-org")
    await installations.async_save(org)
    for is_enterprise_install in (True, False):
        bot = await installations.async_find_bot(
            enterprise_id="E1", team_id="T9", is_enterprise_install=is_enterprise_install
        )
        assert everything(bot) == everything(org.to_bot())
    found = await installations.async_find_installation(
        enterprise_id="E1", team_id="T9", user_id="U1", is_enterprise_install=True
    )
    assert everything(found) == everything(org)
    assert await installations.async_find_bot(enterprise_id="E1", team_id=None) is not None
    assert await installations.async_find_bot(enterprise_id="E2", team_id="T9", is_enterprise_install=True) is None
    assert await installations.async_find_bot(enterprise_id=None, team_id="T9") is None
    # a team's own install comes before the org's
    await installations.async_save(installation(team_id="T9", bot_token="xoxb-t9"))
    bot = await installations.async_find_bot(enterprise_id="E1", team_id="T9")
    assert bot is not None and bot.bot_token == "xoxb-t9"
    bot = await installations.async_find_bot(enterprise_id="E1", team_id="T8")
    assert bot is not None and bot.bot_token == "xoxb-org"


async def test_a_team_alone_finds_its_own_install_within_an_enterprise_or_not(installations):
    """What a background job knows from a task is its team: Slack's team ids are unique, so that is enough."""
    await installations.async_save(installation())  # E1/T1
    await installations.async_save(installation(enterprise_id=None, team_id="T2", bot_token="xoxb-t2"))
    await installations.async_save(installation(enterprise_id="E3", team_id=None, is_enterprise_install=True))
    bot = await installations.async_find_bot(enterprise_id=None, team_id="T1")
    assert bot is not None and (bot.enterprise_id, bot.bot_token) == ("E1", "xoxe.xoxb-1")
    bot = await installations.async_find_bot(enterprise_id=None, team_id="T2")
    assert bot is not None and (bot.enterprise_id, bot.bot_token) == (None, "xoxb-t2")
    found = await installations.async_find_installation(enterprise_id=None, team_id="T1", user_id="U1")
    assert found is not None and found.user_token == "xoxe.xoxp-1"
    assert await installations.async_find_bot(enterprise_id=None, team_id="T9") is None  # org-wide: needs E3


async def test_deleting_a_bot_an_installation_or_everything(installations):
    await installations.async_save(installation())
    await installations.async_save(installation(user_id="U2", installed_at=INSTALLED_AT + 1))
    keys = {"enterprise_id": "E1", "team_id": "T1"}

    await installations.async_delete_installation(**keys, user_id="U2")
    assert await installations.async_find_installation(**keys, user_id="U2") is None
    assert await installations.async_find_installation(**keys, user_id="U1") is not None

    await installations.async_delete_bot(**keys)
    assert await installations.async_find_bot(**keys) is None
    found = await installations.async_find_installation(**keys, user_id="U1")
    # the bot row held the only copy of its tokens
    assert found is not None and (found.user_token, found.bot_token, found.bot_refresh_token) == (
        "xoxe.xoxp-1",
        None,
        None,
    )

    await installations.async_save(installation(installed_at=INSTALLED_AT + 2))
    await installations.async_delete_installation(**keys)
    assert await installations.async_find_installation(**keys) is None
    assert await installations.async_find_bot(**keys) is not None

    await installations.async_save(installation(installed_at=INSTALLED_AT + 3))
    await installations.async_delete_all(**keys)
    assert await installations.async_find_installation(**keys) is None
    assert await installations.async_find_bot(**keys) is None


async def test_workspaces_and_apps_never_see_each_others_rows(store, installations):
    other_app = installation_stores(store, "9999.8888", KEYS)[0]
    await installations.async_save(installation())
    await installations.async_save(installation(team_id="T2", bot_token="xoxb-t2", user_token="xoxp-t2"))
    await other_app.async_save(installation(bot_token="xoxb-other-app"))

    one = await installations.async_find_installation(enterprise_id="E1", team_id="T1", user_id="U1")
    two = await installations.async_find_installation(enterprise_id="E1", team_id="T2", user_id="U1")
    assert one is not None and two is not None
    assert (one.bot_token, one.user_token) == ("xoxe.xoxb-1", "xoxe.xoxp-1")
    assert (two.bot_token, two.user_token) == ("xoxb-t2", "xoxp-t2")
    bot = await other_app.async_find_bot(enterprise_id="E1", team_id="T1")
    assert bot is not None and bot.bot_token == "xoxb-other-app"

    await installations.async_delete_all(enterprise_id="E1", team_id="T2")
    assert await installations.async_find_bot(enterprise_id="E1", team_id="T1") is not None
    assert await other_app.async_find_bot(enterprise_id="E1", team_id="T1") is not None
    assert await installations.async_find_bot(enterprise_id="E1", team_id="T3") is None
    assert await installations.async_find_bot(enterprise_id="E2", team_id="T1") is None


async def test_installations_outlive_a_restart(tmp_path):
    first = await SqliteTaskStore(tmp_path / "banana.db").open()
    await installation_stores(first, CLIENT_ID, KEYS)[0].async_save(installation())
    await first.close()
    again = await SqliteTaskStore(tmp_path / "banana.db").open()
    try:
        bot = await installation_stores(again, CLIENT_ID, KEYS)[0].async_find_bot(enterprise_id="E1", team_id="T1")
        assert bot is not None and bot.bot_token == "xoxe.xoxb-1"
    finally:
        await again.close()


async def test_the_stores_use_the_task_stores_database(store):
    installs, states = installation_stores(store, CLIENT_ID, KEYS)
    assert isinstance(installs, InstallationStore) and isinstance(states, OAuthStateStore)
    assert installs.client_id == CLIENT_ID and states.expiration_seconds == 600


# OAuth states


async def test_a_state_is_consumed_once(states, store):
    state = await states.async_issue()
    other = await states.async_issue()
    assert len(state) >= 40 and state != other
    assert await states.async_consume(state) is True
    assert await states.async_consume(state) is False
    assert await states.async_consume("made-up") is False
    assert await installation_stores(store, "9999.8888", KEYS)[1].async_consume(other) is False  # another app's flow
    assert await states.async_consume(other) is True


async def test_an_expired_state_is_refused_and_pruned(store):
    _, brief = installation_stores(store, CLIENT_ID, KEYS, state_expiration_seconds=0.05)
    state = await brief.async_issue()
    await asyncio.sleep(0.1)
    assert await brief.async_consume(state) is False
    await brief.async_issue()  # issuing prunes the expired
    assert [row["state"] for row in await rows(store, "select state from oauth_states")] != [state]
    assert len(await rows(store, "select state from oauth_states")) == 1


async def test_two_consumers_of_one_state_at_once_one_wins(states):
    for _ in range(5):
        state = await states.async_issue()
        assert sorted(await asyncio.gather(states.async_consume(state), states.async_consume(state))) == [False, True]


async def test_two_replicas_consuming_one_state_at_once_one_wins(postgres_url):
    async with replicas(postgres_url) as (a, b):
        (_, one), (_, two) = installation_stores(a, CLIENT_ID, KEYS), installation_stores(b, CLIENT_ID, KEYS)
        for _ in range(10):
            state = await one.async_issue()
            assert sorted(await asyncio.gather(one.async_consume(state), two.async_consume(state))) == [False, True]


# Token rotation


class SlackOAuth:
    """Stands in for AsyncWebClient's oauth.v2.access with grant_type=refresh_token: each refresh token works once."""

    def __init__(self, refresh_token: str) -> None:
        self.valid = {refresh_token}
        self.calls = 0

    async def oauth_v2_access(self, *, client_id, client_secret, grant_type, refresh_token, **_):
        assert (client_id, grant_type) == (CLIENT_ID, "refresh_token")
        self.calls += 1
        number = self.calls
        await asyncio.sleep(0.02)  # the round trip to Slack, long enough for another caller to try too
        if refresh_token not in self.valid:
            raise SlackApiError("invalid_grant", {"ok": False, "error": "invalid_grant"})
        self.valid = {f"xoxe-refresh-{number}"}
        return {
            "ok": True,
            "token_type": "bot",
            "access_token": f"xoxe.xoxb-new-{number}",
            "refresh_token": f"xoxe-refresh-{number}",
            "expires_in": 43200,
        }


def rotator(slack: SlackOAuth) -> AsyncTokenRotator:
    return AsyncTokenRotator(client_id=CLIENT_ID, client_secret="secret", client=slack)  # type: ignore[arg-type]


def expiring(**changes) -> Installation:
    return installation(bot_token_expires_at=int(time.time()) + 60, **changes)


async def test_concurrent_callers_refresh_an_expiring_token_once_and_all_get_the_new_one(store, installations):
    await installations.async_save(expiring())
    slack = SlackOAuth("xoxe-1-bot")
    keys = {"enterprise_id": "E1", "team_id": "T1", "is_enterprise_install": False, "rotator": rotator(slack)}
    bots = await asyncio.gather(*(bot_for(store, installations, **keys) for _ in range(4)))
    assert slack.calls == 1
    assert {bot.bot_token for bot in bots} == {"xoxe.xoxb-new-1"}
    stored = await installations.async_find_bot(enterprise_id="E1", team_id="T1")
    assert stored is not None and (stored.bot_token, stored.bot_refresh_token) == ("xoxe.xoxb-new-1", "xoxe-refresh-1")
    assert stored.bot_token_expires_at is not None and stored.bot_token_expires_at > time.time() + 11 * 3600
    assert (stored.bot_id, stored.installed_at, stored.custom_values) == (
        "B1",
        INSTALLED_AT,
        {"plan": "pro", "seats": 12},
    )
    found = await installations.async_find_installation(enterprise_id="E1", team_id="T1")
    assert found is not None and found.bot_token == "xoxe.xoxb-new-1"  # what Bolt's find_installation sees


async def test_replicas_refresh_an_expiring_token_once(postgres_url):
    async with replicas(postgres_url) as (a, b):
        one, two = installation_stores(a, CLIENT_ID, KEYS)[0], installation_stores(b, CLIENT_ID, KEYS)[0]
        await one.async_save(expiring())
        slack = SlackOAuth("xoxe-1-bot")
        keys = {"enterprise_id": "E1", "team_id": "T1", "rotator": rotator(slack)}
        bots = await asyncio.gather(
            bot_for(a, one, **keys), bot_for(b, two, **keys), bot_for(a, one, **keys), bot_for(b, two, **keys)
        )
        assert slack.calls == 1
        assert {bot.bot_token for bot in bots} == {"xoxe.xoxb-new-1"}


async def test_a_token_far_from_expiry_or_without_rotation_is_not_refreshed(store, installations):
    slack = SlackOAuth("xoxe-1-bot")
    await installations.async_save(installation())  # expires in 12 hours
    await installations.async_save(expiring(team_id="T2", bot_refresh_token=None, bot_token="xoxb-no-rotation"))
    fresh = await bot_for(store, installations, enterprise_id="E1", team_id="T1", rotator=rotator(slack))
    assert fresh is not None and fresh.bot_token == "xoxe.xoxb-1"
    plain = await bot_for(store, installations, enterprise_id="E1", team_id="T2", rotator=rotator(slack))
    assert plain is not None and plain.bot_token == "xoxb-no-rotation"
    assert await bot_for(store, installations, enterprise_id="E1", team_id="T3", rotator=rotator(slack)) is None
    assert slack.calls == 0
    # within the window asked for, it is
    soon = await bot_for(
        store, installations, enterprise_id="E1", team_id="T1", rotator=rotator(slack), minutes_before_expiry=13 * 60
    )
    assert soon is not None and soon.bot_token == "xoxe.xoxb-new-1" and slack.calls == 1


async def test_an_org_wide_install_is_refreshed_once_for_all_its_teams(store, installations):
    await installations.async_save(expiring(team_id=None, is_enterprise_install=True))
    slack = SlackOAuth("xoxe-1-bot")
    bots = await asyncio.gather(
        *(
            bot_for(
                store,
                installations,
                enterprise_id="E1",
                team_id=team,
                is_enterprise_install=True,
                rotator=rotator(slack),
            )
            for team in ("T1", "T2", "T3")
        )
    )
    assert slack.calls == 1 and {bot.bot_token for bot in bots} == {"xoxe.xoxb-new-1"}


async def test_a_refresh_slack_refuses_raises_and_keeps_the_stored_bot(store, installations):
    await installations.async_save(expiring())
    slack = SlackOAuth("some-other-refresh-token")
    with pytest.raises(SlackTokenRotationError):
        await bot_for(store, installations, enterprise_id="E1", team_id="T1", rotator=rotator(slack))
    stored = await installations.async_find_bot(enterprise_id="E1", team_id="T1")
    assert stored is not None and (stored.bot_token, stored.bot_refresh_token) == ("xoxe.xoxb-1", "xoxe-1-bot")

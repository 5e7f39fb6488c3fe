"""Tests for the Slack stand-in's workspaces and installs: OAuth v2, token rotation, uninstalling, Enterprise Grid.

Driven by slack_sdk's own clients (AsyncWebClient, AsyncTokenRotator) and, for the browser's part, httpx following
the stand-in's redirect to a tiny aiohttp app playing the app's OAuth redirect and Request URL.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import httpx
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from standins.slack import (
    APP_ID,
    BOT_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    DEFAULT_BOT_EVENTS,
    DEFAULT_SCOPES,
    MESSAGES_PATH,
    RESPONSE_URLS_PATH,
    STATS_PATH,
    TEAM_ID,
    TOKEN_EXPIRES_IN,
    TRIGGER_IDS_PATH,
    USER_ID,
    SlackStandIn,
    Team,
)

SCOPES = ",".join(DEFAULT_SCOPES)
EVENTS_SECRET = "oauth-events-secret"
INSTALL_EVENTS = (*DEFAULT_BOT_EVENTS, "app_uninstalled", "tokens_revoked")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


class AppSide:
    """A tiny app: its OAuth redirect exchanges the code as Bolt's AsyncOAuthFlow does (oauth.v2.access with the
    client credentials and the redirect_uri, then auth.test with the new token), and its Request URL records events."""

    def __init__(self) -> None:
        self.base_url = ""
        self.api_url = ""
        self.redirects: list[dict[str, str]] = []
        self.installs: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.raw_events: list[tuple[dict[str, str], bytes]] = []  # (headers, body) as they arrived

    @property
    def redirect_url(self) -> str:
        return f"{self.base_url}/slack/oauth_redirect"

    async def oauth_redirect(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.redirects.append(query)
        if "code" not in query:
            return web.Response(status=400, text=query.get("error", "no code"))
        client = AsyncWebClient(base_url=self.api_url)
        try:
            installed = await client.oauth_v2_access(
                client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=query["code"], redirect_uri=self.redirect_url
            )
            who = await client.auth_test(token=installed["access_token"])
        except SlackApiError as error:
            self.errors.append(error.response["error"])
            return web.Response(status=400, text=error.response["error"])
        self.installs.append({**installed.data, "auth_test": who.data})
        return web.Response(text="Thank you!", content_type="text/html")

    async def slack_events(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.raw_events.append((dict(request.headers), raw))
        self.events.append(json.loads(raw))
        return web.Response()

    def received(self, event_type: str) -> list[dict[str, Any]]:
        return [body for body in self.events if body["event"]["type"] == event_type]


@pytest.fixture
async def app_side() -> AsyncIterator[AppSide]:
    side = AppSide()
    app = web.Application()
    app.router.add_get("/slack/oauth_redirect", side.oauth_redirect)
    app.router.add_post("/slack/events", side.slack_events)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    side.base_url = f"http://{host}:{port}"
    yield side
    await runner.cleanup()


@pytest.fixture
async def slack(app_side: AppSide) -> AsyncIterator[SlackStandIn]:
    stand_in = SlackStandIn(bot_events=INSTALL_EVENTS)
    await stand_in.start()
    stand_in.redirect_urls = [app_side.redirect_url]
    stand_in.deliver_events_to(f"{app_side.base_url}/slack/events", EVENTS_SECRET)
    app_side.api_url = stand_in.api_url
    yield stand_in
    await stand_in.stop()


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


async def authorize(browser: httpx.AsyncClient, slack: SlackStandIn, **params: str) -> httpx.Response:
    """The person's browser at Slack's authorize page, following its redirect (to the app) if there is one."""
    query = {"client_id": CLIENT_ID, "scope": SCOPES, "state": "s-123", **params}
    return await browser.get(f"{slack.authorize_url}?{urlencode(query)}", follow_redirects=True)


async def error_of(call) -> str:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value.response["error"]


def client(slack: SlackStandIn, token: str | None) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=slack.api_url)


# ---------------------------------------------------------------------------------------------------- the code flow


async def test_two_workspaces_install_through_the_code_flow(
    slack: SlackStandIn, app_side: AppSide, browser: httpx.AsyncClient
) -> None:
    second = slack.add_workspace("T0SECOND01", "Second Team", domain="second")
    third = slack.add_workspace(name="Third Team")
    assert (second.installed, second.bot_token, second.scopes) == (False, "", ())
    assert third.team_id == "T0TEAM003" and third.general_channel == "C0GENERAL3" and third.user_id == "U0USER0003"
    assert slack.authorize_url == f"{slack.base_url}/oauth/v2/authorize"

    for team, state in ((second, "state-for-second"), (third, "state-for-third")):
        page = await authorize(browser, slack, team=team.team_id, state=state, redirect_uri=app_side.redirect_url)
        assert page.status_code == 200 and page.text == "Thank you!"
        assert page.history[0].status_code == 302  # the stand-in's redirect back to the app
        assert app_side.redirects[-1]["state"] == state  # state passes through untouched
    assert app_side.errors == []

    first_install, second_install = app_side.installs
    assert first_install["access_token"].startswith("xoxb-") and first_install["token_type"] == "bot"
    assert first_install["scope"].split(",") == list(DEFAULT_SCOPES)
    assert first_install["bot_user_id"] == second.bot_user_id and first_install["app_id"] == APP_ID
    assert first_install["team"] == {"id": "T0SECOND01", "name": "Second Team"}
    assert first_install["enterprise"] is None and first_install["is_enterprise_install"] is False
    assert first_install["authed_user"] == {"id": second.user_id}  # no user_scope asked, so no user token
    assert "refresh_token" not in first_install and "expires_in" not in first_install  # rotation is off
    assert first_install["auth_test"]["team_id"] == "T0SECOND01"
    assert first_install["auth_test"]["user_id"] == second.bot_user_id
    assert first_install["auth_test"]["bot_id"] == second.bot_id
    assert second_install["team"]["id"] == third.team_id
    assert (second.bot_token, third.bot_token) == (first_install["access_token"], second_install["access_token"])
    assert second.installed and second.installer_user_id == second.user_id

    record = slack.authorize_requests[0]
    assert record["status"] == 302 and record["query"]["state"] == "state-for-second"
    assert slack.workspace("T0SECOND01") is second and slack.workspaces[0] is slack and len(slack.workspaces) == 3


async def test_each_token_sees_only_its_own_workspace(slack: SlackStandIn) -> None:
    other = slack.add_workspace(name="Other Team", installed=True)
    mine, theirs = client(slack, BOT_TOKEN), client(slack, other.bot_token)

    assert (await mine.auth_test())["team_id"] == TEAM_ID
    who = await theirs.auth_test()
    assert (who["team_id"], who["team"], who["user_id"], who["bot_id"]) == (
        other.team_id,
        "Other Team",
        other.bot_user_id,
        other.bot_id,
    )
    assert who["is_enterprise_install"] is False and "enterprise_id" not in who

    posted = await theirs.chat_postMessage(channel=other.general_channel, text="hello")
    assert other.message(other.general_channel, posted["ts"]).user == other.bot_user_id
    assert posted["message"]["bot_id"] == other.bot_id and posted["message"]["team"] == other.team_id
    assert slack.messages == []  # nothing landed in the default workspace
    # A's token on B's conversations, people, files and views: they do not exist for it.
    assert await error_of(mine.chat_postMessage(channel=other.general_channel, text="x")) == "channel_not_found"
    assert await error_of(theirs.chat_postMessage(channel="C0GENERAL1", text="x")) == "channel_not_found"
    assert await error_of(theirs.conversations_info(channel="C0GENERAL1")) == "channel_not_found"
    assert await error_of(theirs.users_info(user=USER_ID)) == "user_not_found"
    assert (await theirs.users_info(user=other.user_id))["user"]["team_id"] == other.team_id
    file = slack.add_file(PNG, "mine.png", "image/png", channel="C0GENERAL1")
    assert await error_of(theirs.files_info(file=file.id)) == "file_not_found"
    theirs_file = other.add_file(PNG, "theirs.png", "image/png", channel=other.general_channel)
    assert theirs_file.id != file.id  # ids are unique across the stand-in's workspaces
    assert (await theirs.files_info(file=theirs_file.id))["file"]["user_team"] == other.team_id
    assert await error_of(mine.files_info(file=theirs_file.id)) == "file_not_found"
    async with aiohttp.ClientSession() as session:
        for token, expected in ((other.bot_token, 200), (BOT_TOKEN, 302)):
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(theirs_file.url_private, headers=headers, allow_redirects=False) as response:
                assert response.status == expected
    view = await theirs.views_publish(user_id=other.user_id, view={"type": "home", "blocks": []})
    assert view["view"]["team_id"] == other.team_id and view["view"]["bot_id"] == other.bot_id
    view_id = view["view"]["id"]
    assert await error_of(mine.views_update(view_id=view_id, view={"type": "home", "blocks": []})) == "not_found"
    # A trigger id and a response URL belong to their workspace.
    assert await error_of(mine.views_open(trigger_id=other.trigger_id(), view={})) == "invalid_trigger_id"
    hook = other.response_url(channel=other.general_channel)
    async with aiohttp.ClientSession() as session, session.post(hook, json={"text": "ok"}) as response:
        assert response.status == 200
    assert other.responses and not slack.responses

    # Calls are recorded with the workspace whose token made them.
    assert [c.method for c in other.calls_to("chat.postMessage")] == ["chat.postMessage"] * 2
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_rate_limits_are_counted_per_workspace(slack: SlackStandIn) -> None:
    other = slack.add_workspace(installed=True)
    slack.enforce_tiers(all_methods=True)
    mine, theirs = client(slack, BOT_TOKEN), client(slack, other.bot_token)
    for _ in range(50):  # files.list: Tier 3, 50 a minute
        await mine.files_list()
    with pytest.raises(SlackApiError) as info:
        await mine.files_list()
    assert info.value.response.status_code == 429
    assert (await theirs.files_list())["ok"]  # the other workspace has its own budget
    other.fail_next("files.list", "internal_error")  # and its own faults
    assert await error_of(theirs.files_list()) == "internal_error"


async def test_declined_forged_and_misdirected_installs_are_refused(
    slack: SlackStandIn, app_side: AppSide, browser: httpx.AsyncClient
) -> None:
    slack.add_workspace("T0SECOND01", "Second")
    slack.decline_next_install = True
    page = await authorize(browser, slack, team="T0SECOND01", state="abc")
    assert app_side.redirects[-1] == {"error": "access_denied", "state": "abc"} and page.status_code == 400
    assert not slack.workspace("T0SECOND01").installed and slack.decline_next_install is False

    for params, reason in (
        ({"client_id": "999.999"}, "invalid_client_id"),
        ({"scope": "chat:write,teleport:write"}, "invalid_scope"),
        ({"scope": "", "user_scope": ""}, "no_scopes"),
        ({"scope": "identity.basic"}, "invalid_scope"),  # a user scope asked as a bot scope
        ({"redirect_uri": "https://evil.example.com/slack/oauth_redirect"}, "bad_redirect_uri"),
        ({"redirect_uri": app_side.base_url + "/elsewhere"}, "bad_redirect_uri"),
        ({"team": "T0NOBODY01"}, "team_not_found"),
    ):
        page = await authorize(browser, slack, **params)
        assert page.status_code == 400 and f'data-error="{reason}"' in page.text, (params, page.text)
    assert len(app_side.redirects) == 1  # none of them reached the app
    # Below a Redirect URL is fine (Slack's rule: the URL or a subdirectory of it).
    slack.redirect_urls = [app_side.base_url + "/slack"]
    page = await authorize(browser, slack, redirect_uri=app_side.redirect_url)
    assert page.status_code == 200 and app_side.installs[-1]["team"]["id"] == TEAM_ID
    slack.redirect_urls = []
    page = await authorize(browser, slack)  # no redirect_uri and no Redirect URL: nowhere to go
    assert page.status_code == 400 and "bad_redirect_uri" in page.text


async def code_for(browser: httpx.AsyncClient, slack: SlackStandIn, **params: str) -> str:
    """A code from the authorize step, without the app exchanging it."""
    query = {"client_id": CLIENT_ID, "scope": SCOPES, "state": "s", **params}
    response = await browser.get(f"{slack.authorize_url}?{urlencode(query)}")
    assert response.status_code == 302, response.text
    return parse_qs(urlsplit(response.headers["location"]).query)["code"][0]


async def test_oauth_v2_access_refuses_forged_credentials_and_reused_or_stale_codes(
    slack: SlackStandIn, app_side: AppSide, browser: httpx.AsyncClient
) -> None:
    anonymous = AsyncWebClient(base_url=slack.api_url)
    code = await code_for(browser, slack, redirect_uri=app_side.redirect_url)

    def exchange(**overrides: str):
        args = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code, **overrides}
        return anonymous.oauth_v2_access(**args)

    assert await error_of(exchange(client_id="999.999")) == "invalid_client_id"
    assert await error_of(exchange(client_secret="guessed")) == "bad_client_secret"
    assert await error_of(exchange(code="1.2.3")) == "invalid_code"
    assert await error_of(exchange()) == "bad_redirect_uri"  # the authorize step had one: it must come again
    assert await error_of(exchange(redirect_uri=app_side.base_url + "/other")) == "bad_redirect_uri"
    assert await error_of(exchange(grant_type="password")) == "invalid_grant_type"
    installed = await exchange(redirect_uri=app_side.redirect_url)
    assert installed["team"]["id"] == TEAM_ID
    assert installed["access_token"] == BOT_TOKEN  # a reinstall keeps the workspace's bot token (rotation off)
    assert await error_of(exchange(redirect_uri=app_side.redirect_url)) == "invalid_code"  # used once already

    # Without a redirect_uri at the authorize step, the exchange may leave it out or repeat where Slack went.
    code = await code_for(browser, slack)
    assert (await exchange(code=code))["ok"]
    code = await code_for(browser, slack)
    assert (await exchange(code=code, redirect_uri=app_side.redirect_url))["ok"]

    # Codes last 10 minutes (code_ttl, shortened here).
    slack.code_ttl = 0.05
    code = await code_for(browser, slack)
    await asyncio.sleep(0.1)
    assert await error_of(exchange(code=code)) == "invalid_code"

    # Client credentials as form fields work too; the call is recorded with the workspace it installed into.
    slack.code_ttl = 600.0
    code = await code_for(browser, slack)
    form = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code}
    async with aiohttp.ClientSession() as session:
        async with session.post(slack.api_url + "oauth.v2.access", data=form) as response:
            assert (await response.json())["ok"] is True
        basic = base64.b64encode(f"{CLIENT_ID}:wrong".encode()).decode()
        async with session.post(
            slack.api_url + "oauth.v2.access", data={"code": code}, headers={"Authorization": f"Basic {basic}"}
        ) as response:
            assert (await response.json())["error"] == "bad_client_secret"
    assert [c.status for c in slack.calls_to("oauth.v2.access")][-2:] == [200, 200]


async def test_scopes_follow_what_was_asked_and_add_up(slack: SlackStandIn, browser: httpx.AsyncClient) -> None:
    other = slack.add_workspace()
    code = await code_for(browser, slack, team=other.team_id, scope="chat:write,commands", user_scope="search:read")
    anonymous = AsyncWebClient(base_url=slack.api_url)
    installed = await anonymous.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    assert installed["scope"] == "chat:write,commands"
    user = installed["authed_user"]
    assert (user["id"], user["scope"], user["token_type"]) == (other.user_id, "search:read", "user")
    assert user["access_token"].startswith("xoxp-")
    bot = client(slack, installed["access_token"])
    assert (await bot.chat_postMessage(channel=other.general_channel, text="hi"))["ok"]
    with pytest.raises(SlackApiError) as info:
        await bot.users_info(user=other.user_id)
    assert (info.value.response["error"], info.value.response["needed"]) == ("missing_scope", "users:read")
    assert info.value.response.headers["x-oauth-scopes"] == "chat:write,commands"
    person = await client(slack, user["access_token"]).auth_test()
    assert (person["user_id"], person["team_id"], "bot_id" in person) == (other.user_id, other.team_id, False)

    slack.next_installer = (other.team_id, other.admin_user_id)  # the admin reinstalls, asking for users:read
    code = await code_for(browser, slack, scope="users:read")
    again = await anonymous.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    assert again["access_token"] == installed["access_token"] and again["authed_user"] == {"id": other.admin_user_id}
    assert again["scope"] == "chat:write,commands,users:read" and other.installer_user_id == other.admin_user_id
    assert (await bot.users_info(user=other.user_id))["ok"]
    assert slack.next_installer is None  # used once


# ---------------------------------------------------------------------------------------------------- rotation


async def test_token_rotation_refreshes_once_per_refresh_token(slack: SlackStandIn, browser: httpx.AsyncClient) -> None:
    slack.token_rotation_enabled = True
    other = slack.add_workspace()
    code = await code_for(browser, slack, team=other.team_id)
    anonymous = AsyncWebClient(base_url=slack.api_url)
    installed = await anonymous.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    assert installed["access_token"].startswith("xoxe.xoxb-1-") and installed["refresh_token"].startswith("xoxe-1-")
    assert installed["expires_in"] == TOKEN_EXPIRES_IN == 43200
    first = client(slack, installed["access_token"])
    assert 43000 < (await first.auth_test())["expires_in"] <= 43200

    # slack_sdk's rotator, as Bolt's AsyncInstallationStoreAuthorize runs it (120 minutes before expiry).
    rotator = AsyncTokenRotator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, client=anonymous)
    bot = Bot(
        app_id=APP_ID,
        team_id=other.team_id,
        bot_token=installed["access_token"],
        bot_refresh_token=installed["refresh_token"],
        bot_token_expires_in=installed["expires_in"],
        bot_id=other.bot_id,
        bot_user_id=other.bot_user_id,
        installed_at=time.time(),
    )
    assert await rotator.perform_bot_token_rotation(bot=bot) is None  # 12 hours left: nothing to do yet
    rotated = await rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=24 * 60)
    assert rotated is not None and rotated.bot_token != bot.bot_token
    assert rotated.bot_refresh_token not in (None, bot.bot_refresh_token)
    assert other.bot_token == rotated.bot_token and (other.refreshes, other.refused_refreshes) == (1, 0)
    assert (await client(slack, rotated.bot_token).auth_test())["team_id"] == other.team_id

    # The old refresh token is spent: a second replica refreshing with it loses.
    refresh = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "refresh_token"}
    again = anonymous.oauth_v2_access(**refresh, refresh_token=installed["refresh_token"])
    assert await error_of(again) == "invalid_refresh_token"
    assert (other.refreshes, other.refused_refreshes) == (1, 1)
    assert (
        await error_of(anonymous.oauth_v2_access(**refresh, refresh_token="xoxe-1-forged")) == "invalid_refresh_token"
    )
    body = await anonymous.oauth_v2_access(**refresh, refresh_token=rotated.bot_refresh_token)
    assert body["token_type"] == "bot" and body["bot_user_id"] == other.bot_user_id
    assert body["team"] == {"id": other.team_id, "name": other.team_name} and body["is_enterprise_install"] is False

    # Expired access tokens answer token_expired until the app refreshes.
    assert slack.expire_tokens(other.team_id) == 3  # every access token handed out so far
    assert await error_of(client(slack, body["access_token"]).chat_postMessage(channel="C", text="x")) == (
        "token_expired"
    )
    fresh = await anonymous.oauth_v2_access(**refresh, refresh_token=body["refresh_token"])
    assert (await client(slack, fresh["access_token"]).auth_test())["ok"]
    assert other.refreshes == 3
    # The token the stand-in started with predates rotation: it never expires.
    assert slack.expire_tokens(TEAM_ID) == 0 and (await client(slack, BOT_TOKEN).auth_test())["ok"]


async def test_refreshing_at_once_from_two_places_lets_one_through(slack: SlackStandIn) -> None:
    slack.token_rotation_enabled = True
    other = slack.add_workspace()
    refresh_token = slack.install(other.team_id)["refresh_token"]
    anonymous = AsyncWebClient(base_url=slack.api_url)
    args = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "refresh_token"}
    results = await asyncio.gather(
        *(anonymous.oauth_v2_access(**args, refresh_token=refresh_token) for _ in range(3)), return_exceptions=True
    )
    errors = [r.response["error"] for r in results if isinstance(r, SlackApiError)]
    assert errors == ["invalid_refresh_token"] * 2
    assert (other.refreshes, other.refused_refreshes) == (1, 2)


# ---------------------------------------------------------------------------------------------------- uninstalling


async def test_uninstall_revokes_the_tokens_and_tells_the_app(
    slack: SlackStandIn, app_side: AppSide, browser: httpx.AsyncClient
) -> None:
    other = slack.add_workspace("T0SECOND01", "Second")
    await authorize(browser, slack, team=other.team_id, user_scope="search:read")
    token = other.bot_token
    user_token = app_side.installs[0]["authed_user"]["access_token"]
    await other.post_as_user(other.general_channel, f"<@{other.bot_user_id}> hi")  # an installed workspace's event
    (mention,) = app_side.received("app_mention")
    assert mention["team_id"] == other.team_id and mention["api_app_id"] == APP_ID
    assert mention["authorizations"] == [
        {
            "enterprise_id": None,
            "team_id": other.team_id,
            "user_id": other.bot_user_id,
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ]
    headers, raw = app_side.raw_events[0]  # signed with the app's one signing secret, whatever the workspace
    timestamp, signature = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    assert SignatureVerifier(EVENTS_SECRET).is_valid(body=raw, timestamp=timestamp, signature=signature)

    await slack.uninstall(other.team_id)
    (revoked,) = app_side.received("tokens_revoked")
    (uninstalled,) = app_side.received("app_uninstalled")
    assert revoked["event"] == {
        "type": "tokens_revoked",
        "tokens": {"oauth": [other.user_id], "bot": [other.bot_user_id]},
    }
    assert uninstalled["event"] == {"type": "app_uninstalled"}
    for body in (revoked, uninstalled):
        assert body["team_id"] == other.team_id and body["authorizations"][0]["team_id"] == other.team_id

    assert (other.installed, other.bot_token, other.scopes) == (False, "", ())
    assert await error_of(client(slack, token).auth_test()) == "account_inactive"  # bolt-python#1029
    assert await error_of(client(slack, user_token).auth_test()) == "account_inactive"
    await other.post_as_user(other.general_channel, f"<@{other.bot_user_id}> anyone?")
    assert len(app_side.received("app_mention")) == 1  # no events from a workspace the app left
    assert (await client(slack, BOT_TOKEN).auth_test())["ok"]  # the other workspaces are untouched

    await authorize(browser, slack, team=other.team_id)  # installed again: a new token, the old one is dead
    assert other.bot_token not in ("", token)
    assert await error_of(client(slack, token).auth_test()) == "invalid_auth"
    assert (await client(slack, other.bot_token).auth_test())["team_id"] == other.team_id


async def test_uninstall_events_need_the_subscriptions(app_side: AppSide) -> None:
    stand_in = SlackStandIn(bot_events=("app_home_opened", "app_mention"))  # neither app_uninstalled nor tokens_revoked
    await stand_in.start()
    try:
        stand_in.deliver_events_to(f"{app_side.base_url}/slack/events", EVENTS_SECRET)
        other = stand_in.add_workspace(installed=True)
        await stand_in.uninstall(other.team_id)
        assert app_side.events == [] and not other.installed
    finally:
        await stand_in.stop()


async def test_auth_revoke_revokes_one_token_and_the_last_one_uninstalls(
    slack: SlackStandIn, app_side: AppSide
) -> None:
    other = slack.add_workspace(installed=True)
    bot = client(slack, other.bot_token)
    assert (await bot.auth_revoke(test=True))["revoked"] is False
    assert (await bot.auth_revoke())["revoked"] is True
    await slack.events_delivered()
    assert [b["event"]["type"] for b in app_side.events] == ["tokens_revoked", "app_uninstalled"]
    assert await error_of(bot.auth_test()) == "account_inactive"


# ---------------------------------------------------------------------------------------------------- Enterprise Grid


async def test_an_org_wide_install(slack: SlackStandIn, app_side: AppSide, browser: httpx.AsyncClient) -> None:
    north = slack.add_workspace("T0NORTH001", "North", enterprise_id="E0ORG0001", enterprise_name="Acme Org")
    south = slack.add_workspace("T0SOUTH001", "South", enterprise_id="E0ORG0001")
    assert south.enterprise_name == "Acme Org" and south.bot_user_id == north.bot_user_id  # one org-wide bot user

    page = await authorize(browser, slack, team="E0ORG0001")
    assert page.status_code == 400 and "org_install_not_enabled" in page.text  # manifest.yml: org_deploy_enabled off
    slack.org_deploy_enabled = True
    page = await authorize(browser, slack, team="E0ORG0001")
    assert page.status_code == 200, page.text
    (installed,) = app_side.installs
    assert installed["team"] is None and installed["enterprise"] == {"id": "E0ORG0001", "name": "Acme Org"}
    assert installed["is_enterprise_install"] is True and installed["bot_user_id"] == north.bot_user_id
    who = installed["auth_test"]
    assert (who["team_id"], who["enterprise_id"], who["is_enterprise_install"]) == ("E0ORG0001", "E0ORG0001", True)

    # One token for the org: it acts in whichever of its workspaces the call points at.
    org = client(slack, installed["access_token"])
    for team in (north, south):
        posted = await org.chat_postMessage(channel=team.general_channel, text="hi")
        assert team.message(team.general_channel, posted["ts"]).user == north.bot_user_id
    assert await error_of(org.chat_postMessage(channel="C0GENERAL1", text="x")) == "channel_not_found"

    # Events and slash commands from the org say so.
    await south.post_as_user(south.general_channel, f"<@{south.bot_user_id}> hello")
    (mention,) = app_side.received("app_mention")
    assert (mention["team_id"], mention["enterprise_id"]) == (south.team_id, "E0ORG0001")
    assert mention["authorizations"][0]["is_enterprise_install"] is True
    assert mention["authorizations"][0]["enterprise_id"] == "E0ORG0001"
    form = south.command_payload("a cat")
    assert (form["enterprise_id"], form["is_enterprise_install"], form["team_id"]) == (
        "E0ORG0001",
        "true",
        south.team_id,
    )
    interaction = south.interaction_payload({"type": "block_actions"})
    assert interaction["enterprise"] == {"id": "E0ORG0001", "name": "Acme Org"}
    assert interaction["is_enterprise_install"] is True and interaction["team"]["id"] == south.team_id

    # A workspace of an org-installed app cannot install it on its own.
    code = await code_for(browser, slack, team=north.team_id)
    anonymous = AsyncWebClient(base_url=slack.api_url)
    exchange = anonymous.oauth_v2_access(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code)
    assert await error_of(exchange) == "cannot_install_an_org_installed_app"

    await slack.uninstall("E0ORG0001")
    assert not north.installed and not south.installed
    (uninstalled,) = app_side.received("app_uninstalled")
    assert uninstalled["authorizations"][0]["is_enterprise_install"] is True
    assert await error_of(org.auth_test()) == "account_inactive"


async def test_a_workspace_install_inside_an_org(slack: SlackStandIn) -> None:
    grid = slack.add_workspace(enterprise_id="E0ORG0002", enterprise_name="Grid Co")
    body = slack.install(grid.team_id)
    assert body["team"] == {"id": grid.team_id, "name": grid.team_name}
    assert body["enterprise"] == {"id": "E0ORG0002", "name": "Grid Co"} and body["is_enterprise_install"] is False
    who = await client(slack, body["access_token"]).auth_test()
    assert (who["team_id"], who["enterprise_id"], who["is_enterprise_install"]) == (grid.team_id, "E0ORG0002", False)


# ---------------------------------------------------------------------------------------------------- payloads


def test_slash_commands_and_interactions_name_their_workspace(slack: SlackStandIn) -> None:
    other = slack.add_workspace("T0SECOND01", "Second", domain="second", installed=True)
    form = other.command_payload("a red fox", user=other.other_user_id)
    assert (form["team_id"], form["team_domain"], form["user_id"], form["channel_id"]) == (
        "T0SECOND01",
        "second",
        other.other_user_id,
        other.general_channel,
    )
    assert form["command"] == "/banana" and form["is_enterprise_install"] == "false" and "enterprise_id" not in form
    assert f"/commands/{other.team_id}/" in form["response_url"] and form["trigger_id"]
    payload = json.loads(other.interaction_form({"type": "view_submission", "view": {"id": "V1"}})["payload"])
    assert payload["team"] == {"id": "T0SECOND01", "domain": "second"} and payload["enterprise"] is None
    assert payload["user"]["team_id"] == "T0SECOND01" and payload["type"] == "view_submission"


async def test_the_standin_routes_take_a_team(slack: SlackStandIn, browser: httpx.AsyncClient) -> None:
    other = slack.add_workspace(installed=True)
    form = {"team": other.team_id, "channel": other.general_channel, "text": "from afar"}
    added = await browser.post(slack.base_url + MESSAGES_PATH, data=form)
    assert added.json()["ok"] and added.json()["message"]["user"] == other.user_id
    assert [m.text for m in other.messages] == ["from afar"] and slack.messages == []
    query = {"team": other.team_id}
    urls = (await browser.get(slack.base_url + RESPONSE_URLS_PATH, params=query)).json()["response_urls"]
    assert f"/commands/{other.team_id}/" in urls[0]
    assert (await browser.get(slack.base_url + TRIGGER_IDS_PATH, params={"team": "T0NOBODY01"})).status_code == 400
    await client(slack, other.bot_token).auth_test()
    stats = (await browser.get(slack.base_url + STATS_PATH, params=query)).json()
    assert [call[0] for call in stats["calls"]] == ["auth.test"]


async def test_the_conftest_helpers_speak_for_a_workspace_and_sign_as_ever(
    slack: SlackStandIn, browser: httpx.AsyncClient
) -> None:
    from tests.conftest import SIGNING_SECRET, Banana

    received: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        banana = Banana(SimpleNamespace(port=runner.addresses[0][1]), slack, browser)  # type: ignore[arg-type]
        other = slack.add_workspace("T0SECOND01", "Second", domain="second", installed=True)
        await banana.command("a fox")  # today's workspace, as before
        await banana.command("a fox", team=other)
        await banana.click("cancel", "1", message_ts="1.000001", team=other)
        await banana.event({"type": "app_mention", "text": "hi", "ts": "1.000002"}, team=other)
    finally:
        await runner.cleanup()

    verifier = SignatureVerifier(SIGNING_SECRET)
    for headers, raw in received:
        timestamp, signature = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
        assert verifier.is_valid(body=raw, timestamp=timestamp, signature=signature)
    today, command, click, event = received
    assert parse_qs(today[1].decode())["team_id"] == [TEAM_ID]
    form = {key: values[0] for key, values in parse_qs(command[1].decode()).items()}
    assert (form["team_id"], form["team_domain"], form["user_id"], form["channel_id"]) == (
        "T0SECOND01",
        "second",
        other.user_id,
        other.general_channel,
    )
    payload = json.loads(parse_qs(click[1].decode())["payload"][0])
    name = other.users[other.user_id].name
    assert payload["team"]["id"] == "T0SECOND01" and payload["user"] == {
        "id": other.user_id,
        "username": name,
        "name": name,
        "team_id": "T0SECOND01",
    }
    assert payload["channel"]["id"] == other.general_channel and "/actions/T0SECOND01/" in payload["response_url"]
    body = json.loads(event[1])
    assert body["team_id"] == "T0SECOND01" and body["authorizations"][0]["user_id"] == other.bot_user_id


async def test_a_workspace_outside_a_stand_in_says_so() -> None:
    loose = Team(number=7, installed=False)
    assert loose.team_id == "T0TEAM007"
    with pytest.raises(RuntimeError, match="add_workspace"):
        await loose.post_as_user(loose.general_channel, "hi")


# ---------------------------------------------------------------------------------------------------- with Bolt


@pytest.fixture
async def bolt(slack: SlackStandIn, tmp_path) -> AsyncIterator[tuple[str, Any]]:
    """Bolt's own OAuth (AsyncOAuthSettings) against the stand-in: the base URL of a running AsyncApp and the app.

    Bolt's token rotator gets a client of its own (AsyncTokenRotator(client=None) would call slack.com), so it is
    pointed at the stand-in here as an app has to."""
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
    from slack_sdk.oauth.installation_store import FileInstallationStore
    from slack_sdk.oauth.state_store import FileOAuthStateStore

    api = AsyncWebClient(base_url=slack.api_url)
    settings = AsyncOAuthSettings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        scopes=list(DEFAULT_SCOPES),
        installation_store=FileInstallationStore(base_dir=str(tmp_path / "installations"), client_id=CLIENT_ID),
        state_store=FileOAuthStateStore(expiration_seconds=600, base_dir=str(tmp_path / "states"), client_id=CLIENT_ID),
        authorization_url=slack.authorize_url,
        install_page_rendering_enabled=False,  # no redirect_uri: Slack sends the person to the app's Redirect URL
    )
    assert settings.authorize.token_rotator is not None
    settings.authorize.token_rotator.client = api
    app = AsyncApp(signing_secret=EVENTS_SECRET, client=api, oauth_settings=settings)

    @app.event("app_mention")
    async def answer(event: dict, say) -> None:
        await say(text=f"hello from {event['team']}", thread_ts=event["ts"])

    runner = web.AppRunner(app.web_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = "http://{}:{}".format(*runner.addresses[0][:2])
    slack.redirect_urls = [f"{base}/slack/oauth_redirect"]
    slack.deliver_events_to(f"{base}/slack/events", EVENTS_SECRET)
    yield base, app
    await runner.cleanup()


async def install_with_bolt(base: str, team: Team, browser: httpx.AsyncClient) -> httpx.Response:
    """A person clicks "Add to Slack": Bolt's /slack/install, Slack's authorize page, back to Bolt's redirect.
    Bolt's state cookie is Secure, which a cookie jar keeps off http://, so it is carried by hand."""
    start = await browser.get(f"{base}/slack/install")
    assert start.status_code == 302, start.text
    cookie = start.headers["set-cookie"].split(";")[0]
    approve = await browser.get(start.headers["location"] + f"&team={team.team_id}")
    assert approve.status_code == 302, approve.text
    return await browser.get(approve.headers["location"], headers={"Cookie": cookie})


async def test_bolt_installs_into_two_workspaces_and_answers_each_with_its_token(
    slack: SlackStandIn, bolt: tuple[str, Any], browser: httpx.AsyncClient
) -> None:
    base, _ = bolt
    slack.token_rotation_enabled = True
    slack.token_expires_in = 60  # inside Bolt's 120 minutes: it refreshes before each use
    north, south = slack.add_workspace(name="North"), slack.add_workspace(name="South")
    for team in (north, south):
        done = await install_with_bolt(base, team, browser)
        assert done.status_code == 200 and team.installed, done.text
    assert slack.authorize_requests[0]["query"]["scope"] == ",".join(DEFAULT_SCOPES)

    for team in (north, south):
        asked = await team.post_as_user(team.general_channel, f"<@{team.bot_user_id}> hi")
        await team.wait_for(lambda team=team, asked=asked: len(team.thread(team.general_channel, asked.ts)) == 1)
        (reply,) = team.thread(team.general_channel, asked.ts)
        assert reply.text == f"hello from {team.team_id}" and reply.user == team.bot_user_id
        assert team.refreshes >= 1 and team.refused_refreshes == 0  # Bolt rotated this workspace's token itself
    assert slack.messages == []  # nothing went to the default workspace

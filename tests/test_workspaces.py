"""Installed in many workspaces through Slack's OAuth flow: each installs through /slack/install and the redirect, runs
/banana, Home and buttons with its own token, and never sees another's tasks, cached images or saved prompts; an
uninstall stops one without disturbing the other; forged states and codes are refused."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest

from banana.cli import forget_workspace
from bot.blocks import cards
from prompts.options import Options
from prompts.tasks import TaskState
from standins.kie import Outcome
from standins.slack import Team
from tests.conftest import TEST_ENCRYPTION_KEY, Banana

CREATE = "/api/v1/jobs/createTask"
DEFAULTS = Options("1:1", "2K", "png")


@pytest.fixture
async def installed(start_banana, slack):
    """Banana with OAuth on, installed through the real flow in two workspaces: (banana, first, second)."""
    banana = await with_oauth(start_banana, slack)
    first, second = slack.add_workspace(name="North Podcast"), slack.add_workspace(name="South Agency")
    async with httpx.AsyncClient(timeout=10) as browser:
        for team in (first, second):
            page = await install(banana, team, browser)
            assert page.status_code == 200 and team.installed, page.text
            assert f"Banana is installed in {team.team_name}" in page.text
    return banana, first, second


async def with_oauth(start_banana, slack) -> Banana:
    """Banana set up to install through OAuth against the stand-in, with no SLACK_BOT_TOKEN; not installed anywhere."""
    banana = await start_banana(
        SLACK_BOT_TOKEN="",
        SLACK_CLIENT_ID=slack.client_id,
        SLACK_CLIENT_SECRET=slack.client_secret,
        SLACK_AUTHORIZE_URL=slack.authorize_url,
        BANANA_ENCRYPTION_KEYS=TEST_ENCRYPTION_KEY,
    )
    slack.redirect_urls = (f"{banana.url}/slack/oauth_redirect",)
    return banana


async def install(banana: Banana, team: Team, browser: httpx.AsyncClient, *, state: str | None = None):
    """A person opens /slack/install, presses Add to Slack, approves in `team`, and comes back to the redirect.
    Bolt's state cookie is Secure, which a cookie jar keeps off http://, so it is carried by hand."""
    start = await browser.get(f"{banana.url}/slack/install")
    assert start.status_code == 200 and "Add to Slack" in start.text
    authorize = re.search(r'href="([^"]*oauth/v2/authorize[^"]*)"', start.text)
    assert authorize is not None
    cookie = start.headers["set-cookie"].split(";")[0]
    url = authorize.group(1).replace("&amp;", "&") + f"&team={team.team_id}"
    if state is not None:
        url = re.sub(r"state=[^&]+", f"state={state}", url)
    approve = await browser.get(url)
    assert approve.status_code == 302, approve.text
    return await browser.get(approve.headers["location"], headers={"Cookie": cookie})


async def test_two_workspaces_each_work_with_their_own_token_and_see_only_their_own(installed, kie, slack):
    banana, first, second = installed
    for team in (first, second):
        assert (await banana.command("a lighthouse at dawn", team=team)).status_code == 200
    store = banana.services.store
    mine = {team.team_id: await wait_done(banana, team) for team in (first, second)}
    assert len(kie.requests_to(CREATE)) == 2  # the same words in another workspace are never its cached image
    for team in (first, second):
        (task,) = mine[team.team_id]
        card = team.message(team.general_channel, task.message_ts or "")
        assert card.user == team.bot_user_id  # posted with that workspace's own bot token
        assert any(m.files == [task.slack_file_id] for m in team.thread(team.general_channel, task.message_ts or ""))
    assert slack.messages == []  # nothing went to the workspace of SLACK_BOT_TOKEN

    # A button in one workspace on another's task (a forged payload) is as good as gone.
    (theirs,) = mine[first.team_id]
    await banana.click(cards.DELETE, str(theirs.id), message_ts=theirs.message_ts or "", team=second)
    await second.wait_for(lambda: any("no longer exists" in json.dumps(r) for r in second.responses))
    assert (await store.get(theirs.id)).deleted_at is None  # type: ignore[union-attr]

    # Home shows each person their own workspace's images only.
    await banana.event({"type": "app_home_opened", "user": second.user_id, "tab": "home"}, team=second)
    await second.wait_for(lambda: second.user_id in second.views_published)
    home = json.dumps(second.views_published[second.user_id])
    assert f"#{mine[second.team_id][0].id}" in home and f"#{theirs.id}" not in home


async def test_an_uninstall_stops_one_workspace_and_leaves_the_other_alone(installed, kie, slack):
    banana, first, second = installed
    await slack.uninstall(second.team_id)
    bots = banana.services.installs.bots  # type: ignore[union-attr]

    async def forgotten() -> bool:  # the app_uninstalled event is handled after Slack has its answer
        return await bots.async_find_bot(enterprise_id=None, team_id=second.team_id) is None

    await eventually(forgotten)
    assert await bots.async_find_bot(enterprise_id=None, team_id=first.team_id) is not None

    await banana.command("a skyline", team=second)
    await second.wait_for(lambda: any("not installed in this workspace" in json.dumps(r) for r in second.responses))
    assert kie.requests_to(CREATE) == []
    await banana.command("a skyline", team=first)
    (task,) = await wait_done(banana, first)
    assert task.state is TaskState.DONE


async def test_forged_or_reused_states_and_codes_are_refused_and_store_nothing(start_banana, slack):
    banana = await with_oauth(start_banana, slack)
    team = slack.add_workspace(name="Forgers")
    bots = banana.services.installs.bots  # type: ignore[union-attr]
    async with httpx.AsyncClient(timeout=10) as browser:
        forged = await install(banana, team, browser, state="forged-state")
        assert forged.status_code >= 400 and "could not be installed" in forged.text
        made_up = await browser.get(f"{banana.url}/slack/oauth_redirect?code=made-up&state=nope")
        assert made_up.status_code >= 400 and "Traceback" not in made_up.text
    assert await bots.async_find_bot(enterprise_id=None, team_id=team.team_id) is None


async def eventually(check: Callable[[], Awaitable[bool]], deadline: float = 10) -> None:
    async with asyncio.timeout(deadline):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def wait_done(banana: Banana, team: Team, count: int = 1):
    """The workspace's person's tasks, once `count` of them exist and all have finished."""
    store = banana.services.store
    found = []

    async def finished() -> bool:
        nonlocal found
        found = await store.for_user(team.team_id, team.user_id, limit=10)
        return len(found) >= count and all(t.state.finished for t in found)

    await eventually(finished)
    return found


async def test_a_token_that_stops_working_ends_that_workspaces_tasks_and_is_logged_once(installed, kie, slack, caplog):
    banana, first, second = installed
    kie.default_outcome = Outcome(kind="never")
    for text in ("a skyline", "a harbour"):
        await banana.command(text, team=second)

    async def both_at_kie() -> bool:
        found = await banana.services.store.for_user(second.team_id, second.user_id)
        return len(found) == 2 and all(t.kie_task_id for t in found)

    await eventually(both_at_kie)
    for token in second.tokens.values():  # revoked without a word (no app_uninstalled): Slack answers invalid_auth
        token.revoked = True
    for kie_task_id in list(kie.tasks):
        kie.finish_now(kie_task_id)
    tasks = await wait_done(banana, second, count=2)
    assert {(t.state, t.error_code) for t in tasks} == {(TaskState.CANCELLED, "workspace_gone")}
    assert len([r for r in caplog.records if "can no longer be reached" in r.getMessage()]) == 1
    kie.default_outcome = Outcome()
    await banana.command("a lighthouse", team=first)  # the other workspace goes on as before
    (task,) = await wait_done(banana, first)
    assert task.state is TaskState.DONE


async def test_saved_prompts_stay_in_their_workspace(installed, kie, slack):
    banana, first, second = installed
    await banana.services.store.save_prompt(first.team_id, first.user_id, "North house style", "a poster", DEFAULTS)
    await banana.command("prompts", team=first)
    await banana.command("prompts", team=second)
    await first.wait_for(lambda: any("North house style" in json.dumps(r) for r in first.responses))
    await second.wait_for(lambda: len(second.responses) >= 1)
    assert not any("North house style" in json.dumps(r) for r in second.responses)


async def test_a_reused_state_or_a_code_slack_rejects_gets_a_clear_page_and_stores_nothing(start_banana, slack):
    banana = await with_oauth(start_banana, slack)
    team = slack.add_workspace(name="Careful")
    bots = banana.services.installs.bots  # type: ignore[union-attr]
    async with httpx.AsyncClient(timeout=10) as browser:
        start = await browser.get(f"{banana.url}/slack/install")
        cookie = start.headers["set-cookie"].split(";")[0]
        state = re.search(r"state=([^&\"]+)", start.text)
        assert state is not None
        rejected = await browser.get(
            f"{banana.url}/slack/oauth_redirect?code=not-a-code&state={state.group(1)}", headers={"Cookie": cookie}
        )
        assert rejected.status_code >= 400 and "could not be installed" in rejected.text
        reused = await browser.get(
            f"{banana.url}/slack/oauth_redirect?code=not-a-code&state={state.group(1)}", headers={"Cookie": cookie}
        )
        assert reused.status_code >= 400 and "could not be installed" in reused.text
    assert await bots.async_find_bot(enterprise_id=None, team_id=team.team_id) is None


async def test_an_enterprise_grid_install_gets_a_clear_page_and_nothing_is_kept(start_banana, slack):
    banana = await with_oauth(start_banana, slack)
    team = slack.add_workspace(name="Grid Member", enterprise_id="E0GRID0001", enterprise_name="Grid")
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await install(banana, team, browser)
    assert page.status_code == 400 and "Enterprise Grid installs are not supported" in page.text
    bots = banana.services.installs.bots  # type: ignore[union-attr]
    assert await bots.async_find_bot(enterprise_id="E0GRID0001", team_id=team.team_id) is None


async def test_forget_workspace_deletes_one_workspaces_data_only(installed, kie, slack, app_env, monkeypatch):
    banana, first, second = installed
    for team in (first, second):
        await banana.command("a lighthouse", team=team)
        await wait_done(banana, team)
    monkeypatch.setenv("DATABASE_PATH", app_env["DATABASE_PATH"])
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert await forget_workspace(second.team_id, yes=True) == 0
    store = banana.services.store
    assert await store.for_user(second.team_id, second.user_id) == []
    assert len(await store.for_user(first.team_id, first.user_id)) == 1
    bots = banana.services.installs.bots  # type: ignore[union-attr]
    assert await bots.async_find_bot(enterprise_id=None, team_id=second.team_id) is None
    assert await bots.async_find_bot(enterprise_id=None, team_id=first.team_id) is not None

"""The operator decides who spends: installs from workspaces not allowed (or Enterprise Grid) are refused before
anything is stored and their tokens handed back; caps hold by default with OAuth; kie.ai's balance is shown only to
the operator's admins; one token rotator, under the lock; a refresh Slack refuses ends that workspace's work quietly;
every OAuth page clears Bolt's state cookie."""

from __future__ import annotations

import json
import logging
import sqlite3
import time

import httpx
import pytest
from slack_sdk.oauth.token_rotation import async_rotator
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

from bot.services.budget import Budget
from bot.settings import OAUTH_USER_DAILY_CAP
from prompts.tasks import TaskState
from standins.kie import Outcome
from standins.slack import Team
from tests.conftest import Banana
from tests.test_workspaces import eventually, install, wait_done, with_oauth

CREATE = "/api/v1/jobs/createTask"
CREDIT_PATH = "/api/v1/chat/credit"
STATE_COOKIE = "slack-app-oauth-state"


def stored_rows(app_env: dict[str, str], team_id: str) -> dict[str, int]:
    """Rows of the workspace in the installation tables, read straight from the database file."""
    with sqlite3.connect(app_env["DATABASE_PATH"]) as db:
        return {
            table: db.execute(f"select count(*) from {table} where team_id = ?", (team_id,)).fetchone()[0]
            for table in ("installations", "installed_bots")
        }


def clears_state_cookie(page: httpx.Response) -> bool:
    cookies = page.headers.get_list("set-cookie")
    return any(c.startswith(f"{STATE_COOKIE}=deleted") and "1970" in c for c in cookies)


async def answered(team: Team, says: str) -> str:
    """The private answer (through response_url) in `team` that contains `says`."""
    await team.wait_for(lambda: any(says in json.dumps(r, ensure_ascii=False) for r in team.responses))
    return next(r["text"] for r in team.responses if says in json.dumps(r, ensure_ascii=False))


async def uninstall_event_handled(slack, team: Team) -> None:
    """Slack's app_uninstalled for `team` was delivered and the app answered it."""

    def handled() -> bool:
        ids = {
            c["event_id"]
            for c in slack.event_callbacks
            if c["event"]["type"] == "app_uninstalled" and c["team_id"] == team.team_id
        }
        return any(a.ok and a.event_id in ids for a in slack.event_attempts)

    await slack.wait_for(handled)


# ---- refused installs leave nothing ----------------------------------------------------------------------------------


async def test_an_install_from_a_workspace_not_allowed_is_refused_stores_nothing_and_gives_its_token_back(
    start_banana, slack, app_env, kie
):
    allowed = slack.add_workspace("T0ALLOWED1", "Allowed Studio")
    stranger = slack.add_workspace("T0STRANGE1", "Stranger Things Ltd")
    app_env["ALLOWED_WORKSPACES"] = allowed.team_id
    banana = await with_oauth(start_banana, slack)
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await install(banana, stranger, browser)
        assert page.status_code == 403
        assert "Banana isn't available for Stranger Things Ltd" in page.text
        assert "add workspace <code>T0STRANGE1</code> to ALLOWED_WORKSPACES" in page.text
        assert clears_state_cookie(page)
        assert stored_rows(app_env, stranger.team_id) == {"installations": 0, "installed_bots": 0}
        # Slack took the token back: auth.revoke, and with no token left the app is uninstalled there.
        assert [c.args.get("test") for c in stranger.calls if c.method == "auth.revoke"] == [None]
        assert stranger.tokens and all(t.revoked for t in stranger.tokens.values())
        assert not stranger.installed
        await uninstall_event_handled(slack, stranger)

        # The app is still up, and an allowed workspace installs as before.
        page = await install(banana, allowed, browser)
        assert page.status_code == 200 and "Banana is installed in Allowed Studio" in page.text
    assert stored_rows(app_env, allowed.team_id) == {"installations": 1, "installed_bots": 1}
    await banana.command("a lighthouse", team=allowed)
    (task,) = await wait_done(banana, allowed)
    assert task.state is TaskState.DONE

    await banana.command("a lighthouse", team=stranger)
    await answered(stranger, "not installed in this workspace")
    assert len(kie.requests_to(CREATE)) == 1


async def test_an_enterprise_grid_install_is_refused_before_it_is_stored_and_its_token_revoked(
    start_banana, slack, app_env
):
    banana = await with_oauth(start_banana, slack)
    member = slack.add_workspace(name="Grid Member", enterprise_id="E0GRID0002", enterprise_name="Grid")
    async with httpx.AsyncClient(timeout=10) as browser:
        page = await install(banana, member, browser)
    assert page.status_code == 400 and "Enterprise Grid installs are not supported" in page.text
    assert clears_state_cookie(page)
    assert stored_rows(app_env, member.team_id) == {"installations": 0, "installed_bots": 0}
    assert member.tokens and all(t.revoked for t in member.tokens.values()) and not member.installed
    await uninstall_event_handled(slack, member)
    assert (await banana.http.get(f"{banana.url}/healthz")).status_code == 200


async def test_a_workspace_installed_before_it_was_disallowed_is_refused_and_its_work_ends_quietly(
    start_banana, slack, app_env, kie, caplog
):
    early, kept = slack.add_workspace("T0EARLY001", "Early Bird"), slack.add_workspace("T0KEPT0001", "Kept On")
    banana = await with_oauth(start_banana, slack)
    async with httpx.AsyncClient(timeout=10) as browser:
        for team in (early, kept):
            assert (await install(banana, team, browser)).status_code == 200
    kie.default_outcome = Outcome(kind="never")
    await banana.command("a slow skyline", team=early)

    async def at_kie() -> bool:
        found = await banana.services.store.for_user(early.team_id, early.user_id)
        return len(found) == 1 and bool(found[0].kie_task_id)

    await eventually(at_kie)
    await banana.server.stop()

    # The operator lists the workspaces that may use Banana; `early` is not one of them.
    app_env["ALLOWED_WORKSPACES"] = kept.team_id
    banana = await with_oauth(start_banana, slack)
    for kie_task_id in list(kie.tasks):
        kie.finish_now(kie_task_id)
    (task,) = await wait_done(banana, early)  # resumed at start-up: it ends at its first step that needs Slack
    assert (task.state, task.error_code) == (TaskState.CANCELLED, "workspace_gone")
    assert stored_rows(app_env, early.team_id) == {"installations": 1, "installed_bots": 1}  # kept, if listed again

    kie.default_outcome = Outcome()
    await banana.command("another skyline", team=early)
    await answered(early, "not installed in this workspace")
    assert len(kie.requests_to(CREATE)) == 1
    assert not any("broke unexpectedly" in r.getMessage() for r in caplog.records)


async def test_with_oauth_and_no_allowed_list_start_up_says_anyone_may_install(start_banana, slack, app_env, caplog):
    await with_oauth(start_banana, slack)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("ALLOWED_WORKSPACES is not set: any Slack workspace can install Banana" in w for w in warnings)

    caplog.clear()
    app_env["ALLOWED_WORKSPACES"] = "T0SOMEONE1"
    await with_oauth(start_banana, slack)
    assert not any("ALLOWED_WORKSPACES" in r.getMessage() for r in caplog.records)


async def test_every_oauth_page_clears_the_state_cookie(start_banana, slack):
    banana = await with_oauth(start_banana, slack)
    team = slack.add_workspace(name="Cookie Jar")
    async with httpx.AsyncClient(timeout=10) as browser:
        forged = await install(banana, team, browser, state="forged-state")
        assert forged.status_code >= 400 and clears_state_cookie(forged)
        slack.decline_next_install = True
        declined = await install(banana, team, browser)
        assert "was not installed" in declined.text and clears_state_cookie(declined)
        done = await install(banana, team, browser)
        assert done.status_code == 200 and clears_state_cookie(done)


# ---- caps and the balance -------------------------------------------------------------------------------------------


async def oauth_workspace(start_banana, slack, name: str = "Spenders") -> tuple[Banana, Team]:
    banana = await with_oauth(start_banana, slack)
    team = slack.add_workspace(name=name)
    async with httpx.AsyncClient(timeout=10) as browser:
        assert (await install(banana, team, browser)).status_code == 200
    return banana, team


async def test_with_oauth_a_workspace_with_no_cap_settings_meets_the_default_daily_cap(start_banana, slack, app_env):
    app_env["PRICE_2K"] = "300"  # a second 2K image goes past the default 500 a day
    banana, team = await oauth_workspace(start_banana, slack)
    await banana.command("a red fox", team=team)
    await wait_done(banana, team)
    answer = (await banana.command("a blue whale", team=team)).json()
    assert f"daily limit of {OAUTH_USER_DAILY_CAP} credits" in answer["text"]
    assert len(await banana.services.store.for_user(team.team_id, team.user_id)) == 1

    await banana.command("usage", team=team)
    text = await answered(team, "You today")
    assert "limit 500 a day" in text and "limit 10,000 a month" in text


async def test_none_turns_the_default_cap_off(start_banana, slack, app_env):
    app_env.update(PRICE_2K="300", USER_DAILY_CREDIT_CAP="none")
    banana, team = await oauth_workspace(start_banana, slack)
    for text in ("a red fox", "a blue whale"):
        await banana.command(text, team=team)
        await wait_done(banana, team, count=1 if text == "a red fox" else 2)
    await banana.command("usage", team=team)
    text = await answered(team, "You today")
    today = next(line for line in text.splitlines() if "You today" in line)
    assert "limit" not in today and "limit 10,000 a month" in text


async def test_with_oauth_only_the_operator_workspaces_admins_see_the_kie_balance(start_banana, slack, app_env, kie):
    operator, installer = slack.add_workspace(name="Operator HQ"), slack.add_workspace(name="Some Installer")
    app_env["OPERATOR_WORKSPACE"] = operator.team_id
    banana = await with_oauth(start_banana, slack)
    async with httpx.AsyncClient(timeout=10) as browser:
        for team in (operator, installer):
            assert (await install(banana, team, browser)).status_code == 200
    await banana.command("usage", team=installer, user=installer.admin_user_id)
    assert "kie.ai balance" not in await answered(installer, "You today")
    await banana.command("usage", team=operator, user=operator.user_id)
    assert "kie.ai balance" not in await answered(operator, "You today")
    assert kie.requests_to(CREDIT_PATH) == []
    await banana.command("usage", team=operator, user=operator.admin_user_id)
    assert f"*kie.ai balance:* {kie.credits:,} credits" in await answered(operator, "kie.ai balance")


async def test_with_oauth_and_no_operator_workspace_nobody_sees_the_kie_balance(start_banana, slack, kie):
    banana, team = await oauth_workspace(start_banana, slack)
    await banana.command("usage", team=team, user=team.admin_user_id)
    assert "kie.ai balance" not in await answered(team, "You today")
    assert kie.requests_to(CREDIT_PATH) == []


def test_who_may_see_the_balance():
    one = Budget(None, None, many_workspaces=False)  # type: ignore[arg-type]
    assert one.may_see_balance("T1", True) and not one.may_see_balance("T1", False)
    many = Budget(None, None, many_workspaces=True, operator_workspace="T1")  # type: ignore[arg-type]
    assert many.may_see_balance("T1", True) and not many.may_see_balance("T2", True)
    assert not many.may_see_balance("T1", False)
    nobody = Budget(None, None, many_workspaces=True)  # type: ignore[arg-type]
    assert not nobody.may_see_balance("T1", True) and not nobody.may_see_balance("", True)


# ---- one token rotator ----------------------------------------------------------------------------------------------


async def rotating_workspace(start_banana, slack) -> tuple[Banana, Team]:
    slack.token_rotation_enabled = True
    return await oauth_workspace(start_banana, slack, name="Rotating")


async def expires_in(banana: Banana, team: Team, seconds: float) -> None:
    """The stored bot token is said to expire `seconds` from now (Slack's copy lasts 12 hours)."""
    bots = banana.services.installs.bots  # type: ignore[union-attr]
    bot = await bots.async_find_bot(enterprise_id=None, team_id=team.team_id)
    assert bot is not None and bot.bot_refresh_token
    bot.bot_token_expires_at = int(time.time() + seconds)
    await bots.async_save_bot(bot)


def rotations(monkeypatch) -> list[dict]:
    """Every bot token rotation slack_sdk is asked for, by Banana or by Bolt (whose own rotator would go to
    slack.com, not to the stand-in)."""
    asked: list[dict] = []
    rotate = AsyncTokenRotator.perform_bot_token_rotation

    async def counted(self, **options):
        asked.append(options)
        return await rotate(self, **options)

    monkeypatch.setattr(AsyncTokenRotator, "perform_bot_token_rotation", counted)
    return asked


async def test_bolt_never_refreshes_a_token_itself(start_banana, slack, monkeypatch):
    banana, team = await rotating_workspace(start_banana, slack)
    asked = rotations(monkeypatch)
    # Outside Banana's two hours by 30 s; slack_sdk's rotator (Bolt's, if it ran) looks a minute later, as a request
    # whose token crosses the line between the two checks would: inside its window.
    await expires_in(banana, team, 2 * 3600 + 30)
    now = time.time
    monkeypatch.setattr(async_rotator, "time", lambda: now() + 60)
    await banana.command("a calm sea", team=team)
    (task,) = await wait_done(banana, team)
    assert task.state is TaskState.DONE
    assert asked == [] and (team.refreshes, team.refused_refreshes) == (0, 0)


async def test_a_token_near_expiry_is_refreshed_once_however_many_ask(start_banana, slack, monkeypatch):
    banana, team = await rotating_workspace(start_banana, slack)
    asked = rotations(monkeypatch)
    before = team.bot_token
    await expires_in(banana, team, 600)
    for text in ("one", "two", "three"):
        await banana.command(text, team=team)
    tasks = await wait_done(banana, team, count=3)
    assert all(t.state is TaskState.DONE for t in tasks)
    assert len(asked) == 1 and (team.refreshes, team.refused_refreshes) == (1, 0)
    assert team.bot_token != before
    card = team.message(team.general_channel, tasks[0].message_ts or "")
    assert card.user == team.bot_user_id


async def test_a_refresh_slack_refuses_ends_the_workspaces_work_quietly_and_forgets_it(
    start_banana, slack, app_env, kie, caplog
):
    caplog.set_level(logging.INFO)
    banana, team = await rotating_workspace(start_banana, slack)
    kie.default_outcome = Outcome(kind="never")
    await banana.command("a slow skyline", team=team)

    async def at_kie() -> bool:
        found = await banana.services.store.for_user(team.team_id, team.user_id)
        return len(found) == 1 and bool(found[0].kie_task_id)

    await eventually(at_kie)
    # Spent first, while no refresh can be under way (the token is far from expiry), then due for a refresh.
    assert slack.oauth.spend_refresh_tokens(team.team_id) == 1
    await expires_in(banana, team, 600)

    await banana.command("a harbour", team=team)
    await answered(team, "not installed in this workspace")
    (task,) = await wait_done(banana, team)
    assert (task.state, task.error_code) == (TaskState.CANCELLED, "workspace_gone")
    assert stored_rows(app_env, team.team_id) == {"installations": 0, "installed_bots": 0}
    await banana.command("a third try", team=team)  # the dead token is not tried again
    await team.wait_for(lambda: sum("not installed" in json.dumps(r) for r in team.responses) == 2)
    assert team.refused_refreshes == 1
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "refused to refresh" in m]) == 1
    assert not any("can no longer be reached" in m or "broke unexpectedly" in m for m in messages)
    assert len(kie.requests_to(CREATE)) == 1


@pytest.mark.parametrize("test_mode", [False, True])
async def test_the_standin_auth_revoke_answers_revoked_and_test_mode_revokes_nothing(slack, test_mode):
    team = slack.add_workspace(name="Revoker")
    token = slack.install(team.team_id)["access_token"]
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"{slack.api_url}auth.revoke",
            data={"test": "1"} if test_mode else {},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.json() == {"ok": True, "revoked": not test_mode}
    assert team.tokens[token].revoked is not test_mode and team.installed is test_mode

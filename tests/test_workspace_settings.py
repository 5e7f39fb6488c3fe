"""A workspace's own settings, set by its admins from the Home tab: caps within the operator's, defaults, where Banana
works, and who may change them; plus the pure rules and the modal's builder."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.blocks import settings as form
from bot.blocks.home import HOME_NEW_IMAGE
from bot.services.workspace_settings import Ceilings, Chosen, effective, parse_cap, read_form
from prompts.options import Options
from standins import slack as slack_standin
from tests.conftest import CHANNEL_ID, USER_ID
from tests.test_home import open_home
from tests.test_remix import image_bytes, post_with_files
from tests.test_thread_edits import mention
from tests.test_workspaces import eventually, installed, wait_done  # noqa: F401 (a fixture)

ADMIN = "U0ADMIN001"
CREATE = "/api/v1/jobs/createTask"
TEAM = slack_standin.TEAM_ID
OPERATOR = Ceilings(
    user_daily_cap=30, workspace_monthly_cap=None, defaults=Options("1:1", "2K", "png"), thread_replies=True
)


async def open_settings(banana, slack, user: str = ADMIN, team=None) -> dict:
    ws = team or slack
    before = len(ws.views_opened)
    await banana.click(form.HOME_SETTINGS, "open", message_ts="", container="view", user=user, team=team)
    await ws.wait_for(lambda: len(ws.views_opened) > before)
    return ws.views_opened[-1]


async def save(banana, slack, user: str = ADMIN, team=None, **fields) -> httpx.Response:
    view = await open_settings(banana, slack, user, team)
    assert view["callback_id"] == form.SETTINGS_CALLBACK
    return await banana.submit(view, user=user, team=team, **fields)


# ---- through the real app ------------------------------------------------------------------------------------------


async def test_an_admin_sees_settings_and_a_non_admin_does_not(banana, slack):
    assert form.HOME_SETTINGS in json.dumps(await open_home(banana, slack, ADMIN))
    assert form.HOME_SETTINGS not in json.dumps(await open_home(banana, slack, USER_ID))
    refused = await open_settings(banana, slack, USER_ID)  # a forged press of the button
    assert "Only workspace admins" in json.dumps(refused)


async def test_a_forged_settings_submission_from_a_non_admin_changes_nothing(banana, kie, slack):
    forged = await banana.services.workspaces.form(TEAM)  # type: ignore[union-attr]
    await banana.submit(forged, user=USER_ID, **{form.DAILY_CAP: "0", form.RATIO: "4:5"})
    store = banana.services.store
    assert await store.workspace_settings(TEAM) == {}
    assert await store.settings_changes(TEAM) == []
    await banana.command("a red fox")
    task = await banana.only_task()
    assert task.aspect_ratio != "4:5" and len(kie.requests_to(CREATE)) == 1


async def test_a_cap_set_in_the_form_refuses_the_next_image(banana, kie, slack):
    answer = await save(banana, slack, **{form.DAILY_CAP: "10"})
    assert answer.status_code == 200 and "errors" not in answer.text
    refused = (await banana.command("a red fox")).json()
    assert refused["response_type"] == "ephemeral" and "daily limit of 10 credits" in refused["text"]
    assert "the workspace's admins can raise it in Banana's settings" in refused["text"]
    assert kie.requests_to(CREATE) == []
    assert await banana.services.store.for_user(TEAM, USER_ID) == []


async def test_a_cap_over_the_ceiling_or_not_a_number_is_answered_beside_its_field_and_nothing_is_saved(
    start_banana, slack
):
    banana = await start_banana(USER_DAILY_CREDIT_CAP="30")
    answer = await save(banana, slack, **{form.DAILY_CAP: "31", form.MONTHLY_CAP: "lots", form.RATIO: "4:5"})
    body = answer.json()
    assert body["response_action"] == "errors"
    assert "30" in body["errors"][form.DAILY_CAP] and "whole number" in body["errors"][form.MONTHLY_CAP]
    below = (await save(banana, slack, **{form.DAILY_CAP: "-1"})).json()
    assert "below zero" in below["errors"][form.DAILY_CAP]
    assert await banana.services.store.workspace_settings(TEAM) == {}  # not the ratio either


async def test_a_default_ratio_set_in_the_form_is_used_by_the_next_command(banana, slack):
    await save(banana, slack, **{form.RATIO: "4:5", form.RESOLUTION: "1K"})
    await banana.command("a red fox")
    task = await banana.only_task()
    assert (task.aspect_ratio, task.resolution) == ("4:5", "1K")
    await banana.click(HOME_NEW_IMAGE, "new", message_ts="", container="view")  # the form starts from them too
    await slack.wait_for(lambda: slack.views_opened[-1]["callback_id"] == "banana_generate")
    assert '"value": "4:5"' in json.dumps(slack.views_opened[-1])


async def test_a_channel_list_sends_other_channels_away_and_the_dm_still_works(banana, kie, slack):
    await save(banana, slack, **{form.CHANNELS: [slack.random_channel]})
    away = (await banana.command("a red fox", channel=CHANNEL_ID)).json()
    assert away["response_type"] == "ephemeral"
    assert f"Banana works in <#{slack.random_channel}> in this workspace" in away["text"]
    assert kie.requests_to(CREATE) == [] and await banana.services.store.for_user(TEAM, USER_ID) == []
    await banana.command("a red fox", channel=slack.dm_channel)
    assert (await banana.only_task()).channel_id == slack.dm_channel


async def test_a_form_or_a_shortcut_in_another_channel_gets_the_note_and_opens_nothing(banana, slack):
    await save(banana, slack, **{form.CHANNELS: [slack.random_channel]})
    opened = len(slack.views_opened)
    for words in ("", "infographic"):
        answer = (await banana.command(words, channel=CHANNEL_ID)).json()
        assert answer["response_type"] == "ephemeral" and "Banana works in" in answer["text"]
    message, _ = post_with_files(slack, (image_bytes("red"), "photo.png", "image/png"))
    await banana.message_shortcut(message)
    await slack.wait_for(lambda: any("Banana works in" in json.dumps(r) for r in slack.responses))
    assert len(slack.views_opened) == opened


async def test_a_mention_in_another_channel_gets_the_note_privately_and_starts_nothing(banana, kie, slack):
    await banana.command("a skyline")
    (first,) = await banana.settle(1)
    await save(banana, slack, **{form.CHANNELS: [slack.random_channel]})
    await mention(banana, "add a moon", thread_ts=first.thread_ts)
    await slack.wait_for(lambda: any("Banana works in" in e["text"] for e in slack.ephemerals))
    assert len(kie.requests_to(CREATE)) == 1 and len(await banana.settle(1)) == 1


async def test_a_mention_outside_a_thread_in_another_channel_says_where_banana_works(banana, kie, slack):
    await save(banana, slack, **{form.CHANNELS: [slack.random_channel]})
    await mention(banana, "a skyline", thread_ts=None)  # not in a thread, and not where Banana works
    await slack.wait_for(lambda: bool(slack.ephemerals))
    (note,) = slack.ephemerals
    assert "Banana works in" in note["text"] and kie.requests_to(CREATE) == []


async def test_a_workspace_may_turn_off_thread_replies_the_operator_allows(start_banana, kie, slack):
    slack.scopes = (*slack.scopes, "channels:history")
    slack.bot_events = (*slack.bot_events, "message.channels")
    banana = await start_banana(THREAD_REPLIES="true")
    await save(banana, slack, **{form.REPLIES: "off"})
    await banana.command("a skyline")
    (first,) = await banana.settle(1)
    await banana.say("love it, but make it darker", thread_ts=first.thread_ts)
    # A mention after it is acted on; by the time its edit is done, the reply before it has long been ignored.
    await mention(banana, "make it warmer", thread_ts=first.thread_ts)
    await banana.settle(2)
    await banana.services.runner.wait_idle()
    prompts = [t.prompt for t in await banana.services.store.for_user(TEAM, USER_ID)]
    assert prompts == ["make it warmer", "a skyline"] and len(kie.requests_to(CREATE)) == 2


async def test_the_change_log_shows_who_changed_what_to_admins(banana, slack):
    await save(banana, slack, **{form.DAILY_CAP: "20"})
    await save(banana, slack, user=ADMIN, **{form.DAILY_CAP: "12", form.ADMINS: [USER_ID]})
    (last, first) = await banana.services.store.settings_changes(TEAM)
    assert (first.user_id, first.change) == (ADMIN, "daily cap per person: operator's → 20")
    assert last.change == f"daily cap per person: 20 → 12; Banana admins: none → <@{USER_ID}>"
    shown = json.dumps(await open_settings(banana, slack), ensure_ascii=False)
    assert "Recent changes" in shown and f"<@{ADMIN}>: daily cap per person: 20 → 12" in shown
    home = json.dumps(await open_home(banana, slack, USER_ID), ensure_ascii=False)  # now a Banana admin
    assert form.HOME_SETTINGS in home and "20 → 12" in home


async def test_settings_survive_a_restart(start_banana, kie, slack):
    first = await start_banana()
    await save(first, slack, **{form.DAILY_CAP: "0"})
    await first.server.stop()
    second = await start_banana()
    refused = (await second.command("a red fox")).json()
    assert "daily limit of 0 credits" in refused["text"] and kie.requests_to(CREATE) == []


async def test_a_change_on_one_replica_is_seen_by_another(postgres_url, start_banana, kie, slack):
    first, second = await start_banana(DATABASE_URL=postgres_url), await start_banana(DATABASE_URL=postgres_url)
    assert (await second.services.workspaces.effective(TEAM)).user_daily_cap is None  # type: ignore[union-attr]
    await save(first, slack, **{form.DAILY_CAP: "0"})

    async def seen() -> bool:  # the other replica's cache lasts a few seconds
        return (await second.services.workspaces.effective(TEAM)).user_daily_cap == 0  # type: ignore[union-attr]

    await eventually(seen)
    refused = (await second.command("a red fox")).json()
    assert "daily limit of 0 credits" in refused["text"] and kie.requests_to(CREATE) == []


async def test_another_workspace_is_unaffected(installed, kie, slack):  # noqa: F811
    banana, north, south = installed
    await save(banana, north, user=north.admin_user_id, team=north, **{form.DAILY_CAP: "0"})
    refused = (await banana.command("a lighthouse", team=north)).json()
    assert "daily limit of 0 credits" in refused["text"]
    await banana.command("a lighthouse", team=south)
    (task,) = await wait_done(banana, south)
    assert task.team_id == south.team_id and len(kie.requests_to(CREATE)) == 1
    assert await banana.services.store.workspace_settings(south.team_id) == {}


async def test_an_uninstall_deletes_that_workspaces_settings_only(installed, slack):  # noqa: F811
    banana, north, south = installed
    for team in (north, south):
        await save(banana, team, user=team.admin_user_id, team=team, **{form.DAILY_CAP: "5"})
    store = banana.services.store
    await slack.uninstall(south.team_id)

    async def gone() -> bool:  # the app_uninstalled event is handled after Slack has its answer
        return await store.workspace_settings(south.team_id) == {} and not await store.settings_changes(south.team_id)

    await eventually(gone)
    assert await store.workspace_settings(north.team_id) != {} and await store.settings_changes(north.team_id)


# ---- the rules, and the builder ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ceiling", "expected"),
    [("", 30, None), (" 12 ", 30, 12), ("0", None, 0), ("1,000", None, 1000), ("30", 30, 30)],
)
def test_parse_cap_accepts(text, ceiling, expected):
    assert parse_cap(text, ceiling) == expected


@pytest.mark.parametrize(("text", "says"), [("31", "30"), ("-1", "below zero"), ("1.5", "whole"), ("x", "whole")])
def test_parse_cap_refuses(text, says):
    with pytest.raises(ValueError, match=says):
        parse_cap(text, 30)


def test_a_workspace_cannot_raise_a_cap_nor_turn_on_replies_the_operator_keeps_off():
    chosen = Chosen(user_daily_cap=50, workspace_monthly_cap=5, thread_replies=True, resolution="4K")
    assert effective(chosen, OPERATOR).user_daily_cap == 30  # a ceiling lowered after it was saved still holds
    assert effective(chosen, OPERATOR).workspace_monthly_cap == 5
    assert effective(chosen, OPERATOR).defaults == Options("1:1", "4K", "png")
    off = Ceilings(None, None, OPERATOR.defaults, thread_replies=False)
    assert effective(chosen, off).thread_replies is False
    assert effective(Chosen(thread_replies=False), OPERATOR).thread_replies is False
    assert effective(Chosen(), OPERATOR).thread_replies is True


def test_read_form_saves_nothing_in_part():
    chosen, errors = read_form({form.DAILY_CAP: "99", form.RATIO: "4:5"}, OPERATOR)
    assert chosen is None and set(errors) == {form.DAILY_CAP}
    chosen, errors = read_form(
        {form.RATIO: "4:5", form.FORMAT: form.OPERATORS, form.REPLIES: "off", form.CHANNELS: ["C1", "C1"]}, OPERATOR
    )
    assert errors == {} and chosen == Chosen(aspect_ratio="4:5", thread_replies=False, channels=("C1",))


def test_the_modal_shows_the_workspaces_values_and_the_operators():
    view = form.settings_modal(
        form.SettingsForm(
            chosen={"user_daily_cap": 12, "aspect_ratio": "4:5", "channels": ["C1"], "admins": ["U1"]},
            operator=Options("1:1", "2K", "png"),
            daily_ceiling=30,
            monthly_ceiling=None,
            replies_allowed=False,
            changes=[form.Change("U1", 0.0, "ratio: 1:1 → 4:5")],
        )
    )
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks[form.DAILY_CAP]["element"]["initial_value"] == "12"
    assert "30" in blocks[form.DAILY_CAP]["hint"]["text"]
    assert "initial_value" not in blocks[form.MONTHLY_CAP]["element"]
    assert blocks[form.RATIO]["element"]["initial_option"]["value"] == "4:5"
    assert blocks[form.RESOLUTION]["element"]["initial_option"]["value"] == form.OPERATORS
    assert form.REPLIES not in blocks  # the operator keeps replies off
    assert blocks[form.CHANNELS]["element"]["type"] == "multi_conversations_select"
    assert blocks[form.CHANNELS]["element"]["initial_conversations"] == ["C1"]
    # channels and group DMs can be listed; other people's DMs cannot hold Banana, and the DM with it always works
    assert blocks[form.CHANNELS]["element"]["filter"]["include"] == ["public", "private", "mpim"]
    assert blocks[form.ADMINS]["element"]["initial_users"] == ["U1"]
    assert "1970-01-01 00:00 UTC, <@U1>: ratio: 1:1 → 4:5" in json.dumps(view, ensure_ascii=False)


def test_a_note_names_every_channel():
    from bot.services.workspace_settings import channel_note

    assert channel_note(("C1", "C2")).startswith("Banana works in <#C1> and <#C2> in this workspace")

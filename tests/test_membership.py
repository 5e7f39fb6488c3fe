"""Files from conversations Banana is not in: files:read reaches only conversations the app is a member of
(https://api.slack.com/scopes/files:read). A public channel is joined before its files are read; a private channel,
someone else's DM or a group DM gets a plain answer saying what to do, before anything is spent.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clients.slack import Membership, SlackDelivery
from prompts.tasks import TaskState
from standins import slack as slack_standin
from standins.slack import BOT_TOKEN, LOGIN_PAGE, OTHER_USER_ID, TEAM_ID, SlackStandIn
from tests.conftest import USER_ID, Banana
from tests.test_remix import UPLOAD, image_bytes, problem_shown

PNG = image_bytes("red")
THEIR_DM = "D0THEIRS01"  # a DM between two people, neither of them Banana
GROUP_DM = "G0MPIM0001"
GROUP_DM_NAME = "mpdm-user--other--admin-1"  # how Slack names a group DM
OWN_DM = "D0DIRECT01"  # Banana's own DM with USER_ID, in the stand-in from the start
KIE_CREDITS = 10_000  # the kie stand-in's starting balance


def add_conversations(slack: SlackStandIn) -> None:
    slack.add_channel(THEIR_DM, "", member=False).user = OTHER_USER_ID
    slack.add_channel(GROUP_DM, GROUP_DM_NAME, private=True, member=False)


def share(slack: SlackStandIn, channel: str, *files: tuple[bytes, str], text: str = "look at this") -> dict:
    """A person's message in `channel` carrying image files, as Slack puts it in a shortcut payload."""
    added = [slack.add_file(data, name, "image/png") for data, name in files]
    message = slack.add_message(channel, text, user=USER_ID, files=[f.id for f in added])
    for file in added:
        file.channel, file.share_ts = channel, message.ts
    return {
        "type": "message",
        "user": USER_ID,
        "ts": message.ts,
        "text": message.text,
        "files": [slack.file_object(f.id) for f in added],
    }


async def remix(banana: Banana, message: dict, channel: str, name: str):
    """*Remix with Banana* on `message`, with the channel as Slack names it in the payload: its name for a channel,
    `privategroup` for a private one, `directmessage` for a DM, `mpdm-…` for a group DM."""
    response = await banana.interaction(
        {
            "type": "message_action",
            "callback_id": "remix_message",
            "user": {"id": USER_ID, "username": "someone", "team_id": TEAM_ID},
            "channel": {"id": channel, "name": name},
            "message": message,
            "message_ts": message["ts"],
            "action_ts": f"{time.time():.6f}",
            "response_url": banana.slack.response_url("actions"),
        }
    )
    assert response.status_code == 200
    return response


async def answer_to_the_remix(slack: SlackStandIn) -> str:
    await slack.wait_for(lambda: len(slack.responses) == 1)
    return str(slack.responses[0]["text"])


async def nothing_started(banana: Banana, kie) -> None:
    assert await banana.services.store.for_user(slack_standin.TEAM_ID, USER_ID, limit=10) == []
    assert kie.requests == [] and kie.credits == KIE_CREDITS
    assert banana.slack.views_opened == []
    assert banana.slack.calls_to("files.info") == [] and banana.slack.downloads == []


# ---------------------------------------------------------------------------------------------- through the app


async def test_remix_in_a_public_channel_banana_has_not_joined_joins_then_delivers(banana, kie, slack):
    assert not slack.channels["C0RANDOM01"].is_member
    message = share(slack, "C0RANDOM01", (PNG, "photo.png"))
    await remix(banana, message, "C0RANDOM01", "random")
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    assert slack.channels["C0RANDOM01"].is_member
    assert "photo.png" in json.dumps(slack.views_opened[0])

    await banana.submit(slack.views_opened[0], prompt="a retro poster")
    task = await banana.only_task()
    assert task.state is TaskState.DONE and task.channel_id == "C0RANDOM01"
    assert [u.form["file"]["data"] for u in kie.requests_to(UPLOAD)] == [PNG]
    assert any(r.files == [task.slack_file_id] for r in slack.thread("C0RANDOM01", message["ts"]))
    # Joined first, so not one files.info was refused and read again.
    methods = [c.method for c in slack.calls]
    assert methods.index("conversations.join") < methods.index("views.open") < methods.index("files.info")
    assert methods.count("files.info") == 1
    assert slack.responses == []


async def test_remix_in_a_private_channel_banana_is_not_in_says_how_to_invite_it(banana, kie, slack):
    message = share(slack, "G0PRIVATE1", (PNG, "photo.png"), (PNG, "logo.png"))
    await remix(banana, message, "G0PRIVATE1", "privategroup")
    said = await answer_to_the_remix(slack)
    assert "photo.png and logo.png" in said and "private channel I'm not in" in said
    assert "`/invite @Banana`" in said and "Nothing was started and nothing was charged" in said
    assert "deleted" not in said and "files:read" not in said
    assert slack.responses[0]["response_type"] == "ephemeral"
    await nothing_started(banana, kie)


@pytest.mark.parametrize(
    ("channel", "name", "kind"),
    [(THEIR_DM, "directmessage", "direct message between other people"), (GROUP_DM, GROUP_DM_NAME, "group DM")],
)
async def test_remix_in_someone_elses_dm_says_what_works_without_an_invite(banana, kie, slack, channel, name, kind):
    add_conversations(slack)
    message = share(slack, channel, (PNG, "holiday.png"))
    await remix(banana, message, channel, name)
    said = await answer_to_the_remix(slack)
    assert f"I can't read holiday.png: it is in a {kind}" in said
    assert "/invite" not in said
    assert "channel I'm in" in said and "*New image* form" in said and "`/banana` on its own" in said
    await nothing_started(banana, kie)


async def test_remix_in_banana_own_dm_works_end_to_end(banana, kie, slack):
    assert slack.messages_tab_enabled  # manifest.yml turns Banana's Messages tab on, so its DM can be used
    # Without words, so the message itself is no remix (tests/test_dm_prompts.py): Banana asks for a prompt instead.
    message = share(slack, OWN_DM, (PNG, "sketch.png"), text="")
    await remix(banana, message, OWN_DM, "directmessage")
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    await banana.submit(slack.views_opened[0], prompt="make it a postcard")
    task = await banana.only_task()
    assert task.state is TaskState.DONE and task.channel_id == OWN_DM
    assert [u.form["file"]["data"] for u in kie.requests_to(UPLOAD)] == [PNG]
    assert any(r.files == [task.slack_file_id] for r in slack.thread(OWN_DM, message["ts"]))
    assert slack.responses == []


async def test_banana_alone_in_its_own_dm_with_an_uploaded_image_works_end_to_end(banana, kie, slack):
    assert slack.messages_tab_enabled  # manifest.yml turns Banana's Messages tab on, so its DM can be used
    await banana.command("", channel=OWN_DM)
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    uploaded = slack.add_file(PNG, "brand.png", "image/png")  # through the form's file_input
    await banana.submit(slack.views_opened[0], prompt="a podcast cover", uploads=[slack.file_object(uploaded.id)])
    task = await banana.only_task()
    assert task.state is TaskState.DONE and task.channel_id == OWN_DM
    assert [u.form["file"]["data"] for u in kie.requests_to(UPLOAD)] == [PNG]
    assert any(m.files == [task.slack_file_id] for m in slack.thread(OWN_DM, task.message_ts))


async def test_task_joins_a_public_channel_when_the_shortcut_could_not(banana, kie, slack):
    slack.fail_next("conversations.join", "internal_error")  # the shortcut's join fails; the form opens anyway
    message = share(slack, "C0RANDOM01", (PNG, "photo.png"))
    await remix(banana, message, "C0RANDOM01", "random")
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    assert not slack.channels["C0RANDOM01"].is_member

    await banana.submit(slack.views_opened[0], prompt="a retro poster")
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    assert [u.form["file"]["data"] for u in kie.requests_to(UPLOAD)] == [PNG]
    methods = [c.method for c in slack.calls if c.method in ("files.info", "conversations.join")]
    assert methods == ["conversations.join", "files.info", "conversations.join", "files.info"]


async def test_a_slow_join_does_not_cost_the_shortcut_its_trigger(banana, kie, slack):
    # Rate limited: slack_sdk would wait 5 s before asking again, but the trigger id lives 3 s (the stand-in refuses
    # views.open after that), so the shortcut gives up on the join and the task joins instead.
    slack.rate_limit("conversations.join", retry_after=5)
    message = share(slack, "C0RANDOM01", (PNG, "photo.png"))
    await remix(banana, message, "C0RANDOM01", "random")
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    assert not slack.channels["C0RANDOM01"].is_member

    await banana.submit(slack.views_opened[0], prompt="a retro poster")
    task = await banana.only_task()
    assert task.state is TaskState.DONE and slack.channels["C0RANDOM01"].is_member


async def test_task_refuses_files_from_a_private_channel_banana_was_removed_from(banana, kie, slack):
    slack.channels["G0PRIVATE1"].is_member = True
    message = share(slack, "G0PRIVATE1", (PNG, "photo.png"))
    await remix(banana, message, "G0PRIVATE1", "privategroup")
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    slack.channels["G0PRIVATE1"].is_member = False  # removed while the form was open

    form = slack.views_opened[0]
    await banana.submit(form, prompt="a retro poster")
    shown = await problem_shown(slack, form)
    assert "I can't read photo.png" in shown and "/invite @Banana" in shown and "nothing was charged" in shown
    assert "deleted" not in shown and "files:read" not in shown
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and task.error_code == "not_in_conversation" and not task.credits
    assert task.message_ts is None and slack.calls_to("chat.postMessage") == []
    assert kie.requests == [] and kie.credits == KIE_CREDITS


async def test_files_of_a_conversation_banana_is_in_are_read_without_any_refusal(banana, kie, slack):
    # A deleted file is still "deleted, or I cannot see it": Banana is in the channel, so membership is not why.
    message = share(slack, "C0GENERAL1", (PNG, "gone.png"))
    await remix(banana, message, "C0GENERAL1", "general")
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    del slack.files[message["files"][0]["id"]]
    form = slack.views_opened[0]
    await banana.submit(form, prompt="a retro poster")
    shown = await problem_shown(slack, form)
    assert "gone.png: the file was deleted, or I cannot see it" in shown and "/invite" not in shown
    assert (await banana.only_task()).error_code == "input_rejected"


# ---------------------------------------------------------------------------------------------- the app's join


@pytest.fixture
async def delivery(slack) -> AsyncIterator[SlackDelivery]:
    async with aiohttp.ClientSession() as session:
        yield SlackDelivery(AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url, session=session), session)


async def test_join_tells_membership_from_slacks_answer(slack, delivery):
    add_conversations(slack)
    assert await delivery.join("C0GENERAL1") is Membership.MEMBER  # already_in_channel
    assert await delivery.join("C0RANDOM01") is Membership.JOINED
    assert await delivery.join("C0RANDOM01") is Membership.MEMBER
    assert await delivery.join(OWN_DM) is Membership.MEMBER  # method_not_supported_for_channel_type: it sees it
    for hidden in ("G0PRIVATE1", THEIR_DM, GROUP_DM):
        assert await delivery.join(hidden) is Membership.OUTSIDE  # channel_not_found
    slack.fail_next("conversations.join", "is_archived")
    assert await delivery.join("C0GENERAL1") is Membership.UNKNOWN


# ---------------------------------------------------------------------------------------------- the stand-in


@pytest.fixture
def client(slack: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)


async def error_of(call) -> str:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value.response["error"]


async def test_standin_hides_files_shared_only_where_the_bot_is_not(slack, client):
    add_conversations(slack)
    hidden = [
        slack.add_file(PNG, f"{c}.png", "image/png", channel=c)
        for c in ("C0RANDOM01", "G0PRIVATE1", THEIR_DM, GROUP_DM)
    ]
    sign_in = f"{slack.base_url}/?redir="
    async with httpx.AsyncClient() as http:
        bad_token = await http.get(hidden[0].url_private, headers={"Authorization": "Bearer xoxb-wrong"})
        for file in hidden:
            assert await error_of(client.files_info(file=file.id)) == "file_not_found"
            for url in (file.url_private, file.url_private_download):
                refused = await http.get(url, headers={"Authorization": f"Bearer {BOT_TOKEN}"})
                assert refused.status_code == 302 and refused.headers["location"].startswith(sign_in)
                assert refused.headers["x-slack-meta"] == bad_token.headers["x-slack-meta"]
                followed = await http.get(url, headers={"Authorization": f"Bearer {BOT_TOKEN}"}, follow_redirects=True)
                assert followed.text == LOGIN_PAGE
    listed = {f["id"] for f in (await client.files_list())["files"]}
    assert listed.isdisjoint(f.id for f in hidden)


async def test_standin_lets_the_bot_read_its_own_files_its_conversations_and_form_uploads(slack, client):
    in_channel = slack.add_file(PNG, "here.png", "image/png", channel="C0GENERAL1")
    in_own_dm = slack.add_file(PNG, "dm.png", "image/png", channel=OWN_DM)
    from_file_input = slack.add_file(PNG, "form.png", "image/png")  # uploaded through a modal's file_input
    own = (await client.files_upload_v2(content=PNG, filename="result.png", channel="C0GENERAL1"))["file"]
    slack.channels["C0GENERAL1"].is_member = False  # its own upload stays readable wherever it is
    readable = [own["id"], in_own_dm.id, from_file_input.id]
    async with httpx.AsyncClient() as http:
        for file_id in readable:
            info = (await client.files_info(file=file_id))["file"]
            downloaded = await http.get(info["url_private_download"], headers={"Authorization": f"Bearer {BOT_TOKEN}"})
            assert (downloaded.status_code, downloaded.content) == (200, PNG)
    assert await error_of(client.files_info(file=in_channel.id)) == "file_not_found"  # out of general now


async def test_standin_joining_a_public_channel_opens_its_files_and_only_public_channels_join(slack, client):
    add_conversations(slack)
    file = slack.add_file(PNG, "photo.png", "image/png", channel="C0RANDOM01")
    assert await error_of(client.files_info(file=file.id)) == "file_not_found"
    await client.conversations_join(channel="C0RANDOM01")
    assert (await client.files_info(file=file.id))["file"]["id"] == file.id
    async with httpx.AsyncClient() as http:
        ok = await http.get(file.url_private, headers={"Authorization": f"Bearer {BOT_TOKEN}"})
    assert (ok.status_code, ok.content) == (200, PNG)

    assert await error_of(client.conversations_join(channel=THEIR_DM)) == "channel_not_found"
    assert await error_of(client.conversations_join(channel=GROUP_DM)) == "channel_not_found"
    assert await error_of(client.conversations_join(channel=OWN_DM)) == "method_not_supported_for_channel_type"
    slack.channels[GROUP_DM].is_member = True
    assert await error_of(client.conversations_join(channel=GROUP_DM)) == "method_not_supported_for_channel_type"
    assert await error_of(client.conversations_info(channel=GROUP_DM)) == "missing_scope"
    slack.scopes = (*slack.scopes, "mpim:read")
    group = (await client.conversations_info(channel=GROUP_DM))["channel"]
    assert (group["is_mpim"], group["is_private"], group["is_member"], group["is_channel"]) == (True, True, True, False)

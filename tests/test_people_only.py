"""Only people start work: mentions and replies from other bots, integrations and workflows, edited messages and
Slack's own notices start nothing, answer nothing and store nothing; a person's mention still makes one edit."""

from __future__ import annotations

from typing import Any

import pytest
from slack_bolt.context.async_context import AsyncBoltContext

from bot.services.people import from_a_person
from handlers.payloads import people_only
from prompts.tasks import Task
from standins import slack as slack_standin
from tests.conftest import BOT_MENTION, CHANNEL_ID, USER_ID

CREATE = "/api/v1/jobs/createTask"
BOT = slack_standin.BOT_USER_ID
TEAM = slack_standin.TEAM_ID
THREAD_REPLIES = ("message.channels", "channels:history")

# ---------------------------------------------------------------------------------------------------- the rule

PERSON = {"type": "message", "user": USER_ID, "text": "make it darker", "ts": "1.000200", "client_msg_id": "c1"}
OTHER_BOT = {
    "user": "U0APP00001",
    "bot_id": "B0APP00001",
    "app_id": "A0APP00001",
    "bot_profile": {"id": "B0APP00001", "app_id": "A0APP00001", "name": "helper"},
}


@pytest.mark.parametrize(
    "event",
    [
        PERSON,
        {**PERSON, "type": "app_mention", "text": f"{BOT_MENTION} make it darker"},
        {**PERSON, "subtype": "file_share", "files": [{"id": "F1"}]},
        {**PERSON, "subtype": "thread_broadcast", "thread_ts": "1.000100"},
        {**PERSON, "subtype": "me_message"},
    ],
    ids=["plain", "app_mention", "file_share", "thread_broadcast", "me_message"],
)
def test_a_persons_own_message_is_from_a_person(event: dict[str, Any]) -> None:
    assert from_a_person(event, BOT)


@pytest.mark.parametrize(
    "event",
    [
        {**PERSON, "user": BOT, "bot_id": slack_standin.BOT_ID},
        {**PERSON, **OTHER_BOT},
        {**PERSON, "bot_profile": OTHER_BOT["bot_profile"]},
        {**PERSON, "app_id": "A0APP00001"},  # an app posting with a person's user token
        {"type": "message", "subtype": "bot_message", "bot_id": "B0INT00001", "username": "Weekly banner", "ts": "2"},
        {**PERSON, "type": "app_mention", "edited": {"user": USER_ID, "ts": "1.000300"}},
        {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "message": {**PERSON, "edited": {"user": USER_ID, "ts": "1.000300"}},
            "ts": "1.000300",
        },
        {"type": "message", "subtype": "message_deleted", "hidden": True, "deleted_ts": "1.000200", "ts": "1.3"},
        # message_replied comes without its subtype over the Events API (its page's "Bug alert").
        {"type": "message", "hidden": True, "message": PERSON, "ts": "1.000400"},
        {**PERSON, "subtype": "channel_join", "text": f"<@{USER_ID}> has joined the channel"},
        {**PERSON, "user": "USLACKBOT", "text": f"Reminder: {BOT_MENTION} make a banner"},
        {"type": "message", "text": "no author", "ts": "3"},
    ],
    ids=[
        "banana itself",
        "another app's bot",
        "bot_profile alone",
        "app_id alone",
        "integration or workflow",
        "edited mention",
        "message_changed",
        "message_deleted",
        "message_replied",
        "channel_join",
        "slackbot",
        "no user",
    ],
)
def test_anything_else_is_not(event: dict[str, Any]) -> None:
    assert not from_a_person(event, BOT)


async def test_the_middleware_passes_people_on_and_answers_the_rest_itself() -> None:
    context = AsyncBoltContext(bot_user_id=BOT)
    passed: list[bool] = []

    async def next_() -> None:
        passed.append(True)

    assert await people_only(PERSON, context, next_) is None and passed == [True]
    answer = await people_only({**PERSON, **OTHER_BOT}, context, next_)
    assert answer is not None and answer.status == 200 and passed == [True]


# ---------------------------------------------------------------------------------------------------- the stand-in


async def test_other_apps_posts_and_edited_mentions_arrive_as_slack_sends_them(banana, slack) -> None:
    helper = slack.add_app_bot("helper")
    flow = slack.add_app_bot("Weekly banner", integration=True)
    by_bot = await slack.post_as_bot(helper, CHANNEL_ID, f"{BOT_MENTION} hello")
    by_flow = await slack.post_as_bot(flow, CHANNEL_ID, f"{BOT_MENTION} hello")
    said = await banana.say("a plain message")
    await banana.edit(said, f"{BOT_MENTION} now with a mention")

    bot_event, flow_event, edited = slack.events("app_mention")
    # A current app's bot token: its bot user, bot_id, app_id, bot_profile; no subtype, no client_msg_id.
    assert (bot_event["user"], bot_event["bot_id"], bot_event["app_id"], bot_event["ts"]) == (
        helper.user_id,
        helper.bot_id,
        helper.app_id,
        by_bot.ts,
    )
    assert bot_event["bot_profile"]["app_id"] == helper.app_id and not {"subtype", "client_msg_id"} & set(bot_event)
    # An integration or workflow: bot_message, no user.
    assert (flow_event["subtype"], flow_event["bot_id"], flow_event["username"], flow_event["ts"]) == (
        "bot_message",
        flow.bot_id,
        "Weekly banner",
        by_flow.ts,
    )
    assert "user" not in flow_event
    # The edit: app_mention again for the same message, with `edited` and the edit's event_ts.
    assert (edited["user"], edited["ts"], edited["text"]) == (USER_ID, said.ts, f"{BOT_MENTION} now with a mention")
    assert edited["edited"] == {"user": USER_ID, "ts": edited["event_ts"]}
    assert float(edited["event_ts"]) > float(said.ts)
    assert len({body["event_id"] for body in slack.event_callbacks}) == len(slack.event_callbacks)


# ---------------------------------------------------------------------------------------------------- the app


async def thread_tasks(banana, thread_ts: str) -> list[Task]:
    """Every task asked in the thread, whoever asked it."""
    return await banana.services.store.in_thread(TEAM, CHANNEL_ID, thread_ts)


async def only_the_persons_edit(banana, kie, slack, first: Task, prompt: str) -> None:
    """Waits for the person's edit (the later event the ignored ones came before), then checks it is the only work
    done and the only thing said since `first`."""
    _, edit = await banana.settle(2)
    await banana.services.runner.wait_idle()
    assert (edit.prompt, edit.user_id, edit.parent_task_id) == (prompt, USER_ID, first.id)
    assert [t.id for t in await thread_tasks(banana, first.thread_ts)] == [first.id, edit.id]
    assert len(kie.requests_to(CREATE)) == 2
    assert slack.ephemerals == []  # nobody was answered, least of all a bot
    said = {m.ts for m in slack.thread(CHANNEL_ID, first.thread_ts) if m.user == BOT and not m.files}
    assert said == {edit.message_ts}  # Banana's only new words in the thread: the person's edit's card


async def test_bots_workflows_and_edits_start_nothing_and_a_person_still_edits(banana, kie, slack) -> None:
    await banana.command("a lighthouse at dawn")
    (first,) = await banana.settle(1)
    thread = first.thread_ts
    helper = slack.add_app_bot("helper")
    flow = slack.add_app_bot("Weekly banner", integration=True)

    # (a) Another app's bot asks for an edit in the thread, and outside it (where a person would get help).
    await slack.post_as_bot(helper, CHANNEL_ID, f"{BOT_MENTION} make the sky stormy", thread_ts=thread)
    await slack.post_as_bot(helper, CHANNEL_ID, f"{BOT_MENTION} a cat in a hat")
    # (b) A person edits an earlier reply so that it mentions Banana.
    reply = await banana.say("lovely", thread_ts=thread)
    await banana.edit(reply, f"{BOT_MENTION} lovely, now in black and white")
    # (c) A workflow posts in the thread.
    await slack.post_as_bot(flow, CHANNEL_ID, f"{BOT_MENTION} weekly banner, add the date", thread_ts=thread)
    assert len(slack.events("app_mention")) == 4  # all four reached the app

    # (e) A person's own mention: exactly one edit, and the events before it did nothing.
    await banana.say(f"{BOT_MENTION} add a seagull", thread_ts=thread)
    await only_the_persons_edit(banana, kie, slack, first, "add a seagull")


async def test_with_thread_replies_on_only_a_persons_reply_is_an_edit(start_banana, kie, slack) -> None:
    slack.scopes = (*slack.scopes, "channels:history")
    slack.bot_events = (*slack.bot_events, "message.channels")
    banana = await start_banana(THREAD_REPLIES="true")
    await banana.command("a lighthouse at dawn")
    (first,) = await banana.settle(1)
    thread = first.thread_ts

    # (d) Plain replies from another app's bot and from a workflow.
    await slack.post_as_bot(slack.add_app_bot("helper"), CHANNEL_ID, "make it darker", thread_ts=thread)
    await slack.post_as_bot(slack.add_app_bot("Standup", integration=True), CHANNEL_ID, "make it red", thread_ts=thread)
    assert [e.get("bot_id") is not None for e in slack.events("message")[-2:]] == [True, True]

    await banana.say("make it warmer", thread_ts=thread)
    await only_the_persons_edit(banana, kie, slack, first, "make it warmer")

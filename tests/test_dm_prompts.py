"""The DM with Banana takes prompts: a person's message there is a `/banana` prompt with its options, its images make a
remix, a reply in a result's thread edits it, and anything else gets a short help, once. Slack sends these as
message.im (https://docs.slack.dev/reference/events/message.im), which manifest.yml subscribes to with im:history."""

from __future__ import annotations

import json

import pytest

from bot.blocks import dm
from bot.blocks.text import FALLBACK_CHARS, SECTION_CHARS
from bot.services.asks import Asked, read_words, says_something
from prompts.options import PRICES, Options
from prompts.tasks import TaskState
from standins import slack as slack_standin
from standins.slack import SlackStandIn
from tests.conftest import CHANNEL_ID, USER_ID
from tests.test_remix import image_bytes
from tests.test_thread_edits import file_bytes, sent_first

CREATE = "/api/v1/jobs/createTask"
UPLOAD = "/api/file-stream-upload"
TEAM = slack_standin.TEAM_ID
SHORT_HELP = "Tell me what to draw"


def dm_of(slack: SlackStandIn, user: str = USER_ID) -> str:
    return slack.open_im(user).id


def answers(slack: SlackStandIn, containing: str = "") -> list[slack_standin.Message]:
    """What Banana wrote in the person's DM that is neither a card nor a result: its answers, plain sections."""
    dm = dm_of(slack)
    return [
        m
        for m in slack.messages
        if m.channel == dm and m.user == slack.bot_user_id and _plain(m) and containing in _shown(m)
    ]


def _plain(message: slack_standin.Message) -> bool:
    return not message.files and all(b["type"] == "section" and "accessory" not in b for b in message.blocks)


def _shown(message: slack_standin.Message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


async def answered(slack: SlackStandIn, containing: str, count: int = 1) -> list[slack_standin.Message]:
    await slack.wait_for(lambda: len(answers(slack, containing)) >= count)
    return answers(slack, containing)


async def test_a_dm_prompt_with_options_makes_its_images_in_the_dm(banana, kie, slack):
    await slack.dm_as_user("a lighthouse at dawn --ar 16:9 --n 2 --no text, logos")
    first, second = await banana.settle(2)
    dm = dm_of(slack)
    for task in (first, second):
        assert task.state is TaskState.DONE and task.channel_id == dm
        assert (task.prompt, task.aspect_ratio, task.avoid, task.source) == (
            "a lighthouse at dawn",
            "16:9",
            "text, logos",
            "dm",
        )
        assert task.set_id == first.id and task.fresh
        assert not task.public_channel  # a DM is private
    creates = kie.requests_to(CREATE)
    assert len(creates) == 2 and all(c.json["input"]["aspect_ratio"] == "16:9" for c in creates)
    assert all("Do not include: text, logos." in c.json["input"]["prompt"] for c in creates)
    # The card is a message of the DM, and the images arrive in its thread.
    card = slack.message(dm, first.message_ts)
    assert card.thread_ts is None and first.thread_ts == first.message_ts
    delivered = [m for m in slack.thread(dm, first.thread_ts) if m.files]
    assert {f for m in delivered for f in m.files} == {first.slack_file_id, second.slack_file_id}


async def test_a_dm_with_an_image_makes_a_remix_of_its_bytes_and_names_a_remote_file_it_leaves_out(banana, kie, slack):
    photo = slack.add_file(image_bytes("red"), "photo.png", "image/png")
    remote = slack.add_remote_file("https://elsewhere.example/sketch.png", "sketch.png", filetype="png")
    await slack.dm_as_user("turn it into a watercolour poster --ar 4:5", files=[photo, remote])
    task = await banana.only_task()
    assert task.state is TaskState.DONE and task.channel_id == dm_of(slack)
    assert [f.id for f in task.inputs] == [photo.id] and task.aspect_ratio == "4:5"
    (upload,) = kie.requests_to(UPLOAD)
    assert upload.form["file"]["data"] == photo.data  # the person's image, byte for byte
    (create,) = kie.requests_to(CREATE)
    assert [kie.uploads[url] for url in create.json["input"]["image_input"]] == [photo.data]
    (note,) = await answered(slack, "sketch.png")
    assert "I can't read sketch.png" in _shown(note)


async def test_images_without_words_are_asked_for_a_prompt(banana, kie, slack):
    photo = slack.add_file(image_bytes("blue"), "photo.png", "image/png")
    await slack.dm_as_user("", files=[photo])
    await answered(slack, "What should I make of this image?")
    assert kie.requests_to(CREATE) == [] and await banana.services.store.for_user(TEAM, USER_ID) == []


async def test_a_reply_in_the_dm_thread_of_a_result_edits_it(banana, kie, slack):
    await slack.dm_as_user("a skyline at night --ar 3:2")
    first = await banana.only_task()
    await slack.dm_as_user("make the sky stormy", thread_ts=first.thread_ts)
    _, edit = await banana.settle(2)
    assert (edit.parent_task_id, edit.relation, edit.prompt) == (first.id, "edit", "make the sky stormy")
    assert edit.aspect_ratio == "3:2" and edit.thread_ts == first.thread_ts and edit.channel_id == first.channel_id
    assert sent_first(kie, slack, 1) == file_bytes(slack, first.slack_file_id)
    assert any(m.files == [edit.slack_file_id] for m in slack.thread(first.channel_id, first.thread_ts))


async def test_what_is_not_a_prompt_gets_the_short_help_once(banana, kie, slack):
    report = slack.add_file(b"%PDF-1.4 quarterly numbers", "report.pdf", "application/pdf")
    await slack.dm_as_user("")
    await slack.dm_as_user(":tada::+1::skin-tone-2:")
    await slack.dm_as_user("hi!")
    await slack.dm_as_user("", files=[report])
    helped = await answered(slack, SHORT_HELP, count=4)
    assert any("report.pdf is not an image" in _shown(m) for m in helped)
    # Banana's own answers come back as message.im too: they start nothing and get no answer. Once every event so far
    # is delivered, one more message and its answer show that nothing else was said.
    await slack.events_delivered()
    await slack.dm_as_user("help")
    await answered(slack, "no `/banana` is needed")
    assert len(answers(slack)) == 5 and len(answers(slack, SHORT_HELP)) == 4
    assert kie.requests_to(CREATE) == [] and await banana.services.store.for_user(TEAM, USER_ID) == []


async def test_another_bots_dm_and_an_edited_dm_start_nothing(banana, kie, slack):
    helper = slack.add_app_bot("helper")
    await slack.post_as_bot(helper, dm_of(slack, helper.user_id), "a lighthouse at dawn")
    said = await slack.dm_as_user("a castle")
    await slack.edit_as_user(said.channel, said.ts, "a castle on a hill")
    await slack.dm_as_user("help")
    await answered(slack, "no `/banana` is needed")
    (task,) = await banana.settle(1)
    await banana.services.runner.wait_idle()
    assert task.prompt == "a castle" and len(kie.requests_to(CREATE)) == 1
    assert len(answers(slack)) == 1  # the help: nothing answered the bot or the edit


async def test_help_usage_prompts_and_studio_words_answer_in_the_dm(banana, kie, slack):
    await slack.dm_as_user("help")
    (shown,) = await answered(slack, "no `/banana` is needed")
    assert "--ar" in _shown(shown) and shown.thread_ts is None
    await slack.dm_as_user("usage")
    await answered(slack, "Banana usage")
    await slack.dm_as_user("prompts")
    await answered(slack, "No saved prompts yet")
    await slack.dm_as_user("infographic about our podcast")
    await answered(slack, "/banana infographic")
    await slack.dm_as_user("a lighthouse --ar 7:3")
    await answered(slack, "`--ar` got `7:3`")
    assert kie.requests_to(CREATE) == [] and slack.ephemerals == []


async def test_a_channel_message_is_not_a_prompt(banana, kie, slack):
    slack.scopes = (*slack.scopes, "channels:history")
    slack.bot_events = (*slack.bot_events, "message.channels")  # Slack sends the channel's messages too
    await banana.say("a lighthouse at dawn", channel=CHANNEL_ID)
    await slack.dm_as_user("a castle")
    (task,) = await banana.settle(1)
    await banana.services.runner.wait_idle()
    assert task.prompt == "a castle" and len(kie.requests_to(CREATE)) == 1
    assert not [m for m in slack.messages if m.channel == CHANNEL_ID and m.user == slack.bot_user_id]


# ---------------------------------------------------------------------------------------------------- the pure parts


@pytest.mark.parametrize(
    ("text", "asked", "rest"),
    [
        ("help", Asked.HELP, ""),
        ("  ?  ", Asked.HELP, ""),
        ("USAGE", Asked.USAGE, ""),
        ("prompts podcast", Asked.PROMPTS, "podcast"),
        ("quote card of a cat", Asked.STUDIO, "card of a cat"),
        ("quote card of a cat --no text", Asked.PROMPT, "quote card of a cat --no text"),
        ("", Asked.NOTHING, ""),
        ("help me draw a cat", Asked.PROMPT, "help me draw a cat"),
    ],
)
def test_the_command_and_the_dm_read_words_alike(text: str, asked: Asked, rest: str) -> None:
    words = read_words(text)
    assert (words.asked, words.rest) == (asked, rest)


@pytest.mark.parametrize("text", ["", "   ", ":tada:", ":+1::skin-tone-2: :banana:", "👍🎉", "hi!", "Thanks :)", "ok"])
def test_emoji_punctuation_and_small_talk_say_nothing(text: str) -> None:
    assert not says_something(text)


@pytest.mark.parametrize("text", ["a cat", "hi-res cat", "2", "thanks card for our guests", ":tada: confetti"])
def test_words_say_something(text: str) -> None:
    assert says_something(text)


def test_the_full_help_fits_a_messages_sections() -> None:
    shown = dm.message(dm.full_help(Options("1:1", "2K", "png"), PRICES))
    assert 1 < len(shown["blocks"]) <= dm.MAX_BLOCKS and len(shown["text"]) <= FALLBACK_CHARS
    assert all(len(b["text"]["text"]) <= SECTION_CHARS for b in shown["blocks"])

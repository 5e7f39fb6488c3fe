"""Keep going in the thread: "@Banana make the sky stormy" edits the newest image there, `#N` picks another, and
every edit sends kie the image being edited, as its own bytes, first."""

from __future__ import annotations

import json

from prompts.tasks import Task, TaskState
from standins import slack as slack_standin
from standins.kie import Outcome
from tests.conftest import CHANNEL_ID, USER_ID
from tests.test_remix import image_bytes, opened_form, post_with_files

CREATE = "/api/v1/jobs/createTask"
BOT = slack_standin.BOT_USER_ID


async def mention(banana, text: str, *, thread_ts: str | None, channel: str = CHANNEL_ID, user: str = USER_ID):
    """A person writes `@Banana <text>` (in a thread, or not); Slack sends the app_mention event."""
    return await banana.say(f"<@{BOT}> {text}", thread_ts=thread_ts, channel=channel, user=user)


async def tasks_of(banana, count: int) -> list[Task]:
    return await banana.settle(count)


def sent_first(kie, slack, create_index: int) -> bytes:
    """The bytes of the first image_input of the n-th create, as kie received them at its upload API."""
    create = kie.requests_to(CREATE)[create_index]
    return kie.uploads[create.json["input"]["image_input"][0]]


def file_bytes(slack, file_id: str) -> bytes:
    return slack.files[file_id].data


async def test_an_edit_chain_sends_each_parent_image_first_and_stays_in_the_thread(banana, kie, slack):
    await banana.command("a lighthouse at dawn --ar 16:9 --no text")
    (first,) = await tasks_of(banana, 1)
    thread = first.thread_ts
    assert thread == first.message_ts

    await mention(banana, "make the sky stormy", thread_ts=thread)
    _, second = await tasks_of(banana, 2)
    assert second.state is TaskState.DONE
    assert (second.parent_task_id, second.relation) == (first.id, "edit")
    assert second.prompt == "make the sky stormy"
    assert second.options == first.options and second.avoid == "text"  # the parent's options and --no, unchanged
    assert sent_first(kie, slack, 1) == file_bytes(slack, first.slack_file_id)  # the delivered image, byte for byte
    assert slack.base_url not in json.dumps(kie.requests_to(CREATE)[1].json)  # never a Slack link

    await mention(banana, "now for Stories --ar 9:16", thread_ts=thread)
    *_, third = await tasks_of(banana, 3)
    assert (third.parent_task_id, third.relation, third.aspect_ratio) == (second.id, "edit", "9:16")
    assert third.chain == (("edit", second.id), ("edit", first.id))
    assert sent_first(kie, slack, 2) == file_bytes(slack, second.slack_file_id)
    assert len(kie.requests_to(CREATE)[2].json["input"]["image_input"]) == 1  # not the older images of the chain

    # Cards and results are all in the first card's thread; the caption and card say what each came from.
    replies = slack.thread(CHANNEL_ID, thread)
    for task in (second, third):
        assert any(r.ts == task.message_ts for r in replies)
        assert any(r.files == [task.slack_file_id] for r in replies)
    caption = next(r for r in replies if r.files == [third.slack_file_id]).text
    assert f"edit of #{second.id}" in caption
    card = json.dumps(slack.message(CHANNEL_ID, third.message_ts).blocks, ensure_ascii=False)
    assert f"edit of #{second.id} ← edit of #{first.id}" in card


async def test_hash_number_picks_an_earlier_image_of_the_thread(banana, kie, slack):
    await banana.command("a quote card, bold type")
    (first,) = await tasks_of(banana, 1)
    await mention(banana, "warmer colours", thread_ts=first.thread_ts)
    await tasks_of(banana, 2)
    await mention(banana, f"#{first.id} in black and white", thread_ts=first.thread_ts)
    *_, third = await tasks_of(banana, 3)
    assert third.parent_task_id == first.id and third.prompt == "in black and white"
    assert sent_first(kie, slack, 2) == file_bytes(slack, first.slack_file_id)


async def test_the_number_an_image_shows_is_the_one_an_edit_names(banana, kie, slack):
    """A result's caption and card show its number; `@Banana #N …` with that number edits that very image."""
    await banana.command("a quote card, bold type")
    (first,) = await tasks_of(banana, 1)
    await mention(banana, "warmer colours", thread_ts=first.thread_ts)
    _, second = await tasks_of(banana, 2)
    caption = next(r for r in slack.thread(CHANNEL_ID, first.thread_ts) if r.files == [first.slack_file_id]).text
    number = caption.split("here is your image #", 1)[1].split(" ", 1)[0]
    assert number == str(first.id) != str(second.id)
    card = json.dumps(slack.message(CHANNEL_ID, first.message_ts).blocks, ensure_ascii=False)
    assert f'"#{number} · {first.options.summary()} · ' in card  # the card's details open with it
    await mention(banana, f"#{number} in black and white", thread_ts=first.thread_ts)
    *_, third = await tasks_of(banana, 3)
    assert (third.parent_task_id, third.relation) == (first.id, "edit")
    assert sent_first(kie, slack, 2) == file_bytes(slack, first.slack_file_id)


async def test_an_edit_of_a_remix_sends_the_original_inputs_after_the_image(banana, kie, slack):
    pictures = [image_bytes("red"), image_bytes("blue")]
    message, _ = post_with_files(slack, *[(p, f"logo{i}.png", "image/png") for i, p in enumerate(pictures)])
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="combine into a banner")
    (remix,) = await tasks_of(banana, 1)
    await mention(banana, "make the banner blue", thread_ts=remix.thread_ts)
    _, edit = await tasks_of(banana, 2)
    image_input = kie.requests_to(CREATE)[1].json["input"]["image_input"]
    assert [kie.uploads[url] for url in image_input] == [file_bytes(slack, remix.slack_file_id), *pictures]
    # An edit of that edit sends the newest image and still the remix's originals, not the image it replaced.
    await mention(banana, "and a little darker", thread_ts=remix.thread_ts)
    *_, again = await tasks_of(banana, 3)
    image_input = kie.requests_to(CREATE)[2].json["input"]["image_input"]
    assert [kie.uploads[url] for url in image_input] == [file_bytes(slack, edit.slack_file_id), *pictures]
    assert again.chain[:2] == (("edit", edit.id), ("edit", remix.id))


async def test_an_edit_while_its_parent_is_running_waits_for_it(banana, kie, slack):
    kie.plan(Outcome(kind="never"))
    await banana.command("a podcast cover")
    await slack.wait_for(lambda: len(kie.requests_to(CREATE)) == 1)
    (running,) = await banana.services.store.for_user(slack_standin.TEAM_ID, USER_ID)
    assert running.thread_ts and not running.state.finished  # the card is posted before the create
    await mention(banana, "add a microphone", thread_ts=running.thread_ts)
    # The edit posts its card, saying what it waits for, and creates nothing at kie yet.
    await slack.wait_for(lambda: any("Waiting for #" in json.dumps(m.blocks) for m in slack.messages))
    assert len(kie.requests_to(CREATE)) == 1
    kie.finish_now(next(iter(kie.tasks)))
    first, edit = await tasks_of(banana, 2)
    assert edit.state is TaskState.DONE and edit.parent_task_id == first.id
    assert sent_first(kie, slack, 1) == file_bytes(slack, first.slack_file_id)


async def test_an_edit_of_a_failed_image_says_what_to_edit_instead(banana, kie, slack):
    await banana.command("a skyline")
    (good,) = await tasks_of(banana, 1)
    kie.plan(Outcome(kind="fail", fail_code="400", fail_msg="content policy"))
    await mention(banana, "add fireworks", thread_ts=good.thread_ts)
    _, failed = await tasks_of(banana, 2)
    assert failed.state is TaskState.FAILED
    creates = len(kie.requests_to(CREATE))
    await mention(banana, f"#{failed.id} smaller fireworks", thread_ts=good.thread_ts)
    await slack.wait_for(lambda: any(f"#{failed.id} failed" in e["text"] for e in slack.ephemerals))
    note = next(e for e in slack.ephemerals if f"#{failed.id} failed" in e["text"])
    assert f"`#{good.id}`" in note["text"] and note["user"] == USER_ID
    assert (
        len(kie.requests_to(CREATE)) == creates
        and len(await banana.services.store.for_user(slack_standin.TEAM_ID, USER_ID)) == 2
    )


async def test_an_edit_of_a_deleted_image_says_so(banana, kie, slack):
    await banana.command("a skyline")
    (first,) = await tasks_of(banana, 1)
    await mention(banana, "add a moon", thread_ts=first.thread_ts)
    _, second = await tasks_of(banana, 2)
    await banana.services.tasks.delete(second, USER_ID)
    await mention(banana, f"#{second.id} a bigger moon", thread_ts=first.thread_ts)
    await slack.wait_for(lambda: any("was deleted" in e["text"] for e in slack.ephemerals))
    assert len(kie.requests_to(CREATE)) == 2


async def test_a_mention_outside_a_banana_thread_gets_help_privately_and_creates_nothing(banana, kie, slack):
    other = slack.add_message(CHANNEL_ID, "our launch plan", user=USER_ID)
    await mention(banana, "make this an infographic", thread_ts=other.ts)
    await mention(banana, "a cat in a hat", thread_ts=None)
    await slack.wait_for(lambda: len(slack.ephemerals) == 2)
    assert all("thread of one of my images" in e["text"] for e in slack.ephemerals)
    assert sorted(str(e.get("thread_ts")) for e in slack.ephemerals) == sorted([other.ts, "None"])
    assert kie.requests_to(CREATE) == [] and await banana.services.store.for_user(slack_standin.TEAM_ID, USER_ID) == []


async def test_an_empty_mention_in_a_result_thread_gets_help(banana, kie, slack):
    await banana.command("a skyline")
    (first,) = await tasks_of(banana, 1)
    await mention(banana, "", thread_ts=first.thread_ts)
    await slack.wait_for(lambda: any("Tell me what to change" in e["text"] for e in slack.ephemerals))
    assert len(kie.requests_to(CREATE)) == 1


async def test_bad_options_in_a_mention_say_what_is_wrong(banana, kie, slack):
    await banana.command("a skyline")
    (first,) = await tasks_of(banana, 1)
    await mention(banana, "darker --ar 7:3", thread_ts=first.thread_ts)
    await slack.wait_for(lambda: any("--ar" in e["text"] for e in slack.ephemerals))
    assert len(kie.requests_to(CREATE)) == 1


async def test_an_edit_is_held_to_the_caps(start_banana, kie, slack):
    banana = await start_banana(USER_DAILY_CREDIT_CAP="30", PRICE_2K="18")
    await banana.command("a skyline")
    (first,) = await tasks_of(banana, 1)
    await mention(banana, "add a moon", thread_ts=first.thread_ts)
    await slack.wait_for(lambda: any("daily limit" in e["text"] for e in slack.ephemerals))
    assert len(kie.requests_to(CREATE)) == 1


async def test_plain_replies_are_ignored_unless_turned_on(start_banana, kie, slack):
    slack.scopes = (*slack.scopes, "channels:history")
    slack.bot_events = (*slack.bot_events, "message.channels")  # Slack sends them; THREAD_REPLIES is off
    banana = await start_banana()
    await banana.command("a skyline")
    (first,) = await tasks_of(banana, 1)
    await banana.say("love it, but make it darker", thread_ts=first.thread_ts)
    # A mention after it is acted on; by the time its edit is done, the reply before it has long been ignored.
    await mention(banana, "make it warmer", thread_ts=first.thread_ts)
    tasks = await tasks_of(banana, 2)
    await banana.services.runner.wait_idle()
    assert [t.prompt for t in await banana.services.store.for_user(slack_standin.TEAM_ID, USER_ID)] == [
        "make it warmer",
        "a skyline",
    ]
    assert len(kie.requests_to(CREATE)) == 2 and tasks[1].source == "mention"


async def test_with_thread_replies_on_a_reply_in_a_banana_thread_is_an_edit(start_banana, kie, slack):
    slack.scopes = (*slack.scopes, "channels:history")
    slack.bot_events = (*slack.bot_events, "message.channels")
    banana = await start_banana(THREAD_REPLIES="true")
    await banana.command("a skyline")
    (first,) = await tasks_of(banana, 1)
    reply = await banana.say("make it darker", thread_ts=first.thread_ts)
    _, edit = await tasks_of(banana, 2)
    assert (edit.parent_task_id, edit.relation, edit.prompt) == (first.id, "edit", "make it darker")
    assert edit.source == "reply"
    # Editing that reply afterwards (Slack's message_changed) starts nothing.
    await banana.edit(reply, "make it much darker")
    # A mention arrives twice (app_mention and message) and is one edit. A reply in someone else's thread and a
    # message in the channel start nothing, and neither do Banana's own posts, which Slack sends too.
    other = slack.add_message(CHANNEL_ID, "standup notes", user=USER_ID)
    await banana.say("make it darker", thread_ts=other.ts)
    await banana.say("make it darker")
    await mention(banana, "and warmer", thread_ts=first.thread_ts)
    await tasks_of(banana, 3)
    await banana.services.runner.wait_idle()
    prompts = [t.prompt for t in await banana.services.store.for_user(slack_standin.TEAM_ID, USER_ID)]
    assert prompts == ["and warmer", "make it darker", "a skyline"]
    assert len(kie.requests_to(CREATE)) == 3


async def test_a_large_result_goes_back_to_kie_as_it_was_delivered(banana, kie, slack):
    kie.result_long_side = 4800  # over MAX_INPUT_SIDE, as kie's 4K results can be: not scaled, since kie made it
    await banana.command("a wide banner --ar 16:9 --res 4K")
    (first,) = await tasks_of(banana, 1)
    kie.result_long_side = 64
    await mention(banana, "brighter", thread_ts=first.thread_ts)
    _, edit = await tasks_of(banana, 2)
    assert edit.state is TaskState.DONE
    assert sent_first(kie, slack, 1) == file_bytes(slack, first.slack_file_id)

"""An identical request reuses the earlier image at no cost; `--fresh` and Regenerate make a new one."""

from __future__ import annotations

import json

from bot.blocks import cards
from prompts.tasks import TaskState
from tests.conftest import CHANNEL_ID
from tests.test_remix import image_bytes, opened_form, post_with_files

CREATE = "/api/v1/jobs/createTask"


async def test_identical_request_reuses_the_earlier_image_for_free(banana, kie, slack):
    await banana.command("a lighthouse --ar 16:9")
    first = await banana.only_task()
    await banana.command("a lighthouse   --ar 16:9")
    _, second = await banana.settle(2)
    assert len(kie.requests_to(CREATE)) == 1
    assert second.state is TaskState.DONE and second.credits == 0 and second.reused_from == first.id
    assert second.slack_file_id and second.slack_file_id != first.slack_file_id
    assert slack.files[second.slack_file_id].data == slack.files[first.slack_file_id].data
    (reply,) = slack.thread(CHANNEL_ID, second.thread_ts)
    assert f"reused from #{first.id} at no cost" in reply.text
    assert "0 credits" in json.dumps(slack.message(CHANNEL_ID, second.message_ts).blocks)


async def test_fresh_flag_and_other_options_generate_anew(banana, kie):
    await banana.command("a lighthouse")
    await banana.settle(1)
    await banana.command("a lighthouse --fresh")
    await banana.command("a lighthouse --res 4K")
    await banana.command("a lighthouse --no boats")
    tasks = await banana.settle(4)
    assert len(kie.requests_to(CREATE)) == 4
    assert all(t.reused_from is None for t in tasks)
    assert tasks[1].prompt == "a lighthouse"  # --fresh is a switch, not part of the prompt


async def test_same_input_images_by_content_are_the_same_request(banana, kie, slack):
    picture = image_bytes("orange")
    for _ in range(2):
        message, _ = post_with_files(slack, (picture, "logo.png", "image/png"))
        form = await opened_form(banana, slack, message)
        await banana.submit(form, prompt="add a frame")
        await banana.settle(len(slack.views_opened))
    first, second = await banana.settle(2)
    assert second.reused_from == first.id
    assert len(kie.requests_to(CREATE)) == 1


async def test_a_deleted_original_is_not_reused(banana, kie, slack):
    await banana.command("a lighthouse")
    first = await banana.only_task()
    await banana.click(cards.DELETE, str(first.id), message_ts=first.message_ts)
    await slack.wait_for(lambda: slack.files[first.slack_file_id].deleted)
    await banana.command("a lighthouse")
    _, second = await banana.settle(2)
    assert second.reused_from is None and len(kie.requests_to(CREATE)) == 2


async def test_regenerate_always_makes_a_new_image(banana, kie, slack):
    await banana.command("a lighthouse")
    first = await banana.only_task()
    await banana.click(cards.REGENERATE, str(first.id), message_ts=first.message_ts)
    _, again = await banana.settle(2)
    assert again.reused_from is None and len(kie.requests_to(CREATE)) == 2

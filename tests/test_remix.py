"""Remix: images from a message (or uploaded in the form) go to kie through its upload API, never as Slack links."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from prompts.tasks import TaskState
from standins.slack import SlackStandIn
from tests.conftest import CHANNEL_ID, USER_ID

CREATE = "/api/v1/jobs/createTask"
UPLOAD = "/api/file-stream-upload"


def image_bytes(colour: str, kind: str = "PNG", size: tuple[int, int] = (24, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, kind)
    return buffer.getvalue()


def post_with_files(slack: SlackStandIn, *files: tuple[bytes, str, str], thread_ts: str | None = None):
    """A person's message carrying files; returns the message as Slack puts it in a shortcut payload."""
    added = [slack.add_file(data, name, mime) for data, name, mime in files]
    message = slack.add_message(
        CHANNEL_ID, "look at these", user=USER_ID, thread_ts=thread_ts, files=[f.id for f in added]
    )
    for file in added:
        file.channel, file.share_ts = CHANNEL_ID, message.ts
    payload = {
        "type": "message",
        "user": USER_ID,
        "ts": message.ts,
        "text": message.text,
        "files": [slack.file_object(f.id) for f in added],
    }
    if thread_ts:
        payload["thread_ts"] = thread_ts
    return payload, added


async def opened_form(banana, slack, message: dict) -> dict:
    count = len(slack.views_opened)
    response = await banana.message_shortcut(message)
    assert response.status_code == 200
    await slack.wait_for(lambda: len(slack.views_opened) > count)
    return slack.views_opened[-1]


async def test_three_png_files_become_three_uploads_and_one_create(banana, kie, slack):
    pictures = [image_bytes(c) for c in ("red", "green", "blue")]
    message, files = post_with_files(slack, *[(p, f"photo{i}.png", "image/png") for i, p in enumerate(pictures)])
    form = await opened_form(banana, slack, message)
    shown = json.dumps(form)
    assert "3 images" in shown and "photo0.png" in shown and "photo2.png" in shown
    ratio = next(b for b in form["blocks"] if b.get("block_id") == "aspect_ratio")
    assert ratio["element"]["initial_option"]["value"] == "auto"

    response = await banana.submit(form, prompt="combine into a collage with our logo")
    assert response.status_code == 200 and response.json()["response_action"] == "update"
    task = await banana.only_task()
    assert task.state is TaskState.DONE

    uploads = kie.requests_to(UPLOAD)
    assert sorted(u.form["file"]["data"] for u in uploads) == sorted(pictures)
    names = [u.form["fileName"] for u in uploads]
    assert len(set(names)) == 3 and all(name.startswith(f"banana-{task.id}-") for name in names)
    (create,) = kie.requests_to(CREATE)
    image_input = create.json["input"]["image_input"]
    assert sorted(image_input) == sorted(kie.uploads)
    assert slack.base_url not in json.dumps(create.json)  # no Slack link, and so no token, ever reaches kie
    assert create.json["input"]["aspect_ratio"] == "auto"

    # The progress message and the result sit in the original message's thread.
    replies = slack.thread(CHANNEL_ID, message["ts"])
    assert replies[0].ts == task.message_ts and task.thread_ts == message["ts"]
    assert any(r.files == [task.slack_file_id] for r in replies)
    assert "started" in json.dumps(slack.views[form["id"]]).lower()
    assert [f.id for f in task.inputs] == [f.id for f in files]


async def test_one_image_remix(banana, kie, slack):
    message, _ = post_with_files(slack, (image_bytes("red", "JPEG"), "guest.jpg", "image/jpeg"))
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="turn into a quote card", aspect_ratio="4:5")
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    assert len(kie.requests_to(CREATE)[0].json["input"]["image_input"]) == 1
    assert kie.requests_to(UPLOAD)[0].form["file"]["content_type"] == "image/jpeg"


async def test_nine_images_take_the_first_eight_and_say_so(banana, kie, slack):
    message, files = post_with_files(slack, *[(image_bytes("red"), f"p{i}.png", "image/png") for i in range(9)])
    form = await opened_form(banana, slack, message)
    assert "9 images" in json.dumps(form) and "first 8" in json.dumps(form)
    await banana.submit(form, prompt="a grid")
    task = await banana.only_task()
    assert [f.id for f in task.inputs] == [f.id for f in files[:8]]
    assert len(kie.requests_to(CREATE)[0].json["input"]["image_input"]) == 8


async def test_thread_reply_remix_stays_in_that_thread(banana, slack):
    parent = slack.add_message(CHANNEL_ID, "thread start", user=USER_ID)
    message, _ = post_with_files(slack, (image_bytes("red"), "a.png", "image/png"), thread_ts=parent.ts)
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="brighter")
    task = await banana.only_task()
    assert task.thread_ts == parent.ts
    assert any(r.files == [task.slack_file_id] for r in slack.thread(CHANNEL_ID, parent.ts))


async def test_message_with_only_a_pdf_gets_a_clear_answer_and_no_form(banana, kie, slack):
    message, _ = post_with_files(slack, (b"%PDF-1.7 report", "report.pdf", "application/pdf"))
    response = await banana.message_shortcut(message)
    assert response.status_code == 200
    await slack.wait_for(lambda: any("no images I can remix" in json.dumps(r) for r in slack.responses))
    assert "report.pdf is not an image" in json.dumps(slack.responses[-1])
    assert slack.views_opened == [] and kie.requests == []


async def test_ids_only_files_are_looked_up_before_the_form_opens(banana, slack):
    message, files = post_with_files(slack, (image_bytes("red"), "a.png", "image/png"))
    message["files"] = [{"id": files[0].id, "file_access": "check_file_info"}]
    form = await opened_form(banana, slack, message)
    assert "a.png" in json.dumps(form)
    assert slack.calls_to("files.info")


async def problem_shown(slack, form) -> str:
    await slack.wait_for(lambda: ":warning:" in json.dumps(slack.views.get(form["id"], {})))
    return json.dumps(slack.views[form["id"]])


async def test_corrupt_image_is_refused_in_the_form_and_nothing_is_spent(banana, kie, slack):
    message, _ = post_with_files(
        slack, (image_bytes("red"), "good.png", "image/png"), (b"\x89PNG broken", "bad.png", "image/png")
    )
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="combine")
    shown = await problem_shown(slack, form)
    assert "bad.png is not an image I can read" in shown and "nothing was charged" in shown
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and task.error_code == "input_rejected" and task.message_ts is None
    assert kie.requests == []
    assert slack.calls_to("chat.postMessage") == []


async def test_html_instead_of_the_image_names_the_missing_scope(banana, kie, slack):
    message, _ = post_with_files(slack, (b"<!DOCTYPE html><html>Sign in</html>", "photo.png", "image/png"))
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="remix")
    assert "files:read" in await problem_shown(slack, form)
    assert kie.requests == []


async def test_gif_is_converted_to_png_and_the_thread_says_so(banana, kie, slack):
    message, _ = post_with_files(slack, (image_bytes("red", "GIF"), "dance.gif", "image/gif"))
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="remix")
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    (upload,) = kie.requests_to(UPLOAD)
    assert upload.form["file"]["content_type"] == "image/png" and upload.form["fileName"].endswith(".png")
    assert Image.open(io.BytesIO(upload.form["file"]["data"])).format == "PNG"
    assert "dance.gif: converted to PNG" in json.dumps([r.blocks for r in slack.thread(CHANNEL_ID, task.thread_ts)])


async def test_image_over_the_download_cap_is_refused_before_download(banana, kie, slack, monkeypatch):
    from standins.slack.core import SlackFile

    message, _ = post_with_files(slack, (image_bytes("red"), "huge.png", "image/png"))
    monkeypatch.setattr(SlackFile, "size", property(lambda file: 120 * 1024 * 1024))  # as files.info reports it
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="remix")
    assert "huge.png is 120 MB; I take images up to 100 MB" in await problem_shown(slack, form)
    assert slack.downloads == [] and kie.requests == []


async def test_upload_api_failing_fails_the_task_without_a_create(banana, kie, slack):
    kie.fail_next(UPLOAD, 500, times=20)
    message, _ = post_with_files(slack, (image_bytes("red"), "a.png", "image/png"))
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="remix")
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and task.error_code == "input_upload_failed"
    assert "Nothing was charged" in task.error_message
    assert kie.requests_to(CREATE) == []
    assert "Sending the images to kie.ai failed" in json.dumps(slack.message(CHANNEL_ID, task.message_ts).blocks)


async def test_new_image_form_with_uploaded_files_and_a_chosen_channel(banana, kie, slack):
    await banana.interaction({"type": "shortcut", "callback_id": "new_image"})
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    form = slack.views_opened[0]
    assert {b.get("block_id") for b in form["blocks"]} >= {"prompt", "channel", "uploads", "resolution"}
    uploaded = slack.add_file(image_bytes("purple"), "brand.png", "image/png")
    await banana.submit(
        form, prompt="a podcast cover", channel="C0GENERAL1", uploads=[slack.file_object(uploaded.id)], resolution="4K"
    )
    task = await banana.only_task()
    assert task.state is TaskState.DONE and task.resolution == "4K" and task.credits == 24
    assert [u.form["file"]["data"] for u in kie.requests_to(UPLOAD)] == [slack.files[uploaded.id].data]
    assert task.thread_ts == task.message_ts  # a new top-level message in the chosen channel


async def test_slash_command_without_a_prompt_opens_the_form_for_this_channel(banana, kie, slack):
    response = await banana.command("")
    assert response.status_code == 200 and response.text == ""
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    channel = next(b for b in slack.views_opened[0]["blocks"] if b.get("block_id") == "channel")
    assert channel["element"]["initial_conversation"] == CHANNEL_ID
    await banana.submit(slack.views_opened[0], prompt="a lighthouse")
    assert (await banana.only_task()).state is TaskState.DONE


@pytest.mark.parametrize(
    ("fields", "block", "says"),
    [
        ({"prompt": "   "}, "prompt", "Tell me what to draw"),
        ({"prompt": "x" * 10_001}, "prompt", "kie takes at most 10,000"),
        ({"prompt": "ok", "uploads": "nine"}, "uploads", "at most 8 images"),
    ],
)
async def test_form_errors_show_on_the_field(banana, kie, slack, fields, block, says):
    await banana.interaction({"type": "shortcut", "callback_id": "new_image"})
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    if fields.get("uploads") == "nine":
        fields["uploads"] = [slack.file_object(slack.add_file(image_bytes("red"), "x.png", "image/png").id)] * 9
    response = await banana.submit(slack.views_opened[0], channel=CHANNEL_ID, **fields)
    answer = response.json()
    assert answer["response_action"] == "errors" and says in answer["errors"][block]
    assert kie.requests == []


async def test_remix_button_on_a_result_records_lineage(banana, kie, slack):
    await banana.command("a lighthouse")
    first = await banana.only_task()
    await banana.click("task_remix", str(first.id), message_ts=first.message_ts)
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    form = slack.views_opened[0]
    assert f"result of #{first.id}" in json.dumps(form)
    await banana.submit(form, prompt="same lighthouse at night")
    _, second = await banana.settle(2)
    assert second.parent_task_id == first.id and second.thread_ts == first.thread_ts
    result_message = next(r for r in slack.thread(CHANNEL_ID, first.thread_ts) if r.files == [second.slack_file_id])
    assert f"remix of #{first.id}" in result_message.text
    (upload,) = kie.requests_to(UPLOAD)
    assert upload.form["file"]["data"] == slack.files[first.slack_file_id].data


async def test_shortcut_on_a_message_holding_a_banana_result_records_lineage(banana, slack):
    await banana.command("a lighthouse")
    first = await banana.only_task()
    reply = next(r for r in slack.thread(CHANNEL_ID, first.thread_ts) if r.files)
    message = {
        "type": "message",
        "ts": reply.ts,
        "thread_ts": first.thread_ts,
        "files": [slack.file_object(reply.files[0])],
    }
    form = await opened_form(banana, slack, message)
    await banana.submit(form, prompt="now in watercolour")
    _, second = await banana.settle(2)
    assert second.parent_task_id == first.id


async def test_remix_button_on_a_vanished_task_answers_clearly(banana, slack):
    await banana.click("task_remix", "999", message_ts="1.1")
    await slack.wait_for(lambda: any("no longer exists" in json.dumps(r) for r in slack.responses))
    assert slack.views_opened == []


async def test_missing_files_read_scope_is_named(kie, app_env):
    from banana.app.server import BananaServer
    from bot.settings import load_settings
    from tests.conftest import Banana

    scopes = ("commands", "chat:write", "chat:write.public", "channels:join", "files:write")
    slack = SlackStandIn(scopes=scopes)
    await slack.start()
    server = BananaServer(load_settings({**app_env, "SLACK_API_URL": slack.api_url}, env_file=None))
    await server.start()
    try:
        import httpx

        async with httpx.AsyncClient() as http:
            banana = Banana(server, slack, http)
            message, _ = post_with_files(slack, (image_bytes("red"), "a.png", "image/png"))
            form = await opened_form(banana, slack, message)
            await banana.submit(form, prompt="remix")
            assert "files:read" in await problem_shown(slack, form)
            assert kie.requests == []
    finally:
        await server.stop()
        await slack.stop()

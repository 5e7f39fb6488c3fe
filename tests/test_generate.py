"""`/banana` end to end: signed commands in, progress edits and an image in the thread out."""

from __future__ import annotations

import io
import itertools
import json

import pytest
from PIL import Image

from prompts.tasks import TaskState
from standins.kie import API_KEY, Outcome
from tests.conftest import CHANNEL_ID, USER_ID

CREATE = "/api/v1/jobs/createTask"
RECORD = "/api/v1/jobs/recordInfo"


def card_text(message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


async def test_happy_path_through_every_state(banana, kie, slack):
    kie.plan(Outcome(queue_seconds=0.3, generate_seconds=0.4))
    response = await banana.command("a lighthouse at dawn, isometric --ar 16:9 --res 2K")
    assert response.status_code == 200  # how soon: the benchmark's ack latency
    assert response.text == ""  # nothing private: the progress message is the answer

    task = await banana.only_task()
    assert task.state is TaskState.DONE
    assert task.kie_task_id and task.slack_file_id and task.message_ts == task.thread_ts
    assert task.credits == 18 and task.duration is not None and task.duration > 0.5
    events = [e.state for e in await banana.services.store.events(task.id)]
    assert events == ["pending", "queued", "generating", "uploading", "done"]

    (create,) = kie.requests_to(CREATE)
    assert create.headers["Authorization"] == f"Bearer {API_KEY}"
    assert create.json["model"] == "nano-banana-pro"
    assert create.json["input"] == {
        "prompt": "a lighthouse at dawn, isometric",
        "aspect_ratio": "16:9",
        "resolution": "2K",
        "output_format": "png",
    }

    (first_post,) = slack.calls_to("chat.postMessage")
    assert "a lighthouse at dawn" in json.dumps(first_post.args["blocks"])
    progress = slack.message(CHANNEL_ID, task.message_ts)
    assert any("Generating" in json.dumps(edit["blocks"]) for edit in progress.edits)
    assert any("Queued at kie.ai" in json.dumps(edit["blocks"]) for edit in progress.edits)
    assert "Done" in card_text(progress) and "18 credits" in card_text(progress)

    (reply,) = slack.thread(CHANNEL_ID, task.message_ts)
    assert reply.files == [task.slack_file_id]
    assert reply.text.startswith(f"<@{USER_ID}>") and "16:9 · 2K · png" in reply.text
    uploaded = slack.files[task.slack_file_id]
    image = Image.open(io.BytesIO(uploaded.data))
    assert image.format == "PNG"
    assert image.width > image.height  # 16:9 really reached kie and came back


async def test_progress_edits_are_throttled_and_the_last_one_is_the_result(banana, kie, slack):
    kie.plan(Outcome(generate_seconds=1.0))
    await banana.command("slow one")
    task = await banana.only_task()
    edits = slack.message(CHANNEL_ID, task.message_ts).edits
    # 1 s of work at one edit per 0.05 s at most, plus the final edit.
    assert 2 <= len(edits) <= 25
    assert "Done" in json.dumps(edits[-1]["blocks"])
    times = [edit["at"] for edit in edits[:-1]]
    assert all(b - a >= 0.04 for a, b in itertools.pairwise(times))


async def test_jpg_and_auto_reach_kie(banana, kie, slack):
    await banana.command("poster --ar auto --format jpg --res 4K")
    task = await banana.only_task()
    assert kie.requests_to(CREATE)[0].json["input"]["aspect_ratio"] == "auto"
    assert task.credits == 24
    assert Image.open(io.BytesIO(slack.files[task.slack_file_id].data)).format == "JPEG"
    assert slack.files[task.slack_file_id].name.endswith(".jpg")


async def test_negative_prompt_becomes_words_kie_reads(banana, kie):
    await banana.command("quote card --no text, watermarks")
    await banana.only_task()
    assert kie.requests_to(CREATE)[0].json["input"]["prompt"] == "quote card\n\nDo not include: text, watermarks."


async def test_user_text_pings_nobody(banana, slack):
    await banana.command("<!channel> <@U0OTHER01> <!here> party")
    task = await banana.only_task()
    shown = card_text(slack.message(CHANNEL_ID, task.message_ts)) + slack.message(CHANNEL_ID, task.message_ts).text
    assert "<!channel>" not in shown and "<@U0OTHER01>" not in shown and "<!here>" not in shown
    assert "&lt;!channel&gt;" in shown


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (401, "did not accept this app's API key"),
        (402, "out of kie.ai credits"),
        (404, "no longer knows this task"),
        (422, "refused the request as invalid"),
        (455, "down for maintenance"),
        (500, "internal error"),
        (501, "could not generate this image"),
        (505, "switched off"),
    ],
)
async def test_each_kie_error_code_on_create_fails_clearly(banana, kie, slack, code, says):
    kie.fail_next(CREATE, code, times=5)
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and task.error_code == f"kie_{code}" and task.credits == 0
    assert says in task.error_message
    shown = card_text(slack.message(CHANNEL_ID, task.message_ts))
    assert "Failed" in shown and says in shown and "nothing charged" in shown
    assert slack.thread(CHANNEL_ID, task.message_ts) == []
    # Only a proven refusal may be repeated: a create is never retried blindly.
    assert len(kie.requests_to(CREATE)) == 1
    assert kie.tasks == {}


async def test_rate_limited_create_waits_and_retries_without_double_billing(banana, kie):
    kie.fail_next(CREATE, 429, http_status=429, times=2)
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    assert len(kie.requests_to(CREATE)) == 3
    assert len(kie.tasks) == 1


async def test_rate_limit_that_never_lifts_says_wait(banana, kie):
    kie.fail_next(CREATE, 429, http_status=429, times=10)
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and "too many requests" in task.error_message
    assert kie.tasks == {}


async def test_failed_generation_shows_kie_reason_and_costs_nothing(banana, kie, slack):
    kie.plan(Outcome(kind="fail", fail_code="422", fail_msg="Invalid prompt: prompt contains prohibited content"))
    await banana.command("something forbidden")
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and task.credits == 0
    assert "prohibited content" in task.error_message and "rephrasing" in task.error_message
    assert slack.thread(CHANNEL_ID, task.message_ts) == []


async def test_internal_failure_at_kie_suggests_trying_again(banana, kie):
    kie.plan(Outcome(kind="fail"))
    await banana.command("a cat")
    task = await banana.only_task()
    assert "try again in a minute" in task.error_message


async def test_success_without_a_result_url(banana, kie, slack):
    kie.plan(Outcome(kind="success_no_url"))
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and task.error_code == "no_result"
    assert "sent no image" in card_text(slack.message(CHANNEL_ID, task.message_ts))


async def test_unknown_state_is_never_taken_for_success(start_banana, kie, slack):
    banana = await start_banana(POLL_TIMEOUT="0.3")
    kie.plan(Outcome(kind="unknown_state"))
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.TIMED_OUT
    assert slack.files == {}


async def test_timeout_is_honest(start_banana, kie, slack):
    banana = await start_banana(POLL_TIMEOUT="0.3")
    kie.plan(Outcome(kind="never"))
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.TIMED_OUT and task.error_code == "timed_out"
    shown = card_text(slack.message(CHANNEL_ID, task.message_ts))
    assert "Not finished after" in shown and task.kie_task_id in shown and "may still finish it" in shown
    assert slack.files == {}


async def test_recordinfo_null_just_after_create_is_waited_out(banana, kie):
    kie.record_null_seconds = 0.2
    await banana.command("a cat")
    assert (await banana.only_task()).state is TaskState.DONE


async def test_transient_read_errors_are_retried(banana, kie):
    kie.plan(Outcome(generate_seconds=0.2))
    kie.fail_next(RECORD, 455, times=2)
    kie.fail_next(RECORD, 500, http_status=500, times=1)
    await banana.command("a cat")
    assert (await banana.only_task()).state is TaskState.DONE


@pytest.mark.parametrize(
    ("kind", "says"),
    [("broken_image", "not an image"), ("expired_url", "answered HTTP 404")],
)
async def test_broken_download_is_recorded_and_explained(banana, kie, slack, kind, says):
    kie.plan(Outcome(kind=kind))
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and task.error_code == "delivery_failed"
    assert says in task.error_message and "charged" in task.error_message
    assert task.credits == 18  # kie billed it even though it never arrived
    assert says in card_text(slack.message(CHANNEL_ID, task.message_ts))
    assert slack.files == {}


async def test_upload_failure_is_recorded_and_explained(banana, slack):
    slack.fail_next("files.completeUploadExternal", "file_uploads_disabled")
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and "file_uploads_disabled" in task.error_message
    assert "uploading it to Slack failed" in card_text(slack.message(CHANNEL_ID, task.message_ts))


async def test_deleted_progress_message_does_not_stop_delivery(banana, kie, slack):
    kie.plan(Outcome(generate_seconds=0.3))
    slack.fail_next("chat.update", "message_not_found", times=100)
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    assert len(slack.thread(CHANNEL_ID, task.message_ts)) == 1


async def test_slack_rate_limit_on_edits_is_waited_out_and_final_edit_lands(banana, kie, slack):
    slack.rate_limit("chat.update", times=1, retry_after=0)
    await banana.command("a cat")
    task = await banana.only_task()
    assert "Done" in card_text(slack.message(CHANNEL_ID, task.message_ts))
    assert any(call.status == 429 for call in slack.calls_to("chat.update"))


async def test_public_channel_the_bot_is_not_in_is_joined_for_the_upload(banana, slack):
    await banana.command("a cat", channel="C0RANDOM01")
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    assert slack.calls_to("conversations.join")
    assert len(slack.thread("C0RANDOM01", task.message_ts)) == 1


async def test_private_channel_without_the_bot_says_how_to_invite_and_spends_nothing(banana, kie, slack):
    await banana.command("a cat", channel="G0PRIVATE1")
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and task.credits == 0
    assert kie.requests_to(CREATE) == []
    (note,) = [r for r in slack.responses if "/invite" in json.dumps(r)]
    assert note.get("response_type", "ephemeral") == "ephemeral"


async def test_many_tasks_at_once(banana, kie, slack):
    kie.plan(*[Outcome(generate_seconds=0.2) for _ in range(10)])
    for i in range(10):
        await banana.command(f"picture {i}")
    tasks = await banana.settle(10)
    assert all(t.state is TaskState.DONE for t in tasks)
    assert len({t.slack_file_id for t in tasks}) == 10
    assert len(kie.requests_to(CREATE)) == 10


async def test_progress_message_refused_for_another_reason_is_told_privately(banana, kie, slack):
    slack.fail_next("chat.postMessage", "restricted_action")
    await banana.command("a cat")
    task = await banana.only_task()
    assert task.state is TaskState.FAILED and task.message_ts is None
    assert kie.requests_to(CREATE) == []
    assert any("would not let me post here (restricted_action)" in json.dumps(r) for r in slack.ephemerals)

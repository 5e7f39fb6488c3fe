"""A result deleted in Slack itself (not with Banana's Delete button) must not freeze the Home tab.

Slack refuses a whole view whose image points at a deleted file (``invalid_blocks``, "invalid slack file"); Banana then
finds the files that are gone, remembers them on their tasks (``file_gone_at``) and publishes once more without them.
"""

from __future__ import annotations

import json

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import cards, home
from prompts.options import Options
from prompts.tasks import HomeFilter, Task, TaskState, Usage
from standins import slack as slack_standin
from standins.slack import BOT_TOKEN, SlackStandIn
from tests.conftest import CHANNEL_ID, USER_ID
from tests.test_home import open_home, task_ids_on, within_limits

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def delete_in_slack(slack: SlackStandIn, file_id: str) -> None:
    """Someone deletes the file in Slack itself (its menu, Delete file), as a person would: Banana is not told.

    Unlike the bot's files.delete, the captioned message that shared it stays (Slack shows it without the file)."""
    slack.files[file_id].deleted = True


def thumbnail_of(file_id: str | None) -> str:
    return f'"slack_file": {{"id": "{file_id}"}}'


def action_ids(view: dict, task_id: int) -> list[str]:
    (actions,) = [b for b in view["blocks"] if b.get("block_id") == f"task-{task_id}"]
    return [element["action_id"] for element in actions["elements"]]


def files_info_calls(slack: SlackStandIn, file_id: str | None) -> int:
    return sum(1 for call in slack.calls_to("files.info") if call.args.get("file") == file_id)


# ---------------------------------------------------------------------------------------------- the Slack stand-in


async def error_of(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value


async def test_views_refuse_an_image_of_a_deleted_or_unknown_file(slack: SlackStandIn) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    uploaded = await client.files_upload_v2(content=PNG, filename="r.png", channel=CHANNEL_ID)
    file = slack.files[uploaded["file"]["id"]]

    def home_with(slack_file: dict) -> dict:
        section = {"type": "section", "text": {"type": "mrkdwn", "text": "a fox"}}
        image = {"type": "image", "slack_file": slack_file, "alt_text": "a fox"}
        return {"type": "home", "blocks": [{**section, "accessory": image}]}

    published = await client.views_publish(user_id=USER_ID, view=home_with({"id": file.id}))
    assert slack.views_published[USER_ID]["id"] == published["view"]["id"]

    delete_in_slack(slack, file.id)
    refused = await error_of(client.views_publish(user_id=USER_ID, view=home_with({"id": file.id})))
    pointer = "[json-pointer:/view/blocks/0/accessory/slack_file]"
    assert refused.response["error"] == "invalid_blocks"
    assert refused.response["errors"] == [f"invalid slack file {pointer}"]
    assert refused.response["response_metadata"]["messages"] == [f"[ERROR] invalid slack file {pointer}"]
    assert slack.views_published[USER_ID]["hash"] == published["view"]["hash"]  # the old view stays

    by_url = await error_of(client.views_publish(user_id=USER_ID, view=home_with({"url": file.url_private})))
    unknown = await error_of(client.views_publish(user_id=USER_ID, view=home_with({"id": "F0NOSUCHFILE"})))
    assert (by_url.response["error"], unknown.response["error"]) == ("invalid_blocks", "invalid_blocks")

    # A modal too, in an image block (views.open, views.push and views.update share the check).
    modal = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Remix"},
        "blocks": [{"type": "image", "slack_file": {"id": file.id}, "alt_text": "a fox"}],
    }
    opened = await error_of(client.views_open(trigger_id=slack.trigger_id(), view=modal))
    assert opened.response["errors"] == ["invalid slack file [json-pointer:/view/blocks/0/slack_file]"]
    # The shape is still checked first, as invalid_arguments.
    too_many = {**home_with({"id": file.id}), "blocks": home_with({"id": file.id})["blocks"] * 101}
    assert (await error_of(client.views_publish(user_id=USER_ID, view=too_many))).response["error"] == (
        "invalid_arguments"
    )


# ---------------------------------------------------------------------------------------------- the Home builder


def test_home_shows_a_task_whose_file_is_gone_without_its_image_or_remix() -> None:
    def task(task_id: int, **changes: object) -> Task:
        values: dict = dict(
            id=task_id,
            team_id="T1",
            user_id="U1",
            channel_id="C1",
            prompt=f"picture {task_id}",
            avoid="",
            aspect_ratio="1:1",
            resolution="2K",
            output_format="png",
            state=TaskState.DONE,
            created_at=1000.0,
            updated_at=1000.0,
            slack_file_id=f"F{task_id}",
            credits=18,
        )
        return Task(**{**values, **changes})

    page = home.HomePage(
        user_id="U1",
        tasks=[task(2, file_gone_at=1500.0), task(1)],
        filter=HomeFilter.ALL,
        page=0,
        has_more=False,
        has_any=True,
        today=Usage(images=2, credits=36),
        month=Usage(images=2, credits=36),
    )
    view = home.home_view(page, Options("1:1", "2K", "png"))
    text = json.dumps(view, ensure_ascii=False)
    assert task_ids_on(view) == [2, 1]
    assert thumbnail_of("F2") not in text and thumbnail_of("F1") in text
    assert text.count("image deleted in Slack") == 1
    assert cards.REMIX not in action_ids(view, 2) and cards.REMIX in action_ids(view, 1)
    assert {cards.REGENERATE, cards.DELETE} <= set(action_ids(view, 2))


# ---------------------------------------------------------------------------------------------- the app


async def test_home_opens_without_the_thumbnail_of_a_result_deleted_in_slack(banana, slack) -> None:
    await banana.command("a fox")
    await banana.command("a lighthouse")
    fox, lighthouse = await banana.settle(2)
    delete_in_slack(slack, fox.slack_file_id)
    publishes = len(slack.calls_to("views.publish"))

    await banana.event({"type": "app_home_opened", "user": USER_ID, "channel": "D0DIRECT01", "tab": "home"})
    await slack.wait_for(lambda: USER_ID in slack.views_published)  # the stand-in accepted a view
    view = slack.views_published[USER_ID]
    within_limits(view)
    text = json.dumps(view, ensure_ascii=False)
    assert task_ids_on(view) == [lighthouse.id, fox.id]  # still listed
    assert thumbnail_of(fox.slack_file_id) not in text
    assert thumbnail_of(lighthouse.slack_file_id) in text
    assert "image deleted in Slack" in text
    assert cards.REMIX not in action_ids(view, fox.id)
    assert len(slack.calls_to("views.publish")) - publishes == 2  # refused once, then published without it
    assert files_info_calls(slack, fox.slack_file_id) == 1
    stored = await banana.services.store.get(fox.id)
    assert stored is not None and stored.file_gone_at is not None
    kept = await banana.services.store.get(lighthouse.id)
    assert kept is not None and kept.file_gone_at is None

    # The next open knows: one publish, accepted at once, and no files.info for the gone file.
    publishes, checks = len(slack.calls_to("views.publish")), len(slack.calls_to("files.info"))
    await banana.event({"type": "app_home_opened", "user": USER_ID, "channel": "D0DIRECT01", "tab": "home"})
    await slack.wait_for(lambda: slack.views_published[USER_ID] is not view)
    assert len(slack.calls_to("views.publish")) - publishes == 1
    assert len(slack.calls_to("files.info")) == checks
    assert thumbnail_of(fox.slack_file_id) not in json.dumps(slack.views_published[USER_ID])

    # The card in the channel still has its Remix button: pressing it says why it cannot work.
    await banana.click(cards.REMIX, str(fox.id), message_ts=fox.message_ts or "")
    await slack.wait_for(lambda: any("deleted in Slack" in str(r) for r in slack.responses))
    assert not slack.views_opened  # no remix form for an image that is gone


async def test_a_home_that_publishes_checks_no_files(banana, slack) -> None:
    await banana.command("a fox")
    task = await banana.only_task()
    checks = len(slack.calls_to("files.info"))
    view = await open_home(banana, slack)
    assert thumbnail_of(task.slack_file_id) in json.dumps(view)
    assert len(slack.calls_to("files.info")) == checks


async def test_home_retries_at_most_once(banana, slack) -> None:
    await banana.command("a fox")
    await banana.command("a lighthouse")
    fox, lighthouse = await banana.settle(2)
    homes = banana.services.home

    # Refused while every thumbnail is fine: nothing to leave out, so no retry at all.
    slack.fail_next("views.publish", "invalid_blocks")
    publishes = len(slack.calls_to("views.publish"))
    await homes.publish(slack_standin.TEAM_ID, USER_ID)
    assert len(slack.calls_to("views.publish")) - publishes == 1
    assert (files_info_calls(slack, fox.slack_file_id), files_info_calls(slack, lighthouse.slack_file_id)) == (1, 1)
    for task in (fox, lighthouse):
        stored = await banana.services.store.get(task.id)
        assert stored is not None and stored.file_gone_at is None

    # Refused again after the gone file was left out: one retry, never a third try.
    delete_in_slack(slack, fox.slack_file_id)
    slack.fail_next("views.publish", "invalid_blocks", times=5)
    publishes = len(slack.calls_to("views.publish"))
    await homes.publish(slack_standin.TEAM_ID, USER_ID)
    assert len(slack.calls_to("views.publish")) - publishes == 2
    gone = await banana.services.store.get(fox.id)
    assert gone is not None and gone.file_gone_at is not None
    kept = await banana.services.store.get(lighthouse.id)
    assert kept is not None and kept.file_gone_at is None

    # Refused once more (for some other reason): the file known gone is not asked about again.
    slack.fail_next("views.publish", "invalid_blocks")
    await homes.publish(slack_standin.TEAM_ID, USER_ID)
    assert (files_info_calls(slack, fox.slack_file_id), files_info_calls(slack, lighthouse.slack_file_id)) == (2, 3)

"""Remote files never get the bot token: a link another app keeps in Slack (files.remote.add) points wherever its
creator chose, and Slack's page says never to send a token there (https://docs.slack.dev/reference/methods/
files.remote.info). Banana does not request it at all, says so by the file's name, and spends nothing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import ClientSession, web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clients.slack import RemoteFile, SlackDelivery
from prompts.tasks import TaskState
from standins.slack import BOT_TOKEN, DEFAULT_SCOPES, SlackFile, SlackStandIn
from tests.conftest import CHANNEL_ID, USER_ID
from tests.test_remix import image_bytes, opened_form, problem_shown

CANNOT_READ = "I can't read photo.png: it is a link to a file kept outside Slack"
UPLOAD_INSTEAD = "upload the image itself to Slack and remix that"


@dataclass
class Foreign:
    """A host outside Slack, where a remote file's link points: it records every request it gets."""

    url: str
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
async def foreign() -> AsyncIterator[Foreign]:
    host = Foreign(url="")

    async def answer(request: web.Request) -> web.Response:
        host.requests.append({"path": request.path_qs, **request.headers})
        return web.Response(body=image_bytes("green"), content_type="image/png")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host.url = "http://127.0.0.1:{}".format(*runner.addresses[0][1:2])
    yield host
    await runner.cleanup()


def remote_png(slack: SlackStandIn, foreign: Foreign) -> SlackFile:
    """Another app adds photo.png as a remote file, filetype png, its link on the foreign host."""
    return slack.add_remote_file(f"{foreign.url}/photo.png", "photo.png", filetype="png")


def share(slack: SlackStandIn, *files: SlackFile) -> dict:
    """A person's message sharing `files`, as a message shortcut's payload carries it."""
    message = slack.add_message(CHANNEL_ID, "look", user=USER_ID, files=[f.id for f in files])
    for file in files:
        file.channel, file.share_ts = CHANNEL_ID, message.ts
    return {
        "type": "message",
        "user": USER_ID,
        "ts": message.ts,
        "text": message.text,
        "files": [slack.file_object(f.id) for f in files],
    }


async def next_command_works(banana) -> None:
    """The app still serves the next command, and by then anything the remix could have set off has happened."""
    await banana.command("a lighthouse")
    tasks = await banana.settle(1)
    assert tasks[-1].state is TaskState.DONE


async def test_remix_of_a_remote_file_reads_nothing_and_says_why(banana, kie, slack, foreign):
    message = share(slack, remote_png(slack, foreign))
    assert message["files"][0]["is_external"] is True  # as Slack sends it in the shortcut's payload

    response = await banana.message_shortcut(message)
    assert response.status_code == 200
    await slack.wait_for(lambda: any(CANNOT_READ in json.dumps(r) for r in slack.responses))
    said = json.dumps(slack.responses[-1])
    assert UPLOAD_INSTEAD in said and "no images I can remix" in said
    assert slack.views_opened == []

    await next_command_works(banana)
    assert foreign.requests == []  # not asked at all: no token, and no request into the operator's network
    assert len(kie.requests_to("/api/v1/jobs/createTask")) == 1  # the lighthouse's, nothing for the remix
    assert await banana.services.store.for_user(slack.team_id, USER_ID) == [await banana.only_task()]


async def test_remote_file_sent_as_an_id_only_is_looked_up_and_refused(banana, kie, slack, foreign):
    message = share(slack, remote_png(slack, foreign))
    message["files"] = [{"id": message["files"][0]["id"], "file_access": "check_file_info"}]
    await banana.message_shortcut(message)
    await slack.wait_for(lambda: any(CANNOT_READ in json.dumps(r) for r in slack.responses))
    assert slack.views_opened == []
    await next_command_works(banana)
    assert foreign.requests == []


async def test_remote_file_beside_an_image_is_left_out_by_name(banana, kie, slack, foreign):
    """As for a PDF in the same message: the remix goes on with the images Banana can read, and the form says which
    file was left out and why."""
    real = slack.add_file(image_bytes("red"), "real.png", "image/png")
    message = share(slack, remote_png(slack, foreign), real)
    form = await opened_form(banana, slack, message)
    shown = json.dumps(form)
    assert CANNOT_READ in shown and UPLOAD_INSTEAD in shown and "real.png" in shown

    await banana.submit(form, prompt="brighter")
    task = await banana.only_task()
    assert task.state is TaskState.DONE and [f.id for f in task.inputs] == [real.id]
    (upload,) = kie.requests_to("/api/file-stream-upload")
    assert upload.form["file"]["data"] == slack.files[real.id].data
    assert foreign.requests == []


async def test_remote_file_reaching_the_task_is_refused_before_any_request(banana, kie, slack, foreign):
    """The form's file_input takes what a person uploads; should a remote file ever arrive there (or by any other
    way into a task), the task itself refuses it before anything is asked of its host or spent."""
    await banana.interaction({"type": "shortcut", "callback_id": "new_image"})
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    form = slack.views_opened[0]
    remote = remote_png(slack, foreign)
    remote.channel = CHANNEL_ID  # shared where Banana is, so files.info describes it
    await banana.submit(form, prompt="remix", channel=CHANNEL_ID, uploads=[slack.file_object(remote.id)])

    task = await banana.only_task()
    assert foreign.requests == []  # before the fix: {"Authorization": "Bearer xoxb-test-token", ...}
    assert task.state is TaskState.FAILED and task.error_code == "input_rejected" and not task.credits
    assert kie.requests == []
    shown = await problem_shown(slack, form)
    assert f"{CANNOT_READ}; {UPLOAD_INSTEAD}." in shown and "nothing was charged" in shown
    await next_command_works(banana)
    assert foreign.requests == []


async def test_a_link_outside_slack_is_never_requested_even_on_a_hosted_file(slack, foreign):
    """Whatever files.info says of a file, its link must be on Slack's hosts (or SLACK_API_URL's origin)."""
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    async with ClientSession() as session:
        delivery = SlackDelivery(client, session)
        hosted = {"id": "F1", "mode": "hosted", "is_external": False, "url_private": f"{foreign.url}/a.png"}
        with pytest.raises(RemoteFile):
            await delivery.download_file(hosted, max_bytes=1_000_000)
        file = slack.add_file(image_bytes("red"), "a.png", "image/png", channel=CHANNEL_ID)
        assert await delivery.download_file(slack.file_object(file.id), max_bytes=1_000_000) == file.data
    assert foreign.requests == []


# ---------------------------------------------------------------------------------------- the stand-in's remote files


async def test_standin_remote_files_as_slack_documents_them(slack, foreign):
    slack.scopes = (*DEFAULT_SCOPES, "remote_files:write", "remote_files:share")
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    added = await client.files_remote_add(
        external_id="guid-1", external_url=f"{foreign.url}/photo.png", title="photo.png", filetype="png"
    )
    file = added["file"]
    # https://docs.slack.dev/reference/methods/files.remote.info : the file object of a remote file.
    assert (file["mode"], file["is_external"], file["external_type"]) == ("external", True, "app")
    assert file["url_private"] == file["external_url"] == f"{foreign.url}/photo.png"
    assert file["external_id"] == "guid-1" and "url_private_download" not in file
    assert file["shares"] == {}  # added, not shared: https://docs.slack.dev/reference/methods/files.remote.add

    again = await client.files_remote_add(external_id="guid-1", external_url=f"{foreign.url}/2.png", title="two")
    assert again["file"]["id"] == file["id"] and again["file"]["url_private"] == f"{foreign.url}/2.png"

    shared = await client.files_remote_share(external_id="guid-1", channels=CHANNEL_ID)
    assert CHANNEL_ID in shared["file"]["shares"]["public"]
    assert slack.messages[-1].files == [file["id"]] and slack.messages[-1].user == slack.bot_user_id
    described = await client.files_info(file=file["id"])
    assert described["file"]["is_external"] is True

    for call, error in [
        (client.files_remote_share(file="F0NONE", channels=CHANNEL_ID), "file_not_found"),
        (client.files_remote_share(file=file["id"], channels="C0NOWHERE"), "channel_not_found"),
        (client.files_remote_share(file=file["id"], channels=slack.random_channel), "not_in_channel"),
        (client.files_remote_add(external_id="x", external_url="", title="t"), "invalid_arguments"),
    ]:
        with pytest.raises(SlackApiError) as info:
            await call
        assert info.value.response["error"] == error
    assert foreign.requests == []  # Slack does not fetch the link either


async def test_standin_remote_files_need_their_scopes(slack, foreign):
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as info:  # manifest.yml asks for neither remote_files scope
        await client.files_remote_add(external_id="g", external_url=f"{foreign.url}/a.png", title="a.png")
    assert (info.value.response["error"], info.value.response["needed"]) == ("missing_scope", "remote_files:write")

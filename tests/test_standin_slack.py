"""Tests for the Slack stand-in, driven by the real slack_sdk clients to prove wire compatibility."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import yaml
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from standins.slack import (
    ADMIN_USER_ID,
    APP_ID,
    APP_TOKEN,
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    DEFAULT_BOT_EVENTS,
    DEFAULT_SCOPES,
    METHOD_SCOPES,
    METHOD_TIERS,
    TEAM_ID,
    TIER_PER_MINUTE,
    USER_ID,
    SlackStandIn,
)
from standins.slack import chat as chat_module

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    stand_in = SlackStandIn()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
def client(slack: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def error_of(call) -> str:
    with pytest.raises(SlackApiError) as info:
        await call
    return info.value.response["error"]


async def test_auth_test_and_token_checks(slack: SlackStandIn, client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["user_id"] == BOT_USER_ID
    assert response["team_id"] == TEAM_ID
    assert response["is_enterprise_install"] is False
    assert "files:read" in response.headers["x-oauth-scopes"].split(",")

    bad = AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url)
    assert await error_of(bad.auth_test()) == "invalid_auth"
    anonymous = AsyncWebClient(base_url=slack.api_url)
    assert await error_of(anonymous.auth_test()) == "not_authed"
    assert [c.status for c in slack.calls_to("auth.test")] == [200, 200, 200]
    assert await error_of(client.api_call("nope.nothing")) == "unknown_method"


async def test_form_body_with_token_field_and_json_string_blocks(slack: SlackStandIn) -> None:
    # Some callers (and Slack's own docs) send form bodies: token as a field, blocks as a JSON string.
    form = {"token": BOT_TOKEN, "channel": "C0GENERAL1", "text": "hi", "blocks": json.dumps([section("*hi*")])}
    async with aiohttp.ClientSession() as session, session.post(slack.api_url + "chat.postMessage", data=form) as resp:
        body = await resp.json()
    assert body["ok"] is True, body
    call = slack.calls_to("chat.postMessage")[0]
    assert call.args["blocks"] == [section("*hi*")]
    assert "token" not in call.args
    assert slack.message("C0GENERAL1", body["ts"]).blocks == [section("*hi*")]

    # A token inside a JSON body does not count: JSON callers must use the Authorization header.
    async with aiohttp.ClientSession() as session:
        payload = {"token": BOT_TOKEN, "channel": "C0GENERAL1", "text": "x"}
        async with session.post(slack.api_url + "chat.postMessage", json=payload) as resp:
            assert (await resp.json())["error"] == "not_authed"


async def test_post_update_and_text_without_blocks_clears_blocks(slack: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0GENERAL1", text="working", blocks=[section("10%")])
    ts = posted["ts"]
    later = await client.chat_postMessage(channel="C0GENERAL1", text="second")
    assert float(later["ts"]) > float(ts)

    await client.chat_update(channel="C0GENERAL1", ts=ts, text="still", blocks=[section("50%")])
    await client.chat_update(channel="C0GENERAL1", ts=ts, text="done")
    message = slack.message("C0GENERAL1", ts)
    assert [e["text"] for e in message.edits] == ["still", "done"]
    assert message.edits[0]["blocks"] == [section("50%")]
    assert message.text == "done"
    assert message.blocks == []  # text without blocks drops the old blocks, as in Slack

    assert await error_of(client.chat_update(channel="C0GENERAL1", ts="1.000001", text="x")) == "message_not_found"
    user_message = slack.add_message("C0GENERAL1", "from a human")
    assert (
        await error_of(client.chat_update(channel="C0GENERAL1", ts=user_message.ts, text="x")) == "cant_update_message"
    )
    await client.chat_delete(channel="C0GENERAL1", ts=ts)
    assert slack.message("C0GENERAL1", ts).deleted


async def test_message_validation_errors(slack: SlackStandIn, client: AsyncWebClient) -> None:
    with pytest.warns(UserWarning, match="text"):  # slack_sdk itself warns about the missing text
        assert await error_of(client.chat_postMessage(channel="C0GENERAL1", text="")) == "no_text"
    too_many = [section(str(i)) for i in range(51)]
    assert await error_of(client.chat_postMessage(channel="C0GENERAL1", text="x", blocks=too_many)) == "invalid_blocks"
    untyped = [{"text": {"type": "mrkdwn", "text": "no type"}}]
    assert await error_of(client.chat_postMessage(channel="C0GENERAL1", text="x", blocks=untyped)) == "invalid_blocks"
    await client.chat_postMessage(channel="C0GENERAL1", text="x", blocks=[section(str(i)) for i in range(50)])
    assert len(slack.messages) == 1


async def test_channel_membership_rules_and_join(slack: SlackStandIn, client: AsyncWebClient) -> None:
    assert await error_of(client.chat_postMessage(channel="C0NOPE0001", text="x")) == "channel_not_found"
    assert await error_of(client.chat_postMessage(channel="G0PRIVATE1", text="x")) == "channel_not_found"
    # chat:write.public lets the bot post in a public channel it is not in.
    await client.chat_postMessage(channel="C0RANDOM01", text="public")

    narrow = SlackStandIn(scopes=("commands", "chat:write", "files:write"))
    await narrow.start()
    try:
        narrow_client = AsyncWebClient(token=BOT_TOKEN, base_url=narrow.api_url)
        assert await error_of(narrow_client.chat_postMessage(channel="C0RANDOM01", text="x")) == "not_in_channel"
        with pytest.raises(SlackApiError) as info:
            await narrow_client.conversations_join(channel="C0RANDOM01")
        assert info.value.response["error"] == "missing_scope"
        assert info.value.response["needed"] == "channels:join"
    finally:
        await narrow.stop()

    assert await error_of(client.conversations_join(channel="G0PRIVATE1")) == "channel_not_found"
    slack.channels["G0PRIVATE1"].is_member = True
    assert await error_of(client.conversations_join(channel="G0PRIVATE1")) == "method_not_supported_for_channel_type"
    joined = await client.conversations_join(channel="C0RANDOM01")
    assert joined["channel"]["is_member"] is True
    assert slack.channels["C0RANDOM01"].is_member


async def test_files_upload_v2_into_thread(slack: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C0GENERAL1", text="generating")
    result = await client.files_upload_v2(
        content=PNG,
        filename="result.png",
        title="Result",
        alt_txt="a banana",
        channel="C0GENERAL1",
        thread_ts=parent["ts"],
        initial_comment="Here it is",
    )
    file_id = result["file"]["id"]
    assert result["file"]["shares"] == {}  # like Slack, shares are filled in later

    stored = slack.files[file_id]
    assert stored.data == PNG
    assert (stored.mimetype, stored.filetype, stored.title, stored.alt_txt) == (
        "image/png",
        "png",
        "Result",
        "a banana",
    )
    replies = slack.thread("C0GENERAL1", parent["ts"])
    assert [(m.files, m.text) for m in replies] == [([file_id], "Here it is")]

    info = await client.files_info(file=file_id)
    share = info["file"]["shares"]["public"]["C0GENERAL1"][0]
    assert share["ts"] == replies[0].ts
    assert share["thread_ts"] == parent["ts"]

    # The wire format the sdk really used: query-string args, files as a JSON string decoded for us.
    complete = slack.calls_to("files.completeUploadExternal")[0]
    assert complete.args["files"] == [{"id": file_id, "title": "Result"}]

    # Uploading needs membership even where chat:write.public would allow a post.
    assert (
        await error_of(client.files_upload_v2(content=PNG, filename="r.png", channel="C0RANDOM01")) == "not_in_channel"
    )


async def test_users_info_admin_normal_unknown_and_missing_scope(slack: SlackStandIn, client: AsyncWebClient) -> None:
    admin = (await client.users_info(user=ADMIN_USER_ID, include_locale=True))["user"]
    assert (admin["id"], admin["team_id"], admin["name"]) == (ADMIN_USER_ID, TEAM_ID, "admin")
    assert (admin["is_admin"], admin["is_owner"], admin["deleted"]) == (True, False, False)
    assert (admin["tz"], admin["tz_label"], admin["tz_offset"], admin["locale"]) == (
        "America/New_York",
        "Eastern Standard Time",
        -18000,
        "en-US",
    )
    assert admin["profile"]["real_name"] == admin["real_name"]
    # The wire format the sdk really used: GET with the query string, include_locale as "1".
    call = slack.calls_to("users.info")[0]
    assert call.args == {"user": ADMIN_USER_ID, "include_locale": "1"}

    person = (await client.users_info(user=USER_ID))["user"]
    assert (person["is_admin"], person["is_owner"], person["is_primary_owner"], person["is_bot"]) == (
        False,
        False,
        False,
        False,
    )
    assert "locale" not in person
    owner = slack.add_user("U0OWNER001", "owner", is_owner=True)
    assert owner.is_admin  # owners are admins too, as in Slack
    assert (await client.users_info(user="U0OWNER001"))["user"]["is_owner"] is True
    assert (await client.users_info(user=BOT_USER_ID))["user"]["is_bot"] is True

    assert await error_of(client.users_info(user="U0NOBODY01")) == "user_not_found"
    slack.scopes = tuple(s for s in DEFAULT_SCOPES if s != "users:read")
    with pytest.raises(SlackApiError) as info:
        await client.users_info(user=USER_ID)
    assert (info.value.response["error"], info.value.response["needed"]) == ("missing_scope", "users:read")
    assert "users:read" not in info.value.response["provided"].split(",")


async def test_files_delete_own_upload_and_refuse_others(slack: SlackStandIn, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C0GENERAL1", text="generating")
    uploaded = await client.files_upload_v2(content=PNG, filename="r.png", channel="C0GENERAL1", thread_ts=parent["ts"])
    file_id = uploaded["file"]["id"]
    assert len(slack.thread("C0GENERAL1", parent["ts"])) == 1
    file = slack.files[file_id]

    assert (await client.files_delete(file=file_id))["ok"] is True
    assert slack.calls_to("files.delete")[0].args == {"file": file_id}
    assert file.deleted
    assert await error_of(client.files_info(file=file_id)) == "file_deleted"
    assert slack.thread("C0GENERAL1", parent["ts"]) == []
    async with httpx.AsyncClient() as http:
        gone = await http.get(file.url_private_download, headers={"Authorization": f"Bearer {BOT_TOKEN}"})
    assert gone.status_code == 404
    assert await error_of(client.files_delete(file=file_id)) == "file_deleted"
    assert await error_of(client.files_delete(file="F0MISSING")) == "file_not_found"

    theirs = slack.add_file(PNG, "mine.png", "image/png", channel="C0GENERAL1")
    assert await error_of(client.files_delete(file=theirs.id)) == "cant_delete_file"
    assert not theirs.deleted
    assert (await client.files_info(file=theirs.id))["file"]["id"] == theirs.id


async def test_private_upload_is_not_usable_in_blocks(slack: SlackStandIn, client: AsyncWebClient) -> None:
    private = await client.files_upload_v2(content=PNG, filename="p.png")
    image = {"type": "image", "slack_file": {"id": private["file"]["id"]}, "alt_text": "img"}
    assert await error_of(client.chat_postMessage(channel="C0GENERAL1", text="x", blocks=[image])) == "invalid_blocks"
    assert slack.messages == []

    shared = await client.files_upload_v2(content=PNG, filename="s.png", channel="C0GENERAL1")
    image["slack_file"] = {"id": shared["file"]["id"]}
    await client.chat_postMessage(channel="C0GENERAL1", text="x", blocks=[image])


async def test_upload_endpoint_checks_length_and_unknown_ids(slack: SlackStandIn, client: AsyncWebClient) -> None:
    ticket = await client.files_getUploadURLExternal(filename="a.bin", length=3)
    async with httpx.AsyncClient() as http:
        assert (await http.post(ticket["upload_url"], content=b"four")).status_code == 400
        assert (await http.post(slack.base_url + "/upload/v1/nope", content=b"abc")).status_code == 404
        multipart = await http.post(ticket["upload_url"], files={"file": ("a.bin", b"abc")})
    assert (multipart.status_code, multipart.text) == (200, "OK - 3")
    assert await error_of(client.files_completeUploadExternal(files=[{"id": "F0MISSING"}])) == "file_not_found"
    long_alt = "x" * 1001
    assert await error_of(client.files_getUploadURLExternal(filename="a", length=1, alt_txt=long_alt)) == (
        "alt_txt_too_large"
    )


async def test_url_private_download_needs_token_and_files_read(slack: SlackStandIn) -> None:
    file = slack.add_file(PNG, "input.png", "image/png", channel="C0GENERAL1")
    assert slack.file_object(file.id)["url_private"] == file.url_private
    async with httpx.AsyncClient() as http:
        ok = await http.get(file.url_private_download, headers={"Authorization": f"Bearer {BOT_TOKEN}"})
        assert (ok.status_code, ok.headers["content-type"], ok.content) == (200, "image/png", PNG)

        anonymous = await http.get(file.url_private)
        assert anonymous.status_code == 302
        login = await http.get(file.url_private, follow_redirects=True)
        assert login.status_code == 200
        assert login.headers["content-type"].startswith("text/html")

        bad = await http.get(file.url_private, headers={"Authorization": "Bearer xoxb-wrong"})
        assert bad.status_code == 302

        slack.scopes = tuple(s for s in slack.scopes if s != "files:read")
        no_scope = await http.get(file.url_private, headers={"Authorization": f"Bearer {BOT_TOKEN}"})
        assert no_scope.status_code == 302


async def test_rate_limit_with_and_without_retry_handler(slack: SlackStandIn) -> None:
    retrying = AsyncWebClient(
        token=BOT_TOKEN,
        base_url=slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    slack.rate_limit("chat.update", times=1, retry_after=0)
    posted = await retrying.chat_postMessage(channel="C0GENERAL1", text="a")
    await retrying.chat_update(channel="C0GENERAL1", ts=posted["ts"], text="b")
    assert [c.status for c in slack.calls_to("chat.update")] == [429, 200]

    plain = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    slack.rate_limit("chat.update", times=1, retry_after=7)
    with pytest.raises(SlackApiError) as info:
        await plain.chat_update(channel="C0GENERAL1", ts=posted["ts"], text="c")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    assert info.value.response["error"] == "ratelimited"
    assert slack.message("C0GENERAL1", posted["ts"]).text == "b"


async def test_fail_next_then_recovers(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.fail_next("chat.postMessage", "fatal_error")
    assert await error_of(client.chat_postMessage(channel="C0GENERAL1", text="x")) == "fatal_error"
    await client.chat_postMessage(channel="C0GENERAL1", text="x")
    assert len(slack.messages) == 1


async def test_enforce_tiers_chat_update_per_minute(slack: SlackStandIn, client: AsyncWebClient) -> None:
    slack.enforce_tiers(chat_update_per_minute=2, post_message_per_second_per_channel=1)
    posted = await client.chat_postMessage(channel="C0GENERAL1", text="a")
    await client.chat_update(channel="C0GENERAL1", ts=posted["ts"], text="1")
    await client.chat_update(channel="C0GENERAL1", ts=posted["ts"], text="2")
    with pytest.raises(SlackApiError) as info:
        await client.chat_update(channel="C0GENERAL1", ts=posted["ts"], text="3")
    assert info.value.response.status_code == 429
    assert 58 <= int(info.value.response.headers["Retry-After"]) <= 60
    with pytest.raises(SlackApiError) as post_info:
        await client.chat_postMessage(channel="C0GENERAL1", text="too fast")
    assert post_info.value.response.headers["Retry-After"] == "1"
    await client.chat_postMessage(channel="C0RANDOM01", text="other channel is fine")


async def test_views_publish_block_limit(slack: SlackStandIn, client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [section(str(i)) for i in range(101)]}
    assert await error_of(client.views_publish(user_id="U0USER0001", view=home)) == "invalid_arguments"
    assert slack.views_published == {}
    home["blocks"] = home["blocks"][:100]
    published = await client.views_publish(user_id="U0USER0001", view=home)
    assert slack.views_published["U0USER0001"]["id"] == published["view"]["id"]
    assert len(slack.views_published["U0USER0001"]["blocks"]) == 100


async def test_trigger_id_is_single_use_and_expires(slack: SlackStandIn, client: AsyncWebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "imagine_modal",
        "title": {"type": "plain_text", "text": "Imagine"},
        "submit": {"type": "plain_text", "text": "Go"},
        "blocks": [
            {
                "type": "input",
                "block_id": "prompt",
                "label": {"type": "plain_text", "text": "Prompt"},
                "element": {"type": "plain_text_input", "action_id": "text"},
            }
        ],
    }
    trigger = slack.trigger_id()
    opened = await client.views_open(trigger_id=trigger, view=modal)
    assert opened["view"]["id"].startswith("V")
    assert slack.views_opened[0]["callback_id"] == "imagine_modal"
    assert await error_of(client.views_open(trigger_id=trigger, view=modal)) == "exchanged_trigger_id"
    assert await error_of(client.views_open(trigger_id="123.456.abc", view=modal)) == "invalid_trigger_id"

    long_title = {**modal, "title": {"type": "plain_text", "text": "x" * 25}}
    assert await error_of(client.views_open(trigger_id=slack.trigger_id(), view=long_title)) == "invalid_arguments"

    slack.trigger_ttl = 0.05
    stale = slack.trigger_id()
    await asyncio.sleep(0.1)
    assert await error_of(client.views_open(trigger_id=stale, view=modal)) == "expired_trigger_id"
    assert len(slack.views_opened) == 1


async def test_response_url_via_webhook_client(slack: SlackStandIn) -> None:
    url = slack.response_url("commands", channel="C0GENERAL1")
    assert url.startswith(slack.base_url + f"/commands/{TEAM_ID}/")
    webhook = AsyncWebhookClient(url)
    response = await webhook.send(text="Working on it", response_type="ephemeral")
    assert (response.status_code, response.body) == (200, "ok")
    await webhook.send(text="Result", response_type="in_channel")

    assert [r["text"] for r in slack.responses] == ["Working on it", "Result"]
    assert slack.responses[0]["response_url"] == url
    assert [e["text"] for e in slack.ephemerals] == ["Working on it"]
    assert [m.text for m in slack.messages] == ["Result"]

    for _ in range(3):
        await webhook.send(text="more")
    assert (await webhook.send(text="sixth")).status_code == 404  # 5 uses per URL
    unknown = await AsyncWebhookClient(slack.base_url + "/commands/T/1/nope").send(text="x")
    assert (unknown.status_code, unknown.body) == (404, "no_service")


async def test_wait_for_times_out_with_a_helpful_message(slack: SlackStandIn, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C0GENERAL1", text="hello")
    with pytest.raises(AssertionError, match=r"chat\.postMessage"):
        await slack.wait_for(lambda: len(slack.messages) > 1, timeout=0.05)
    await slack.wait_for(lambda: len(slack.messages) == 1, timeout=0.05)


async def test_socket_mode_round_trip_with_slack_sdk_client(slack: SlackStandIn) -> None:
    client = SocketModeClient(app_token=APP_TOKEN, web_client=AsyncWebClient(base_url=slack.api_url))
    messages: list[dict] = []
    requests: list[SocketModeRequest] = []

    async def on_message(_: AsyncBaseSocketModeClient, message: dict, raw: str | None) -> None:
        messages.append(message)

    async def on_request(sm_client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        requests.append(req)
        await sm_client.send_socket_mode_response(
            SocketModeResponse(envelope_id=req.envelope_id, payload={"text": "pong"})
        )

    client.message_listeners.append(on_message)
    client.socket_mode_request_listeners.append(on_request)
    try:
        await client.connect()
        payload = {
            "command": "/banana",
            "text": "ping",
            "user_id": USER_ID,
            "channel_id": "C0GENERAL1",
            "team_id": TEAM_ID,
            "response_url": slack.response_url("commands", channel="C0GENERAL1"),
            "trigger_id": slack.trigger_id(),
        }
        ack = await slack.socket_send("slash_commands", payload, timeout=1.0)
    finally:
        await client.close()

    assert ack["payload"] == {"text": "pong"}
    assert slack.socket_acks == [ack]
    assert slack.socket_connections == 1
    assert [c.status for c in slack.calls_to("apps.connections.open")] == [200]
    hello = messages[0]
    assert (hello["type"], hello["num_connections"], hello["connection_info"]) == ("hello", 1, {"app_id": APP_ID})
    (req,) = requests
    assert (req.envelope_id, req.type, req.payload) == (ack["envelope_id"], "slash_commands", payload)
    assert req.accepts_response_payload is True


async def test_apps_connections_open_token_rules_and_single_use_ticket(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    assert await error_of(client.apps_connections_open(app_token=BOT_TOKEN)) == "not_allowed_token_type"
    assert await error_of(client.apps_connections_open(app_token="xapp-1-A0OTHER-wrong")) == "invalid_auth"
    app_only = AsyncWebClient(token=APP_TOKEN, base_url=slack.api_url)
    assert await error_of(app_only.chat_postMessage(channel="C0GENERAL1", text="x")) == "not_allowed_token_type"

    url = (await client.apps_connections_open(app_token=APP_TOKEN))["url"]
    assert url.startswith(slack.base_url.replace("http://", "ws://") + "/link/?ticket=")
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        assert (await ws.receive_json(timeout=1))["type"] == "hello"
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(url)  # tickets are single use
        assert info.value.status == 401

        # Nobody acks on this raw socket: socket_send says so instead of hanging.
        with pytest.raises(AssertionError, match="no ack for interactive envelope"):
            await slack.socket_send("interactive", {"type": "block_actions"}, timeout=0.1)
        envelope = await ws.receive_json(timeout=1)
        assert (envelope["type"], envelope["payload"]) == ("interactive", {"type": "block_actions"})

        # stop() closes open sockets with a proper close frame.
        stopping = asyncio.create_task(slack.stop())
        closing = await ws.receive(timeout=1)
        await stopping
    assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 1001)


async def test_socket_send_without_a_connection_fails_fast(slack: SlackStandIn) -> None:
    with pytest.raises(AssertionError, match="no Socket Mode connection"):
        await slack.socket_send("events_api", {"event": {"type": "app_mention"}}, timeout=0.05)


# ---- what the stand-in holds the app to, as the docs say -------------------------------------------------------


async def raw_call(
    slack: SlackStandIn, method: str, *, query: dict | None = None, json_body: dict | None = None, **headers: str
) -> dict:
    async with httpx.AsyncClient() as http:
        response = await http.post(slack.api_url + method, params=query, json=json_body, headers=headers)
    return response.json()


async def test_a_token_in_the_query_string_is_not_read(slack: SlackStandIn) -> None:
    # https://docs.slack.dev/changelog/2020-11-no-more-tokens-in-querystrings-for-newly-created-apps
    assert (await raw_call(slack, "auth.test", query={"token": BOT_TOKEN}))["error"] == "not_authed"
    assert (await raw_call(slack, "auth.test", Authorization=f"Bearer {BOT_TOKEN}"))["ok"] is True


async def test_json_bodies_are_read_only_by_methods_that_take_json(slack: SlackStandIn) -> None:
    auth = {"Authorization": f"Bearer {BOT_TOKEN}"}
    # users.info takes no JSON (its page has no json_input_supported): the user sent that way is not there.
    in_json = await raw_call(slack, "users.info", json_body={"user": USER_ID}, **auth)
    assert in_json["ok"] is False
    assert (await raw_call(slack, "users.info", query={"user": USER_ID}, **auth))["user"]["id"] == USER_ID
    # chat.postMessage does.
    assert (await raw_call(slack, "chat.postMessage", json_body={"channel": "C0GENERAL1", "text": "x"}, **auth))["ok"]


def test_default_scopes_and_messages_tab_are_the_manifests(slack: SlackStandIn) -> None:
    manifest = yaml.safe_load((Path(__file__).parent.parent / "manifest.yml").read_text())
    assert sorted(DEFAULT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])
    assert slack.messages_tab_enabled is manifest["features"]["app_home"]["messages_tab_enabled"]


METHOD_ARGS: dict[str, dict] = {
    "chat.postMessage": {"channel": "C0GENERAL1", "text": "x"},
    "chat.update": {"channel": "C0GENERAL1", "ts": "1.000001", "text": "x"},
    "chat.delete": {"channel": "C0GENERAL1", "ts": "1.000001"},
    "chat.postEphemeral": {"channel": "C0GENERAL1", "user": USER_ID, "text": "x"},
    "conversations.join": {"channel": "C0RANDOM01"},
    "conversations.open": {"users": USER_ID},
    "files.getUploadURLExternal": {"filename": "a.png", "length": 3},
    "files.completeUploadExternal": {"files": json.dumps([{"id": "F0NONE"}])},
    "files.info": {"file": "F0NONE"},
    "files.list": {},
    "files.delete": {"file": "F0NONE"},
    "files.upload": {},
    "files.remote.add": {"external_id": "x1", "external_url": "https://example.com/x", "title": "x"},
    "files.remote.share": {"file": "F0NONE", "channels": "C0GENERAL1"},
    "users.info": {"user": USER_ID},
}


@pytest.mark.parametrize("method", sorted(m for m, scope in METHOD_SCOPES.items() if scope))
async def test_every_scoped_method_says_missing_scope_without_it(slack: SlackStandIn, method: str) -> None:
    needed = METHOD_SCOPES[method]
    slack.scopes = tuple(s for s in DEFAULT_SCOPES if s != needed)
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as info:
        await client.api_call(method, params=METHOD_ARGS[method])
    assert (info.value.response["error"], info.value.response["needed"]) == ("missing_scope", needed)
    assert slack.calls_to(method)[0].status == 200  # Slack's missing_scope is an HTTP 200


async def test_the_installed_app_cannot_open_dms_without_im_write(slack: SlackStandIn, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as info:
        await client.conversations_open(users=USER_ID)
    assert (info.value.response["error"], info.value.response["needed"]) == ("missing_scope", "im:write")


async def test_scope_free_methods_need_no_scope(slack: SlackStandIn, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0GENERAL1", text="x")
    slack.scopes = ()
    assert (await client.auth_test())["ok"]
    assert (await client.chat_getPermalink(channel="C0GENERAL1", message_ts=posted["ts"]))["permalink"]
    assert (await client.views_publish(user_id=USER_ID, view={"type": "home", "blocks": [section("hi")]}))["ok"]


async def test_all_tiers_hold_each_method_to_its_documented_rate(slack: SlackStandIn, client: AsyncWebClient) -> None:
    for _ in range(60):  # off by default
        await client.files_list()
    slack.enforce_tiers(all_methods=True)
    assert METHOD_TIERS["files.list"] == 3 and TIER_PER_MINUTE[3] == 50
    for _ in range(50):
        await client.files_list()
    with pytest.raises(SlackApiError) as info:
        await client.files_list()
    assert info.value.response.status_code == 429
    assert info.value.response["error"] == "ratelimited"
    assert 58 <= int(info.value.response.headers["Retry-After"]) <= 60
    assert (await client.users_info(user=USER_ID))["ok"]  # per method: users.info has its own budget


async def test_a_thread_ts_that_is_a_number_posts_a_message_nobody_sees(slack: SlackStandIn) -> None:
    auth = {"Authorization": f"Bearer {BOT_TOKEN}"}
    parent = await raw_call(slack, "chat.postMessage", json_body={"channel": "C0GENERAL1", "text": "p"}, **auth)
    as_number = {"channel": "C0GENERAL1", "text": "reply", "thread_ts": float(parent["ts"])}
    answer = await raw_call(slack, "chat.postMessage", json_body=as_number, **auth)
    assert answer["ok"] is True  # Slack says ok...
    assert slack.thread("C0GENERAL1", parent["ts"]) == []  # ...and the reply is nowhere
    assert slack.find_message("C0GENERAL1", answer["ts"]) is None
    as_string = {**as_number, "thread_ts": parent["ts"]}
    await raw_call(slack, "chat.postMessage", json_body=as_string, **auth)
    assert [m.text for m in slack.thread("C0GENERAL1", parent["ts"])] == ["reply"]
    # chat.update's ts is a string too: a number finds no message.
    update = {"channel": "C0GENERAL1", "ts": float(parent["ts"]), "text": "edited"}
    assert (await raw_call(slack, "chat.update", json_body=update, **auth))["error"] == "message_not_found"


async def test_no_posts_into_the_apps_dms_while_its_messages_tab_is_off(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    slack.messages_tab_enabled = False  # an app whose manifest turns the Messages tab off
    assert await error_of(client.chat_postMessage(channel="D0DIRECT01", text="x")) == "messages_tab_disabled"
    assert await error_of(client.chat_postMessage(channel=USER_ID, text="x")) == "messages_tab_disabled"
    assert await error_of(client.chat_postMessage(channel="U0NOBODY01", text="x")) == "channel_not_found"
    slack.messages_tab_enabled = True
    assert (await client.chat_postMessage(channel=USER_ID, text="x"))["ok"]


async def test_post_ephemeral_checks_the_channel_and_the_person(slack: SlackStandIn, client: AsyncWebClient) -> None:
    await client.chat_postEphemeral(channel="C0GENERAL1", user=USER_ID, text="only you")
    assert await error_of(client.chat_postEphemeral(channel="C0GENERAL1", user="U0NOBODY01", text="x")) == (
        "user_not_in_channel"
    )
    assert await error_of(client.chat_postEphemeral(channel="G0PRIVATE1", user=USER_ID, text="x")) == (
        "channel_not_found"
    )
    slack.scopes = tuple(s for s in DEFAULT_SCOPES if s != "chat:write.public")
    assert await error_of(client.chat_postEphemeral(channel="C0RANDOM01", user=USER_ID, text="x")) == ("not_in_channel")
    assert [e["text"] for e in slack.ephemerals] == ["only you"]


async def test_response_url_expires_after_30_minutes(slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    url = slack.response_url("commands", channel="C0GENERAL1")
    webhook = AsyncWebhookClient(url)
    assert (await webhook.send(text="in time")).status_code == 200
    monkeypatch.setattr(chat_module, "RESPONSE_URL_TTL", 0.05)  # 30 minutes, shortened
    await asyncio.sleep(0.1)
    late = await webhook.send(text="too late")
    assert (late.status_code, late.body) == (404, "expired_url")
    assert [r["text"] for r in slack.responses] == ["in time"]


async def test_a_socket_mode_ack_after_3_seconds_counts_as_none(slack: SlackStandIn, client: AsyncWebClient) -> None:
    assert slack.socket_ack_deadline == 3.0
    slack.socket_ack_deadline = 0.05  # 3 s, shortened
    url = (await client.apps_connections_open(app_token=APP_TOKEN))["url"]
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.receive_json(timeout=1)  # hello

        async def ack_late() -> None:
            envelope = await ws.receive_json(timeout=1)
            await asyncio.sleep(0.2)
            await ws.send_json({"envelope_id": envelope["envelope_id"]})

        acking = asyncio.create_task(ack_late())
        with pytest.raises(AssertionError, match=r"acked after 0\.\ds; Slack wants the ack within 0\.05s"):
            await slack.socket_send("events_api", {"event": {"type": "app_home_opened"}}, timeout=2.0)
        await acking

        async def ack_now() -> None:
            envelope = await ws.receive_json(timeout=1)
            await ws.send_json({"envelope_id": envelope["envelope_id"]})

        acking = asyncio.create_task(ack_now())
        assert "envelope_id" in await slack.socket_send("events_api", {"event": {"type": "x"}}, timeout=2.0)
        await acking


async def test_standin_routes_add_a_persons_message_with_files_and_mint_trigger_ids(
    slack: SlackStandIn, client: AsyncWebClient
) -> None:
    """Test-only routes for a benchmark in another process: a person's message carrying files, fresh trigger ids,
    and the views the app opened, in the stats."""
    form = aiohttp.FormData()
    form.add_field("channel", "C0GENERAL1")
    form.add_field("text", "photos")
    form.add_field("file", PNG, filename="a.png", content_type="image/png")
    form.add_field("file", PNG[::-1], filename="b.jpg", content_type="image/jpeg")
    async with aiohttp.ClientSession() as http:
        async with http.post(slack.base_url + "/standin/messages", data=form) as response:
            assert response.status == 200
            message = (await response.json())["message"]
        async with http.post(slack.base_url + "/standin/messages", data={"channel": "C0NOWHERE"}) as response:
            assert response.status == 400
        async with http.get(slack.base_url + "/standin/trigger_ids", params={"count": "2"}) as response:
            triggers = (await response.json())["trigger_ids"]
        section = {"type": "section", "text": {"type": "mrkdwn", "text": "2 images"}}
        view = {"type": "modal", "title": {"type": "plain_text", "text": "Remix"}, "blocks": [section]}
        opened = (await client.views_open(trigger_id=triggers[0], view=view))["view"]
        async with http.get(slack.base_url + "/standin/stats") as response:
            stats = await response.json()

    assert message["user"] == USER_ID and message["text"] == "photos"
    assert [f["name"] for f in message["files"]] == ["a.png", "b.jpg"]
    assert slack.message("C0GENERAL1", message["ts"]).files == [f["id"] for f in message["files"]]
    first = message["files"][0]
    assert first["shares"]["public"]["C0GENERAL1"][0]["ts"] == message["ts"]
    assert (await client.files_info(file=first["id"]))["file"]["size"] == len(PNG)
    bot = {"Authorization": f"Bearer {BOT_TOKEN}"}
    async with aiohttp.ClientSession(headers=bot) as http, http.get(first["url_private_download"]) as response:
        assert await response.read() == PNG
    assert len(set(triggers)) == 2
    assert [v["id"] for v in stats["views_opened"]] == [opened["id"]]


# ---- the Events API: app_mention and message events, delivered over HTTP or Socket Mode -------------------------

EVENTS_SECRET = "events-signing-secret"
HISTORY = ("channels:history", "groups:history")
THREAD_REPLIES = (*DEFAULT_BOT_EVENTS, "message.channels", "message.groups")  # manifest.yml's opt-in
MENTION = f"<@{BOT_USER_ID}>"


def test_default_bot_events_are_the_manifests(slack: SlackStandIn) -> None:
    manifest = yaml.safe_load((Path(__file__).parent.parent / "manifest.yml").read_text())
    assert list(DEFAULT_BOT_EVENTS) == manifest["settings"]["event_subscriptions"]["bot_events"]
    assert slack.bot_events == DEFAULT_BOT_EVENTS
    assert "app_mentions:read" in slack.scopes and not set(HISTORY) & set(slack.scopes)
    assert (slack.event_ack_deadline, slack.event_retry_delays) == (3.0, (0.0, 60.0, 300.0))  # Slack's own


@dataclass
class Received:
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict:
        return json.loads(self.raw)

    @property
    def event(self) -> dict:
        return self.body["event"]


class Receiver:
    """A tiny app at a Request URL: records every POST and answers each with the next of `answers` (status, headers,
    and an optional asyncio.Event to wait for first), then 200."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.answers: list[tuple[int, dict[str, str], asyncio.Event | None]] = []
        self.arrived = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(dict(request.headers), await request.read()))
        self.arrived.set()
        status, headers, wait = self.answers.pop(0) if self.answers else (200, {}, None)
        if wait is not None:
            async with asyncio.timeout(5):
                await wait.wait()
        return web.Response(status=status, headers=headers)

    def events(self, event_type: str | None = None) -> list[dict]:
        return [r.event for r in self.requests if event_type in (None, r.event["type"])]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app_side = Receiver()
    app = web.Application()
    app.router.add_post("/slack/events", app_side.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    app_side.url = f"http://{host}:{port}/slack/events"
    yield app_side
    await runner.cleanup()


@pytest.fixture
async def start_slack(receiver: Receiver) -> AsyncIterator[Callable[..., Awaitable[SlackStandIn]]]:
    """A stand-in with other scopes or subscriptions, delivering its events to `receiver`."""
    started: list[SlackStandIn] = []

    async def start(**options: Any) -> SlackStandIn:
        stand_in = SlackStandIn(**options)
        await stand_in.start()
        started.append(stand_in)
        stand_in.deliver_events_to(receiver.url, EVENTS_SECRET)
        return stand_in

    yield start
    for stand_in in started:
        await stand_in.stop()


def assert_signed(request: Received) -> None:
    verifier = SignatureVerifier(EVENTS_SECRET)  # what Bolt checks an HTTP request with
    timestamp, signature = request.headers["X-Slack-Request-Timestamp"], request.headers["X-Slack-Signature"]
    assert verifier.is_valid(body=request.raw, timestamp=timestamp, signature=signature), request.headers


async def test_an_app_mention_arrives_signed_in_the_events_api_envelope(start_slack, receiver: Receiver) -> None:
    slack = await start_slack()
    message = await slack.post_as_user("C0GENERAL1", f"{MENTION} make the sky stormy")

    (request,) = receiver.requests  # post_as_user returned after delivery: nothing left to wait for
    assert_signed(request)
    assert request.headers["Content-Type"] == "application/json"
    assert "X-Slack-Retry-Num" not in request.headers
    body = request.body
    assert {k: body[k] for k in ("token", "team_id", "api_app_id", "type", "is_ext_shared_channel")} == {
        "token": "deprecated-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "type": "event_callback",
        "is_ext_shared_channel": False,
    }
    assert body["event_id"].startswith("Ev") and body["event_time"] == int(float(message.ts))
    assert body["authorizations"] == [
        {
            "enterprise_id": None,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ]
    assert body["event_context"].startswith("4-")
    event = body["event"]
    assert {k: event[k] for k in ("type", "user", "text", "ts", "channel", "event_ts", "team")} == {
        "type": "app_mention",
        "user": USER_ID,
        "text": f"{MENTION} make the sky stormy",
        "ts": message.ts,
        "channel": "C0GENERAL1",
        "event_ts": message.ts,
        "team": TEAM_ID,
    }
    assert event["client_msg_id"] == message.client_msg_id
    assert event["blocks"][0]["type"] == "rich_text"
    assert event["blocks"][0]["elements"][0]["elements"] == [
        {"type": "user", "user_id": BOT_USER_ID},
        {"type": "text", "text": " make the sky stormy"},
    ]
    assert not {"thread_ts", "parent_user_id", "subtype", "bot_id", "files"} & set(event)
    assert slack.events("app_mention") == [event]
    (attempt,) = slack.event_attempts
    assert (attempt.event_id, attempt.retry_num, attempt.via, attempt.status, attempt.ok) == (
        body["event_id"],
        0,
        "http",
        200,
        True,
    )


async def test_app_mention_only_where_the_bot_is_a_member_and_never_for_its_own_posts(
    start_slack, receiver: Receiver
) -> None:
    slack = await start_slack()
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    await slack.post_as_user("C0GENERAL1", "no mention here")
    await slack.post_as_user("C0RANDOM01", f"{MENTION} not a member here")
    await slack.post_as_user("G0PRIVATE1", f"{MENTION} nor here")
    # "Messages sent to your app in direct message conversations are not dispatched via app_mention": message.im only.
    in_dm = await slack.post_as_user("D0DIRECT01", f"{MENTION} in the app's DM")
    await client.chat_postMessage(channel="C0GENERAL1", text=f"I am {MENTION}")
    await slack.events_delivered()
    assert [(e["type"], e["channel_type"], e["ts"]) for e in receiver.events()] == [("message", "im", in_dm.ts)]

    await client.conversations_join(channel="C0RANDOM01")
    joined = await slack.post_as_user("C0RANDOM01", f"hey {MENTION}")
    assert [(e["type"], e["ts"]) for e in receiver.events("app_mention")] == [("app_mention", joined.ts)]


async def test_message_events_need_the_subscription_and_the_history_scope(start_slack, receiver: Receiver) -> None:
    without_scope = await start_slack(bot_events=THREAD_REPLIES)
    await without_scope.post_as_user("C0GENERAL1", "a reply")
    assert without_scope.event_callbacks == []
    without_subscription = await start_slack(scopes=DEFAULT_SCOPES + HISTORY)
    await without_subscription.post_as_user("C0GENERAL1", "a reply")
    assert without_subscription.event_callbacks == []
    # The DM likewise: message.im and im:history (https://docs.slack.dev/reference/events/message.im).
    without_im_history = await start_slack(scopes=tuple(s for s in DEFAULT_SCOPES if s != "im:history"))
    await without_im_history.dm_as_user("a prompt")
    assert without_im_history.event_callbacks == []
    without_message_im = await start_slack(bot_events=tuple(e for e in DEFAULT_BOT_EVENTS if e != "message.im"))
    await without_message_im.dm_as_user("a prompt")
    assert without_message_im.event_callbacks == []

    slack = await start_slack(scopes=DEFAULT_SCOPES + HISTORY, bot_events=THREAD_REPLIES)
    public = await slack.post_as_user("C0GENERAL1", "in public")
    await slack.post_as_user("C0RANDOM01", "where the bot is not")
    slack.channels["G0PRIVATE1"].is_member = True
    private = await slack.post_as_user("G0PRIVATE1", "in private")
    in_dm = await slack.dm_as_user("in the DM")
    assert [(e["type"], e["channel_type"], e["ts"]) for e in receiver.events()] == [
        ("message", "channel", public.ts),
        ("message", "group", private.ts),
        ("message", "im", in_dm.ts),
    ]
    first = receiver.events()[0]
    assert (first["user"], first["text"], first["team"], first["client_msg_id"]) == (
        USER_ID,
        "in public",
        TEAM_ID,
        public.client_msg_id,
    )
    assert not {"subtype", "thread_ts", "parent_user_id", "bot_id"} & set(first)

    # A mention gives both events, as in Slack.
    both = await slack.post_as_user("C0GENERAL1", f"{MENTION} both")
    assert sorted(e["type"] for e in receiver.events() if e["ts"] == both.ts) == ["app_mention", "message"]
    assert len({r.body["event_id"] for r in receiver.requests}) == len(receiver.requests)


async def test_a_thread_reply_carries_thread_ts_and_parent_user_id_and_the_bots_posts_its_ids(
    start_slack, receiver: Receiver
) -> None:
    slack = await start_slack(scopes=DEFAULT_SCOPES + HISTORY, bot_events=THREAD_REPLIES)
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    parent = await client.chat_postMessage(channel="C0GENERAL1", text="Here is your image")
    reply = await slack.post_as_user("C0GENERAL1", f"{MENTION} make it stormy", thread_ts=parent["ts"])
    upload = await client.files_upload_v2(content=PNG, filename="r.png", channel="C0GENERAL1", thread_ts=parent["ts"])
    await slack.events_delivered()

    bot_post, user_reply, mention, file_share = sorted(
        receiver.events(), key=lambda e: (e["ts"], e["type"] == "app_mention")
    )
    # A bot token's post: bot_id, app_id, bot_profile, the bot user, and no bot_message subtype.
    assert (bot_post["user"], bot_post["bot_id"], bot_post["app_id"]) == (BOT_USER_ID, BOT_ID, APP_ID)
    assert bot_post["bot_profile"]["app_id"] == APP_ID and "subtype" not in bot_post
    assert (user_reply["type"], user_reply["thread_ts"], user_reply["parent_user_id"]) == (
        "message",
        parent["ts"],
        BOT_USER_ID,
    )
    assert (mention["type"], mention["thread_ts"]) == ("app_mention", parent["ts"])
    assert "parent_user_id" not in mention
    assert (file_share["subtype"], file_share["user"], file_share["bot_id"]) == ("file_share", BOT_USER_ID, BOT_ID)
    assert [f["id"] for f in file_share["files"]] == [upload["file"]["id"]]
    assert (file_share["thread_ts"], file_share["parent_user_id"]) == (parent["ts"], BOT_USER_ID)
    assert user_reply["ts"] == reply.ts


async def test_a_persons_files_give_file_share_and_a_mention_with_files(start_slack, receiver: Receiver) -> None:
    slack = await start_slack(scopes=DEFAULT_SCOPES + HISTORY, bot_events=THREAD_REPLIES)
    photo = slack.add_file(PNG, "photo.png", "image/png")
    message = await slack.post_as_user("C0GENERAL1", f"{MENTION} use this", files=[photo])
    by_type = {e["type"]: e for e in receiver.events()}
    assert by_type["message"]["subtype"] == "file_share"
    assert "subtype" not in by_type["app_mention"]
    for event in by_type.values():
        (file,) = event["files"]
        assert (file["id"], file["url_private"]) == (photo.id, photo.url_private)
        assert file["shares"]["public"]["C0GENERAL1"][0]["ts"] == message.ts


async def test_edits_and_deletions_give_message_changed_and_message_deleted(start_slack, receiver: Receiver) -> None:
    quiet = await start_slack()  # not subscribed to message.*: an edit is not an event
    said = await quiet.post_as_user("C0GENERAL1", "a cat")
    await quiet.edit_as_user("C0GENERAL1", said.ts, "a dog")
    assert quiet.event_callbacks == []

    slack = await start_slack(scopes=DEFAULT_SCOPES + HISTORY, bot_events=THREAD_REPLIES)
    said = await slack.post_as_user("C0GENERAL1", "a cat")
    await slack.edit_as_user("C0GENERAL1", said.ts, "a dog")
    changed = receiver.events()[-1]
    assert (changed["subtype"], changed["hidden"], changed["channel"], changed["channel_type"]) == (
        "message_changed",
        True,
        "C0GENERAL1",
        "channel",
    )
    assert float(changed["ts"]) > float(said.ts) and changed["event_ts"] == changed["ts"]
    assert (changed["message"]["ts"], changed["message"]["text"], changed["message"]["edited"]) == (
        said.ts,
        "a dog",
        {"user": USER_ID, "ts": changed["ts"]},
    )
    assert (changed["previous_message"]["ts"], changed["previous_message"]["text"]) == (said.ts, "a cat")
    assert slack.events("message/message_changed") == [changed]

    # The bot's own chat.update and chat.delete too.
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    posted = await client.chat_postMessage(channel="C0GENERAL1", text="10%")
    await client.chat_update(channel="C0GENERAL1", ts=posted["ts"], text="50%")
    await client.chat_delete(channel="C0GENERAL1", ts=posted["ts"])
    await slack.events_delivered()
    update, delete = slack.events("message/message_changed")[1], slack.events("message/message_deleted")[0]
    assert (update["message"]["text"], update["previous_message"]["text"], update["message"]["bot_id"]) == (
        "50%",
        "10%",
        BOT_ID,
    )
    assert (delete["deleted_ts"], delete["previous_message"]["text"], delete["hidden"]) == (posted["ts"], "50%", True)


async def test_an_error_answer_is_retried_with_retry_headers_then_given_up(start_slack, receiver: Receiver) -> None:
    slack = await start_slack()
    slack.event_retry_delays = (0.0, 0.01, 0.02)  # nearly at once, 1 minute, 5 minutes, shortened
    receiver.answers = [(500, {}, None), (503, {}, None)]
    await slack.post_as_user("C0GENERAL1", f"{MENTION} one")
    assert [(r.headers.get("X-Slack-Retry-Num"), r.headers.get("X-Slack-Retry-Reason")) for r in receiver.requests] == [
        (None, None),
        ("1", "http_error"),
        ("2", "http_error"),
    ]
    for request in receiver.requests:
        assert_signed(request)  # each attempt signed afresh
    assert len({r.body["event_id"] for r in receiver.requests}) == 1  # the same event, again
    assert [(a.retry_num, a.status, a.outcome) for a in slack.event_attempts] == [
        (0, 500, "http_error"),
        (1, 503, "http_error"),
        (2, 200, "ok"),
    ]

    receiver.requests.clear()
    receiver.answers = [(500, {}, None)] * 4
    await slack.post_as_user("C0GENERAL1", f"{MENTION} two")
    assert [r.headers.get("X-Slack-Retry-Num") for r in receiver.requests] == [None, "1", "2", "3"]  # then no more

    receiver.requests.clear()
    receiver.answers = [(500, {"X-Slack-No-Retry": "1"}, None)]  # "Turning retries off"
    await slack.post_as_user("C0GENERAL1", f"{MENTION} three")
    assert len(receiver.requests) == 1


async def test_a_slow_answer_is_retried_as_http_timeout_without_waiting_for_it(start_slack, receiver: Receiver) -> None:
    slack = await start_slack()
    slack.event_ack_deadline = 0.1  # 3 s, shortened
    retried = asyncio.Event()
    # The first answer waits until the retry has arrived: it cannot beat the deadline, whatever the machine's speed.
    receiver.answers = [(200, {}, retried), (200, {}, None)]
    receiver.arrived.clear()
    message = slack.add_message("C0GENERAL1", f"{MENTION} slowly")
    async with asyncio.timeout(5):
        while len(receiver.requests) < 2:
            await receiver.arrived.wait()
            receiver.arrived.clear()
    retried.set()
    await slack.events_delivered()  # includes the first request, still open until now

    assert [(r.headers.get("X-Slack-Retry-Num"), r.headers.get("X-Slack-Retry-Reason")) for r in receiver.requests] == [
        (None, None),
        ("1", "http_timeout"),
    ]
    assert [(a.retry_num, a.outcome, a.status) for a in slack.event_attempts] == [
        (0, "http_timeout", 200),  # its answer came, too late
        (1, "ok", 200),
    ]
    assert receiver.events()[0]["ts"] == message.ts


async def test_an_unreachable_request_url_is_connection_failed(start_slack, receiver: Receiver) -> None:
    slack = await start_slack()
    slack.event_retry_delays = (0.0, 0.0, 0.0)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    slack.deliver_events_to(f"http://127.0.0.1:{port}/slack/events", EVENTS_SECRET)
    await slack.post_as_user("C0GENERAL1", f"{MENTION} anyone?")
    assert [(a.retry_num, a.retry_reason, a.outcome) for a in slack.event_attempts] == [
        (0, "", "connection_failed"),
        (1, "connection_failed", "connection_failed"),
        (2, "connection_failed", "connection_failed"),
        (3, "connection_failed", "connection_failed"),
    ]


async def test_nothing_is_delivered_without_a_request_url(slack: SlackStandIn) -> None:
    await slack.post_as_user("C0GENERAL1", f"{MENTION} hello?")
    slack.add_message("C0GENERAL1", f"{MENTION} and again")
    await slack.events_delivered()
    assert slack.event_callbacks == [] and slack.event_attempts == []


async def test_socket_mode_gets_events_api_envelopes_instead_of_http(start_slack, receiver: Receiver) -> None:
    slack = await start_slack()
    client = SocketModeClient(app_token=APP_TOKEN, web_client=AsyncWebClient(base_url=slack.api_url))
    requests: list[SocketModeRequest] = []

    async def on_request(sm_client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        requests.append(req)
        await sm_client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    client.socket_mode_request_listeners.append(on_request)
    try:
        await client.connect()
        await slack.wait_for(lambda: slack.socket_connections == 1)
        message = await slack.post_as_user("C0GENERAL1", f"{MENTION} over the socket")
    finally:
        await client.close()

    assert receiver.requests == []  # a connected Socket Mode app gets no HTTP deliveries
    (req,) = requests
    assert (req.type, req.accepts_response_payload, req.retry_attempt, req.retry_reason) == (
        "events_api",
        False,
        0,
        "",
    )
    assert req.payload["type"] == "event_callback"
    assert (req.payload["event"]["type"], req.payload["event"]["ts"]) == ("app_mention", message.ts)
    assert [(a.via, a.outcome) for a in slack.event_attempts] == [("socket_mode", "ok")]


async def test_socket_mode_retries_an_envelope_nobody_acked(start_slack, receiver: Receiver) -> None:
    slack = await start_slack()
    slack.socket_ack_deadline = 0.1  # 3 s, shortened
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    url = (await client.apps_connections_open(app_token=APP_TOKEN))["url"]
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.receive_json(timeout=1)  # hello
        message = slack.add_message("C0GENERAL1", f"{MENTION} ack me")
        first = await ws.receive_json(timeout=5)  # not acked
        retry = await ws.receive_json(timeout=5)
        await ws.send_json({"envelope_id": retry["envelope_id"]})
        await slack.events_delivered()
    assert (first["retry_attempt"], first["retry_reason"]) == (0, "")
    assert (retry["type"], retry["retry_attempt"], retry["retry_reason"]) == ("events_api", 1, "timeout")
    assert first["payload"] == retry["payload"] and retry["payload"]["event"]["ts"] == message.ts
    assert first["envelope_id"] != retry["envelope_id"]
    assert [(a.retry_num, a.outcome) for a in slack.event_attempts] == [(0, "timeout"), (1, "ok")]
    assert receiver.requests == []


async def test_standin_routes_post_a_reply_edit_it_and_read_the_events(start_slack, receiver: Receiver) -> None:
    """The same over HTTP, for a process that drives the stand-in from elsewhere."""
    slack = await start_slack(scopes=DEFAULT_SCOPES + HISTORY, bot_events=THREAD_REPLIES)
    parent = slack.add_message("C0GENERAL1", "parent")
    await slack.events_delivered()
    async with aiohttp.ClientSession() as http:
        form = {"channel": "C0GENERAL1", "text": f"{MENTION} reply", "thread_ts": parent.ts, "wait_for_events": "1"}
        async with http.post(slack.base_url + "/standin/messages", data=form) as response:
            reply = (await response.json())["message"]
        assert reply["thread_ts"] == parent.ts
        edit = {"channel": "C0GENERAL1", "ts": reply["ts"], "text": "edited", "wait_for_events": "1"}
        async with http.post(slack.base_url + "/standin/messages/edit", data=edit) as response:
            assert (await response.json())["message"]["text"] == "edited"
        async with http.post(slack.base_url + "/standin/messages/edit", data={**edit, "ts": "1.0"}) as response:
            assert response.status == 400
        async with http.get(slack.base_url + "/standin/events") as response:
            events = await response.json()
    assert slack.message("C0GENERAL1", reply["ts"]).thread_ts == parent.ts
    kinds = [
        (body["event"]["type"], body["event"].get("subtype"), body["event"].get("thread_ts"))
        for body in events["events"]
    ]
    assert kinds[0] == ("message", None, None)
    assert sorted(kinds[1:3], key=str) == [("app_mention", None, parent.ts), ("message", None, parent.ts)]
    assert kinds[3] == ("message", "message_changed", None)
    assert events["pending"] == 0
    assert [a["outcome"] for a in events["attempts"]] == ["ok"] * 4
    assert len(receiver.requests) == 4


async def test_dms_give_message_im_but_no_app_mention_and_app_home_opened_names_the_dm(
    start_slack, receiver: Receiver
) -> None:
    slack = await start_slack(scopes=(*DEFAULT_SCOPES, "im:history"), bot_events=(*DEFAULT_BOT_EVENTS, "message.im"))
    said = await slack.post_as_user("D0DIRECT01", f"{MENTION} in our DM")
    ((event_type, channel_type, ts),) = [(e["type"], e.get("channel_type"), e["ts"]) for e in receiver.events()]
    assert (event_type, channel_type, ts) == ("message", "im", said.ts)

    home = {"type": "home", "blocks": [section("hi")]}
    await AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url).views_publish(user_id=USER_ID, view=home)
    await slack.open_app_home(USER_ID)
    opened = receiver.events("app_home_opened")[0]
    assert (opened["user"], opened["channel"], opened["tab"]) == (USER_ID, "D0DIRECT01", "home")
    assert opened["view"]["id"] == slack.views_published[USER_ID]["id"]
    assert_signed(receiver.requests[-1])

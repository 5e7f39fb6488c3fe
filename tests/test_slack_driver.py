"""The Slack-side driver (standins/slack/driver.py): one person toward the app, whoever drives it.

In this process it reads names and fresh ids from the workspace; from another process (the benchmark) over the
stand-in's /standin/... routes. Both must hand the app the same shapes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from slack_sdk.signature import SignatureVerifier

from standins.slack import SlackStandIn
from standins.slack.driver import (
    Delivery,
    SignedRequest,
    SlackDriver,
    StandInSource,
    TeamSource,
    encode,
    over_http,
)


def recording() -> tuple[list[Delivery], Any]:
    seen: list[Delivery] = []

    async def send(delivery: Delivery) -> Delivery:
        seen.append(delivery)
        return delivery

    return seen, send


async def test_a_driver_in_another_process_names_the_person_as_the_workspace_does(slack: SlackStandIn) -> None:
    other = slack.add_workspace("T0SECOND01", "Second", domain="second", installed=True)
    secret_channel = other.private_channel
    async with aiohttp.ClientSession() as http:
        source = StandInSource(http, slack.base_url, team=other.team_id)
        remote = await source.sender(other.other_user_id, secret_channel)
        assert remote == other.sender(other.other_user_id, secret_channel)
        assert remote.channel_name == "privategroup" and remote.team_id == "T0SECOND01"

        _, send = recording()
        command = await SlackDriver(source, send).command("a fox", user=other.other_user_id, channel=secret_channel)
        here = other.command_payload("a fox", user=other.other_user_id, channel=secret_channel)
        assert command.payload.keys() == here.keys()
        same = {k: v for k, v in command.payload.items() if k not in ("response_url", "trigger_id")}
        assert same == {k: v for k, v in here.items() if k not in ("response_url", "trigger_id")}
        assert "/commands/T0SECOND01/" in command.payload["response_url"]
        # The trigger id was minted by that workspace.
        assert command.payload["trigger_id"] in other.views_api._triggers


async def test_prepared_response_urls_ask_the_standin_nothing_more(slack: SlackStandIn) -> None:
    async with aiohttp.ClientSession() as http:
        source = StandInSource(http, slack.base_url)
        await source.prepare(3)
        urls = [await source.response_url("commands", slack.general_channel) for _ in range(3)]
    assert len(set(urls)) == 3 and all(url.startswith(slack.base_url + "/commands/") for url in urls)


async def test_each_act_is_signed_and_shaped_as_slack_sends_it(slack: SlackStandIn) -> None:
    posted: list[SignedRequest] = []

    async def post(request: SignedRequest) -> None:
        posted.append(request)

    person = SlackDriver(TeamSource(slack), over_http("http://app/slack/events", "s3cret", post))
    await person.command("a fox")
    await person.message_shortcut({"type": "message", "ts": "1.000001", "text": "hi"})
    await person.global_shortcut("new_image")
    await person.click("cancel", "7", message_ts="1.000001")
    await person.click("home_older", "all:1")
    view = {
        "blocks": [{"type": "input", "block_id": "prompt", "element": {"type": "plain_text_input", "action_id": "p"}}]
    }
    await person.submit(view, prompt="a cat")
    await person.event({"type": "app_home_opened", "user": slack.user_id, "tab": "home"})

    verifier = SignatureVerifier("s3cret")
    for request in posted:
        headers = request.headers
        assert request.url == "http://app/slack/events"
        assert verifier.is_valid(request.body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    command, shortcut, menu, on_card, on_home, submitted, event = posted
    assert parse_qs(command.body.decode())["text"] == ["a fox"]
    kinds = [json.loads(parse_qs(r.body.decode())["payload"][0]) for r in (shortcut, menu, on_card, on_home, submitted)]
    assert [k["type"] for k in kinds] == [
        "message_action",
        "shortcut",
        "block_actions",
        "block_actions",
        "view_submission",
    ]
    assert kinds[2]["container"]["type"] == "message" and "/actions/" in kinds[2]["response_url"]
    assert kinds[3]["container"] == {"type": "view", "view_id": "V0HOME"} and "response_url" not in kinds[3]
    assert kinds[4]["view"]["state"]["values"] == {"prompt": {"p": {"type": "plain_text_input", "value": "a cat"}}}
    assert event.headers["Content-Type"] == "application/json"
    assert json.loads(event.body)["authorizations"][0]["team_id"] == slack.team_id


def test_interactions_travel_as_one_form_field_of_json() -> None:
    body, content_type = encode(Delivery("interactive", {"type": "shortcut"}))
    assert content_type == "application/x-www-form-urlencoded"
    assert json.loads(parse_qs(body.decode())["payload"][0]) == {"type": "shortcut"}

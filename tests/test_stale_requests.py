"""Stale and malformed requests: a button, shortcut or form this version no longer knows is acknowledged and
answered privately; a signed body that cannot be read gets 400 without a stack trace; a forged one still gets 401."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import urlencode

import pytest
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.blocks import cards, home
from handlers import actions
from handlers.payloads import claims
from standins.slack import TEAM_ID, SlackStandIn
from tests.conftest import USER_ID, Banana

OLDER_VERSION = "from an older version of Banana"


def notes(slack: SlackStandIn) -> list[dict]:
    """What the app said through response_urls that calls a button, shortcut or form out of date."""
    return [r for r in slack.responses if OLDER_VERSION in json.dumps(r)]


async def test_an_unknown_button_on_a_message_gets_a_private_note(banana: Banana, slack: SlackStandIn) -> None:
    response = await banana.click("regenerate_v1", "7", message_ts="1700000000.000100")
    assert response.status_code == 200
    await slack.wait_for(lambda: bool(notes(slack)))
    (note,) = notes(slack)
    assert note["response_type"] == "ephemeral"
    assert "button" in note["text"] and "/banana help" in note["text"]
    assert slack.views_opened == [] and slack.messages == []  # nothing public, no modal


async def test_an_unknown_button_on_the_home_tab_opens_a_small_modal(banana: Banana, slack: SlackStandIn) -> None:
    response = await banana.click("home_refresh_v0", "", message_ts="", container="view")
    assert response.status_code == 200
    await slack.wait_for(lambda: bool(slack.views_opened))
    (modal,) = slack.views_opened
    assert OLDER_VERSION in json.dumps(modal) and "button" in json.dumps(modal)
    assert notes(slack) == []


async def test_known_buttons_still_reach_their_listeners(banana: Banana, slack: SlackStandIn) -> None:
    await banana.command("a lighthouse")
    task = await banana.only_task()
    assert (await banana.click(cards.REGENERATE, str(task.id), message_ts=task.message_ts or "")).status_code == 200
    first, second = await banana.settle(2)
    assert second.parent_task_id == first.id and second.relation == "regenerate"

    # One matched by a pattern, from the Home tab: the Home tab is published again, no modal opens.
    published = len(slack.calls_to("views.publish"))
    await banana.click(f"{home.HOME_FILTER}_failed", "failed", message_ts="", container="view")
    await slack.wait_for(lambda: len(slack.calls_to("views.publish")) > published)
    # A later act that does answer (an unknown button opens a small modal): once it has, a stray note or modal for
    # the known button would have come before it.
    await banana.click("home_refresh_v0", "", message_ts="", container="view")
    await slack.wait_for(lambda: bool(slack.views_opened))
    assert notes(slack) == [] and len(slack.views_opened) == 1


async def test_an_unknown_global_shortcut_opens_a_small_modal(banana: Banana, slack: SlackStandIn) -> None:
    response = await banana.interaction(
        {"type": "shortcut", "callback_id": "new_image_v0", "action_ts": f"{time.time():.6f}"}
    )
    assert response.status_code == 200
    await slack.wait_for(lambda: bool(slack.views_opened))
    assert OLDER_VERSION in json.dumps(slack.views_opened[-1]) and "shortcut" in json.dumps(slack.views_opened[-1])


async def test_an_unknown_message_shortcut_gets_a_private_note(banana: Banana, slack: SlackStandIn) -> None:
    message = {"type": "message", "ts": "1700000000.000200", "user": USER_ID, "text": "hello"}
    response = await banana.interaction(
        {
            "type": "message_action",
            "callback_id": "remix_message_v0",
            "channel": {"id": "C0GENERAL1", "name": "general"},
            "message": message,
            "message_ts": message["ts"],
            "action_ts": f"{time.time():.6f}",
            "response_url": slack.response_url("actions"),
        }
    )
    assert response.status_code == 200
    await slack.wait_for(lambda: bool(notes(slack)))
    assert notes(slack)[0]["response_type"] == "ephemeral" and "shortcut" in notes(slack)[0]["text"]


async def test_an_unknown_form_is_replaced_with_a_note(banana: Banana, slack: SlackStandIn) -> None:
    view = {
        "id": "V0OLDFORM1",
        "type": "modal",
        "callback_id": "banana_generate_v0",
        "private_metadata": "",
        "blocks": [],
        "state": {"values": {}},
    }
    response = await banana.interaction({"type": "view_submission", "view": view, "response_urls": []})
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_action"] == "update"
    assert answer["view"]["type"] == "modal" and OLDER_VERSION in json.dumps(answer["view"])


def broken_bodies() -> list[tuple[str, str]]:
    form = "application/x-www-form-urlencoded"
    return [
        (urlencode({"payload": '{"type": "block_actions", "actions": ['}), form),  # payload is not JSON
        (urlencode({"payload": '["block_actions"]'}), form),  # JSON, but not an object
        ('{"type": "event_callback", "event": {"type": "app_home_opened"', "application/json"),  # broken JSON
    ]


@pytest.mark.parametrize(("body", "content_type"), broken_bodies())
async def test_a_signed_body_that_cannot_be_read_gets_400_and_one_warning(
    banana: Banana, slack: SlackStandIn, caplog: pytest.LogCaptureFixture, body: str, content_type: str
) -> None:
    caplog.set_level(logging.INFO)
    response = await banana.post_signed(body, content_type)
    assert response.status_code == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], "no error, no stack trace"
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "400" in warning.getMessage() and "\n" not in warning.getMessage()
    # The app is still fine, and still answers what it can read.
    assert (await banana.click("regenerate_v1", "7", message_ts="1.1")).status_code == 200
    await slack.wait_for(lambda: bool(notes(slack)))


@pytest.mark.parametrize(("body", "content_type"), broken_bodies())
async def test_a_forged_body_that_cannot_be_read_still_gets_401(
    banana: Banana, caplog: pytest.LogCaptureFixture, body: str, content_type: str
) -> None:
    caplog.set_level(logging.INFO)
    forged = await banana.post_signed(body, content_type, secret="not-the-signing-secret")
    assert forged.status_code == 401
    unsigned = await banana.http.post(
        f"{banana.url}/slack/events", content=body, headers={"Content-Type": content_type}
    )
    assert unsigned.status_code == 401
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_readable_requests_still_get_what_bolt_answers(banana: Banana, slack: SlackStandIn) -> None:
    # A forged button: Bolt's own 401, and nothing done.
    forged = await banana.post_signed(
        urlencode({"payload": json.dumps({"type": "block_actions", "actions": []})}),
        "application/x-www-form-urlencoded",
        secret="not-the-signing-secret",
    )
    assert forged.status_code == 401 and forged.json() == {"error": "invalid request"}
    # Slack's SSL check carries no signature at all, and Bolt answers it.
    check = await banana.http.post(
        f"{banana.url}/slack/events",
        content="ssl_check=1&token=deprecated-verification-token",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert check.status_code == 200
    # And Slack's URL check, signed, is answered with its challenge.
    challenge = await banana.post_signed(
        json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"}), "application/json"
    )
    assert challenge.status_code == 200 and challenge.json() == {"challenge": "abc123"}
    assert slack.responses == [] and slack.views_opened == []


async def test_a_listener_slow_to_ack_is_not_taken_over_by_the_catch_all() -> None:
    """Bolt moves on to the next matching listener when one has not acknowledged within its 3 seconds. The catch-all
    must not answer for it (here: replace the form with the "older version" note while the real listener goes on):
    that request stays Bolt's 404, as it was without the catch-all."""
    identity = AuthorizeResult(enterprise_id=None, team_id=TEAM_ID, bot_token="xoxb-x", bot_user_id="U0", bot_id="B0")

    async def authorize() -> AuthorizeResult:
        return identity

    app = AsyncApp(authorize=authorize, request_verification_enabled=False, signing_secret="unused")
    release = asyncio.Event()
    started = asyncio.Event()

    @app.view("slow_form", middleware=[claims])
    async def slow(ack: AsyncAck) -> None:
        started.set()
        await release.wait()
        await ack()

    actions.register_stale(app)
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM_ID},
        "user": {"id": USER_ID},
        "view": {"id": "V0SLOW", "type": "modal", "callback_id": "slow_form", "state": {"values": {}}},
    }
    request = AsyncBoltRequest(
        body=urlencode({"payload": json.dumps(payload)}),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    try:
        response = await app.async_dispatch(request)
    finally:
        release.set()
    assert started.is_set()
    assert response.status == 404 and OLDER_VERSION not in response.body

"""What Slack sends the app that is not a good `/banana`: forgeries, bad input, help, the Home tab, health."""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlencode

import pytest

from prompts.tasks import TaskState
from standins.kie import API_KEY
from standins.slack import BOT_TOKEN
from tests.conftest import SIGNING_SECRET, USER_ID

CREATE = "/api/v1/jobs/createTask"


async def assert_nothing_started(banana, kie, slack) -> None:
    """A good command sent after the bad one is the only task: the bad one created nothing anywhere."""
    await banana.command("control image")
    (task,) = await banana.settle(1)
    assert task.prompt == "control image"
    assert len(kie.requests_to(CREATE)) == 1
    assert len(slack.calls_to("chat.postMessage")) == 1


async def test_forged_signature_is_refused(banana, kie, slack):
    response = await banana.command("a cat", secret="not-the-signing-secret")
    assert response.status_code == 401
    await assert_nothing_started(banana, kie, slack)


async def test_stale_timestamp_is_refused(banana, kie, slack):
    body = urlencode({"command": "/banana", "text": "a cat", "user_id": USER_ID, "channel_id": "C0GENERAL1"})
    old = str(int(time.time()) - 600)
    from slack_sdk.signature import SignatureVerifier

    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=old, body=body)
    response = await banana.http.post(
        f"{banana.url}/slack/events",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": old,
            "X-Slack-Signature": signature,
        },
    )
    assert response.status_code == 401
    await assert_nothing_started(banana, kie, slack)


async def test_unsigned_request_is_refused(banana):
    response = await banana.http.post(f"{banana.url}/slack/events", content="command=%2Fbanana&text=cat")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("--ar 16:9", "Tell me what to draw"),
        ("   --res 2K", "Tell me what to draw"),
        ("a cat --ar 5:7", "`--ar` got `5:7`"),
        ("a cat --res 8K", "`--res` got `8K`"),
        ("a cat --format webp", "`--format` got `webp`"),
        ("a cat --style raw", "I don't know the option `--style`"),
        ("x" * 10_001, "kie takes at most 10,000"),
    ],
)
async def test_bad_input_gets_a_private_answer_and_creates_nothing(banana, kie, slack, text, says):
    response = await banana.command(text)
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    assert says in answer["text"] and "/banana help" in answer["text"]
    await assert_nothing_started(banana, kie, slack)


async def test_help_lists_every_option_privately(banana, kie, slack):
    response = await banana.command("help")
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    for option in ("--ar", "21:9", "auto", "--res", "4K", "--format", "jpg", "--no"):
        assert option in answer["text"]
    await assert_nothing_started(banana, kie, slack)


async def test_home_tab_shows_each_person_their_own_tasks(banana, slack):
    await banana.command("mine: a red fox")
    await banana.command("theirs: a blue whale", user="U0OTHER001")
    await banana.settle(1)
    await banana.settle(1, user="U0OTHER001")

    response = await banana.event({"type": "app_home_opened", "user": USER_ID, "channel": "D0DIRECT01", "tab": "home"})
    assert response.status_code == 200
    await slack.wait_for(lambda: USER_ID in slack.views_published)
    home = json.dumps(slack.views_published[USER_ID])
    assert "a red fox" in home and "a blue whale" not in home


async def test_home_tab_for_a_newcomer(banana, slack):
    await banana.event({"type": "app_home_opened", "user": "U0NEWCOMER", "channel": "D0DIRECT01", "tab": "home"})
    await slack.wait_for(lambda: "U0NEWCOMER" in slack.views_published)
    assert "Nothing here yet" in json.dumps(slack.views_published["U0NEWCOMER"])


async def test_health_reports_database_and_settings(banana):
    response = await banana.http.get(f"{banana.url}/healthz")
    assert response.status_code == 200
    assert response.json() | {"in_flight": 0} == {
        "ok": True,
        "database": True,
        "database_backend": "sqlite",
        "settings": True,
        "mode": "http",
        "in_flight": 0,
    }


async def test_health_fails_when_the_database_is_gone(banana):
    await banana.services.store.close()
    response = await banana.http.get(f"{banana.url}/healthz")
    assert response.status_code == 503 and response.json()["database"] is False


async def test_secrets_never_reach_the_logs(banana, caplog):
    caplog.set_level(logging.DEBUG)
    await banana.command("a cat")
    (task,) = await banana.settle(1)
    assert task.state is TaskState.DONE
    for secret in (BOT_TOKEN, API_KEY, SIGNING_SECRET):
        assert secret not in caplog.text


async def test_bot_token_is_checked_once_at_start_not_per_request(banana, slack):
    await banana.command("one")
    await banana.command("two")
    await banana.settle(2)
    assert len(slack.calls_to("auth.test")) == 1


async def test_a_bad_bot_token_stops_start_up_with_a_clear_message(start_banana):
    from banana.app.wiring import StartupError

    with pytest.raises(StartupError, match="Slack refused SLACK_BOT_TOKEN \\(invalid_auth\\)"):
        await start_banana(SLACK_BOT_TOKEN="xoxb-revoked")

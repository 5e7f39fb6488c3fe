"""The second way to run: Socket Mode, where Slack's requests arrive over a websocket instead of HTTP."""

from __future__ import annotations

import json

from prompts.tasks import TaskState
from standins.slack import APP_TOKEN, SlackStandIn
from standins.slack.driver import SlackDriver, TeamSource, over_socket
from tests.conftest import CHANNEL_ID


def person(slack: SlackStandIn) -> SlackDriver[dict]:
    """A person whose acts reach the app as Socket Mode envelopes; each returns the app's ack."""
    return SlackDriver(TeamSource(slack), over_socket(slack))


async def test_command_over_socket_mode_needs_no_signing_secret(start_banana, slack):
    banana = await start_banana(SLACK_APP_TOKEN=APP_TOKEN, SLACK_SIGNING_SECRET="")
    ack = await person(slack).command("a lighthouse --ar 3:2")
    assert "payload" not in ack or not ack["payload"]  # an empty ack: the progress message is the answer
    task = await banana.only_task()
    assert task.state is TaskState.DONE and task.aspect_ratio == "3:2"
    assert len(slack.thread(CHANNEL_ID, task.message_ts)) == 1
    health = await banana.http.get(f"{banana.url}/healthz")
    assert health.json()["mode"] == "socket"
    # In Socket Mode nothing listens for Slack on HTTP.
    assert (await banana.http.post(f"{banana.url}/slack/events", content="x")).status_code == 404


async def test_bad_input_over_socket_mode_answers_in_the_ack(start_banana, slack):
    await start_banana(SLACK_APP_TOKEN=APP_TOKEN)
    ack = await person(slack).command("a cat --res 9K")
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "`--res` got `9K`" in json.dumps(ack["payload"])

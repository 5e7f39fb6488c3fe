"""The stand-in's /standin/command: a person typing a slash command, sent to the app as Slack sends it (what the
"run the stand-ins by hand" recipe in docs/testing.md uses)."""

from __future__ import annotations

import httpx

from tests.conftest import SIGNING_SECRET


async def test_a_command_sent_through_the_standin_makes_an_image(start_banana, slack, kie):
    banana = await start_banana()
    slack.deliver_events_to(f"{banana.url}/slack/events", SIGNING_SECRET)
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{slack.base_url}/standin/command", data={"text": "a lighthouse --ar 16:9"})
    assert answer.json()["status"] == 200
    await slack.wait_for(lambda: any(m.files for m in slack.messages))  # the image, in the card's thread
    (create,) = kie.requests_to("/api/v1/jobs/createTask")
    assert create.json["input"]["aspect_ratio"] == "16:9"


async def test_a_forged_secret_is_refused_by_the_app(start_banana, slack):
    banana = await start_banana()
    slack.deliver_events_to(f"{banana.url}/slack/events", "not-the-secret")
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{slack.base_url}/standin/command", data={"text": "a lighthouse"})
    assert answer.json()["status"] == 401


async def test_without_a_request_url_it_says_how_to_set_one(slack):
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{slack.base_url}/standin/command", data={"text": "a lighthouse"})
    assert answer.status_code == 400 and "--events-url" in answer.json()["error"]

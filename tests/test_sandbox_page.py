"""The sandbox's page and closing line, rendered from a Slack stand-in the test fills through Slack's own API."""

from __future__ import annotations

import re
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from banana.sandbox import SandboxResult
from banana.sandbox.page import ChannelPage, FirstVersions, Form, plain_text
from banana.sandbox.script import closing_summary
from standins import slack as slack_standin
from standins.slack import SlackStandIn
from standins.slack.users import shown_name

CHANNEL = "C0GENERAL1"


def page_of(slack: SlackStandIn, first: FirstVersions | None = None) -> str:
    return ChannelPage(slack, {}, CHANNEL, slack_standin.USER_ID, first.seen if first else {}).render()


def client(slack: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=slack_standin.BOT_TOKEN, base_url=slack.api_url)


def test_the_closing_line_counts_only_what_banana_made(tmp_path: Path):
    result = SandboxResult(
        page=tmp_path / "index.html",
        images=[tmp_path / name for name in ("a.png", "b.png", "c.png", "team-photo.png")],
        result_file_ids=["F1", "F2", "F3"],
        result_kinds=["new", "edit", "remix"],
        kie_task_ids=["k1", "k2", "k3"],
    )
    line = closing_summary(result, tmp_path)
    assert line.startswith("Done. Banana made 3 images (1 new, 1 edit, 1 remix)")
    assert str(tmp_path) in line


def test_names_are_the_ones_slack_shows(slack):
    # https://api.slack.com/reference/surfaces/formatting#mentioning-users: a mention shows the display name, and
    # a profile without one shows the real name; a bot shows the name its manifest gives it.
    person = slack.users[slack_standin.USER_ID]
    assert shown_name(person) == "Test User"
    assert shown_name(slack.users[slack.bot_user_id]) == "Banana"
    slack.add_message(CHANNEL, f"<@{slack.bot_user_id}> hello")
    slack.add_message(CHANNEL, f"<@{slack_standin.USER_ID}> here is your image", user=slack.bot_user_id)
    assert plain_text(f"hi <@{slack_standin.USER_ID}>", slack) == "hi @Test User"
    page = page_of(slack)
    assert "@Banana</span>" in page and "@Test User</span>" in page
    assert "@user<" not in page and "@banana-bot" not in page
    assert "<b>Test User</b>" in page and "<b>Banana</b>" in page

    person.display_name = "tess"
    assert plain_text(f"<@{slack_standin.USER_ID}>", slack) == "@tess"
    assert slack.user_object(slack_standin.USER_ID)["profile"]["display_name"] == "tess"
    assert "@tess</span>" in page_of(slack)


async def test_links_to_the_channel_lead_within_the_page(slack):
    web = client(slack)
    card = await web.chat_postMessage(channel=CHANNEL, text="Done")
    reply = await web.chat_postMessage(channel=CHANNEL, text="here is your image", thread_ts=card["ts"])
    to_card = (await web.chat_getPermalink(channel=CHANNEL, message_ts=card["ts"]))["permalink"]
    to_reply = (await web.chat_getPermalink(channel=CHANNEL, message_ts=reply["ts"]))["permalink"]
    elsewhere = f"{slack.base_url}/archives/{CHANNEL}/p1000000000000001"
    text = f"<{to_card}|open thread> · <{to_reply}|the image> · <{elsewhere}|gone> · <https://kie.ai/logs|kie logs>"
    await web.chat_postMessage(channel=CHANNEL, text=text)

    page = page_of(slack)
    for ts, label in ((card["ts"], "open thread"), (reply["ts"], "the image")):
        anchor = "m" + ts.replace(".", "-")
        assert f"<a href='#{anchor}'>{label}</a>" in page
        assert f"id='{anchor}'" in page
    assert "· gone ·" in page  # a stand-in address with nothing on the page is no link
    assert slack.base_url not in page
    assert "<a href='https://kie.ai/logs'>kie logs</a>" in page


async def test_an_edit_history_shows_every_version_the_first_included(slack):
    first = FirstVersions(slack)
    web = client(slack)

    def card(status: str) -> list[dict[str, object]]:
        return [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{status}*"}}]

    posted = await web.chat_postMessage(channel=CHANNEL, text="Starting", blocks=card("Starting"))
    for status in ("Generating", "Done"):
        await web.chat_update(channel=CHANNEL, ts=posted["ts"], text=status, blocks=card(status))

    history = re.search(r"<details class='history'>.*?</details>", page_of(slack, first), re.S)
    assert history is not None
    assert "edited 2 times · show all 3 versions" in history.group(0)
    versions = re.findall(r"<li>(.*?)</li>", history.group(0), re.S)
    assert [re.search(r"<b>(\w+)</b>", v).group(1) for v in versions] == ["Starting", "Generating", "Done"]
    assert "as posted" in versions[0] and "edit 1" in versions[1] and "edit 2" in versions[2]


def test_a_form_shows_what_its_person_gave_else_what_it_started_with(slack):
    admin = slack.admin_user_id
    logo = slack.add_file(b"\x89PNG logo", "logo.png", "image/png", user=admin)
    options = [
        {"text": {"type": "plain_text", "text": t}, "value": v} for t, v in (("Studio", "studio"), ("All", "all"))
    ]

    def field(block_id: str, element: dict[str, object]) -> dict[str, object]:
        label = {"type": "plain_text", "text": block_id.capitalize()}
        return {"type": "input", "block_id": block_id, "label": label, "element": {"action_id": block_id, **element}}

    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Brand kit"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            field("name", {"type": "plain_text_input", "initial_value": "Banana Studio"}),
            field("tone", {"type": "plain_text_input", "initial_value": "calm\nclear", "multiline": True}),
            field("send", {"type": "static_select", "options": options, "initial_option": options[0]}),
            field("remove", {"type": "checkboxes", "options": options}),
            field("admins", {"type": "multi_users_select", "initial_users": [admin]}),
            field("logo", {"type": "file_input"}),
            field("style", {"type": "file_input"}),
        ],
    }
    filled = {"name": "Acme <&>", "send": "all", "remove": ["studio"], "logo": [slack.file_object(logo.id)]}
    forms = [Form(admin, view, filled)]
    page = ChannelPage(slack, {logo.id: "images/logo.png"}, CHANNEL, slack_standin.USER_ID, {}, forms).render()

    shown = re.search(r"<div class='modal'>.*?<div class='modal-buttons'>.*?</div>", page, re.S)
    assert shown is not None
    form = shown.group(0)
    assert "<div class='modal-title'>Brand kit</div>" in form and "Admin User · submitted" in form
    assert "<div class='input'>Acme &lt;&amp;&gt;</div>" in form  # what was typed, not the initial value
    assert "<div class='input multiline'>calm<br>clear</div>" in form  # untouched: as the form started
    assert "<div class='input select'>All</div>" in form
    assert "<div class='check'>☑ Studio</div>" in form and "<div class='check'>☐ All</div>" in form
    assert "<div class='input select'>@Admin User</div>" in form
    assert "src='images/logo.png'" in form and "Drag a file here" in form  # the chosen logo; no style image
    assert "<button class='primary' disabled>Save</button>" in form

"""The sandbox: the whole app working on one machine, with no Slack workspace and no kie.ai key.

`banana-bot sandbox` starts the local kie.ai and Slack stand-ins as real servers, starts Banana between them in HTTP
mode, and plays a short conversation the way Slack would send it: a `/banana` command, a remix of a photo someone
posted, and the Home tab. It prints each progress edit as it happens, then leaves the images and an HTML page of the
simulated channel (messages, their edits, threads, images, the Home tab) in an output folder.
"""

from __future__ import annotations

import asyncio
import html
import io
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from PIL import Image, ImageDraw
from slack_sdk.signature import SignatureVerifier

from banana.app.server import BananaServer
from banana.engine.settings import load_settings
from standins import kie as kie_standin
from standins import slack as slack_standin
from standins.kie import KieStandIn, Outcome
from standins.slack import Message, SlackStandIn

USER_ID = slack_standin.USER_ID
CHANNEL_ID = "C0GENERAL1"
COMMAND_TEXT = "a lighthouse at dawn, isometric --ar 16:9"
PHOTO_TEXT = "Our team photo from the offsite :camera:"
REMIX_PROMPT = "turn this into a retro travel poster with the title “Offsite 2025”"
IMAGES_DIR = "images"
DATABASE_NAME = "banana.db"

# What a terminal and a page show for the emoji codes the app uses.
EMOJI = {
    "art": "🎨",
    "banana": "🍌",
    "camera": "📷",
    "frame_with_picture": "🖼️",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "no_entry": "⛔",
    "no_entry_sign": "🚫",
    "outbox_tray": "📤",
    "warning": "⚠️",
    "wave": "👋",
    "white_check_mark": "✅",
    "x": "❌",
}


@dataclass(frozen=True)
class Timings:
    """How long the stand-in kie takes, and how often the app looks: slow enough to watch the card move."""

    queue_seconds: float = 1.5
    generate_seconds: float = 4.0
    poll_interval: float = 0.5
    progress_interval: float = 1.0
    home_refresh_delay: float = 0.5
    watch_interval: float = 0.1  # how often the terminal looks for new messages and edits
    step_timeout: float = 45.0  # no step of the conversation may take longer


FAST = Timings(
    queue_seconds=0.2,
    generate_seconds=0.6,
    poll_interval=0.1,
    progress_interval=0.2,
    home_refresh_delay=0.1,
    watch_interval=0.05,
    step_timeout=15.0,
)


@dataclass
class SandboxResult:
    page: Path
    images: list[Path]
    result_file_ids: list[str]  # the images Banana posted, in order
    kie_task_ids: list[str]  # the stand-in kie's tasks, in order of creation
    log: list[str] = field(default_factory=list)


class SlackSide:
    """Plays Slack toward the app: signed requests to /slack/events, as Slack sends them."""

    def __init__(self, http: httpx.AsyncClient, app_url: str, secret: str, slack: SlackStandIn) -> None:
        self.http = http
        self.app_url = app_url
        self.secret = secret
        self.slack = slack

    async def post_signed(self, body: str, content_type: str) -> httpx.Response:
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(self.secret).generate_signature(timestamp=timestamp, body=body)
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
        response = await self.http.post(f"{self.app_url}/slack/events", content=body, headers=headers)
        response.raise_for_status()
        return response

    async def command(self, text: str, *, channel: str = CHANNEL_ID) -> httpx.Response:
        form = {
            "team_id": slack_standin.TEAM_ID,
            "team_domain": "sandbox",
            "channel_id": channel,
            "channel_name": self.slack.channels[channel].name,
            "user_id": USER_ID,
            "user_name": "you",
            "command": "/banana",
            "text": text,
            "api_app_id": slack_standin.APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.slack.response_url(),
            "trigger_id": self.slack.trigger_id(),
        }
        return await self.post_signed(urlencode(form), "application/x-www-form-urlencoded")

    async def interaction(self, payload: dict[str, Any]) -> httpx.Response:
        base = {
            "team": {"id": slack_standin.TEAM_ID, "domain": "sandbox"},
            "user": {"id": USER_ID, "username": "you", "team_id": slack_standin.TEAM_ID},
            "api_app_id": slack_standin.APP_ID,
            "trigger_id": self.slack.trigger_id(),
            "is_enterprise_install": False,
        }
        body = urlencode({"payload": json.dumps({**base, **payload})})
        return await self.post_signed(body, "application/x-www-form-urlencoded")

    async def message_shortcut(self, message: Message) -> httpx.Response:
        """ "Remix with Banana" chosen from the ⋮ menu of a message."""
        shown: dict[str, Any] = {"type": "message", "user": message.user, "ts": message.ts, "text": message.text}
        if message.files:
            shown["files"] = [self.slack.file_object(file_id) for file_id in message.files]
        return await self.interaction(
            {
                "type": "message_action",
                "callback_id": "remix_message",
                "channel": {"id": message.channel, "name": self.slack.channels[message.channel].name},
                "message": shown,
                "message_ts": message.ts,
                "action_ts": f"{time.time():.6f}",
                "response_url": self.slack.response_url("actions"),
            }
        )

    async def submit(self, view: dict[str, Any], **fields: str) -> httpx.Response:
        """Submit a modal as a person would: what they typed in `fields` (by block id), defaults elsewhere."""
        values: dict[str, dict[str, Any]] = {}
        for block in view["blocks"]:
            if block["type"] != "input":
                continue
            element = block["element"]
            given = fields.get(block["block_id"])
            kind = element["type"]
            if kind == "plain_text_input":
                state: dict[str, Any] = {"value": given if given is not None else element.get("initial_value")}
            elif kind == "static_select":
                state = {"selected_option": element.get("initial_option") if given is None else {"value": given}}
            elif kind == "conversations_select":
                state = {"selected_conversation": given or element.get("initial_conversation")}
            elif kind == "file_input":
                state = {"files": []}
            else:
                continue
            values[block["block_id"]] = {element["action_id"]: {"type": kind, **state}}
        return await self.interaction(
            {"type": "view_submission", "view": {**view, "state": {"values": values}}, "response_urls": []}
        )

    async def event(self, event: dict[str, Any]) -> httpx.Response:
        body = {
            "team_id": slack_standin.TEAM_ID,
            "api_app_id": slack_standin.APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{time.time_ns()}",
            "event_time": int(time.time()),
        }
        return await self.post_signed(json.dumps(body), "application/json")


def render_emoji(text: str) -> str:
    return re.sub(r":([a-z0-9_+-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def plain_text(text: str, slack: SlackStandIn) -> str:
    """Slack mrkdwn as a terminal line: names for mentions, no markup."""

    def token(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user = slack.users.get(target[1:])
            return "@" + (user.name if user else target[1:])
        if target.startswith("#"):
            channel = slack.channels.get(target[1:])
            return "#" + (channel.name if channel else target[1:])
        return label or target

    text = re.sub(r"<([^<>]+)>", token, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return render_emoji(text.replace("*", "").replace("`", ""))


def block_texts(blocks: list[dict[str, Any]]) -> list[str]:
    texts: list[str] = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            texts.append(block["text"].get("text", ""))
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("type") in ("mrkdwn", "plain_text"):
                texts.append(element.get("text", ""))
    return texts


def summary_line(text: str, blocks: list[dict[str, Any]], slack: SlackStandIn) -> str:
    """The line of a message worth watching: the card's status, not the quoted prompt."""
    lines = [line for t in block_texts(blocks) or [text] for line in t.splitlines()]
    interesting = [line for line in lines if line.strip() and not line.startswith(">") and "█" not in line]
    return plain_text((interesting or lines or [""])[0], slack).strip()


class ChannelWatch:
    """Prints each new message, edit and file in the simulated workspace as it happens."""

    def __init__(self, slack: SlackStandIn, echo: Callable[[str], None], started: float) -> None:
        self.slack = slack
        self.echo = echo
        self.started = started
        self._edits_seen: dict[tuple[str, str], int] = {}

    def say(self, text: str, at: float | None = None) -> None:
        at = time.monotonic() if at is None else at
        self.echo(f"[{at - self.started:5.1f}s] {text}")

    def report(self) -> None:
        """Print what happened since the last look, in the order it happened."""
        wall_to_monotonic = time.monotonic() - time.time()  # a message's ts is wall-clock time, edits are monotonic
        happened: list[tuple[float, str]] = []
        for message in list(self.slack.messages):
            key = (message.channel, message.ts)
            where = "#" + self.slack.channels[message.channel].name
            if message.thread_ts and message.thread_ts != message.ts:
                where += " ↳ thread"
            who = self._name(message.user)
            if key not in self._edits_seen:
                self._edits_seen[key] = 0
                posted = float(message.ts) + wall_to_monotonic
                if message.user == USER_ID:
                    pass  # the conversation itself says what the person did
                elif message.files:
                    names = ", ".join(self.slack.files[f].name for f in message.files if f in self.slack.files)
                    line = f"{where:<18} {who} uploads {names}: {plain_text(message.text, self.slack)}"
                    happened.append((posted, line))
                else:
                    happened.append((posted, f"{where:<18} {who} posts   {self._status(message.text, message.blocks)}"))
            for edit in message.edits[self._edits_seen[key] :]:
                happened.append((edit["at"], f"{where:<18} {who} edits   {self._status(edit['text'], edit['blocks'])}"))
            self._edits_seen[key] = len(message.edits)
        for at, line in sorted(happened, key=lambda item: item[0]):
            self.say(line, at)

    def _status(self, text: str, blocks: list[dict[str, Any]]) -> str:
        return summary_line(text, blocks, self.slack)

    def _name(self, user_id: str) -> str:
        return "Banana" if user_id == self.slack.bot_user_id else self.slack.users[user_id].name


class Sandbox:
    """The stand-ins, the app between them, and the conversation."""

    def __init__(self, out: Path, timings: Timings, echo: Callable[[str], None]) -> None:
        self.out = out
        self.timings = timings
        self.echo = echo
        self.kie = KieStandIn(
            default_outcome=Outcome(queue_seconds=timings.queue_seconds, generate_seconds=timings.generate_seconds),
            result_long_side=640,  # big enough to see on the page
        )
        self.slack = SlackStandIn()
        self.server: BananaServer | None = None
        self.watch = ChannelWatch(self.slack, echo, time.monotonic())
        self.log: list[str] = []

    async def run(self) -> SandboxResult:
        await self.kie.start()
        await self.slack.start()
        try:
            secret = secrets.token_hex(16)
            self.server = BananaServer(load_settings(self._environment(secret), env_file=None), loop_probe=False)
            port = await self.server.start()
            app_url = f"http://127.0.0.1:{port}"
            self.echo(f"kie.ai stand-in {self.kie.base_url} · Slack stand-in {self.slack.base_url} · Banana {app_url}")
            async with httpx.AsyncClient(timeout=10) as http:
                await self._conversation(SlackSide(http, app_url, secret, self.slack))
        finally:
            if self.server is not None:
                await self.server.stop()
            await self.slack.stop()
            await self.kie.stop()
        return self._write_output()

    def _environment(self, secret: str) -> dict[str, str]:
        t = self.timings
        return {
            "SLACK_BOT_TOKEN": slack_standin.BOT_TOKEN,
            "SLACK_SIGNING_SECRET": secret,
            "SLACK_API_URL": self.slack.api_url,
            "KIEAI_API_KEY": kie_standin.API_KEY,
            "KIEAI_BASE_URL": self.kie.base_url,
            "KIEAI_UPLOAD_URL": self.kie.base_url,
            "DATABASE_PATH": str(self.out / DATABASE_NAME),
            "HOST": "127.0.0.1",
            "PORT": "0",
            "POLL_INTERVAL_FAST": str(t.poll_interval),
            "POLL_INTERVAL_MEDIUM": str(t.poll_interval),
            "POLL_INTERVAL_SLOW": str(t.poll_interval),
            "PROGRESS_UPDATE_INTERVAL": str(t.progress_interval),
            "HOME_REFRESH_DELAY": str(t.home_refresh_delay),
            "SLACK_POST_INTERVAL": "0.1",
            "KIEAI_RETRY_DELAYS": "0.2,0.5",
        }

    async def _conversation(self, slack_side: SlackSide) -> None:
        # 1. A command.
        started = time.monotonic()
        await slack_side.command(COMMAND_TEXT)
        self.watch.say(f"you     → /banana {COMMAND_TEXT}   (acknowledged in {_ms(started)})")
        await self._until_tasks_finished(1)

        # 2. Someone posts a photo; "Remix with Banana" from its menu; the form is submitted.
        photo = self.slack.add_file(team_photo(), "team-photo.png", "image/png", channel=CHANNEL_ID, text=PHOTO_TEXT)
        message = self.slack.message(CHANNEL_ID, photo.share_ts or "")
        self.watch.say(f"you     → posts {photo.name} in #general: {plain_text(PHOTO_TEXT, self.slack)}")
        opened = len(self.slack.views_opened)
        started = time.monotonic()
        await slack_side.message_shortcut(message)
        self.watch.say(f"you     → Remix with Banana on that message   (acknowledged in {_ms(started)})")
        await self._until(lambda: len(self.slack.views_opened) > opened, "the remix form to open")
        form = self.slack.views_opened[-1]
        self.watch.say(f"Banana  ← opens the form: {summary_line('', form['blocks'][:1], self.slack)}")
        await slack_side.submit(form, prompt=REMIX_PROMPT)
        self.watch.say(f"you     → submits the form: “{REMIX_PROMPT}”")
        await self._until_tasks_finished(2)

        # 3. The Home tab.
        published = len(self.slack.calls_to("views.publish"))
        await slack_side.event({"type": "app_home_opened", "user": USER_ID, "channel": "D0DIRECT01", "tab": "home"})
        self.watch.say("you     → opens Banana's Home tab")
        await self._until(lambda: len(self.slack.calls_to("views.publish")) > published, "the Home tab")
        home = self.slack.views_published[USER_ID]
        shown = [summary_line("", [b], self.slack) for b in home["blocks"] if b.get("type") == "section"]
        self.watch.say(f"Banana  ← publishes the Home tab: {' | '.join(s for s in shown if s)}")

    async def _until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timings.step_timeout
        while not done():
            self.watch.report()
            if time.monotonic() > deadline:
                raise SandboxError(f"gave up waiting for {what} after {self.timings.step_timeout:.0f}s")
            await asyncio.sleep(self.timings.watch_interval)
        self.watch.report()

    async def _until_tasks_finished(self, count: int) -> None:
        assert self.server is not None and self.server.services is not None
        services = self.server.services
        finished = False

        async def check() -> None:
            nonlocal finished
            tasks = await services.store.for_user(USER_ID, limit=100)
            finished = len(tasks) >= count and all(t.state.finished for t in tasks) and not services.runner.in_flight

        deadline = time.monotonic() + self.timings.step_timeout
        while True:
            await check()
            self.watch.report()
            if finished:
                return
            if time.monotonic() > deadline:
                raise SandboxError(f"task {count} did not finish within {self.timings.step_timeout:.0f}s")
            await asyncio.sleep(self.timings.watch_interval)

    def _write_output(self) -> SandboxResult:
        images_dir = self.out / IMAGES_DIR
        images_dir.mkdir(exist_ok=True)
        saved: dict[str, str] = {}
        for file in self.slack.files.values():
            if file.deleted or not file.mimetype.startswith("image/"):
                continue
            name = f"{file.id}-{re.sub(r'[^A-Za-z0-9._-]', '_', file.name)}"
            (images_dir / name).write_bytes(file.data)
            saved[file.id] = f"{IMAGES_DIR}/{name}"
        page = self.out / "index.html"
        page.write_text(ChannelPage(self.slack, saved).render(), encoding="utf-8")
        posted = [f.id for f in self.slack.files.values() if f.user == self.slack.bot_user_id and not f.deleted]
        return SandboxResult(
            page=page,
            images=[self.out / path for path in saved.values()],
            result_file_ids=posted,
            kie_task_ids=list(self.kie.tasks),
        )


class SandboxError(Exception):
    """The conversation did not go as it should; the message says which step."""


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"


def team_photo() -> bytes:
    """A small made-up "photo" for the remix: sky, sea, sun and three people."""
    image = Image.new("RGB", (480, 320), (135, 190, 235))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 200, 480, 320), fill=(40, 110, 160))
    draw.ellipse((360, 30, 430, 100), fill=(255, 210, 80))
    for x, colour in ((150, (220, 80, 60)), (230, (80, 160, 90)), (310, (120, 90, 200))):
        draw.ellipse((x - 18, 130, x + 18, 166), fill=(240, 200, 170))
        draw.rectangle((x - 24, 168, x + 24, 250), fill=colour)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class ChannelPage:
    """The simulated channel as one self-contained HTML page: messages with their edit history, threads indented,
    images from the files saved next to it, and the Home tab."""

    def __init__(self, slack: SlackStandIn, images: dict[str, str]) -> None:
        self.slack = slack
        self.images = images  # file id -> path relative to the page
        self.clock_offset = time.time() - time.monotonic()  # edits are timed on the monotonic clock

    def render(self) -> str:
        channel = self.slack.channels[CHANNEL_ID]
        messages = [m for m in self.slack.messages if m.channel == CHANNEL_ID]
        top = sorted((m for m in messages if not m.thread_ts or m.thread_ts == m.ts), key=lambda m: float(m.ts))
        body = []
        for message in top:
            replies = self.slack.thread(CHANNEL_ID, message.ts)
            thread = "".join(self.message(reply) for reply in replies)
            body.append(
                "<div class='entry'>"
                + self.message(message)
                + (
                    f"<div class='thread'><div class='thread-label'>{len(replies)} in thread</div>{thread}</div>"
                    if replies
                    else ""
                )
                + "</div>"
            )
        home = self.slack.views_published.get(USER_ID)
        home_html = self.blocks(home["blocks"]) if home else "<p class='muted'>The Home tab was not opened.</p>"
        generated = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        return PAGE.format(
            channel=html.escape(channel.name),
            generated=generated,
            messages="\n".join(body),
            home=home_html,
            user=html.escape(self.slack.users[USER_ID].real_name),
        )

    def message(self, message: Message) -> str:
        who = "Banana" if message.user == self.slack.bot_user_id else self.slack.users[message.user].real_name
        bot = message.user == self.slack.bot_user_id
        posted = float(message.ts)
        content = self.blocks(message.blocks) if message.blocks else self.mrkdwn(message.text)
        files = "".join(self.file(file_id) for file_id in message.files)
        history = ""
        if message.edits:
            items = []
            for number, edit in enumerate(message.edits, start=1):
                after = edit["at"] + self.clock_offset - posted
                shown = self.blocks(edit["blocks"]) if edit["blocks"] else self.mrkdwn(edit["text"])
                items.append(f"<li><div class='when'>edit {number} · +{after:.1f}s</div>{shown}</li>")
            history = (
                f"<details class='history'><summary>edited {len(message.edits)} "
                f"time{'s' if len(message.edits) != 1 else ''} · show each version</summary><ol>{''.join(items)}</ol>"
                "</details>"
            )
        deleted = " <span class='muted'>(deleted)</span>" if message.deleted else ""
        return (
            f"<div class='message{' bot' if bot else ''}' id='m{message.ts.replace('.', '-')}'>"
            f"<div class='avatar'>{html.escape(who[:1])}</div><div class='main'>"
            f"<div class='head'><b>{html.escape(who)}</b>{' <span class=app>APP</span>' if bot else ''} "
            f"<span class='muted'>{datetime.fromtimestamp(posted).strftime('%H:%M:%S')}</span>{deleted}</div>"
            f"<div class='content'>{content}{files}</div>{history}</div></div>"
        )

    def file(self, file_id: str) -> str:
        file = self.slack.files.get(file_id)
        if file is None or file.deleted:
            return "<div class='muted'>(file deleted)</div>"
        if file_id in self.images:
            alt = html.escape(file.alt_txt or file.title)
            return (
                f"<figure><img class='file' src='{html.escape(self.images[file_id])}' alt='{alt}'>"
                f"<figcaption>{html.escape(file.name)}</figcaption></figure>"
            )
        return f"<div class='attachment'>{html.escape(file.name)}</div>"

    def blocks(self, blocks: list[dict[str, Any]]) -> str:
        return "".join(self.block(block) for block in blocks)

    def block(self, block: dict[str, Any]) -> str:
        kind = block.get("type")
        if kind == "header":
            return f"<h3>{html.escape(block['text']['text'])}</h3>"
        if kind == "divider":
            return "<hr>"
        if kind == "section":
            text = self.text(block.get("text"))
            fields = "".join(f"<div>{self.text(f)}</div>" for f in block.get("fields") or [])
            accessory = self.element(block["accessory"]) if block.get("accessory") else ""
            return f"<div class='section'><div class='text'>{text}{fields}</div>{accessory}</div>"
        if kind == "context":
            return f"<div class='context'>{' '.join(self.element(e) for e in block.get('elements', []))}</div>"
        if kind == "actions":
            return f"<div class='actions'>{''.join(self.element(e) for e in block.get('elements', []))}</div>"
        if kind == "image":
            return self.element(block)
        return ""

    def element(self, element: dict[str, Any]) -> str:
        kind = element.get("type")
        if kind in ("mrkdwn", "plain_text"):
            return self.text(element)
        if kind == "button":
            style = element.get("style") or "plain"
            return f"<button class='{style}' disabled>{html.escape(element['text']['text'])}</button>"
        if kind == "image":
            source = self.image_source(element)
            alt = html.escape(element.get("alt_text", ""))
            return f"<img class='thumb' src='{html.escape(source)}' alt='{alt}'>" if source else ""
        return ""

    def image_source(self, image: dict[str, Any]) -> str | None:
        ref = image.get("slack_file") or {}
        if ref.get("id") in self.images:
            return self.images[ref["id"]]
        url = ref.get("url") or image.get("image_url")
        for file in self.slack.files.values():
            if url in (file.url_private, file.url_private_download, file.permalink) and file.id in self.images:
                return self.images[file.id]
        return None

    def text(self, obj: dict[str, Any] | None) -> str:
        if not obj:
            return ""
        if obj.get("type") == "plain_text":
            return html.escape(obj.get("text", ""))
        return self.mrkdwn(obj.get("text", ""))

    def mrkdwn(self, text: str) -> str:
        """Enough of Slack's mrkdwn for the app's messages: quotes, bold, italics, code, mentions, links, dates."""
        lines = []
        for line in text.split("\n"):
            quote = line.startswith("&gt; ") or line.startswith("> ")
            if quote:
                line = line.split(" ", 1)[1] if " " in line else ""
            rendered = self._inline(line)
            lines.append(f"<blockquote>{rendered}</blockquote>" if quote else rendered + "<br>")
        return "".join(lines)

    def _inline(self, line: str) -> str:
        parts = []
        position = 0
        for match in re.finditer(r"<([^<>]+)>", line):
            parts.append(self._styled(line[position : match.start()]))
            parts.append(self._token(match.group(1)))
            position = match.end()
        parts.append(self._styled(line[position:]))
        return "".join(parts)

    def _styled(self, text: str) -> str:
        text = html.escape(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"), quote=False)
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
        text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", text)
        text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", text)
        return render_emoji(text)

    def _token(self, inner: str) -> str:
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user = self.slack.users.get(target[1:])
            return f"<span class='mention'>@{html.escape(user.name if user else target[1:])}</span>"
        if target.startswith("#"):
            channel = self.slack.channels.get(target[1:])
            return f"<span class='mention'>#{html.escape(channel.name if channel else target[1:])}</span>"
        if target.startswith("!date^"):
            stamp = target.split("^")[1]
            return html.escape(datetime.fromtimestamp(int(stamp)).strftime("%b %d %H:%M"))
        if target.startswith("!"):
            return html.escape("@" + target[1:])
        return f"<a href='{html.escape(target)}'>{html.escape(label or target)}</a>"


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Banana sandbox · #{channel}</title>
<style>
body {{ font: 15px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0; color: #1d1c1d;
  background: #f8f8f8; }}
header {{ background: #3f0e40; color: #fff; padding: 10px 20px; }}
header .muted {{ color: #cfc3cf; }}
.layout {{ display: flex; gap: 20px; padding: 16px 20px; align-items: flex-start; }}
.channel {{ flex: 1 1 640px; background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 8px 0; }}
.home {{ flex: 0 0 400px; background: #fff; border: 1px solid #ddd; border-radius: 8px; padding: 8px 16px; }}
h2 {{ font-size: 17px; margin: 4px 16px 8px; }}
.home h2 {{ margin: 4px 0 8px; }}
.entry {{ border-bottom: 1px solid #eee; padding: 6px 0; }}
.message {{ display: flex; gap: 10px; padding: 6px 16px; }}
.avatar {{ width: 36px; height: 36px; border-radius: 6px; background: #e8d44d; display: flex;
  align-items: center; justify-content: center; font-weight: bold; flex: none; }}
.message:not(.bot) .avatar {{ background: #4a90d9; color: #fff; }}
.main {{ min-width: 0; flex: 1; }}
.app {{ font-size: 10px; background: #eee; color: #555; padding: 1px 4px; border-radius: 3px; }}
.muted, .when {{ color: #777; font-size: 12px; }}
.thread {{ margin-left: 46px; border-left: 3px solid #e0e0e0; padding-left: 4px; }}
.thread-label {{ color: #1264a3; font-size: 13px; padding: 2px 16px; }}
blockquote {{ margin: 2px 0; padding-left: 10px; border-left: 4px solid #ddd; color: #444; }}
code {{ background: #f4f4f4; border: 1px solid #e4e4e4; border-radius: 3px; padding: 0 3px; font-size: 12px; }}
.section {{ display: flex; gap: 10px; justify-content: space-between; margin: 2px 0; }}
.context {{ color: #616061; font-size: 12px; margin: 2px 0; }}
.actions {{ margin: 6px 0; display: flex; flex-wrap: wrap; gap: 6px; }}
button {{ font: inherit; font-size: 13px; padding: 3px 10px; border: 1px solid #bbb; border-radius: 4px;
  background: #fff; color: #1d1c1d; }}
button.primary {{ background: #007a5a; color: #fff; border-color: #007a5a; }}
button.danger {{ color: #e01e5a; border-color: #e01e5a; }}
img.file {{ max-width: 420px; max-height: 300px; border-radius: 6px; border: 1px solid #ddd; display: block; }}
img.thumb {{ width: 72px; height: 72px; object-fit: cover; border-radius: 4px; flex: none; }}
figure {{ margin: 6px 0; }}
figcaption {{ color: #777; font-size: 12px; }}
.mention {{ background: #e8f5fa; color: #1264a3; border-radius: 3px; padding: 0 2px; }}
details.history {{ margin-top: 4px; font-size: 13px; }}
details.history summary {{ color: #1264a3; cursor: pointer; }}
details.history li {{ border-top: 1px dashed #e4e4e4; padding: 4px 0; }}
</style></head>
<body>
<header><b>Banana sandbox</b> · <span class="muted">a simulated Slack workspace with a local kie.ai ·
generated {generated}</span></header>
<div class="layout">
<section class="channel"><h2>#{channel}</h2>
{messages}
</section>
<aside class="home"><h2>Home tab of {user}</h2>
{home}
</aside>
</div>
</body></html>
"""


async def run_sandbox(out: Path, *, timings: Timings = Timings(), echo: Callable[[str], None] = print) -> SandboxResult:
    """Run the whole conversation into `out` (created; earlier sandbox output there is replaced)."""
    prepare_folder(out)
    return await Sandbox(out, timings, echo).run()


def prepare_folder(out: Path) -> None:
    """Create the output folder and clear what an earlier run left there, so the page shows this run only."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob(f"{DATABASE_NAME}*"), *(out / IMAGES_DIR).glob("*"), out / "index.html"]:
        stale.unlink(missing_ok=True)


def run_cli(out: str) -> int:
    """`banana-bot sandbox`: returns the exit status."""
    # The app's own log lines would drown the conversation; warnings and errors still show.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = Path(out).resolve()
    print("Banana sandbox: the app between local stand-ins for kie.ai and Slack; no accounts needed.\n")
    try:
        result = asyncio.run(run_sandbox(folder))
    except SandboxError as error:
        print(f"\nThe sandbox stopped: {error}")
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"\nDone. {len(result.images)} images and the channel page are in {folder}")
    print(f"Open it in a browser: {result.page.as_uri()}")
    return 0

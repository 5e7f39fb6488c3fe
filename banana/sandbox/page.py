"""What the sandbox shows: the simulated channel as an HTML page, and its messages and edits as terminal lines.

Everything here reads the Slack stand-in's recorded state; nothing drives the app.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from standins.slack import Message, MessageChange, SlackStandIn
from standins.slack.users import shown_name

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


def render_emoji(text: str) -> str:
    return re.sub(r":([a-z0-9_+-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def plain_text(text: str, slack: SlackStandIn) -> str:
    """Slack mrkdwn as a terminal line: names for mentions, no markup."""

    def token(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + user_name(slack, target[1:])
        if target.startswith("#"):
            channel = slack.channels.get(target[1:])
            return "#" + (channel.name if channel else target[1:])
        return label or target

    text = re.sub(r"<([^<>]+)>", token, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return render_emoji(text.replace("*", "").replace("`", ""))


def user_name(slack: SlackStandIn, user_id: str) -> str:
    """The name Slack shows for a user, beside their messages and in a mention."""
    user = slack.users.get(user_id)
    return shown_name(user) if user else user_id


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

    def __init__(self, slack: SlackStandIn, echo: Callable[[str], None], started: float, person: str) -> None:
        self.slack = slack
        self.echo = echo
        self.started = started
        self.person = person  # the user the script plays
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
                if message.user == self.person:
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
        return user_name(self.slack, user_id)


Version = tuple[str, list[dict[str, Any]]]  # a message's text and blocks at one moment


class FirstVersions:
    """Each message as it was first posted: the stand-in keeps a message's edits, not what they replaced, and an edit
    history starts from the first version."""

    def __init__(self, slack: SlackStandIn) -> None:
        self.seen: dict[tuple[str, str], Version] = {}
        slack.message_listeners.append(self._heard)

    def _heard(self, change: MessageChange) -> None:
        if change.kind == "posted":
            message = change.message
            self.seen[message.channel, message.ts] = (message.text, list(message.blocks))


@dataclass(frozen=True)
class Form:
    """A modal as its person left it: the view Slack showed, what they typed or chose in it (by block id, as the
    stand-in's view_submission takes them: a text, a select's value, ids, file objects, the boxes ticked), and
    whether they submitted it or closed it."""

    user_id: str
    view: dict[str, Any]
    filled: Mapping[str, Any] = field(default_factory=dict)
    submitted: bool = True


class ChannelPage:
    """The simulated channel as one self-contained HTML page: messages with their edit history, threads indented,
    images from the files saved next to it, the Home tab of each person who opened it, and the forms people filled in
    (modals drawn as Slack shows them). Links to the channel's messages lead within the page, so they still work once
    the stand-in has stopped."""

    def __init__(
        self,
        slack: SlackStandIn,
        images: dict[str, str],
        channel_id: str,
        user_id: str,
        first_versions: Mapping[tuple[str, str], Version],
        forms: Sequence[Form] = (),
    ) -> None:
        self.slack = slack
        self.images = images  # file id -> path relative to the page
        self.channel_id = channel_id
        self.user_id = user_id  # whose Home tab the page shows
        self.first_versions = first_versions
        self.forms = forms
        self.clock_offset = time.time() - time.monotonic()  # edits are timed on the monotonic clock

    def render(self) -> str:
        channel = self.slack.channels[self.channel_id]
        top = sorted((m for m in self._shown() if not m.thread_ts or m.thread_ts == m.ts), key=lambda m: float(m.ts))
        body = []
        for message in top:
            replies = self.slack.thread(self.channel_id, message.ts)
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
        generated = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        return PAGE.format(
            channel=html.escape(channel.name),
            generated=generated,
            messages="\n".join(body),
            homes=self.homes(),
            forms=self.forms_section(),
        )

    def homes(self) -> str:
        """The Home tab of the person the page is for, then of anyone else who opened theirs."""
        others = [user for user in self.slack.views_published if user != self.user_id]
        shown = [
            f"<h2>Home tab of {html.escape(user_name(self.slack, user))}</h2>{self.blocks(home['blocks'])}"
            for user in [self.user_id, *others]
            if (home := self.slack.views_published.get(user))
        ]
        return "".join(shown) or "<h2>Home tab</h2><p class='muted'>The Home tab was not opened.</p>"

    def forms_section(self) -> str:
        if not self.forms:
            return ""
        modals = "".join(map(self.form, self.forms))
        return f"<section class='forms'><h2>Forms</h2><div class='modals'>{modals}</div></section>"

    def form(self, form: Form) -> str:
        view = form.view
        body = "".join(
            self.field(block, form.filled.get(block.get("block_id", "")))
            if block.get("type") == "input"
            else self.block(block)
            for block in view["blocks"]
        )
        buttons = f"<button disabled>{html.escape((view.get('close') or {}).get('text', 'Cancel'))}</button>"
        if view.get("submit"):
            buttons += f"<button class='primary' disabled>{html.escape(view['submit']['text'])}</button>"
        outcome = "submitted" if form.submitted else "closed"
        who = html.escape(user_name(self.slack, form.user_id))
        return (
            f"<div class='modal'><div class='modal-title'>{html.escape(view['title']['text'])}</div>"
            f"<div class='muted'>{who} · {outcome}</div>{body}<div class='modal-buttons'>{buttons}</div></div>"
        )

    def field(self, block: dict[str, Any], given: Any) -> str:
        """An input block with what its person gave, else what the form started with."""
        optional = " <span class='muted'>(optional)</span>" if block.get("optional") else ""
        hint = f"<div class='muted'>{self.text(block['hint'])}</div>" if block.get("hint") else ""
        label = html.escape(block["label"]["text"])
        control = self.control(block["element"], given)
        return f"<div class='field'><div class='label'>{label}{optional}</div>{control}{hint}</div>"

    def control(self, element: dict[str, Any], given: Any) -> str:
        kind = element["type"]
        placeholder = f"<span class='muted'>{self.text(element.get('placeholder'))}</span>"
        if kind == "plain_text_input":
            value = given if given is not None else element.get("initial_value") or ""
            shown = html.escape(value).replace("\n", "<br>") if value else placeholder
            return f"<div class='input{' multiline' if element.get('multiline') else ''}'>{shown}</div>"
        if kind == "static_select":
            options = [o for group in element.get("option_groups") or [] for o in group["options"]]
            options += element.get("options") or []
            chosen = next((o for o in options if o["value"] == given), element.get("initial_option"))
            return f"<div class='input select'>{self.text(chosen['text']) if chosen else placeholder}</div>"
        if kind == "checkboxes":
            ticked = given if given is not None else [o["value"] for o in element.get("initial_options") or []]
            return "".join(
                f"<div class='check'>{'☑' if o['value'] in ticked else '☐'} {self.text(o['text'])}</div>"
                for o in element.get("options") or []
            )
        if kind == "file_input":
            files = "".join(self.file(f["id"]) for f in given or [])
            return files or "<div class='input drop'>Drag a file here or upload from your computer</div>"
        names = self.chosen_names(element, given)
        return f"<div class='input select'>{html.escape(', '.join(names)) if names else placeholder}</div>"

    def chosen_names(self, element: dict[str, Any], given: Any) -> list[str]:
        """The people or channels a select holds, by the names Slack shows."""
        if element["type"] in ("multi_users_select", "users_select"):
            users = given if given is not None else element.get("initial_users") or []
            return ["@" + user_name(self.slack, user) for user in users]
        channels = given if given is not None else element.get("initial_conversations") or []
        if isinstance(channels, str):
            channels = [channels]
        return ["#" + (c.name if (c := self.slack.channels.get(id_)) else id_) for id_ in channels]

    def _shown(self) -> list[Message]:
        return [m for m in self.slack.messages if m.channel == self.channel_id and not m.lost]

    def message(self, message: Message) -> str:
        who = user_name(self.slack, message.user)
        bot = message.user == self.slack.bot_user_id
        posted = float(message.ts)
        content = self.version(message.text, message.blocks)
        files = "".join(self.file(file_id) for file_id in message.files)
        deleted = " <span class='muted'>(deleted)</span>" if message.deleted else ""
        return (
            f"<div class='message{' bot' if bot else ''}' id='{anchor(message.ts)}'>"
            f"<div class='avatar'>{html.escape(who[:1])}</div><div class='main'>"
            f"<div class='head'><b>{html.escape(who)}</b>{' <span class=app>APP</span>' if bot else ''} "
            f"<span class='muted'>{datetime.fromtimestamp(posted).strftime('%H:%M:%S')}</span>{deleted}</div>"
            f"<div class='content'>{content}{files}</div>{self.history(message)}</div></div>"
        )

    def history(self, message: Message) -> str:
        """Every version of an edited message, the first included, each with when it appeared."""
        if not message.edits:
            return ""
        first = self.first_versions.get((message.channel, message.ts))
        items = []
        if first is not None:
            items.append(f"<li><div class='when'>as posted</div>{self.version(*first)}</li>")
        posted = float(message.ts)
        for number, edit in enumerate(message.edits, start=1):
            after = edit["at"] + self.clock_offset - posted
            shown = self.version(edit["text"], edit["blocks"])
            items.append(f"<li><div class='when'>edit {number} · +{after:.1f}s</div>{shown}</li>")
        edits = len(message.edits)
        show = f"show all {len(items)} versions" if first is not None else "show each edit"
        return (
            f"<details class='history'><summary>edited {edits} time{'s' if edits != 1 else ''} · {show}</summary>"
            f"<ol>{''.join(items)}</ol></details>"
        )

    def version(self, text: str, blocks: list[dict[str, Any]]) -> str:
        return self.blocks(blocks) if blocks else self.mrkdwn(text)

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
            return f"<span class='mention'>@{html.escape(user_name(self.slack, target[1:]))}</span>"
        if target.startswith("#"):
            channel = self.slack.channels.get(target[1:])
            return f"<span class='mention'>#{html.escape(channel.name if channel else target[1:])}</span>"
        if target.startswith("!date^"):
            stamp = target.split("^")[1]
            return html.escape(datetime.fromtimestamp(int(stamp)).strftime("%b %d %H:%M"))
        if target.startswith("!"):
            return html.escape("@" + target[1:])
        return self.link(target, label or target)

    def link(self, url: str, label: str) -> str:
        """A link to a message of this channel leads to it on the page; any other address of the stand-in would be
        dead once the sandbox ends, so it shows as text."""
        if not self.slack.base_url or not url.startswith(self.slack.base_url + "/"):
            return f"<a href='{html.escape(url)}'>{html.escape(label)}</a>"
        ts = permalink_ts(url, self.channel_id)
        if ts is not None and any(m.ts == ts for m in self._shown()):
            return f"<a href='#{anchor(ts)}'>{html.escape(label)}</a>"
        return html.escape(label)


def anchor(ts: str) -> str:
    """The id of a message on the page."""
    return "m" + ts.replace(".", "-")


def permalink_ts(url: str, channel_id: str) -> str | None:
    """The ts of the message a permalink of `channel_id` points at (`…/archives/C…/p1700000000123456`, as
    chat.getPermalink makes them), or None for any other address."""
    match = re.fullmatch(rf"/archives/{re.escape(channel_id)}/p(\d+)(\d{{6}})", urlsplit(url).path)
    return f"{match.group(1)}.{match.group(2)}" if match else None


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Banana sandbox · #{channel}</title>
<style>
body {{ font: 15px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 0; color: #1d1c1d;
  background: #f8f8f8; }}
header {{ background: #3f0e40; color: #fff; padding: 10px 20px; }}
header .muted {{ color: #cfc3cf; }}
/* Side by side on a wide window; on a narrow one the Home tab wraps below the channel. */
.layout {{ display: flex; flex-wrap: wrap; gap: 20px; padding: 16px 20px; align-items: flex-start; }}
.channel {{ flex: 2 1 560px; min-width: 0; background: #fff; border: 1px solid #ddd; border-radius: 8px;
  padding: 8px 0; }}
.home {{ flex: 1 1 320px; min-width: 0; background: #fff; border: 1px solid #ddd; border-radius: 8px;
  padding: 8px 16px; }}
h2 {{ font-size: 17px; margin: 4px 16px 8px; }}
.home h2 {{ margin: 4px 0 8px; }}
.entry {{ border-bottom: 1px solid #eee; padding: 6px 0; }}
.message {{ display: flex; gap: 10px; padding: 6px 16px; }}
.avatar {{ width: 36px; height: 36px; border-radius: 6px; background: #e8d44d; display: flex;
  align-items: center; justify-content: center; font-weight: bold; flex: none; }}
.message:not(.bot) .avatar {{ background: #4a90d9; color: #fff; }}
.main {{ min-width: 0; flex: 1; overflow-wrap: anywhere; }}
.message:target {{ background: #fff8d6; }}
.app {{ font-size: 10px; background: #eee; color: #555; padding: 1px 4px; border-radius: 3px; }}
.muted, .when {{ color: #777; font-size: 12px; }}
.thread {{ margin-left: 46px; border-left: 3px solid #e0e0e0; padding-left: 4px; }}
.thread-label {{ color: #1264a3; font-size: 13px; padding: 2px 16px; }}
blockquote {{ margin: 2px 0; padding-left: 10px; border-left: 4px solid #ddd; color: #444; }}
code {{ background: #f4f4f4; border: 1px solid #e4e4e4; border-radius: 3px; padding: 0 3px; font-size: 12px; }}
.section {{ display: flex; gap: 10px; justify-content: space-between; margin: 2px 0; }}
.section .text {{ min-width: 0; flex: 1; }}
.context {{ color: #616061; font-size: 12px; margin: 2px 0; }}
.actions {{ margin: 6px 0; display: flex; flex-wrap: wrap; gap: 6px; }}
button {{ font: inherit; font-size: 13px; padding: 3px 10px; border: 1px solid #bbb; border-radius: 4px;
  background: #fff; color: #1d1c1d; }}
button.primary {{ background: #007a5a; color: #fff; border-color: #007a5a; }}
button.danger {{ color: #e01e5a; border-color: #e01e5a; }}
img.file {{ max-width: min(420px, 100%); max-height: 300px; border-radius: 6px; border: 1px solid #ddd;
  display: block; }}
img.thumb {{ width: 72px; height: 72px; object-fit: cover; border-radius: 4px; flex: none; }}
figure {{ margin: 6px 0; }}
figcaption {{ color: #777; font-size: 12px; }}
.mention {{ background: #e8f5fa; color: #1264a3; border-radius: 3px; padding: 0 2px; }}
details.history {{ margin-top: 4px; font-size: 13px; }}
details.history summary {{ color: #1264a3; cursor: pointer; }}
details.history li {{ border-top: 1px dashed #e4e4e4; padding: 4px 0; }}
.forms {{ flex: 1 1 100%; min-width: 0; }}
.forms h2 {{ margin: 4px 0 8px; }}
.modals {{ display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }}
.modal {{ flex: 0 1 480px; min-width: 0; background: #fff; border: 1px solid #ccc; border-radius: 8px;
  padding: 12px 16px; box-shadow: 0 2px 8px rgba(0, 0, 0, 0.08); overflow-wrap: anywhere; }}
.modal-title {{ font-weight: bold; font-size: 17px; }}
.field {{ margin: 10px 0; }}
.field .label {{ font-weight: bold; font-size: 14px; }}
.input {{ border: 1px solid #bbb; border-radius: 4px; padding: 4px 8px; min-height: 22px; background: #fff; }}
.input.multiline {{ max-height: 200px; overflow-y: auto; }}
.input.select::after {{ content: " ▾"; color: #777; }}
.input.drop {{ border-style: dashed; color: #777; text-align: center; }}
.check {{ font-size: 14px; }}
.modal-buttons {{ display: flex; justify-content: flex-end; gap: 6px; margin-top: 10px; }}
</style></head>
<body>
<header><b>Banana sandbox</b> · <span class="muted">a simulated Slack workspace with a local kie.ai ·
generated {generated}</span></header>
<div class="layout">
<section class="channel"><h2>#{channel}</h2>
{messages}
</section>
<aside class="home">
{homes}
</aside>
{forms}
</div>
</body></html>
"""

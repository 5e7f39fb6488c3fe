"""The App Home tab: a person's own tasks, with filters, pages, usage and the same buttons as the cards.

Pure Block Kit builders: data in, blocks out, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    ImageElement,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from banana.domain.options import PRICES, Options, Prices
from banana.domain.tasks import HomeFilter, Task, TaskState, Usage
from banana.ui.cards import REMIX, cost, lineage, task_actions
from banana.ui.guide import help_text
from banana.ui.text import CONTEXT_CHARS, clip, clock, credits_text, escape, escaped, link, shorten

_STATE_EMOJI = {
    TaskState.PENDING: ":banana:",
    TaskState.QUEUED: ":hourglass_flowing_sand:",
    TaskState.GENERATING: ":art:",
    TaskState.UPLOADING: ":outbox_tray:",
    TaskState.DONE: ":white_check_mark:",
    TaskState.FAILED: ":x:",
    TaskState.TIMED_OUT: ":hourglass:",
    TaskState.CANCELLED: ":no_entry_sign:",
}
HOME_NEW_IMAGE = "home_new_image"
HOME_FILTER = "home_filter"  # one action id per filter: home_filter_all, home_filter_done, ...
HOME_PAGE = "home_page"  # value: "<filter>:<page>"
HOME_PAGE_SIZE = 10
EXAMPLES = (
    "/banana an infographic of 5 podcast growth tips, flat icons, our brand colours --ar 4:5",
    "/banana a quote card: “Ship it, then make it better” — Ada, CTO, minimal, bold type --ar 1:1",
    "/banana a career timeline of a designer from 2010 to 2024, clean line style --ar 16:9 --res 4K",
)


@dataclass(frozen=True)
class HomePage:
    """What one person's Home tab shows."""

    user_id: str
    tasks: list[Task]
    filter: HomeFilter
    page: int
    has_more: bool
    has_any: bool  # any task at all, in any state
    today: Usage
    month: Usage


def home_view(home: HomePage, defaults: Options, prices: Prices = PRICES) -> dict[str, Any]:
    """The App Home tab: the viewer's own tasks, newest first, within Slack's limits (100 blocks)."""
    summary = (
        f"*Today:* {_images(home.today.images)} · {_spent(home.today)}\n"
        f"*This month:* {_images(home.month.images)} · {_spent(home.month)}  _(UTC)_"
    )
    body: list[Block] = [
        HeaderBlock(text="Your Banana images"),
        SectionBlock(
            text=MarkdownTextObject(text=summary),
            accessory=ButtonElement(text="New image", action_id=HOME_NEW_IMAGE, value="new", style="primary"),
        ),
    ]
    if not home.has_any:
        body += _welcome(defaults, prices)
        return View(type="home", blocks=body).to_dict()
    body.append(_filters(home.filter))
    body.append(DividerBlock())
    if not home.tasks:
        body.append(SectionBlock(text=MarkdownTextObject(text=f"No {home.filter.value} images.")))
    for task in home.tasks:
        body.extend(_home_task(task, prices))
    pager = _pager(home)
    if pager is not None:
        body.append(pager)
    return View(type="home", blocks=body).to_dict()


def _images(count: int) -> str:
    return f"{count} image{'' if count == 1 else 's'}"


def _spent(usage: Usage) -> str:
    """A sum of recorded credits: exact when kie.ai reported every one of them, else "≈"."""
    return credits_text(usage.credits, exact=abs(usage.credits - usage.exact_credits) < 0.005)


def _welcome(defaults: Options, prices: Prices) -> list[Block]:
    examples = "\n".join(f"• `{escape(example)}`" for example in EXAMPLES)
    return [
        SectionBlock(
            text=MarkdownTextObject(
                text=":wave: *Nothing here yet.* Type `/banana` and what you want in any channel, for example:\n"
                + examples
            )
        ),
        DividerBlock(),
        SectionBlock(text=MarkdownTextObject(text=help_text(defaults, prices))),
    ]


def _filters(current: HomeFilter) -> ActionsBlock:
    buttons = [
        ButtonElement(
            text=choice.value.capitalize(),
            action_id=f"{HOME_FILTER}_{choice.value}",
            value=choice.value,
            style="primary" if choice is current else None,
        )
        for choice in HomeFilter
    ]
    return ActionsBlock(block_id="filters", elements=buttons)


def _pager(home: HomePage) -> ActionsBlock | None:
    buttons = []
    if home.page > 0:
        buttons.append(
            ButtonElement(text="Newer", action_id=f"{HOME_PAGE}_newer", value=f"{home.filter}:{home.page - 1}")
        )
    if home.has_more:
        buttons.append(
            ButtonElement(text="Older", action_id=f"{HOME_PAGE}_older", value=f"{home.filter}:{home.page + 1}")
        )
    return ActionsBlock(block_id="pages", elements=buttons) if buttons else None


def _home_task(task: Task, prices: Prices) -> list[Block]:
    when = f"<!date^{int(task.created_at)}^{{date_short_pretty}} {{time}}|{int(task.created_at)}>"
    parts = [when, task.options.summary(), *lineage(task)]
    if task.duration is not None:
        parts.append(clock(task.duration))
    if task.credits is not None:
        parts.append(cost(task, prices))
    if thread := link(task.permalink, "open thread"):
        parts.append(thread)
    state = task.state.value.replace("_", " ")
    text = f"{_STATE_EMOJI[task.state]} *{state}* · {escaped(task.prompt, 200)}"
    thumbnail = None
    actions = task_actions(task, prices)
    if task.file_gone_at is not None:
        # Deleted in Slack itself: its slack_file would make Slack refuse the whole tab, and Remix needs the file.
        text += " · _image deleted in Slack_"
        kept = [b for b in actions.elements if isinstance(b, ButtonElement) and b.action_id != REMIX]
        actions = ActionsBlock(block_id=actions.block_id, elements=kept)
    elif task.state is TaskState.DONE and task.slack_file_id:
        thumbnail = ImageElement(slack_file={"id": task.slack_file_id}, alt_text=shorten(task.prompt, 200))
    return [
        SectionBlock(text=MarkdownTextObject(text=text), accessory=thumbnail),
        ContextBlock(elements=[MarkdownTextObject(text=clip(" · ".join(parts), CONTEXT_CHARS))]),
        actions,
    ]

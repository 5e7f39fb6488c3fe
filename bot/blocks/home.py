"""The App Home tab: a person's own tasks, with filters, pages, usage and the same buttons as the cards; variations made
together are grouped, and a task with a family has a Family button.

Pure Block Kit builders: data in, blocks out, no I/O."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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

from bot.blocks.brand import HOME_BRAND
from bot.blocks.cards import DELETE, REMIX, STATE_EMOJI, cost, lineage, links, summary, task_actions
from bot.blocks.guide import help_text
from bot.blocks.settings import HOME_SETTINGS, Change, changes_text
from bot.blocks.text import CONTEXT_CHARS, SECTION_CHARS, clip, clock, credits_text, escape, escaped, link, shorten
from prompts.options import PRICES, Options, Prices
from prompts.tasks import HomeFilter, Task, TaskState, Usage

HOME_NEW_IMAGE = "home_new_image"
HOME_FILTER = "home_filter"  # one action id per filter: home_filter_all, home_filter_done, ...
HOME_PAGE = "home_page"  # value: "<filter>:<page>"
HOME_PAGE_SIZE = 10
FAMILY = "task_family"  # a task row's Family button, value the task id: opens the task's family tree
GROUP_PROMPT_CHARS = 200
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
    with_children: frozenset[int] = frozenset()  # tasks on the page that others came from
    settings: bool = False  # the viewer may change the workspace's settings: a Settings button
    changes: tuple[Change, ...] = ()  # the settings' last changes, shown to those who may change them


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
    if home.settings:
        admin = [ButtonElement(text="Settings", action_id=HOME_SETTINGS, value="open")]
        admin.append(ButtonElement(text="Brand kit", action_id=HOME_BRAND, value="open"))
        body.append(ActionsBlock(elements=admin))
        if home.changes:
            body.append(ContextBlock(elements=[MarkdownTextObject(text=changes_text(home.changes))]))
    if not home.has_any:
        body += _welcome(defaults, prices)
        return View(type="home", blocks=body).to_dict()
    body.append(_filters(home.filter))
    body.append(DividerBlock())
    if not home.tasks:
        body.append(SectionBlock(text=MarkdownTextObject(text=f"No {home.filter.value} images.")))
    for group in runs_of_sets(home.tasks):
        grouped = len(group) > 1
        if grouped:
            body.append(_set_heading(group))
        for task in group:
            body.extend(_home_task(task, prices, family=has_family(task, home.with_children), grouped=grouped))
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
        SectionBlock(text=MarkdownTextObject(text=clip(help_text(defaults, prices), SECTION_CHARS))),
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


def runs_of_sets(tasks: Sequence[Task]) -> Iterator[list[Task]]:
    """The page's tasks in order, in runs: variations of one set that sit next to each other make one run, every other
    task a run of its own."""
    run: list[Task] = []
    for task in tasks:
        if run and (task.set_id is None or task.set_id != run[-1].set_id):
            yield run
            run = []
        run.append(task)
    if run:
        yield run


def has_family(task: Task, with_children: frozenset[int] = frozenset()) -> bool:
    """Whether a task has a family to show: it came from another task, belongs to a set, or others came from it."""
    return bool(links(task)) or task.set_id is not None or task.id in with_children


def _set_heading(group: Sequence[Task]) -> ContextBlock:
    prompt = escaped(group[0].prompt, GROUP_PROMPT_CHARS)
    text = f":frame_with_picture: *{len(group)} variations* of one prompt: {prompt}"
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, CONTEXT_CHARS))])


def _home_task(task: Task, prices: Prices, *, family: bool = False, grouped: bool = False) -> list[Block]:
    when = f"<!date^{int(task.created_at)}^{{date_short_pretty}} {{time}}|{int(task.created_at)}>"
    parts = [f"#{task.id}", when, summary(task), *lineage(task)]
    if task.duration is not None:
        parts.append(clock(task.duration))
    if task.credits is not None:
        parts.append(cost(task, prices))
    if thread := link(task.permalink, "open thread"):
        parts.append(thread)
    state = task.state.value.replace("_", " ")
    # In a group the heading shows the prompt once; each row says which variation it is.
    what = f"variation {task.slot}" if grouped and task.slot is not None else escaped(task.prompt, 200)
    text = f"{STATE_EMOJI[task.state]} *{state}* · {what}"
    thumbnail = None
    actions = task_actions(task, prices)
    buttons = [b for b in actions.elements if isinstance(b, ButtonElement)]
    if task.file_gone_at is not None:
        # Deleted in Slack itself: its slack_file would make Slack refuse the whole tab, and Remix needs the file.
        text += " · _image deleted in Slack_"
        buttons = [b for b in buttons if b.action_id != REMIX]
    elif task.state is TaskState.DONE and task.slack_file_id:
        thumbnail = ImageElement(slack_file={"id": task.slack_file_id}, alt_text=shorten(task.prompt, 200))
    if family:
        at = next((i for i, b in enumerate(buttons) if b.action_id == DELETE), len(buttons))
        buttons.insert(at, ButtonElement(text="Family", action_id=FAMILY, value=str(task.id)))
    return [
        SectionBlock(text=MarkdownTextObject(text=text), accessory=thumbnail),
        ContextBlock(elements=[MarkdownTextObject(text=clip(" · ".join(parts), CONTEXT_CHARS))]),
        ActionsBlock(block_id=actions.block_id, elements=buttons),
    ]

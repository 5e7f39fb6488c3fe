"""Pure Block Kit builders: data in, blocks out, no I/O. User text is always escaped, so a prompt pings nobody."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    ImageElement,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from banana.domain.options import ASPECT_RATIOS, OUTPUT_FORMATS, PRICES, RESOLUTIONS, Options, Prices
from banana.domain.tasks import HomeFilter, Task, TaskState, Usage

PROMPT_PREVIEW_CHARS = 600
BAR_WIDTH = 20

_STATUS = {
    TaskState.PENDING: (":banana:", "Starting…"),
    TaskState.QUEUED: (":hourglass_flowing_sand:", "Queued at kie.ai"),
    TaskState.GENERATING: (":art:", "Generating"),
    TaskState.UPLOADING: (":outbox_tray:", "Uploading into the thread"),
}


def escape(text: str) -> str:
    """Slack's three control characters; escaping them turns `<!channel>` or `<@U123>` into plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clock(seconds: float) -> str:
    """0:07, 1:42, 1:02:03."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_bar(fraction: float) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def quoted_prompt(task: Task) -> str:
    lines = escape(shorten(task.prompt, PROMPT_PREVIEW_CHARS)).splitlines() or [""]
    text = "\n".join(f"> {line}" for line in lines)
    if task.avoid:
        text += f"\n_without:_ {escape(shorten(task.avoid, 200))}"
    return text


_RELATIONS = {"remix": "remix of", "regenerate": "again from", "upscale": "4K version of", "retry": "retry of"}


def lineage(task: Task) -> list[str]:
    parts = []
    if task.parent_task_id:
        parts.append(f"{_RELATIONS.get(task.relation or 'remix', 'from')} #{task.parent_task_id}")
    if task.reused_from:
        parts.append(f"reused from #{task.reused_from} at no cost")
    if count := len(task.inputs):
        parts.append(f"{count} input image{'s' if count > 1 else ''}")
    return parts


def _details(task: Task, *extra: str) -> ContextBlock:
    parts = [task.options.summary(), *lineage(task), f"for <@{task.user_id}>", *extra]
    return ContextBlock(elements=[MarkdownTextObject(text=" · ".join(parts))])


def card_blocks(
    task: Task, *, now: float, estimate: float, queue_position: int | None = None, prices: Prices = PRICES
) -> list[dict[str, Any]]:
    """The progress message for a task in any state, with the buttons that apply to that state."""
    if task.state is TaskState.DONE:
        blocks = _done(task)
    elif task.state is TaskState.FAILED:
        blocks = _failed(task)
    elif task.state is TaskState.TIMED_OUT:
        blocks = _timed_out(task)
    elif task.state is TaskState.CANCELLED:
        blocks = _cancelled(task)
    else:
        blocks = _running(task, now=now, estimate=estimate, queue_position=queue_position, prices=prices)
    return [block.to_dict() for block in [*blocks, task_actions(task, prices)]]


def card_text(task: Task) -> str:
    """The plain fallback Slack shows in notifications."""
    prompt = escape(shorten(task.prompt, 80))
    label = {
        TaskState.DONE: "Image ready",
        TaskState.FAILED: "Image failed",
        TaskState.TIMED_OUT: "Image still not finished",
        TaskState.CANCELLED: "Image cancelled",
    }.get(task.state, "Generating")
    return f"{label}: {prompt}"


def _running(
    task: Task, *, now: float, estimate: float, queue_position: int | None = None, prices: Prices = PRICES
) -> list[Block]:
    emoji, label = _STATUS[task.state]
    if queue_position is not None:
        emoji, label = ":hourglass_flowing_sand:", f"Queued, position {queue_position}"
    elapsed = now - task.created_at
    if elapsed < estimate:
        remaining = f"about {clock(estimate - elapsed)} left"
        fraction = elapsed / estimate
    else:
        remaining = "taking longer than usual"
        fraction = 0.95
    if task.state is TaskState.UPLOADING:
        fraction = max(fraction, 0.95)
    status = f"{emoji} *{label}* · {clock(elapsed)} elapsed · {remaining}\n`{progress_bar(fraction)}`"
    return [
        SectionBlock(text=MarkdownTextObject(text=quoted_prompt(task))),
        SectionBlock(text=MarkdownTextObject(text=status)),
        _details(task, f"{prices[task.resolution]} credits"),
    ]


def _done(task: Task) -> list[Block]:
    took = f" in {clock(task.duration)}" if task.duration is not None else ""
    credits = f"{task.credits} credits" if task.credits is not None else "credits unknown"
    text = f":white_check_mark: *Done*{took} · image in the thread\n{quoted_prompt(task)}"
    return [SectionBlock(text=MarkdownTextObject(text=text)), _details(task, credits)]


def _failed(task: Task) -> list[Block]:
    reason = escape(task.error_message or "Something went wrong.")
    charged = "" if task.credits else " · nothing charged"
    return [
        SectionBlock(text=MarkdownTextObject(text=f":x: *Failed.* {reason}\n{quoted_prompt(task)}")),
        _details(task, f"task #{task.id}{charged}"),
    ]


def _timed_out(task: Task) -> list[Block]:
    waited = clock((task.finished_at or task.updated_at) - task.created_at)
    where = f" Look for kie task `{task.kie_task_id}` at kie.ai/logs." if task.kie_task_id else ""
    text = (
        f":hourglass: *Not finished after {waited}*, so I stopped waiting. kie.ai may still finish it and charge for "
        f"it.{where} Run the command again if you need the image now.\n{quoted_prompt(task)}"
    )
    return [SectionBlock(text=MarkdownTextObject(text=text)), _details(task, f"task #{task.id}")]


def _cancelled(task: Task) -> list[Block]:
    reason = escape(task.error_message or "")
    text = f":no_entry_sign: *Cancelled.* {reason}\n{quoted_prompt(task)}"
    return [SectionBlock(text=MarkdownTextObject(text=text)), _details(task, f"task #{task.id}")]


# Buttons on a task, on its card and in the Home tab. Each carries the task id as its value.
REGENERATE, REMIX, UPSCALE, SAVE_PROMPT, RETRY, CANCEL, DELETE = (
    "task_regenerate",
    "task_remix",
    "task_upscale",
    "task_save_prompt",
    "task_retry",
    "task_cancel",
    "task_delete",
)
TASK_ACTIONS = (REGENERATE, REMIX, UPSCALE, SAVE_PROMPT, RETRY, CANCEL, DELETE)


def task_actions(task: Task, prices: Prices = PRICES) -> ActionsBlock:
    value = str(task.id)
    if not task.state.finished:
        buttons = [
            ButtonElement(
                text="Cancel",
                action_id=CANCEL,
                value=value,
                style="danger",
                confirm=_confirm(
                    "Cancel this image?",
                    "Banana stops waiting for it. If kie.ai has already started it, kie.ai may still charge for it.",
                    "Cancel it",
                ),
            )
        ]
    elif task.state is TaskState.DONE:
        buttons = [
            ButtonElement(text="Regenerate", action_id=REGENERATE, value=value),
            ButtonElement(text="Remix", action_id=REMIX, value=value),
        ]
        if task.resolution != "4K":
            buttons.append(
                ButtonElement(
                    text="Upscale to 4K",
                    action_id=UPSCALE,
                    value=value,
                    confirm=_confirm(
                        "Make it again at 4K?",
                        f"The same request at 4K costs {prices['4K']} credits "
                        f"(this one cost {task.credits if task.credits is not None else prices[task.resolution]}).",
                        "Make it at 4K",
                    ),
                )
            )
        buttons.append(ButtonElement(text="Save prompt", action_id=SAVE_PROMPT, value=value))
    else:
        buttons = [ButtonElement(text="Retry", action_id=RETRY, value=value, style="primary")]
    if task.state.finished:
        buttons.append(
            ButtonElement(
                text="Delete",
                action_id=DELETE,
                value=value,
                style="danger",
                confirm=_confirm("Delete this image?", "Its message and file are removed from Slack.", "Delete"),
            )
        )
    return ActionsBlock(block_id=f"task-{task.id}", elements=buttons)


def _confirm(title: str, text: str, confirm: str) -> ConfirmObject:
    return ConfirmObject(title=title, text=text, confirm=confirm, deny="Keep it")


def result_caption(task: Task) -> str:
    """The comment posted with the image: who it is for, the options, how long it took and what it cost."""
    parts = [task.options.summary(), *lineage(task)]
    if task.duration is not None:
        parts.append(clock(task.duration))
    if task.credits is not None:
        parts.append(f"{task.credits} credits")
    return f"<@{task.user_id}> here is your image · " + " · ".join(parts)


def result_filename(task: Task) -> str:
    return f"banana-{task.id}.{task.output_format}"


def help_text(defaults: Options, prices: Prices = PRICES) -> str:
    return "\n".join(
        [
            "*Banana* makes images with Nano Banana Pro.",
            "`/banana <what to draw> [--ar RATIO] [--res SIZE] [--format png|jpg] [--no THINGS TO LEAVE OUT]`",
            "",
            f"• `--ar` aspect ratio: {', '.join(f'`{a}`' for a in ASPECT_RATIOS)} (default `{defaults.aspect_ratio}`)",
            f"• `--res` resolution: {', '.join(f'`{r}`' for r in RESOLUTIONS)} (default `{defaults.resolution}`;"
            f" {prices.summary()})",
            f"• `--format`: {', '.join(f'`{f}`' for f in OUTPUT_FORMATS)} (default `{defaults.output_format}`)",
            "• `--no`: what to leave out, for example `--no text, watermarks`",
            "",
            "Example: `/banana a lighthouse at dawn, isometric --ar 16:9 --res 2K`",
            "A progress message appears in the channel and the image arrives in its thread.",
            "",
            "*Start from images:* use *Remix with Banana* from the ⋮ menu of any message with images (up to 8), "
            "press *Remix* on a result, or type `/banana` alone (or use the *New image* shortcut) for a form where you "
            "can upload PNG, JPEG or WebP images.",
            "",
            "*Prompt studio:* long, branded prompts written for you. Each opens a form with layouts, templates and "
            "styles, then shows the prompt so you can edit it before generating.",
            "• `/banana infographic <topic or notes>`: an infographic, for example from a podcast episode",
            '• `/banana quote "<quote>" — <name>, <role>`: a quote card',
            "• `/banana timeline <name>`: a career timeline",
            "Press *Save prompt* on any finished image to keep its prompt in the workspace's library; "
            "`/banana prompts` lists them, each with a *Use* button.",
            "",
            "`/banana usage` shows what you and the workspace have spent, and any limits. Failed images cost nothing.",
        ]
    )


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
        f"*Today:* {_images(home.today.images)} · {home.today.credits} credits\n"
        f"*This month:* {_images(home.month.images)} · {home.month.credits} credits  _(UTC)_"
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
        parts.append(f"{task.credits} credits")
    if task.permalink:
        parts.append(f"<{task.permalink}|open thread>")
    state = task.state.value.replace("_", " ")
    text = f"{_STATE_EMOJI[task.state]} *{state}* · {escape(shorten(task.prompt, 200))}"
    thumbnail = None
    if task.state is TaskState.DONE and task.slack_file_id:
        thumbnail = ImageElement(slack_file={"id": task.slack_file_id}, alt_text=shorten(task.prompt, 200))
    return [
        SectionBlock(text=MarkdownTextObject(text=text), accessory=thumbnail),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(parts))]),
        task_actions(task, prices),
    ]

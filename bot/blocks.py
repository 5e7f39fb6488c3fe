"""Pure Block Kit builders: data in, blocks out, no I/O. User text is always escaped, so a prompt pings nobody."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.options import ASPECT_RATIOS, OUTPUT_FORMATS, RESOLUTIONS, Options
from bot.store import Task, TaskState

PROMPT_PREVIEW_CHARS = 600
REMIX_ACTION = "remix_result"
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


def lineage(task: Task) -> list[str]:
    parts = []
    if task.parent_task_id:
        parts.append(f"remix of #{task.parent_task_id}")
    if count := len(task.inputs):
        parts.append(f"{count} input image{'s' if count > 1 else ''}")
    return parts


def _details(task: Task, *extra: str) -> ContextBlock:
    parts = [task.options.summary(), *lineage(task), f"for <@{task.user_id}>", *extra]
    return ContextBlock(elements=[MarkdownTextObject(text=" · ".join(parts))])


def card_blocks(task: Task, *, now: float, estimate: float) -> list[dict]:
    """The progress message for a task in any state."""
    if task.state is TaskState.DONE:
        blocks = _done(task)
    elif task.state is TaskState.FAILED:
        blocks = _failed(task)
    elif task.state is TaskState.TIMED_OUT:
        blocks = _timed_out(task)
    else:
        blocks = _running(task, now=now, estimate=estimate)
    return [block.to_dict() for block in blocks]


def card_text(task: Task) -> str:
    """The plain fallback Slack shows in notifications."""
    prompt = escape(shorten(task.prompt, 80))
    if task.state is TaskState.DONE:
        return f"Image ready: {prompt}"
    if task.state is TaskState.FAILED:
        return f"Image failed: {prompt}"
    if task.state is TaskState.TIMED_OUT:
        return f"Image still not finished: {prompt}"
    return f"Generating: {prompt}"


def _running(task: Task, *, now: float, estimate: float) -> list[Block]:
    emoji, label = _STATUS[task.state]
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
        _details(task, f"{task.options.price} credits"),
    ]


def _done(task: Task) -> list[Block]:
    took = f" in {clock(task.duration)}" if task.duration is not None else ""
    credits = f"{task.credits} credits" if task.credits is not None else "credits unknown"
    return [
        SectionBlock(
            text=MarkdownTextObject(
                text=f":white_check_mark: *Done*{took} · image in the thread\n{quoted_prompt(task)}"
            )
        ),
        _details(task, credits),
        ActionsBlock(
            block_id=f"task-{task.id}",
            elements=[ButtonElement(text="Remix", action_id=REMIX_ACTION, value=str(task.id))],
        ),
    ]


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


def help_text(defaults: Options) -> str:
    return "\n".join(
        [
            "*Banana* makes images with Nano Banana Pro.",
            "`/banana <what to draw> [--ar RATIO] [--res SIZE] [--format png|jpg] [--no THINGS TO LEAVE OUT]`",
            "",
            f"• `--ar` aspect ratio: {', '.join(f'`{a}`' for a in ASPECT_RATIOS)} (default `{defaults.aspect_ratio}`)",
            f"• `--res` resolution: {', '.join(f'`{r}`' for r in RESOLUTIONS)} (default `{defaults.resolution}`;"
            " 1K and 2K cost 18 credits, 4K costs 24)",
            f"• `--format`: {', '.join(f'`{f}`' for f in OUTPUT_FORMATS)} (default `{defaults.output_format}`)",
            "• `--no`: what to leave out, for example `--no text, watermarks`",
            "",
            "Example: `/banana a lighthouse at dawn, isometric --ar 16:9 --res 2K`",
            "A progress message appears in the channel and the image arrives in its thread.",
            "",
            "*Start from images:* use *Remix with Banana* from the ⋮ menu of any message with images (up to 8), "
            "press *Remix* on a result, or type `/banana` alone (or use the *New image* shortcut) for a form where you "
            "can upload PNG, JPEG or WebP images.",
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
}


def home_view(tasks: list[Task], defaults: Options) -> dict:
    """The App Home tab: the viewer's own tasks, newest first."""
    body: list[Block] = [HeaderBlock(text="Your Banana images")]
    if not tasks:
        body.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text="Nothing here yet. Try `/banana a lighthouse at dawn, isometric --ar 16:9` in any channel."
                )
            )
        )
    for task in tasks:
        body.extend(_home_task(task))
    body += [DividerBlock(), SectionBlock(text=MarkdownTextObject(text=help_text(defaults)))]
    return View(type="home", blocks=body).to_dict()


def _home_task(task: Task) -> list[Block]:
    when = f"<!date^{int(task.created_at)}^{{date_short_pretty}} {{time}}|{int(task.created_at)}>"
    parts = [when, task.options.summary(), task.state.value.replace("_", " ")]
    if task.duration is not None:
        parts.append(clock(task.duration))
    if task.credits is not None:
        parts.append(f"{task.credits} credits")
    prompt = escape(shorten(task.prompt, 200))
    return [
        SectionBlock(text=MarkdownTextObject(text=f"{_STATE_EMOJI[task.state]} {prompt}")),
        ContextBlock(elements=[MarkdownTextObject(text=" · ".join(parts))]),
    ]

"""A task's card in the channel (progress, then the result or why not), its buttons, and the result's caption.

Pure Block Kit builders: data in, blocks out, no I/O."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from banana.domain.options import PRICES, Prices
from banana.domain.tasks import Task, TaskState
from banana.ui.text import (
    CONFIRM_TEXT_CHARS,
    CONTEXT_CHARS,
    FAILURE_CHARS,
    SECTION_CHARS,
    clip,
    clock,
    credits_text,
    escaped,
    progress_bar,
)

PROMPT_PREVIEW_CHARS = 600  # of the prompt, escaped
AVOID_PREVIEW_CHARS = 200
QUOTE_CHARS = 1200  # the quoted prompt as a whole, with its "> " marks and what to leave out
KIE_TASK_ID_CHARS = 100

_STATUS = {
    TaskState.PENDING: (":banana:", "Starting…"),
    TaskState.QUEUED: (":hourglass_flowing_sand:", "Queued at kie.ai"),
    TaskState.GENERATING: (":art:", "Generating"),
    TaskState.UPLOADING: (":outbox_tray:", "Uploading into the thread"),
}


def quoted_prompt(task: Task) -> str:
    """The prompt as a quote, escaped and shortened, with what to leave out: at most QUOTE_CHARS characters."""
    lines = escaped(task.prompt, PROMPT_PREVIEW_CHARS).splitlines() or [""]
    text = "\n".join(f"> {line}" for line in lines)
    if task.avoid:
        text += f"\n_without:_ {escaped(task.avoid, AVOID_PREVIEW_CHARS)}"
    return clip(text, QUOTE_CHARS)


def cost(task: Task, prices: Prices = PRICES) -> str:
    """What a task cost, or will cost: kie.ai's own figure when it reported one, else the price table's, an estimate
    ("≈18 credits"). Nothing charged (a failure, an image reused) is exactly 0."""
    if task.credits is None:
        return credits_text(prices[task.resolution], exact=False)
    return credits_text(task.credits, exact=task.credits_exact or task.credits == 0)


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
    return ContextBlock(elements=[MarkdownTextObject(text=clip(" · ".join(parts), CONTEXT_CHARS))])


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
    prompt = escaped(task.prompt, 80)
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
        _details(task, cost(task, prices)),
    ]


def _done(task: Task) -> list[Block]:
    took = f" in {clock(task.duration)}" if task.duration is not None else ""
    credits = cost(task) if task.credits is not None else "credits unknown"
    text = f":white_check_mark: *Done*{took} · image in the thread\n{quoted_prompt(task)}"
    return [_section(text), _details(task, credits)]


def _failed(task: Task) -> list[Block]:
    # kie.ai's failMsg arrives inside the message, before the advice: the middle goes, the advice stays.
    reason = escaped(task.error_message or "Something went wrong.", FAILURE_CHARS, middle=True)
    charged = "" if task.credits else " · nothing charged"
    return [
        _section(f":x: *Failed.* {reason}\n{quoted_prompt(task)}"),
        _details(task, f"task #{task.id}{charged}"),
    ]


def _timed_out(task: Task) -> list[Block]:
    waited = clock((task.finished_at or task.updated_at) - task.created_at)
    kie_id = escaped(task.kie_task_id or "", KIE_TASK_ID_CHARS)
    where = f" Look for kie task `{kie_id}` at kie.ai/logs." if kie_id else ""
    text = (
        f":hourglass: *Not finished after {waited}*, so I stopped waiting. kie.ai may still finish it and charge for "
        f"it.{where} Run the command again if you need the image now.\n{quoted_prompt(task)}"
    )
    return [_section(text), _details(task, f"task #{task.id}")]


def _cancelled(task: Task) -> list[Block]:
    reason = escaped(task.error_message or "", FAILURE_CHARS, middle=True)
    text = f":no_entry_sign: *Cancelled.* {reason}\n{quoted_prompt(task)}"
    return [_section(text), _details(task, f"task #{task.id}")]


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_CHARS)))


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
                        f"The same request at 4K costs {credits_text(prices['4K'], exact=False)} "
                        f"(this one cost {cost(task, prices)}).",
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
    return ConfirmObject(title=title, text=clip(text, CONFIRM_TEXT_CHARS), confirm=confirm, deny="Keep it")


def result_caption(task: Task) -> str:
    """The comment posted with the image: who it is for, the options, how long it took and what it cost."""
    parts = [task.options.summary(), *lineage(task)]
    if task.duration is not None:
        parts.append(clock(task.duration))
    if task.credits is not None:
        parts.append(cost(task))
    return clip(f"<@{task.user_id}> here is your image · " + " · ".join(parts), SECTION_CHARS)


def result_filename(task: Task) -> str:
    return f"banana-{task.id}.{task.output_format}"

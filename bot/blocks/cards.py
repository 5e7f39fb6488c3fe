"""A task's card in the channel (progress, then the result or why not), its buttons, and the result's caption; the
card a set of variations shares, and the one message that brings their images.

Pure Block Kit builders: data in, blocks out, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
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

from bot.blocks.text import (
    CONFIRM_TEXT_CHARS,
    CONTEXT_CHARS,
    FAILURE_CHARS,
    FALLBACK_CHARS,
    NEARLY_DONE,
    SECTION_CHARS,
    approx,
    clip,
    clock,
    credits_text,
    escaped,
    progress_bar,
    progress_fraction,
    shorten,
    time_to_come,
)
from prompts.estimates import Estimate
from prompts.options import (
    PRICES,
    RELATIONS,
    UPSCALE_FACTORS,
    Prices,
    drawn_longest_side,
    upscale_price_key,
    upscale_refusal,
)
from prompts.references import BrandImages
from prompts.references import summary as brand_summary
from prompts.tasks import MAX_CHAIN, Task, TaskState

PROMPT_PREVIEW_CHARS = 600  # of the prompt, escaped
AVOID_PREVIEW_CHARS = 200
QUOTE_CHARS = 1200  # the quoted prompt as a whole, with its "> " marks and what to leave out
KIE_TASK_ID_CHARS = 100
BRAND_NAME_CHARS = 60  # of the brand's name, escaped, on a card and a caption

_STATUS = {
    TaskState.PENDING: (":banana:", "Starting…"),
    TaskState.QUEUED: (":hourglass_flowing_sand:", "Queued at kie.ai"),
    TaskState.GENERATING: (":art:", "Generating"),
    TaskState.UPLOADING: (":outbox_tray:", "Uploading into the thread"),
}

# Every state in a word or two, with its emoji: a set's slots, the Home tab's rows, a family's lines.
STATE_EMOJI = {
    TaskState.PENDING: ":banana:",
    TaskState.QUEUED: ":hourglass_flowing_sand:",
    TaskState.GENERATING: ":art:",
    TaskState.UPLOADING: ":outbox_tray:",
    TaskState.DONE: ":white_check_mark:",
    TaskState.FAILED: ":x:",
    TaskState.TIMED_OUT: ":hourglass:",
    TaskState.CANCELLED: ":no_entry_sign:",
}
STATE_LABELS = {
    TaskState.PENDING: "Starting",
    TaskState.QUEUED: "Queued",
    TaskState.GENERATING: "Generating",
    TaskState.UPLOADING: "Uploading",
    TaskState.DONE: "Done",
    TaskState.FAILED: "Failed",
    TaskState.TIMED_OUT: "Timed out",
    TaskState.CANCELLED: "Cancelled",
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
        return credits_text(prices[task.price_key], exact=False)
    return credits_text(task.credits, exact=task.credits_exact or task.credits == 0)


_ENDED_UNMADE = (TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED)


def total_cost(tasks: Sequence[Task], prices: Prices = PRICES) -> str:
    """What several tasks cost together, each figured as `cost` figures it; "≈" when any of them is an estimate. A
    task that failed before kie.ai could charge for it counts as nothing."""
    amount, exact = 0.0, True
    for task in tasks:
        if task.credits is not None:
            amount += task.credits
            exact = exact and (task.credits_exact or task.credits == 0)
        elif task.state is TaskState.FAILED or (task.state in _ENDED_UNMADE and task.create_started_at is None):
            continue  # nothing was charged: kie.ai refused it, or it never reached kie.ai
        else:
            amount += prices[task.price_key]
            exact = False
    return credits_text(amount, exact=exact)


def links(task: Task) -> tuple[tuple[str, int], ...]:
    """How a task came to be, the parent first: its recorded chain, or for a row stored before chains were, its parent
    alone."""
    chain = task.chain
    if not chain and task.parent_task_id is not None:
        chain = ((task.relation or "remix", task.parent_task_id),)
    return chain[:MAX_CHAIN]


def chain_text(task: Task, *, depth: int = MAX_CHAIN) -> str:
    """ "edit of #12 ← remix of #9": the nearest `depth` links of how a task came to be; "" for a task from nothing."""
    return " ← ".join(f"{RELATIONS.get(relation, 'from')} #{parent}" for relation, parent in links(task)[:depth])


def lineage(task: Task) -> list[str]:
    """What a task came from, as the card, the caption and the Home tab show it: its chain, an image it reused and
    how many input images it had."""
    parts = []
    if chain := chain_text(task):
        parts.append(chain)
    if task.reused_from:
        parts.append(f"reused from #{task.reused_from} at no cost")
    if (count := len(task.inputs)) and not task.is_upscale:  # an upscale's one input is the image its chain names
        parts.append(f"{count} input image{'s' if count > 1 else ''}")
    if brand := brand_text(task):
        parts.append(brand)
    return parts


def summary(task: Task) -> str:
    """Its options ("16:9 · 2K · png"); for an upscale, its size in pixels, which says more."""
    if task.is_upscale and task.width and task.height:
        return f"{task.width:,}×{task.height:,} px"
    return task.options.summary()


def brand_text(task: Task) -> str:
    """ "brand: Acme · logo + 2 style images" when the workspace's brand went with the task; "" when it did not."""
    images = BrandImages.decode(task.brand)
    if images is None:
        return ""
    return brand_summary(replace(images, name=escaped(images.name, BRAND_NAME_CHARS)), len(task.inputs))


def _details(task: Task, *extra: str) -> ContextBlock:
    """ "#12 · 16:9 · 2K · png · edit of #9 · for @you · ≈18 credits": the number people name it by (`#12`) first."""
    parts = [f"#{task.id}", summary(task), *lineage(task), f"for <@{task.user_id}>", *extra]
    return ContextBlock(elements=[MarkdownTextObject(text=clip(" · ".join(parts), CONTEXT_CHARS))])


def card_blocks(
    task: Task,
    *,
    now: float,
    estimate: Estimate | None,
    queue_position: int | None = None,
    prices: Prices = PRICES,
    waiting_for: int | None = None,
) -> list[dict[str, Any]]:
    """The progress message for a task in any state, with the buttons that apply to that state. `waiting_for` is a
    task still running whose image this one starts from (an edit of it): the card says so instead of its progress."""
    if task.state is TaskState.DONE:
        blocks = _done(task, prices)
    elif task.state is TaskState.FAILED:
        blocks = _failed(task)
    elif task.state is TaskState.TIMED_OUT:
        blocks = _timed_out(task)
    elif task.state is TaskState.CANCELLED:
        blocks = _cancelled(task)
    elif waiting_for is not None:
        blocks = _waiting(task, waiting_for, prices)
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
    }.get(task.state, f"Upscaling ×{task.upscale_factor}" if task.is_upscale else "Generating")
    return f"{label}: {prompt}"


def _running(
    task: Task, *, now: float, estimate: Estimate | None, queue_position: int | None = None, prices: Prices = PRICES
) -> list[Block]:
    emoji, label, times = _progress(task, now=now, estimate=estimate, queue_position=queue_position)
    status = f"{emoji} *{label}* · {times}"
    fraction = None if queue_position is not None else progress_fraction(now - task.created_at, estimate)
    if fraction is not None:
        if task.state is TaskState.UPLOADING:
            fraction = max(fraction, NEARLY_DONE)
        status += f"\n`{progress_bar(fraction)}`"
    return [  # the status first and the prompt after it, as on every other card
        SectionBlock(text=MarkdownTextObject(text=status)),
        SectionBlock(text=MarkdownTextObject(text=quoted_prompt(task))),
        _details(task, cost(task, prices)),
    ]


def _progress(task: Task, *, now: float, estimate: Estimate | None, queue_position: int | None) -> tuple[str, str, str]:
    """A running task's emoji, label and times ("0:20 elapsed · about 0:30 left"). Waiting in Banana's own queue, it
    claims no time to come: that depends on the tasks ahead of it."""
    elapsed = f"{clock(now - task.created_at)} elapsed"
    if queue_position is not None:
        return ":hourglass_flowing_sand:", f"Queued, position {queue_position}", elapsed
    emoji, label = _STATUS[task.state]
    if task.is_upscale and task.state is TaskState.GENERATING:
        label = f"Upscaling ×{task.upscale_factor}"
    return emoji, label, f"{elapsed} · {time_to_come(now - task.created_at, estimate)}"


def _waiting(task: Task, parent_id: int, prices: Prices) -> list[Block]:
    return [
        SectionBlock(text=MarkdownTextObject(text=f":link: *Waiting for #{parent_id} to finish*")),
        SectionBlock(text=MarkdownTextObject(text=quoted_prompt(task))),
        _details(task, cost(task, prices)),
    ]


def _done(task: Task, prices: Prices = PRICES) -> list[Block]:
    took = f" in {clock(task.duration)}" if task.duration is not None else ""
    credits = cost(task, prices) if task.credits is not None else "credits unknown"
    text = f":white_check_mark: *Done*{took} · image in the thread\n{quoted_prompt(task)}"
    return [_section(text), _details(task, credits)]


def _failed(task: Task) -> list[Block]:
    # kie.ai's failMsg arrives inside the message, before the advice: the middle goes, the advice stays.
    reason = escaped(task.error_message or "Something went wrong.", FAILURE_CHARS, middle=True)
    charged = [] if task.credits else ["nothing charged"]
    return [
        _section(f":x: *Failed.* {reason}\n{quoted_prompt(task)}"),
        _details(task, *charged),
    ]


def _timed_out(task: Task) -> list[Block]:
    waited = clock((task.finished_at or task.updated_at) - task.created_at)
    kie_id = escaped(task.kie_task_id or "", KIE_TASK_ID_CHARS)
    where = f" Look for kie task `{kie_id}` at kie.ai/logs." if kie_id else ""
    text = (
        f":hourglass: *Not finished after {waited}*, so I stopped waiting. kie.ai may still finish it and charge for "
        f"it.{where} Run the command again if you need the image now.\n{quoted_prompt(task)}"
    )
    return [_section(text), _details(task)]


def _cancelled(task: Task) -> list[Block]:
    reason = escaped(task.error_message or "", FAILURE_CHARS, middle=True)
    text = f":no_entry_sign: *Cancelled.* {reason}\n{quoted_prompt(task)}"
    return [_section(text), _details(task)]


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_CHARS)))


# Buttons on a task, on its card and in the Home tab. Each carries the task id as its value. REDRAW_4K keeps the id
# the old "Upscale to 4K" button had, so that button on older messages still does what it did: draw it again at 4K.
REGENERATE, REMIX, REDRAW_4K, VARIATIONS, SAVE_PROMPT, RETRY, CANCEL, DELETE = (
    "task_regenerate",
    "task_remix",
    "task_upscale",
    "task_variations",
    "task_save_prompt",
    "task_retry",
    "task_cancel",
    "task_delete",
)
UPSCALE_X2, UPSCALE_X4 = "task_upscale_x2", "task_upscale_x4"
UPSCALES = {2: UPSCALE_X2, 4: UPSCALE_X4}
TASK_ACTIONS = (REGENERATE, REMIX, UPSCALE_X2, UPSCALE_X4, REDRAW_4K, VARIATIONS, SAVE_PROMPT, RETRY, CANCEL, DELETE)
VARIATIONS_BUTTON_COUNT = 3  # images the Variations button makes


def task_actions(task: Task, prices: Prices = PRICES, *, compact: bool = False) -> ActionsBlock:
    """The buttons that apply to a task in its state, each with the task id as its value. `compact` (a slot on a set's
    card) leaves out Regenerate and Save prompt: Variations makes more of it, and the prompt is the set's."""
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
        buttons = [] if compact else [ButtonElement(text="Regenerate", action_id=REGENERATE, value=value)]
        buttons.append(ButtonElement(text="Remix", action_id=REMIX, value=value))
        buttons.extend(upscale_buttons(task, prices))
        if task.resolution != "4K" and not task.is_upscale:
            buttons.append(
                ButtonElement(
                    text="Redraw at 4K",
                    action_id=REDRAW_4K,
                    value=value,
                    confirm=_confirm(
                        "Draw it again at 4K?",
                        "Nano Banana Pro draws a new picture from the same request at 4K: not this image enlarged "
                        "(Upscale does that). "
                        f"It costs {credits_text(prices['4K'], exact=False)} (this one cost {cost(task, prices)}).",
                        "Draw at 4K",
                    ),
                )
            )
        buttons.append(variations_button(task, prices))
        if not compact:
            buttons.append(ButtonElement(text="Save prompt", action_id=SAVE_PROMPT, value=value))
    else:
        buttons = [ButtonElement(text="Retry", action_id=RETRY, value=value, style="primary")]
    if task.state.finished:
        removed = "Its file is removed from Slack." if compact else "Its message and file are removed from Slack."
        buttons.append(
            ButtonElement(
                text="Delete",
                action_id=DELETE,
                value=value,
                style="danger",
                confirm=_confirm("Delete this image?", removed, "Delete"),
            )
        )
    return ActionsBlock(block_id=f"task-{task.id}", elements=buttons)


def longest_side(task: Task) -> int:
    """The longest side of a task's image: as read from it, or for a row from before sizes were kept, from its
    options."""
    if task.width and task.height:
        return max(task.width, task.height)
    return drawn_longest_side(task.aspect_ratio, task.resolution)


def upscale_buttons(task: Task, prices: Prices = PRICES) -> list[ButtonElement]:
    """Upscale ×2 and ×4, each where kie's upscaler can make it; a ×2 standing alone says why ×4 is not offered."""
    side = longest_side(task)
    fitting = [f for f in UPSCALE_FACTORS if upscale_refusal(side, f) is None]
    buttons = []
    for factor in fitting:
        price = credits_text(prices[upscale_price_key(side * factor)], exact=False)
        text = f"The same picture, {factor} times larger on each side ({side * factor:,} px on its longest side), by "
        text += f"kie.ai's upscaler, for {price}."
        label = f"Upscale ×{factor}"
        if factor != UPSCALE_FACTORS[-1] and UPSCALE_FACTORS[-1] not in fitting:
            label += f" (×{UPSCALE_FACTORS[-1]} too large)"
            text += f" {upscale_refusal(side, UPSCALE_FACTORS[-1])}"
        buttons.append(
            ButtonElement(
                text=label,
                action_id=UPSCALES[factor],
                value=str(task.id),
                confirm=_confirm(f"Upscale #{task.id} ×{factor}?", text, "Upscale"),
            )
        )
    return buttons


def variations_button(task: Task, prices: Prices = PRICES) -> ButtonElement:
    """Variations: VARIATIONS_BUTTON_COUNT more images of the same request at once; its confirm says what they cost."""
    count = VARIATIONS_BUTTON_COUNT
    price = prices[task.resolution]
    return ButtonElement(
        text="Variations",
        action_id=VARIATIONS,
        value=str(task.id),
        confirm=_confirm(
            f"Make {count} variations?",
            f"{count} more images of the same request at {task.resolution} cost "
            f"{credits_text(count * price, exact=False)} ({approx(price, exact=False)} each).",
            f"Make {count}",
        ),
    )


def _confirm(title: str, text: str, confirm: str) -> ConfirmObject:
    return ConfirmObject(title=title, text=clip(text, CONFIRM_TEXT_CHARS), confirm=confirm, deny="Keep it")


# ------------------------------------------------------------------------------------------------ a set's card

SLOT_FAILURE_CHARS = 400  # why one slot of a set failed; the middle (kie.ai's words) goes first
MAX_SET_SLOTS = 20  # slots a set's card shows (two blocks each, within a message's 50); a set has MAX_VARIATIONS
FILE_TITLE_PROMPT_CHARS = 80


def _by_slot(tasks: Sequence[Task]) -> list[Task]:
    if not tasks:
        raise ValueError("a set has at least one task")
    return sorted(tasks, key=lambda t: (t.slot if t.slot is not None else 0, t.id))


def _variations(count: int) -> str:
    return f"{count} variation{'' if count == 1 else 's'}"


def _not_made(tasks: Sequence[Task]) -> str:
    """How the finished slots that brought no image ended: "failed" when every one of them failed."""
    ended = [t for t in tasks if t.state.finished and t.state is not TaskState.DONE]
    return "failed" if all(t.state is TaskState.FAILED for t in ended) else "not made"


def _set_headline(tasks: Sequence[Task]) -> str:
    count = len(tasks)
    done = sum(t.state is TaskState.DONE for t in tasks)
    ended = sum(t.state.finished for t in tasks)
    lost = ended - done
    images = f"image{'' if done == 1 else 's'} in the thread"
    if ended < count:
        so_far = "".join([f" · {done} done" if done else "", f" · {lost} {_not_made(tasks)}" if lost else ""])
        return f":art: *Generating {_variations(count)}*{so_far}"
    if done == count:
        return f":white_check_mark: *{_variations(count)} done* · {images}"
    if done == 0:
        return f":x: *{_variations(count)} {_not_made(tasks)}*"
    return f":white_check_mark: *{done} of {_variations(count)} done* · {lost} {_not_made(tasks)} · {images}"


def _set_lineage(first: Task) -> list[str]:
    """What a set came from: its parent's chain (every slot shares it) and how many input images it had."""
    parts = []
    if chain := chain_text(first):
        parts.append(chain)
    if count := len(first.inputs):
        parts.append(f"{count} input image{'s' if count > 1 else ''}")
    if brand := brand_text(first):
        parts.append(brand)
    return parts


def _slot_line(task: Task, number: int, *, now: float, estimate: Estimate | None, queue_position: int | None) -> str:
    head = f"*{number}.* #{task.id} ·"
    if not task.state.finished:
        emoji, label, times = _progress(task, now=now, estimate=estimate, queue_position=queue_position)
        return f"{head} {emoji} {label} · {times}"
    if task.state is TaskState.DONE:
        took = f" in {clock(task.duration)}" if task.duration is not None else ""
        return f"{head} {STATE_EMOJI[task.state]} Done{took}"
    if task.state is TaskState.TIMED_OUT:
        waited = clock((task.finished_at or task.updated_at) - task.created_at)
        return f"{head} {STATE_EMOJI[task.state]} Not finished after {waited}; kie.ai may still finish it and charge"
    default = "Something went wrong." if task.state is TaskState.FAILED else ""
    reason = escaped(task.error_message or default, SLOT_FAILURE_CHARS, middle=True)
    return f"{head} {STATE_EMOJI[task.state]} {STATE_LABELS[task.state]}" + (f": {reason}" if reason else "")


def set_card_blocks(
    tasks: Sequence[Task],
    *,
    now: float,
    estimates: Mapping[int, Estimate | None],
    queue_positions: Mapping[int, int],
    prices: Prices = PRICES,
) -> list[dict[str, Any]]:
    """The one card a set of variations shares: the prompt once, then each slot's line and its own buttons (block id
    `task-<id>`), and the details with the set's total cost. `estimates` (how long each task takes, where Banana can
    say) and `queue_positions` are keyed by task id."""
    ordered = _by_slot(tasks)
    first = ordered[0]
    shown = ordered[:MAX_SET_SLOTS]
    details = [
        first.options.summary(),
        *_set_lineage(first),
        f"for <@{first.user_id}>",
        f"total {total_cost(ordered, prices)}",
    ]
    if len(ordered) > len(shown):
        details.append(f"{len(ordered) - len(shown)} more not shown")
    blocks: list[Block] = [
        _section(f"{_set_headline(ordered)}\n{quoted_prompt(first)}"),
        ContextBlock(elements=[MarkdownTextObject(text=clip(" · ".join(details), CONTEXT_CHARS))]),
    ]
    for number, task in enumerate(shown, start=1):
        line = _slot_line(
            task,
            task.slot if task.slot is not None else number,
            now=now,
            estimate=estimates.get(task.id),
            queue_position=queue_positions.get(task.id),
        )
        blocks.append(_section(line))
        blocks.append(task_actions(task, prices, compact=True))
    return [block.to_dict() for block in blocks]


def set_card_text(tasks: Sequence[Task]) -> str:
    """The plain fallback Slack shows in notifications for a set's card."""
    ordered = _by_slot(tasks)
    prompt = escaped(ordered[0].prompt, 80)
    count = len(ordered)
    if not all(t.state.finished for t in ordered):
        return clip(f"Generating {_variations(count)}: {prompt}", FALLBACK_CHARS)
    done = sum(t.state is TaskState.DONE for t in ordered)
    if done == count:
        label = f"{_variations(count)} ready"
    elif done == 0:
        label = f"{_variations(count)} {_not_made(ordered)}"
    else:
        label = f"{done} of {_variations(count)} ready"
    return clip(f"{label}: {prompt}", FALLBACK_CHARS)


def set_caption(tasks: Sequence[Task]) -> str:
    """The comment on the one message that brings a set's images (the delivered ones): who they are for, the options,
    their task ids, how long the slowest took and what they cost together."""
    ordered = _by_slot(tasks)
    first = ordered[0]
    count = len(ordered)
    opening = f"here are your {_variations(count)}" if count > 1 else "here is your variation"
    parts = [first.options.summary(), *_set_lineage(first), " ".join(f"#{t.id}" for t in ordered)]
    durations = [t.duration for t in ordered if t.duration is not None]
    if durations:
        parts.append(clock(max(durations)))
    if any(t.credits is not None for t in ordered):
        parts.append(total_cost(ordered))
    return clip(f"<@{first.user_id}> {opening} · " + " · ".join(parts), SECTION_CHARS)


def set_file_title(task: Task, of: int) -> str:
    """A set's image as its file is titled: "Variation 2 of 3 · #13 · a lighthouse at dawn". Plain text (Slack does
    not read a file title as mrkdwn), on one line."""
    number = task.slot if task.slot is not None else 1
    prompt = shorten(" ".join(task.prompt.split()), FILE_TITLE_PROMPT_CHARS)
    return f"Variation {number} of {of} · #{task.id}" + (f" · {prompt}" if prompt else "")


# ------------------------------------------------------------------------------------------------ the result


def result_caption(task: Task) -> str:
    """The comment posted with the image: who it is for, its number (what `@Banana … #12` names), the options, how
    long it took and what it cost."""
    parts = [summary(task), *lineage(task)]
    if task.duration is not None:
        parts.append(clock(task.duration))
    if task.credits is not None:
        parts.append(cost(task))
    return clip(f"<@{task.user_id}> here is your image #{task.id} · " + " · ".join(parts), SECTION_CHARS)


def result_filename(task: Task) -> str:
    return f"banana-{task.id}.{task.output_format}"

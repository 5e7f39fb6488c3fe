"""Edits in a thread: which image a mention edits, what goes to kie with it, and what to say when it cannot be used.

Pure functions over the thread's tasks (the store finds them); the listener and the job runner both ask them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prompts.options import MAX_INPUT_IMAGES, InputFile
from prompts.tasks import Task, TaskState

# "#12" in a mention picks that task; Slack writes a channel link as <#C123|name>, which this never matches.
_PICK = re.compile(r"(?<![\w<&])#(\d{1,9})\b")


@dataclass(frozen=True)
class Picked:
    """What a mention asked: the task number it named, if any, and its words without it."""

    number: int | None
    text: str


def read_pick(text: str) -> Picked:
    found = _PICK.search(text)
    if found is None:
        return Picked(None, text.strip())
    rest = (text[: found.start()] + text[found.end() :]).strip()
    return Picked(int(found.group(1)), re.sub(r"[ \t]{2,}", " ", rest))


def has_image(task: Task) -> bool:
    """A finished image that is still in Slack."""
    return (
        task.state is TaskState.DONE
        and bool(task.slack_file_id)
        and task.deleted_at is None
        and task.file_gone_at is None
    )


def pick_parent(thread: list[Task], number: int | None) -> Task | str:
    """The task a mention in this thread edits, or why none can be, written for the person.

    Without a number: the newest task that has an image, or that is still running (the edit waits for it), so edits
    typed one after another follow each other. With `#N`: that task, if it belongs to this thread.
    """
    if number is not None:
        chosen = next((t for t in thread if t.id == number), None)
        if chosen is None:
            return f"#{number} is not in this thread. {_instead(thread)}"
        return unusable(chosen, thread) or chosen
    for task in reversed(thread):
        if not task.state.finished or has_image(task):
            return task
    return f"There is no finished image in this thread to edit yet. {_instead(thread)}"


def unusable(task: Task, thread: list[Task]) -> str | None:
    """Why a finished task's image cannot be edited, and what can be instead; None when it can (or may still)."""
    if not task.state.finished or has_image(task):
        return None
    if task.deleted_at is not None or task.file_gone_at is not None:
        why = f"#{task.id}'s image was deleted, so there is nothing to edit."
    elif task.state is TaskState.DONE:
        why = f"#{task.id} has no image in Slack to edit."
    else:
        state = {
            TaskState.FAILED: "failed",
            TaskState.TIMED_OUT: "did not finish",
            TaskState.CANCELLED: "was cancelled",
        }
        why = f"#{task.id} {state.get(task.state, 'has no image')}, so it has no image to edit."
    return f"{why} {_instead(thread, without=task.id)}"


def _instead(thread: list[Task], *, without: int | None = None) -> str:
    usable = [t for t in thread if has_image(t) and t.id != without]
    if usable:
        newest = usable[-1]
        return (
            f"Mention me with `#{newest.id}` and what to change to edit #{newest.id}, or press Retry on a failed one."
        )
    return "Make a new image with `/banana` and then mention me in its thread, or press Retry on a failed one."


def edit_inputs(parent: Task) -> tuple[InputFile, ...]:
    """What kie gets for an edit: the image being edited first, then the images the parent itself started from (for
    an edit of a remix), without the image an earlier edit or an upscale started from; at most kie's 8."""
    assert parent.slack_file_id, "an edit needs its parent's image"
    first = InputFile(id=parent.slack_file_id, name=f"#{parent.id}")
    # an earlier edit's and an upscale's first input is the image they were made from, which this one replaces
    originals = parent.inputs[1:] if parent.relation == "edit" or parent.is_upscale else parent.inputs
    return (first, *originals)[:MAX_INPUT_IMAGES]

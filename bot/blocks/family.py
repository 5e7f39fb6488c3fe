"""A task's family in a modal: the task it first came from, and every task made from it, as a tree.

Pure Block Kit builders: data in, blocks out, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from bot.blocks.cards import STATE_EMOJI, STATE_LABELS, chain_text, total_cost
from bot.blocks.text import MODAL_TITLE_CHARS, SECTION_CHARS, clip, escaped, link, shorten
from prompts.options import PRICES, Prices
from prompts.tasks import Task

MAX_FAMILY_LINES = 100  # tasks a family shows; the rest are counted
MAX_MODAL_BLOCKS = 100
FAMILY_PROMPT_CHARS = 80
INDENT = "\u2003\u2003"  # em spaces: Slack keeps them at the start of a line, where it drops plain ones
MAX_INDENT = 8  # deeper tasks are drawn at this depth (the line still follows its parent)
FOCUS = ":point_right:"


def family_tree(tasks: Sequence[Task]) -> list[tuple[Task, int]]:
    """The tasks in tree order, each with its depth: a root (a task whose parent is not among them) first, each task
    under its parent, siblings by id. A variation made with its set and no parent of its own stands beside its set's
    first task. Whatever a broken record leaves unreachable follows at depth 0, so every task shows once."""
    by_id = {task.id: task for task in tasks}
    parents = {task.id: _parent(task, by_id) for task in by_id.values()}
    children: dict[int, list[int]] = {}
    for task_id, parent_id in parents.items():
        if parent_id is not None:
            children.setdefault(parent_id, []).append(task_id)
    order: list[tuple[Task, int]] = []
    seen: set[int] = set()

    def walk(root: int) -> None:
        stack = [(root, 0)]
        while stack:
            task_id, depth = stack.pop()
            if task_id in seen:
                continue
            seen.add(task_id)
            order.append((by_id[task_id], depth))
            stack.extend((child, depth + 1) for child in sorted(children.get(task_id, []), reverse=True))

    for task_id in sorted(by_id):
        if parents[task_id] is None:
            walk(task_id)
    for task_id in sorted(by_id):  # a loop in the records: no root leads there
        if task_id not in seen:
            walk(task_id)
    return order


def _parent(task: Task, by_id: dict[int, Task]) -> int | None:
    parent = task.parent_task_id
    if parent is not None and parent != task.id and parent in by_id:
        return parent
    head = by_id.get(task.set_id) if task.set_id is not None and task.set_id != task.id else None
    if head is not None and head.parent_task_id is not None and head.parent_task_id in by_id:
        return head.parent_task_id if head.parent_task_id != task.id else None
    return None


def family_view(focus_id: int, tasks: Sequence[Task], *, prices: Prices = PRICES) -> dict[str, Any]:
    """A modal with a task's family as a tree, the focused task marked: each line its id, how it came from its parent,
    its state, its prompt and a link to its card. At most MAX_FAMILY_LINES tasks (always the focused one and those it
    came from), within a modal's 100 blocks; the rest are counted. `tasks` are only those the viewer may see
    (`bot.services.privacy.seen_by`): the count is theirs too."""
    tree = family_tree(tasks)
    title = shorten(f"Family of #{focus_id}", MODAL_TITLE_CHARS)
    if not tree:
        text = f"Nothing to show: task #{focus_id} is no longer in Banana's history."
        return View(type="modal", title=title, close="Close", blocks=[_section(text)]).to_dict()
    shown = _chosen(tree, focus_id)
    set_sizes: dict[int, int] = {}
    for task, _ in tree:
        if task.set_id is not None:
            set_sizes[task.set_id] = set_sizes.get(task.set_id, 0) + 1
    owner = tree[0][0].user_id
    count = len(tree)
    summary = f"*{count} image{'' if count == 1 else 's'}* · {total_cost([t for t, _ in tree], prices)} together"
    blocks: list[Block] = [_section(summary)]
    lines = [_line(task, depth, focus_id=focus_id, owner=owner, set_sizes=set_sizes) for task, depth in shown]
    placed = 0
    text = ""
    for line in lines:
        if text and len(text) + 1 + len(line) > SECTION_CHARS:
            if len(blocks) >= MAX_MODAL_BLOCKS - 2:
                break
            blocks.append(_section(text))
            text = ""
        text = f"{text}\n{line}" if text else line
        placed += 1
    if text:
        blocks.append(_section(text))
    if left := count - placed:
        more = f"…and {left} more in this family, not shown."
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=more)]))
    return View(type="modal", title=title, close="Close", blocks=blocks).to_dict()


def _chosen(tree: list[tuple[Task, int]], focus_id: int) -> list[tuple[Task, int]]:
    """At most MAX_FAMILY_LINES of the tree, in its order: the focused task and its ancestors first, then the rest
    from the top."""
    if len(tree) <= MAX_FAMILY_LINES:
        return tree
    index = {task.id: i for i, (task, _) in enumerate(tree)}
    keep: set[int] = set()
    if focus_id in index:
        # Its ancestors are the nearest tasks above it, each one level shallower.
        at = index[focus_id]
        keep.add(at)
        depth = tree[at][1]
        for i in range(at - 1, -1, -1):
            if tree[i][1] < depth:
                keep.add(i)
                depth = tree[i][1]
    for i in range(len(tree)):
        if len(keep) >= MAX_FAMILY_LINES:
            break
        keep.add(i)
    return [tree[i] for i in sorted(keep)]


def _line(task: Task, depth: int, *, focus_id: int, owner: str, set_sizes: dict[int, int]) -> str:
    indent = INDENT * (min(depth, MAX_INDENT) - 1) + "↳ " if depth else ""
    mark = f"{FOCUS} " if task.id == focus_id else ""
    parts = [f"{indent}{mark}*#{task.id}*"]
    if relation := chain_text(task, depth=1):
        parts.append(relation)
    if task.set_id is not None and task.slot is not None:
        parts.append(f"image {task.slot} of {max(set_sizes.get(task.set_id, 1), task.slot)}")
    parts.append(f"{STATE_EMOJI[task.state]} {STATE_LABELS[task.state]}")
    if task.deleted_at is not None:
        parts.append("_deleted_")
    if prompt := escaped(" ".join(task.prompt.split()), FAMILY_PROMPT_CHARS):
        parts.append(prompt)
    if task.user_id != owner:
        parts.append(f"by <@{task.user_id}>")
    if card := link(task.permalink, "open"):
        parts.append(card)
    return clip(" · ".join(parts), SECTION_CHARS)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_CHARS)))

"""Upscale: the picture a result shows, enlarged by kie's upscaler (not drawn again), as a new task in its thread."""

from __future__ import annotations

from bot.blocks.cards import longest_side
from bot.clients.slack import FileDeleted, FileFetchError, FileNotVisible
from bot.services import Services
from bot.services.starter import Refused
from prompts.options import TOPAZ_UPSCALE, UPSCALE_FACTORS, GenerationRequest, InputFile, upscale_refusal
from prompts.tasks import Origin, Task, TaskState

GONE = "That image was deleted in Slack, so it cannot be upscaled. Regenerate makes it anew."
UNMADE = "That task has no image to upscale. Use Retry instead."
_ENDED_UNMADE = (TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED)


def upscale_request(task: Task, factor: int) -> GenerationRequest:
    """The upscale of a task's image: its one input is the file as delivered; prompt and options are kept for the
    caption, the Home tab and what is made from it later. Raises ValueError when kie cannot make it that large."""
    side = longest_side(task)
    refusal = upscale_refusal(side, factor)
    if refusal or not task.slack_file_id:
        raise ValueError(refusal or UNMADE)
    width, height = (task.width, task.height) if task.width and task.height else (side, side)
    return GenerationRequest(
        prompt=task.prompt,
        options=task.options,
        avoid=task.avoid,
        inputs=(InputFile(id=task.slack_file_id, name=f"result of #{task.id}"),),
        parent_task_id=task.id,
        relation=f"upscale_x{factor}",
        source="button",
        model=TOPAZ_UPSCALE,
        upscale_factor=factor,
        size=(width * factor, height * factor),
    )


async def start_upscale(services: Services, task: Task, factor: int, origin: Origin) -> str | None:
    """Start the upscale of `task`'s image by `factor`, for whoever asked from `origin`; the note to answer them with
    instead when it cannot start (or was started already: pressing twice makes one task)."""
    if task.state is not TaskState.DONE or not task.slack_file_id:
        return UNMADE
    if task.file_gone_at:
        return GONE
    try:
        request = upscale_request(task, factor)
    except ValueError as refused:
        smaller = [f for f in UPSCALE_FACTORS if f < factor and upscale_refusal(longest_side(task), f) is None]
        return f"{refused} {f'Upscale ×{smaller[-1]} fits.' if smaller else 'It is as large as kie.ai upscales.'}"
    try:  # read before anything is stored: a file deleted in Slack gets a note and no task
        info = await services.slack.team(task.team_id).file_info(task.slack_file_id)
    except (FileDeleted, FileNotVisible):
        info = {"is_deleted": True}
    except FileFetchError as error:
        return f"I could not read that image from Slack: {error}."
    if info.get("is_deleted") or info.get("mode") == "tombstone":
        await services.store.update(task.id, file_gone_at=services.runner.kit.clock())
        return GONE
    # One upscale press at a time per workspace, on every replica: the check and the start cannot interleave. Per
    # workspace, as the caps' lock is, so concurrent presses hold one pool connection per workspace, not one each.
    async with services.store.exclusive(f"upscale:{task.team_id}"):
        earlier = await _earlier(services, task, request.relation or "")
        if earlier is not None:
            state = "is being upscaled" if not earlier.state.finished else "was upscaled"
            return f"#{task.id} {state} ×{factor} already: that is #{earlier.id}."
        started = await services.starter.start(request, origin)
    return f":no_entry: {started.reason}" if isinstance(started, Refused) else None


async def _earlier(services: Services, task: Task, relation: str) -> Task | None:
    """An upscale of the task by the same factor that is running, or done and still in Slack."""
    for kin in await services.store.family(task.id):
        if kin.parent_task_id != task.id or kin.relation != relation or kin.deleted_at or kin.file_gone_at:
            continue
        if kin.state not in _ENDED_UNMADE:
            return kin
    return None

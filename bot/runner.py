"""The job runner: owns every in-flight task, from the stored row to the image in the thread.

Each task is one asyncio task held in a dict (the loop itself keeps only weak references). A task is written to the
store before anything else happens, and every step it takes is recorded there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from bot import blocks, modals
from bot.images import MIME_TYPES, sniff_image
from bot.inputs import InputFetcher, InputImage, InputRejected
from bot.kie import DownloadError, KieClient, KieError, KieTask, Phase
from bot.options import GenerationRequest
from bot.settings import Settings
from bot.slack import ChannelUnavailable, SlackDelivery, UploadFailed, invite_hint
from bot.store import NewTask, Task, TaskState, TaskStore, encode_inputs

log = logging.getLogger(__name__)

# Seconds a generation usually takes, until this workspace has its own history.
DEFAULT_ESTIMATES = {"1K": 40.0, "2K": 50.0, "4K": 90.0}
# kie may answer "recordInfo is null" for a task it has just accepted; after this long that is an error.
RECORD_GRACE_SECONDS = 60.0
INPUT_UPLOAD_PATH = "banana/inputs"


@dataclass(frozen=True)
class Origin:
    """Where a request came from in Slack."""

    team_id: str
    channel_id: str
    user_id: str
    response_url: str | None = None
    thread_ts: str | None = None  # post into this thread instead of starting one
    view_id: str | None = None  # the modal the request came from, to report back in


class TaskFailed(Exception):
    """Why a task ended without an image; `message` is written for the person who asked."""

    def __init__(self, code: str, message: str, *, state: TaskState = TaskState.FAILED, credits: int = 0) -> None:
        self.code = code
        self.message = message
        self.state = state
        self.credits = credits
        super().__init__(f"{code}: {message}")


class JobRunner:
    def __init__(
        self,
        settings: Settings,
        store: TaskStore,
        kie: KieClient,
        slack: SlackDelivery,
        *,
        on_change: Callable[[Task], None] = lambda task: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.kie = kie
        self.slack = slack
        self.inputs = InputFetcher(slack)
        self.on_change = on_change  # told of every stored change of a task (the Home tab listens)
        self.clock = clock
        self._jobs: dict[int, asyncio.Task[None]] = {}
        self._running: dict[int, Job] = {}
        self._estimates: dict[str, float] = {}

    @property
    def in_flight(self) -> int:
        return len(self._jobs)

    async def start(self, request: GenerationRequest, origin: Origin) -> Task:
        """Store the task, then run it in the background. Returns as soon as the row is written."""
        task = await self.store.add(
            NewTask(
                team_id=origin.team_id,
                user_id=origin.user_id,
                channel_id=origin.channel_id,
                prompt=request.prompt,
                avoid=request.avoid,
                aspect_ratio=request.options.aspect_ratio,
                resolution=request.options.resolution,
                output_format=request.options.output_format,
                response_url=origin.response_url,
                input_files=encode_inputs(request.inputs),
                parent_task_id=request.parent_task_id,
                relation=request.relation,
            )
        )
        self.on_change(task)
        job = Job(self, task, request, origin)
        self._running[task.id] = job
        running = asyncio.create_task(self._run(job), name=f"banana-task-{task.id}")
        self._jobs[task.id] = running
        running.add_done_callback(lambda _: self._forget(task.id))
        return task

    def _forget(self, task_id: int) -> None:
        self._jobs.pop(task_id, None)
        self._running.pop(task_id, None)

    def cancel(self, task_id: int) -> bool:
        """Ask a running task to stop waiting; False when it is not running here."""
        job = self._running.get(task_id)
        if job is None:
            return False
        job.cancel_requested.set()
        return True

    async def delete(self, task: Task) -> Task:
        """Remove a task's result (file and captioned message) and its card from Slack; the row stays, deleted."""
        if task.slack_file_id:
            for ts in await self.slack.share_timestamps(task.slack_file_id, task.channel_id):
                await self.slack.delete_message(task.channel_id, ts)
            await self.slack.delete_file(task.slack_file_id)
        if task.message_ts:
            await self.slack.delete_message(task.channel_id, task.message_ts)
        task = await self.store.update(task.id, deleted_at=self.clock())
        self.on_change(task)
        return task

    async def wait_idle(self) -> None:
        """Wait until every in-flight task has finished (tests and shutdown use it)."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs.values()), return_exceptions=True)

    async def close(self) -> None:
        jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    async def estimate(self, resolution: str) -> float:
        if resolution not in self._estimates:
            durations = await self.store.recent_durations(resolution)
            self._estimates[resolution] = (
                statistics.median(durations) if durations else DEFAULT_ESTIMATES.get(resolution, 60.0)
            )
        return self._estimates[resolution]

    def forget_estimate(self, resolution: str) -> None:
        self._estimates.pop(resolution, None)

    async def _run(self, job: Job) -> None:
        try:
            await job.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task %s broke unexpectedly", job.task.id)
            await job.finish_failed(
                TaskFailed("internal_error", "Something broke on our side. Try again; if it repeats, tell an admin.")
            )


class Job:
    """One task's journey. Kept small: each step is a method, failures travel as TaskFailed."""

    def __init__(self, runner: JobRunner, task: Task, request: GenerationRequest, origin: Origin) -> None:
        self.runner = runner
        self.task = task
        self.request = request
        self.origin = origin
        self.cancel_requested = asyncio.Event()
        self.estimate = DEFAULT_ESTIMATES.get(task.resolution, 60.0)
        self._shown: list[dict] | None = None
        self._shown_at = 0.0

    async def run(self) -> None:
        self.estimate = await self.runner.estimate(self.task.resolution)
        try:
            images = await self._fetch_inputs()
            await self._post_progress()
            image_urls = await self._upload_inputs(images)
            self._stop_if_cancelled()  # the last moment at which nothing has been spent
            kie_task_id = await self._create(image_urls)
            result = await self._wait(kie_task_id)
            await self._deliver(result)
        except TaskFailed as failure:
            await self.finish_failed(failure)

    async def finish_failed(self, failure: TaskFailed) -> None:
        log.info("task %s %s: %s", self.task.id, failure.state, failure.code)
        await self._set_state(
            failure.state,
            failure.code,
            error_code=failure.code,
            error_message=failure.message,
            credits=failure.credits,
        )
        if self.task.message_ts:
            await self._show(final=True)
        else:  # no card to edit: say it privately instead
            await self._tell(failure.message)

    async def _tell(self, message: str) -> None:
        slack = self.runner.slack
        if self.origin.view_id and await slack.show_view(self.origin.view_id, modals.problem_view(message)):
            return
        await slack.tell(self.task.response_url, f":x: {message}")

    async def _fetch_inputs(self) -> list[InputImage]:
        """Input images are read and checked before anything is posted or spent."""
        if not self.request.inputs:
            return []
        try:
            return await self.runner.inputs.fetch(self.request.inputs)
        except InputRejected as error:
            raise TaskFailed("input_rejected", f"{error} Nothing was started and nothing was charged.") from error

    async def _post_progress(self) -> None:
        text, card = self._card()
        channel = self.task.channel_id
        try:
            ts = await self.runner.slack.post(channel, text=text, blocks=card, thread_ts=self.origin.thread_ts)
        except ChannelUnavailable as error:
            raise TaskFailed(error.error, invite_hint(channel)) from error
        except SlackApiError as error:
            reason = error.response.get("error")
            message = f"Slack would not let me post here ({reason}), so I didn't start the image; nothing was charged."
            raise TaskFailed(f"slack_{reason}", message) from error
        self._shown, self._shown_at = card, self.runner.clock()
        permalink = await self.runner.slack.permalink(channel, ts)
        self.task = await self.runner.store.update(
            self.task.id, message_ts=ts, thread_ts=self.origin.thread_ts or ts, permalink=permalink
        )
        if self.origin.view_id:
            await self.runner.slack.show_view(self.origin.view_id, modals.started_view(channel))

    async def _upload_inputs(self, images: list[InputImage]) -> list[str]:
        """kie needs public URLs: each image goes to kie's upload API under a name unique to this task and file.
        Slack's own links (and the token they need) never reach kie."""
        kie = self.runner.kie
        uploads = [
            kie.upload_image(
                image.data,
                file_name=f"banana-{self.task.id}-{number}-{uuid.uuid4().hex[:8]}.{image.extension}",
                upload_path=INPUT_UPLOAD_PATH,
                mime_type=MIME_TYPES[image.kind],
            )
            for number, image in enumerate(images, start=1)
        ]
        try:
            return list(await asyncio.gather(*uploads))
        except KieError as error:
            message = f"Sending the images to kie.ai failed. {error.user_message} Nothing was charged."
            raise TaskFailed("input_upload_failed", message) from error

    async def _create(self, image_urls: list[str]) -> str:
        try:
            kie_task_id = await self.runner.kie.create_task(self.request, image_urls=image_urls)
        except KieError as error:
            raise TaskFailed(f"kie_{error.code or type(error).__name__}", error.user_message) from error
        await self._set_state(TaskState.QUEUED, f"kie task {kie_task_id}", kie_task_id=kie_task_id)
        await self._show()
        return kie_task_id

    async def _wait(self, kie_task_id: str) -> KieTask:
        polling = self.runner.settings.polling
        started = self.runner.clock()
        while True:
            elapsed = self.runner.clock() - started
            info = await self._read(kie_task_id, elapsed)
            if info is not None:
                if info.phase is Phase.SUCCESS:
                    return info
                if info.phase is Phase.FAILED:
                    raise self._generation_failed(info)
                if info.phase is Phase.UNKNOWN:
                    log.warning("task %s: kie reports unknown state %r; still waiting", self.task.id, info.state)
                else:
                    await self._enter(TaskState.QUEUED if info.is_queued else TaskState.GENERATING)
            if elapsed >= polling.timeout:
                raise TaskFailed("timed_out", "kie.ai did not finish in time.", state=TaskState.TIMED_OUT)
            await self._pause(min(polling.interval(elapsed), max(0.0, polling.timeout - elapsed)))

    async def _read(self, kie_task_id: str, elapsed: float) -> KieTask | None:
        try:
            info = await self.runner.kie.get_task(kie_task_id)
        except KieError as error:
            if error.retryable:  # already retried with backoff; the next poll tries again
                log.warning("task %s: reading from kie failed: %s", self.task.id, error)
                return None
            raise TaskFailed(f"kie_{error.code}", error.user_message) from error
        if info is None and elapsed > RECORD_GRACE_SECONDS:
            raise TaskFailed("kie_no_record", "kie.ai lost track of this task. Try again.")
        return info

    def _generation_failed(self, info: KieTask) -> TaskFailed:
        reason = f" kie.ai said: “{info.fail_msg}”." if info.fail_msg else ""
        if info.fail_code.startswith("5") or "try again" in info.fail_msg.lower():
            advice = "This is usually temporary: try again in a minute."
        else:
            advice = "Try rephrasing the prompt; if it names real people or brands, describe them instead."
        return TaskFailed(f"kie_fail_{info.fail_code or 'unknown'}", f"The generation failed.{reason} {advice}")

    async def _deliver(self, info: KieTask) -> None:
        settings, store = self.runner.settings, self.runner.store
        if not info.result_urls:
            raise TaskFailed("no_result", "kie.ai said the image was done but sent no image. Try again.")
        await self._set_state(TaskState.UPLOADING, "downloading result", result_url=info.result_urls[0])
        await self._show()
        credits = info.credits if info.credits is not None else self.task.options.price
        try:
            data = await self.runner.kie.download(info.result_urls[0], max_bytes=settings.max_result_bytes)
        except DownloadError as error:
            raise self._lost_result(str(error), credits) from error
        if sniff_image(data) is None:
            raise self._lost_result("kie.ai sent a file that is not an image", credits)
        self.task = await store.update(
            self.task.id, credits=credits, duration=round(self.runner.clock() - self.task.created_at, 1)
        )
        try:
            file_id = await self.runner.slack.upload(
                self.task.channel_id,
                self.task.thread_ts or "",
                data=data,
                filename=blocks.result_filename(self.task),
                title=blocks.shorten(self.task.prompt, 200),
                comment=blocks.result_caption(self.task),
                alt_text=self.task.prompt,
            )
        except UploadFailed as error:
            raise self._lost_result(f"uploading it to Slack failed ({error.error})", credits) from error
        await self._set_state(TaskState.DONE, f"file {file_id}", slack_file_id=file_id)
        self.runner.forget_estimate(self.task.resolution)
        await self._show(final=True)

    def _lost_result(self, what: str, credits: int) -> TaskFailed:
        where = f" Its link, valid for about a day: {self.task.result_url}" if self.task.result_url else ""
        return TaskFailed(
            "delivery_failed",
            f"The image was made (kie.ai charged for it) but {what}.{where}",
            credits=credits,
        )

    async def _set_state(self, state: TaskState, detail: str = "", **changes: object) -> None:
        self.task = await self.runner.store.set_state(self.task.id, state, detail, **changes)
        self.runner.on_change(self.task)

    def _stop_if_cancelled(self) -> None:
        if not self.cancel_requested.is_set():
            return
        if self.task.kie_task_id:
            message = "Banana stopped waiting. kie.ai had already started it, so kie.ai may still charge for it."
        else:
            message = "It was stopped before it reached kie.ai, so nothing was charged."
        raise TaskFailed("cancelled", message, state=TaskState.CANCELLED)

    async def _enter(self, state: TaskState) -> None:
        if self.task.state is not state:
            await self._set_state(state)
        await self._show()

    async def _pause(self, seconds: float) -> None:
        """Sleep until the next poll, refreshing elapsed time and the estimate on the card meanwhile."""
        deadline = self.runner.clock() + seconds
        while (left := deadline - self.runner.clock()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.cancel_requested.wait(), min(left, self.runner.settings.progress_interval))
            self._stop_if_cancelled()
            await self._show()

    def _card(self) -> tuple[str, list[dict]]:
        card = blocks.card_blocks(self.task, now=self.runner.clock(), estimate=self.estimate)
        return blocks.card_text(self.task), card

    async def _show(self, *, final: bool = False) -> None:
        """Edit the progress message when what it shows changed, at most every progress_interval.

        Final edits skip the interval, and slack_sdk's rate-limit handler waits out a 429 for them.
        """
        if not self.task.message_ts:
            return
        now = self.runner.clock()
        if not final and now - self._shown_at < self.runner.settings.progress_interval:
            return
        text, card = self._card()
        if card == self._shown:
            return
        try:
            await self.runner.slack.update(self.task.channel_id, self.task.message_ts, text=text, blocks=card)
        except SlackApiError as error:
            # slack_sdk has already waited out 429s and retried 5xx; the task itself goes on either way.
            level = logging.ERROR if final else logging.WARNING
            log.log(level, "task %s: progress edit failed: %s", self.task.id, error.response.get("error"))
            return
        self._shown, self._shown_at = card, now

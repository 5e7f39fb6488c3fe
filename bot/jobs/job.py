"""One task's journey, in public steps: its inputs, its card, its create and wait at kie, its delivery.

Every step first checks what the store says is done, so a task picked up after a restart goes on from where it
stopped. A set of variations (variations.py) uses the same steps, sharing its inputs, card and delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import uuid
from collections.abc import Sequence
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.blocks import cards, modals
from bot.blocks.text import CONTEXT_CHARS, clip, escaped, shorten
from bot.clients.images import image_size, sniff_image
from bot.clients.inputs import InputImage, InputRejected
from bot.clients.kie import (
    DownloadError,
    KieAuthError,
    KieError,
    KieNotReached,
    KieRateLimited,
    KieTask,
    KieUnknownOutcome,
    KieValidationError,
    Phase,
)
from bot.clients.kie_keys import KeyGone, KieAccount
from bot.clients.slack import ChannelUnavailable, FileFetchError, UploadFailed
from bot.clients.tokens import NotInstalled
from bot.jobs.brand import brand_urls
from bot.jobs.failures import GONE_ERRORS, Stopping, TaskFailed
from bot.jobs.kit import JobKit
from bot.jobs.progress import ProgressCard, post_card
from bot.jobs.schedule import Expectation, estimate, next_interval
from bot.jobs.threads import edit_inputs, unusable
from bot.settings import Polling
from prompts.command import kie_prompt
from prompts.estimates import Estimate
from prompts.options import TOPAZ_UPSCALE, GenerationRequest, Options, upscale_refusal
from prompts.references import BrandImages, left_out_note
from prompts.tasks import Origin, Task, TaskState, encode_inputs

log = logging.getLogger(__name__)

# kie may not know a task it has just accepted (422 "recordInfo is null", or 404); after this long that is an error.
RECORD_GRACE_SECONDS = 60.0
KIE_WORDS_CHARS = 500  # how much of kie's own failure message a person is shown
INPUT_UPLOAD_PATH = "banana/inputs"
KEY_ADVICE = "Ask a workspace admin to check it in Banana's settings (Home tab, Settings)."
KEY_REMOVED = (
    "This workspace's own kie.ai key was removed from Banana before this image finished, so Banana can no longer "
    "ask kie.ai about it. Any charge for it is on that key's kie.ai account (kie.ai/logs)."
)
NOTE_CHARS = 300  # of one input image's note ("IMG_2041.HEIC: converted to JPEG and scaled to 4096 px")


def request_key(
    prompt: str,
    options: Options,
    images: list[InputImage],
    brand_images: Sequence[str] = (),
    *,
    upscale_factor: int | None = None,
) -> str:
    """What makes two requests the same: the prompt kie gets, the options, and the input images' bytes as sent to kie
    (after any conversion or scaling), then the brand's images by content (their sha256), so a new logo is a new
    request; for an upscale, its model and factor and the image's bytes alone."""
    digests = [hashlib.sha256(image.data).hexdigest() for image in images]
    if upscale_factor is not None:
        parts = [TOPAZ_UPSCALE, str(upscale_factor), *digests]
    else:
        parts = [prompt, options.aspect_ratio, options.resolution, options.output_format, *digests, *brand_images]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class Job:
    """One task's journey. Kept small: each step is a method, failures travel as TaskFailed."""

    def __init__(self, kit: JobKit, task: Task) -> None:
        self.kit = kit
        self.task = task
        self.slack = kit.slack.team(task.team_id)  # the bot of the task's own workspace
        self.brand = BrandImages.decode(task.brand)  # the brand's images it carries, decided when it started
        self.waiting_for: int | None = None  # the task an edit waits for, until it has finished
        self.cancel_requested = False
        self.lost = False  # another replica holds it now: stop, leaving it as stored
        self.workspace_gone = False  # Banana was uninstalled from the task's workspace
        self.taken_over = False  # claimed after a restart or from another replica, not started here
        self.poked = False  # kie called back: read the task now
        self.called_back = False  # the next read answers a callback
        self.queue_position: int | None = None
        self._attention = asyncio.Event()  # set on cancel, callback or shutdown: stop pausing
        self.expect: Expectation | None = None  # kie's spread of times for this resolution, once there is history
        self.kie_done_at: float | None = None  # when kie finished the image, by its own clock when it says
        self.shown = ProgressCard(kit, self.slack)

    @property
    def request(self) -> GenerationRequest:
        return self.task.request

    @property
    def prompt(self) -> str:
        """The text kie receives. The brand's images are numbered after the task's own, which an edit knows only once
        its parent has finished."""
        return kie_prompt(self.request, self.brand)

    def brand_sent(self) -> list[str]:
        """The sha256s of the brand images this task sends, after its own images, within kie's eight."""
        sent, _ = self.brand.fitted(len(self.task.inputs)) if self.brand else ((), ())
        return [sha for _, sha in sent]

    @property
    def origin(self) -> Origin:
        return self.task.origin

    def call_attention(self) -> None:
        self._attention.set()

    def kie_words(self, error: KieError) -> str:
        """kie's error for the person: a refused key is the workspace's own, when it spends from one."""
        if isinstance(error, KieAuthError) and self.task.kie_key is not None:
            return f"kie.ai did not accept this workspace's own kie.ai key. {KEY_ADVICE}"
        return error.user_message

    async def kie(self) -> KieAccount:
        """The kie.ai account this task spends from: the key it was created with, even if it was replaced since."""
        try:
            return await self.kit.kie.of(self.task)
        except KeyGone:
            raise TaskFailed("kie_key_removed", KEY_REMOVED) from None

    async def run(self) -> None:
        """Every step first checks what the store says is done, so a task picked up after a restart goes on from
        where it stopped: it is never created at kie twice, and its image is never posted twice."""
        if self.task.state.finished:  # picked up only because its card's final edit is still owed
            await self.finish_card()
            return
        self.expect = await self.kit.outlooks.of(self.task.timing_key)
        try:
            await self.steps()
        except TaskFailed as failure:
            await self.finish_failed(failure)
        except Stopping:
            log.info("task %s left for the next start (%s)", self.task.id, self.task.state)

    async def steps(self) -> None:
        """One image, from its inputs to its delivery: each step skips what the store says is done."""
        images = None
        if not self.task.kie_task_id:
            await self.resolve_edit()
        if not self.task.message_ts:
            images = await self.fetch_inputs()
            await self._post_progress()
        if not self.task.kie_task_id:
            if self.task.create_started_at:
                raise TaskFailed("create_unknown", KieUnknownOutcome().user_message)
            images = images if images is not None else await self.fetch_inputs()
            if await self._reuse_earlier(images):
                return
            image_urls = await self.upload_inputs(images)
            images = None  # the bytes are at kie now: they must not wait in memory through the generation
            await self.create_at_kie(image_urls)
        result = await self.wait_for_result(self.task.kie_task_id or "")
        await self.deliver(result)

    async def create_at_kie(self, image_urls: list[str]) -> None:
        await self._wait_for_turn()
        self._stop_if_cancelled()  # the last moment at which nothing has been spent
        await self._create(image_urls)

    async def finish_failed(self, failure: TaskFailed) -> None:
        await self.record_failure(failure)
        if self.task.message_ts:
            await self.finish_card()
        else:  # no card to edit: say it privately instead
            await self.tell(failure.message)

    async def record_failure(self, failure: TaskFailed) -> None:
        log.info("task %s %s (%s) after %.1f s", self.task.id, failure.state, failure.code, self._elapsed())
        await self.set_state(
            failure.state,
            failure.code,
            error_code=failure.code,
            error_message=failure.message,
            credits=failure.credits,
            card_pending=bool(self.task.message_ts) and failure.code != "workspace_gone",  # no one to show it to
        )

    async def resolve_edit(self) -> None:
        """An edit starts from its parent's image, so it waits for a parent still running (showing that on its card),
        then takes the parent's image as its first input. A parent without an image fails it, saying what to edit
        instead."""
        if self.task.relation != "edit" or self.task.parent_task_id is None:
            return
        store = self.kit.store
        parent = await store.get(self.task.parent_task_id)
        if parent is not None and not parent.state.finished:
            self.waiting_for = parent.id
            if not self.task.message_ts:
                await self._post_card()
            parent = await self.kit.wait_finished(parent.id)
            self._stop_if_cancelled()
            self.waiting_for = None
        if parent is None:
            raise TaskFailed("parent_gone", "The image to edit no longer exists. Nothing was charged.")
        thread = await store.in_thread(parent.team_id, parent.channel_id, parent.thread_ts or "")
        problem = unusable(parent, thread)
        if problem is not None:
            raise TaskFailed("parent_unusable", f"{problem} Nothing was charged.")
        inputs = encode_inputs(edit_inputs(parent))
        if inputs != self.task.input_files:
            self.task = await store.update(self.task.id, input_files=inputs)

    async def tell(self, message: str) -> None:
        slack = self.slack
        if self.origin.view_id and await slack.show_view(self.origin.view_id, modals.problem_view(message)):
            return
        if self.task.response_url:
            await slack.tell(self.task.response_url, f":x: {message}")
        else:  # asked by a mention, which has no response_url: a note in its thread only they see
            await slack.whisper(
                self.task.channel_id, self.task.user_id, f":x: {message}", thread_ts=self.task.thread_ts
            )

    async def fetch_inputs(self) -> list[InputImage]:
        """Input images are read and checked before anything is posted or spent. Images Slack hides because they
        come from a conversation Banana is not in are read after joining it (a public channel), or refused with
        what to do (a private channel or a DM)."""
        if not self.request.inputs:
            return []
        # The image an edit or an upscale starts from is kie's own result: it goes back as it was delivered.
        starts_from_result = self.task.relation == "edit" or self.task.is_upscale
        as_made = frozenset(f.id for f in self.request.inputs[:1]) if starts_from_result else frozenset()
        try:
            images = await self.kit.inputs.fetch(
                self.slack,
                self.request.inputs,
                conversation=self.task.channel_id,
                as_made=as_made,
                upscale=self.task.is_upscale,
            )
        except InputRejected as error:
            code = "not_in_conversation" if error.outside else "input_rejected"
            raise TaskFailed(code, f"{error} Nothing was started and nothing was charged.") from error
        if self.task.is_upscale:
            self._check_upscale_fits(images)
        return images

    def _check_upscale_fits(self, images: list[InputImage]) -> None:
        """The image as read, against kie's 20,000 px: a row's recorded size may be an estimate."""
        size = image_size(images[0].data) if images else None
        refusal = upscale_refusal(max(size), self.task.upscale_factor or 0) if size else None
        if refusal:
            raise TaskFailed("upscale_too_large", f"{refusal} Nothing was started and nothing was charged.")

    async def _post_progress(self) -> None:
        if not self.task.message_ts:  # an edit waiting for its parent has posted it already
            await self._post_card()
        if self.origin.view_id:
            await self.slack.show_view(self.origin.view_id, modals.started_view(self.task.channel_id))

    async def _post_card(self) -> None:
        text, card = self.render()
        ts, permalink = await post_card(self.slack, self.task.channel_id, text, card, self.origin.thread_ts)
        self.shown.posted(card)
        self.task = await self.kit.store.update(
            self.task.id, message_ts=ts, thread_ts=self.origin.thread_ts or ts, permalink=permalink
        )

    async def upload_inputs(self, images: list[InputImage]) -> list[str]:
        """kie needs public URLs: each image goes to kie's upload API under a name unique to this task and file.
        Slack's own links (and the token they need) never reach kie."""
        kie = (await self.kie()).client
        uploads = [
            kie.upload_image(
                image.data,
                file_name=f"banana-{self.task.id}-{number}-{uuid.uuid4().hex[:8]}.{image.extension}",
                upload_path=INPUT_UPLOAD_PATH,
                mime_type=image.mime,
            )
            for number, image in enumerate(images, start=1)
        ]
        try:
            urls, _ = await asyncio.gather(asyncio.gather(*uploads), self._tell_input_notes(images))
            brand = await brand_urls(self.kit.store, kie, self.task.team_id, self.brand_sent(), self.kit.clock())
            return [*urls, *brand]
        except KieError as error:
            message = f"Sending the images to kie.ai failed. {self.kie_words(error)} Nothing was charged."
            raise TaskFailed("input_upload_failed", message) from error

    async def _tell_input_notes(self, images: list[InputImage]) -> None:
        """What was done to input images that kie could not take as posted (converted, turned upright, scaled), as a
        short reply in the card's thread, while they upload. A reply that fails does not stop the task."""
        notes = [image.note for image in images if image.note]
        if left_out := left_out_note(self.brand, len(self.task.inputs)):
            notes.append(left_out)
        if not notes or not self.task.message_ts:
            return
        text = "\n".join(f":information_source: {escaped(note, NOTE_CHARS)}" for note in notes)
        blocks = [{"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, CONTEXT_CHARS)}]}]
        try:
            await self.slack.post(
                self.task.channel_id, text=clip(text, CONTEXT_CHARS), blocks=blocks, thread_ts=self.task.thread_ts
            )
        except (SlackApiError, ChannelUnavailable) as error:
            log.debug("task %s: could not post the input notes (%s)", self.task.id, error)

    async def _reuse_earlier(self, images: list[InputImage]) -> bool:
        """An identical request (prompt, options and input images by content) that already has an image in Slack gets
        that image again, at no cost, unless the person asked for a fresh one."""
        key = request_key(
            self.prompt, self.request.options, images, self.brand_sent(), upscale_factor=self.task.upscale_factor
        )
        self.task = await self.kit.store.update(self.task.id, request_key=key)
        if self.request.fresh:
            return False
        earlier = await self.kit.store.reusable(self.task.team_id, key, self.task.channel_id)
        if earlier is None or not earlier.slack_file_id:
            return False
        slack = self.slack
        try:
            data = await slack.download_file(
                await slack.file_info(earlier.slack_file_id), max_bytes=self.kit.settings.max_result_bytes
            )
        except FileFetchError as error:
            log.debug("task %s: could not reuse #%s (%s); generating anew", self.task.id, earlier.id, error)
            return False
        await self.set_state(TaskState.UPLOADING, f"reusing #{earlier.id}", reused_from=earlier.id, credits=0)
        file_id, detail = await self._upload_result(data)
        del data  # the final edit may wait minutes for Slack's budget; the image must not wait with it
        await self._finish_done(file_id, detail)
        return True

    async def _wait_for_turn(self) -> None:
        """kie takes 20 new tasks per 10 s; later ones wait here, in order, showing their place in the line."""

        async def show_position(position: int) -> None:
            self._stop_if_stopping()
            self.queue_position = position
            await self.show()

        await (await self.kie()).creates.take_turn(show_position)
        self.queue_position = None

    async def _create(self, image_urls: list[str]) -> None:
        # Recorded before the call: after a crash, a create that may have happened is never repeated blindly.
        self.task = await self.kit.store.update(self.task.id, create_started_at=self.kit.clock())
        try:
            kie_task_id = await self._create_until_taken(image_urls)
        except KieValidationError as error:
            message = error.user_message
            if self.task.is_upscale:  # kie's reason is about the image, not a prompt
                reason = f" It said: “{shorten(error.detail, KIE_WORDS_CHARS)}”." if error.detail else ""
                message = f"kie.ai refused to upscale this image.{reason} Nothing was charged."
            raise TaskFailed(f"kie_{error.code}", message) from error
        except KieError as error:
            raise TaskFailed(f"kie_{error.code or type(error).__name__}", self.kie_words(error)) from error
        await self.set_state(TaskState.QUEUED, f"kie task {kie_task_id}", kie_task_id=kie_task_id)
        await self.show()

    async def _create_until_taken(self, image_urls: list[str]) -> str:
        """kie refuses a create beyond its rate with a 429 and does not queue it, and a create that never reached kie
        (a refused connection, a gateway's 502 or 503 page) was not seen there, so repeating either cannot bill twice:
        after a pause it goes back in the create line (its card showing its place) and is sent again."""
        for delay in (*self.kit.settings.kie_retry_delays, None):
            try:
                return await (await self.kie()).client.create_task(
                    self.prompt,
                    self.request.options,
                    image_urls=image_urls,
                    callback_url=self.kit.callback_url(self.task.id),
                    model=self.task.model,
                    upscale_factor=self.task.upscale_factor,
                )
            except (KieRateLimited, KieNotReached) as error:
                if delay is None:
                    raise
                log.debug("task %s: create not taken (%s), sending it again in %.1fs", self.task.id, error, delay)
                await asyncio.sleep(delay)
                await self._wait_for_turn()
        raise AssertionError("unreachable")

    async def wait_for_result(self, kie_task_id: str) -> KieTask:
        """Poll kie until the task ends. With callbacks on, a callback wakes the poll and polling is only a sparse
        safety net for callbacks that never come."""
        settings = self.kit.settings
        polling = settings.polling
        started = self.task.created_at
        if settings.callbacks and self.task.state is TaskState.QUEUED and not self.taken_over:
            # a callback wakes it; one taken over from another replica may have missed its callback, so reads first
            await self._pause(min(settings.callback_poll_interval, polling.timeout))
        else:
            await self._pause(self._first_read_after(polling))
        at_kie = self.task.create_started_at or started
        while True:
            elapsed = self.kit.clock() - started
            info = await self._read(kie_task_id)
            queued = info is not None and info.is_queued
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
            if settings.callbacks:
                interval = settings.callback_poll_interval
            else:  # re-planned at each read: siblings that finished meanwhile teach the schedule
                self.expect = await self.kit.outlooks.of(self.task.timing_key)
                interval = next_interval(self.kit.clock() - at_kie, self.expect, polling, queued=queued)
            await self._pause(min(interval, max(0.0, polling.timeout - elapsed)))

    def _first_read_after(self, polling: Polling) -> float:
        """Seconds before the first read. A new task cannot be done sooner than kie's first seconds, so it waits
        `fast_interval`; one claimed after a restart or from another replica may have finished meanwhile, so it reads
        at once. Either way a random share more (POLL_JITTER), so tasks started together stay out of step."""
        jitter = random.uniform(0, self.kit.settings.poll_jitter * polling.fast_interval)
        return jitter if self.taken_over else polling.fast_interval + jitter

    async def _read(self, kie_task_id: str) -> KieTask | None:
        try:
            # When reads are scarce, a task kie called back about goes first (it is done), then the task most likely
            # to be done by now.
            guess = self.estimate()
            expected = self.task.created_at + (guess.likely if guess else 0.0)  # no history: the oldest first
            kie = (await self.kie()).client
            info = await kie.get_task(kie_task_id, priority=0.0 if self.called_back else expected)
            self.called_back = False
        except KieError as error:
            if error.retryable:  # already retried with backoff; the next poll tries again
                log.warning("task %s: reading from kie failed: %s", self.task.id, error)
                return None
            raise TaskFailed(f"kie_{error.code}", error.user_message) from error
        created = self.task.create_started_at or self.task.created_at  # a wait in the create queue does not count
        if info is None and self.kit.clock() - created > RECORD_GRACE_SECONDS:
            raise TaskFailed("kie_no_record", "kie.ai lost track of this task. Try again.")
        return info

    def _generation_failed(self, info: KieTask) -> TaskFailed:
        reason = f" kie.ai said: “{shorten(info.fail_msg, KIE_WORDS_CHARS)}”." if info.fail_msg else ""
        if self.task.is_upscale:
            code = f"kie_fail_{info.fail_code or 'unknown'}"
            return TaskFailed(code, f"The upscale failed.{reason} Nothing was charged.")
        if info.fail_code.startswith("5") or "try again" in info.fail_msg.lower():
            advice = "This is usually temporary: try again in a minute."
        else:
            advice = "Try rephrasing the prompt; if it names real people or brands, describe them instead."
        return TaskFailed(f"kie_fail_{info.fail_code or 'unknown'}", f"The generation failed.{reason} {advice}")

    async def deliver(self, info: KieTask) -> None:
        settings, store = self.kit.settings, self.kit.store
        if not info.result_urls:
            raise TaskFailed("no_result", "kie.ai said the image was done but sent no image. Try again.")
        await self.set_state(
            TaskState.UPLOADING,
            "downloading result",
            result_url=info.result_urls[0],
            kie_seconds=self.kie_seconds(info),
        )
        await self.show()
        credits, exact = await self.cost(info)
        kie = (await self.kie()).client
        async with self.kit.deliveries:  # a few results in memory at a time, however many finish at once
            try:
                data = await kie.download(info.result_urls[0], max_bytes=settings.max_result_bytes)
            except DownloadError as error:
                raise self.lost_result(str(error), credits) from error
            with self.kit.metrics.images_in_memory.track_inprogress():
                kind = sniff_image(data)
                if kind is None:
                    raise self.lost_result("kie.ai sent a file that is not an image", credits)
                width, height = image_size(data) or (self.task.width, self.task.height)
                # an upscale comes back in its input's format, which a re-encoding to fit kie's 10 MB may have changed
                made_as = {"png": "png", "jpeg": "jpg"}.get(kind) if self.task.is_upscale else None
                self.task = await store.update(
                    self.task.id,
                    credits=credits,
                    credits_exact=exact,
                    width=width,
                    height=height,
                    output_format=made_as or self.task.output_format,
                )
                file_id, detail = await self._upload_result(data)
                del data  # the final edit may wait minutes for Slack's budget; the image must not wait with it
        await self._finish_done(file_id, detail)

    def kie_seconds(self, info: KieTask) -> float | None:
        """How long kie took: by its own clock when it says (create and complete times), else by ours. Notes when kie
        finished, for the metrics' kie-done-to-image time."""
        self.kie_done_at = info.complete_time_ms / 1000 if info.complete_time_ms else self.kit.clock()
        if info.create_time_ms and info.complete_time_ms and info.complete_time_ms >= info.create_time_ms:
            return (info.complete_time_ms - info.create_time_ms) / 1000
        return self.kit.clock() - self.task.create_started_at if self.task.create_started_at else None

    async def cost(self, info: KieTask) -> tuple[float, bool]:
        """What the image cost, and whether kie said so: its callback's figure (recorded by the tasks service, perhaps
        while this task was polling), else its answer's, else the price table's estimate."""
        stored = await self.kit.store.get(self.task.id)  # whichever replica took the callback
        if stored is not None and stored.credits_exact and stored.credits is not None:
            return stored.credits, True
        if info.credits is not None:
            return info.credits, True
        return self.kit.settings.prices[self.task.price_key], False

    async def _upload_result(self, data: bytes) -> tuple[str, str]:
        if self.task.upload_started_at and (found := await self._landed()):  # a restart during the upload
            return found, "found after restart"
        self.task = await self.kit.store.update(
            self.task.id,
            duration=round(self.kit.clock() - self.task.created_at, 1),
            upload_started_at=self.kit.clock(),
        )
        for delay in (*self.kit.settings.slack_retry_delays, None):
            try:
                file_id = await self.slack.upload(
                    self.task.channel_id,
                    self.task.thread_ts or "",
                    data=data,
                    filename=cards.result_filename(self.task),
                    title=shorten(self.task.prompt, 200),
                    comment=cards.result_caption(self.task),
                    alt_text=self.task.prompt,
                )
                return file_id, f"file {file_id}"
            except UploadFailed as error:
                if error.error in GONE_ERRORS:
                    raise NotInstalled(self.task.team_id) from error
                if found := await self._landed():  # the answer was lost, not the upload: never post it twice
                    return found, f"file {found}, found after {error.error}"
                if not error.transient or delay is None:
                    what = f"uploading it to Slack failed ({error.error})"
                    raise self.lost_result(what, self.task.credits or 0) from error
                self._stop_if_stopping()  # the next start downloads it again and finds or makes the upload
                log.warning("task %s: upload failed (%s), trying again in %.1f s", self.task.id, error.error, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _landed(self) -> str | None:
        """The result's file id if an upload of it has landed in the channel since this task's upload began."""
        since = self.task.upload_started_at or self.task.created_at
        return await self.slack.find_upload(self.task.channel_id, cards.result_filename(self.task), since=since)

    async def _finish_done(self, file_id: str, detail: str) -> None:
        await self.set_state(TaskState.DONE, detail, slack_file_id=file_id, card_pending=bool(self.task.message_ts))
        self.kit.outlooks.forget(self.task.timing_key)
        await self.finish_card()

    async def finish_card(self) -> None:
        """The card's final edit, tried until it lands. The store owes it (`card_pending`) until then, so after a
        restart, or on the replica that takes the task over, it is made by whoever holds the task next."""
        if self.task.message_ts and not await self.shown.show(
            self.task.channel_id, self.task.message_ts, self.render, final=True
        ):
            return
        if self.task.card_pending:
            self.task = await self.kit.store.update(self.task.id, card_pending=False)

    def lost_result(self, what: str, credits: float) -> TaskFailed:
        where = f" Its link, valid for about a day: {self.task.result_url}" if self.task.result_url else ""
        return TaskFailed(
            "delivery_failed",
            f"The image was made (kie.ai charged for it) but {what}.{where}",
            credits=credits,
        )

    async def set_state(self, state: TaskState, detail: str = "", **changes: object) -> None:
        self.task = await self.kit.store.set_state(self.task.id, state, detail, **changes)
        if state is TaskState.DONE and self.kie_done_at is not None:
            self.kit.metrics.kie_done_to_image.observe(max(0.0, self.kit.clock() - self.kie_done_at))
        if state is TaskState.DONE:  # one image or one of a set: both end here
            cost = f"{'' if self.task.credits_exact else '≈'}{self.task.credits or 0:g} credits"
            log.info("task %s done in %.1f s, %s", self.task.id, self._elapsed(), cost)
        self.kit.on_change(self.task)

    def _elapsed(self) -> float:
        """Seconds since the task was asked for."""
        return self.kit.clock() - self.task.created_at

    def _stop_if_stopping(self) -> None:
        if self.kit.stopping() or self.lost:
            raise Stopping

    def _stop_if_cancelled(self) -> None:
        self._stop_if_stopping()
        if self.workspace_gone:
            raise NotInstalled(self.task.team_id)
        if not self.cancel_requested:
            return
        if self.task.kie_task_id:
            message = "Banana stopped waiting. kie.ai had already started it, so kie.ai may still charge for it."
        else:
            message = "It was stopped before it reached kie.ai, so nothing was charged."
        raise TaskFailed("cancelled", message, state=TaskState.CANCELLED)

    async def _enter(self, state: TaskState) -> None:
        if self.task.state is not state:
            await self.set_state(state)
        await self.show()

    async def _pause(self, seconds: float) -> None:
        """Sleep until the next poll, refreshing elapsed time and the estimate on the card meanwhile.

        A cancel, a callback or a shutdown ends the pause at once.
        """
        deadline = self.kit.clock() + seconds
        while (left := deadline - self.kit.clock()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._attention.wait(), min(left, self.kit.settings.progress_interval))
            self._attention.clear()
            self._stop_if_cancelled()
            if self.poked:
                self.poked, self.called_back = False, True
                return
            await self.show()

    def estimate(self) -> Estimate | None:
        """Seconds from the command to the image, from the same figures the polls follow: the time until the create,
        then kie's spread of times for this resolution. None while there is too little history to say."""
        at_kie = self.task.create_started_at or self.kit.clock()
        return estimate(self.expect, at_kie - self.task.created_at)

    def render(self) -> tuple[str, list[dict[str, Any]]]:
        card = cards.card_blocks(
            self.task,
            now=self.kit.clock(),
            estimate=self.estimate(),
            queue_position=self.queue_position,
            prices=self.kit.settings.prices,
            waiting_for=self.waiting_for,
        )
        return cards.card_text(self.task), card

    async def show(self, *, final: bool = False) -> None:
        if self.task.message_ts:
            await self.shown.show(self.task.channel_id, self.task.message_ts, self.render, final=final)

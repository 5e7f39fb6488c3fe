"""Variations made together: each image its own task and its own job, sharing one card and one delivery."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.blocks import cards
from bot.clients.images import sniff_image
from bot.clients.kie import DownloadError, KieTask, KieUnknownOutcome
from bot.clients.slack import Upload, UploadFailed
from bot.jobs.failures import INTERNAL_ERROR, TaskFailed
from bot.jobs.job import Job
from bot.jobs.kit import JobKit
from bot.jobs.progress import ProgressCard, post_card
from prompts.tasks import Task, TaskState


class Variation(Job):
    """One image of a set: the set fetches the inputs and posts the card once for all; each image is created and
    waited for on its own; the set delivers them together."""

    def __init__(self, kit: JobKit, task: Task, group: VariationSet) -> None:
        super().__init__(kit, task)
        self.group = group

    async def steps(self) -> None:
        if not self.task.kie_task_id:
            if self.task.create_started_at:
                raise TaskFailed("create_unknown", KieUnknownOutcome().user_message)
            image_urls = await self.group.inputs_at_kie(self)
            await self.create_at_kie(image_urls)
        result = await self.wait_for_result(self.task.kie_task_id or "")
        await self.group.arrive(self, result)

    async def finish_failed(self, failure: TaskFailed) -> None:
        await self.record_failure(failure)
        await self.group.settle(self)

    async def show(self, *, final: bool = False) -> None:
        await self.group.show()

    async def finish_card(self) -> None:
        if self.group.slots()[0].id == self.task.id:  # the set's one card, edited once rather than by every image
            await self.group.show()


class VariationSet:
    """Variations made together (`--n 3`, the Variations button). Each image is its own task and its own job, created
    and waited for at kie on its own; the set fetches the inputs and posts the card once for all of them, shows every
    image on that one card, and delivers the images together: one message with numbered files.

    After a restart the set is rebuilt from the store: images that had finished stay as they were, the others go on
    from their own stored step, and the delivery finds an upload that had already landed instead of posting twice.
    """

    def __init__(self, kit: JobKit, tasks: list[Task]) -> None:
        self.kit = kit
        self.slack = kit.slack.team(tasks[0].team_id)
        self.tasks = {task.id: task for task in tasks}  # every image of the set, as last stored
        self.jobs: dict[int, Variation] = {}  # the images running here
        self.card = ProgressCard(kit, self.slack)
        self._inputs = asyncio.Lock()
        self._image_urls: list[str] | None = None
        self._failure: TaskFailed | None = None  # why the inputs or the card failed, for every image
        self._arrived: set[int] = set()  # images ready at kie in this run, waiting for the rest
        self._delivering = False
        self._delivered = asyncio.Event()
        self._told = False

    def join(self, job: Variation) -> Variation:
        self.jobs[job.task.id] = job
        return job

    def slots(self) -> list[Task]:
        current = [self.jobs[i].task if i in self.jobs else task for i, task in self.tasks.items()]
        return sorted(current, key=lambda task: task.slot or 0)

    async def inputs_at_kie(self, job: Variation) -> list[str]:
        """The input images' URLs at kie, for every image of the set: fetched, carded and uploaded once."""
        async with self._inputs:
            if self._image_urls is None and self._failure is None:
                try:
                    self._image_urls = await self._prepare(job)
                except TaskFailed as failure:
                    if failure.state is TaskState.CANCELLED:  # one image was cancelled; the others go on
                        raise
                    self._failure = failure
        if self._failure is not None:
            raise TaskFailed(self._failure.code, self._failure.message, state=self._failure.state)
        return self._image_urls or []

    async def _prepare(self, job: Variation) -> list[str]:
        await job.resolve_edit()
        if job.task.input_files:  # an edit's inputs, known once its parent has finished: the same for every image
            for task in self.slots():
                if task.input_files != job.task.input_files:
                    self._stored(await self.kit.store.update(task.id, input_files=job.task.input_files))
        images = await job.fetch_inputs()
        if not self.slots()[0].message_ts:
            await self.post_card()
        return await job.upload_inputs(images)

    async def post_card(self) -> None:
        lead = self.slots()[0]
        text, card = self._render()
        thread = lead.origin.thread_ts
        ts, permalink = await post_card(self.slack, lead.channel_id, text, card, thread)
        self.card.posted(card)
        for task in self.slots():
            self._stored(
                await self.kit.store.update(task.id, message_ts=ts, thread_ts=thread or ts, permalink=permalink)
            )

    def _stored(self, task: Task) -> None:
        self.tasks[task.id] = task
        if task.id in self.jobs:
            self.jobs[task.id].task = task

    def _render(self) -> tuple[str, list[dict[str, Any]]]:
        slots = self.slots()
        running = [self.jobs[task.id] for task in slots if task.id in self.jobs]
        blocks = cards.set_card_blocks(
            slots,
            now=self.kit.clock(),
            estimates={job.task.id: job.estimate() for job in running},
            queue_positions={job.task.id: job.queue_position for job in running if job.queue_position is not None},
            prices=self.kit.settings.prices,
        )
        return cards.set_card_text(slots), blocks

    async def show(self) -> None:
        """Edit the set's card; the edit is final once every image has finished."""
        slots = self.slots()
        lead = slots[0]
        if not lead.message_ts:
            return
        final = all(task.state.finished for task in slots)
        if await self.card.show(lead.channel_id, lead.message_ts, self._render, final=final) and final:
            for task in slots:  # the set's one card shows every image: none of them owes it any more
                if task.card_pending:
                    self._stored(await self.kit.store.update(task.id, card_pending=False))

    async def arrive(self, job: Variation, info: KieTask) -> None:
        """An image is ready at kie: note it, then wait for the rest of the set to be delivered with them."""
        if not info.result_urls:
            raise TaskFailed("no_result", "kie.ai said the image was done but sent no image. Try again.")
        credits, exact = await job.cost(info)
        await job.set_state(
            TaskState.UPLOADING,
            "ready; waiting for the rest of the set",
            result_url=info.result_urls[0],
            kie_seconds=job.kie_seconds(info),
            credits=credits,
            credits_exact=exact,
        )
        self._arrived.add(job.task.id)
        await self.settle(job)
        await self._delivered.wait()
        if not job.task.state.finished:  # the delivery broke before it reached this image
            raise TaskFailed("internal_error", INTERNAL_ERROR)

    async def settle(self, job: Variation) -> None:
        """An image has arrived or failed. The last of the set to do so delivers every ready image at once."""
        self._stored(job.task)
        slots = self.slots()
        if self._delivering or not all(task.state.finished or task.id in self._arrived for task in slots):
            await self.show()
            return
        self._delivering = True
        try:
            ready = [self.jobs[task.id] for task in slots if task.id in self._arrived and not task.state.finished]
            if ready:
                await self._deliver(ready)
        finally:
            self._delivered.set()
        if slots[0].message_ts:
            await self.show()
        elif not self._told:  # no card to edit: say it privately, once for the set
            self._told = True
            await job.tell(job.task.error_message or "The images could not be made.")

    async def _deliver(self, ready: list[Variation]) -> None:
        async with self.kit.deliveries:
            files = [(job, data) for job in ready if (data := await self._download(job)) is not None]
            if not files:
                return
            uploaded = [job for job, _ in files]
            in_memory = self.kit.metrics.images_in_memory
            in_memory.inc(len(files))
            try:
                file_ids = await self._find_upload(files) or await self._upload(files)
            finally:
                in_memory.dec(len(files))
            files.clear()  # the final edit may wait for Slack's budget; the images must not wait with it
        for job, file_id in zip(uploaded, file_ids, strict=False):  # no ids: the upload failed, and they with it
            await job.set_state(TaskState.DONE, f"file {file_id}", slack_file_id=file_id, card_pending=True)
        self.kit.outlooks.forget(ready[0].task.timing_key)

    async def _download(self, job: Variation) -> bytes | None:
        credits = job.task.credits or 0
        try:
            kie = (await job.kie()).client
        except TaskFailed as failure:
            await job.record_failure(failure)
            return None
        try:
            data = await kie.download(job.task.result_url or "", max_bytes=self.kit.settings.max_result_bytes)
        except DownloadError as error:
            await job.record_failure(job.lost_result(str(error), credits))
            return None
        if sniff_image(data) is None:
            await job.record_failure(job.lost_result("kie.ai sent a file that is not an image", credits))
            return None
        return data

    async def _find_upload(self, files: list[tuple[Variation, bytes]]) -> list[str] | None:
        """After a restart in the middle of the upload: the files, if that upload had landed."""
        started = [job.task.upload_started_at for job, _ in files if job.task.upload_started_at]
        if not started:
            return None
        lead = files[0][0].task
        found = [
            await self.slack.find_upload(lead.channel_id, cards.result_filename(job.task), since=min(started))
            for job, _ in files
        ]
        return [file_id for file_id in found if file_id] if all(found) else None

    async def _upload(self, files: list[tuple[Variation, bytes]]) -> list[str]:
        kit = self.kit
        for job, _ in files:
            duration = round(kit.clock() - job.task.created_at, 1)
            job.task = await kit.store.update(job.task.id, duration=duration, upload_started_at=kit.clock())
        tasks = [job.task for job, _ in files]
        uploads = [
            Upload(
                data=data,
                filename=cards.result_filename(job.task),
                title=cards.set_file_title(job.task, len(self.tasks)),
                alt_text=job.task.prompt,
            )
            for job, data in files
        ]
        lead = tasks[0]
        for delay in (*kit.settings.slack_retry_delays, None):
            try:
                return await self.slack.upload_many(
                    lead.channel_id, lead.thread_ts or "", uploads, comment=cards.set_caption(tasks)
                )
            except UploadFailed as error:
                if found := await self._find_upload(files):  # the answer was lost, not the upload
                    return found
                if not error.transient or delay is None or kit.stopping():
                    failed = error
                    break
                await asyncio.sleep(delay)
        for job, _ in files:
            await job.record_failure(
                job.lost_result(f"uploading it to Slack failed ({failed.error})", job.task.credits or 0)
            )
        return []

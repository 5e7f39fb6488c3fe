"""The job runner: owns every in-flight task it holds, from the stored row to the image in the thread.

Each task is one asyncio task held in a dict (the loop itself keeps only weak references). A task is written to the
store before anything else happens, and every step it takes is recorded there.

Work is held through leases in the store: a unit (a task, or a set of variations) belongs to one replica at a time,
which renews its lease while it works. A replica that dies stops renewing, and another claims the unit once the lease
has run out, carrying on from each task's stored step. With SQLite the one process is the only holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.blocks import cards, modals
from bot.blocks.text import CONTEXT_CHARS, clip, escaped, shorten
from bot.clients.images import sniff_image
from bot.clients.inputs import InputFetcher, InputImage, InputRejected
from bot.clients.kie import DownloadError, KieClient, KieError, KieTask, KieUnknownOutcome, Phase
from bot.clients.limits import CreateQueue, SharedPace, UpdateBudget
from bot.clients.slack import ChannelUnavailable, FileFetchError, SlackDelivery, Upload, UploadFailed, invite_hint
from bot.clients.tokens import NotInstalled
from bot.jobs.schedule import Expectation, estimate, expectation, next_interval
from bot.jobs.threads import edit_inputs, unusable
from bot.settings import Settings
from bot.store import StoreUnavailable, TaskStore
from prompts.command import kie_prompt
from prompts.estimates import Estimate
from prompts.options import GenerationRequest
from prompts.tasks import Origin, Task, TaskState, encode_inputs, new_task

log = logging.getLogger(__name__)

# kie may not know a task it has just accepted (422 "recordInfo is null", or 404); after this long that is an error.
RECORD_GRACE_SECONDS = 60.0
CALLBACK_PATH = "/kie/callback"
KIE_WORDS_CHARS = 500  # how much of kie's own failure message a person is shown
INPUT_UPLOAD_PATH = "banana/inputs"
NOTE_CHARS = 300  # of one input image's note ("IMG_2041.HEIC: converted to JPEG and scaled to 4096 px")


WORKSPACE_GONE = "Banana was uninstalled from this workspace, or its access was revoked, so the task ended here."
# Slack's answers that mean the workspace's token no longer works: nothing more can be said there.
_GONE_ERRORS = frozenset({"invalid_auth", "account_inactive", "token_revoked", "not_authed", "team_access_not_granted"})


def _workspace_gone(error: Exception) -> bool:
    if isinstance(error, NotInstalled):
        return True
    return isinstance(error, SlackApiError) and error.response.get("error") in _GONE_ERRORS


class TaskFailed(Exception):
    """Why a task ended without an image; `message` is written for the person who asked."""

    def __init__(self, code: str, message: str, *, state: TaskState = TaskState.FAILED, credits: float = 0) -> None:
        self.code = code
        self.message = message
        self.state = state
        self.credits = credits
        super().__init__(f"{code}: {message}")


def replica_name() -> str:
    """Who holds a lease: this host and process, and a random part, since a restarted process may get the same pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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
        holder: str | None = None,
    ) -> None:
        self.settings = settings
        self.holder = holder or replica_name()
        self.store = store
        self.kie = kie
        self.slack = slack
        self.inputs = InputFetcher(max_side=settings.max_input_side, decodes_at_once=settings.image_decodes_at_once)
        self.on_change = on_change  # told of every stored change of a task (the Home tab listens)
        self.clock = clock
        window = settings.kie_create_window * 1.05 + 0.05  # as CreateQueue's own: a margin for the trip to kie
        shared = SharedPace(store, "kie:creates", settings.kie_creates_per_window, window) if store.shared else None
        self.create_queue = CreateQueue(settings.kie_creates_per_window, settings.kie_create_window, shared=shared)
        self._update_budgets: dict[str, UpdateBudget] = {}  # Slack counts chat.update per workspace
        self.deliveries = asyncio.Semaphore(16)
        self.stopping = False
        self._jobs: dict[int, asyncio.Task[None]] = {}
        self._running: dict[int, Job] = {}
        self._units: dict[int, set[int]] = {}  # the units held here, and their tasks still running
        self._outlooks: dict[str, Expectation | None] = {}
        self._keeper: asyncio.Task[None] | None = None
        self._gone: set[str] = set()  # workspaces that can no longer be reached, each logged once
        self._checks: set[asyncio.Task[None]] = set()  # cancel signals being checked against the store

    @property
    def in_flight(self) -> int:
        return len(self._jobs)

    def update_budget(self, team_id: str) -> UpdateBudget:
        """The chat.update budget of one workspace: Slack's limit is per workspace, so each has its own."""
        if team_id not in self._update_budgets:
            self._update_budgets[team_id] = UpdateBudget(self.settings.slack_updates_per_minute)
        return self._update_budgets[team_id]

    async def add(self, request: GenerationRequest, origin: Origin) -> list[Task]:
        """Store a request's tasks (one, or a set of variations), held here from the start so no replica claims them.

        Surfaces do not call this: they go through `TaskStarter.start`, which checks the caps first, then runs them."""
        parent = await self.store.get(request.parent_task_id) if request.parent_task_id else None
        holder, lease = self.holder, self.settings.lease_seconds
        if request.count > 1:
            news = [new_task(request, origin, parent=parent, slot=n) for n in range(1, request.count + 1)]
            return await self.store.add_set(news, holder=holder, lease_seconds=lease)
        return [await self.store.add(new_task(request, origin, parent=parent), holder=holder, lease_seconds=lease)]

    def run(self, tasks: list[Task]) -> None:
        """Run stored tasks in the background."""
        for task in tasks:
            what = f"{task.resolution} {task.relation or 'image'}"
            log.info("task %s started: %s for %s in %s", task.id, what, task.user_id, task.team_id)
            self.update_budget(task.team_id).started()
            self.on_change(task)
        self._spawn_all(tasks)

    async def resume(self) -> int:
        """Take the work no one holds: what a previous run left unfinished (or, with several replicas, what a replica
        that died was doing), each task exactly as it was asked; then keep the leases. Returns how many tasks."""
        await self.store.listen(self._on_signal)
        taken = await self._claim()
        if taken:
            log.info("resumed %d unfinished task(s)", taken)
        self._keeper = asyncio.create_task(self._keep_leases(), name="banana-leases")
        return taken

    async def _claim(self) -> int:
        units = await self.store.claim(self.holder, self.settings.lease_seconds)
        for tasks in units:
            self._spawn_all(tasks, claimed=True)
        return sum(1 for tasks in units for task in tasks if not task.state.finished)

    async def _keep_leases(self) -> None:
        """Renew the leases of the work held here, give up work whose lease another replica has taken over, and claim
        work whose lease has run out. A database that is away is retried with backoff; nothing is lost meanwhile."""
        interval = self.settings.lease_seconds / 3
        backoff = interval
        while not self.stopping:
            await asyncio.sleep(backoff)
            try:
                held = set(await self.store.renew(self.holder, list(self._units), self.settings.lease_seconds))
                for unit in set(self._units) - held:
                    self._lose(unit)
                await self._claim()
                backoff = interval
            except StoreUnavailable as error:
                backoff = min(backoff * 2, self.settings.lease_seconds)
                log.warning("the database is away (%s); trying again in %.0f s", error, backoff)

    def _lose(self, unit: int) -> None:
        """Another replica holds this unit now (this one could not renew in time): its jobs stop touching it."""
        log.warning("lost the lease on task %s; another replica carries it on", unit)
        self._let_go(unit)

    async def _end_quietly(self, job: Job, error: Exception) -> None:
        """The workspace uninstalled Banana, or its token stopped working: there is nowhere left to post, so the task
        ends as it is, without a word in Slack, and nothing is retried. Logged once per workspace."""
        team = job.task.team_id
        if team not in self._gone:
            self._gone.add(team)
            log.warning("workspace %s can no longer be reached (%s); its tasks end here", team, error)
        await job.record_failure(TaskFailed("workspace_gone", WORKSPACE_GONE, state=TaskState.CANCELLED))

    def end_workspace(self, team_id: str) -> int:
        """Banana was uninstalled from a workspace: end its tasks running here at their next step; how many."""
        self._gone.add(team_id)
        jobs = [job for job in self._running.values() if job.task.team_id == team_id]
        for job in jobs:
            job.workspace_gone = True
            job.call_attention()
        return len(jobs)

    def _let_go(self, unit: int) -> None:
        """Stop a unit's jobs here, leaving it as stored and its lease to run out, for whoever claims it next."""
        for task_id in self._units.pop(unit, set()):
            job = self._running.get(task_id)
            if job is not None:
                job.lost = True
                job.call_attention()

    def _spawn_all(self, tasks: list[Task], *, claimed: bool = False) -> None:
        """A job for each unfinished task of a unit; variations made together share one VariationSet (one card)."""
        unit = tasks[0].set_id or tasks[0].id
        if unit in self._units:  # held here already
            return
        running = [task for task in tasks if not task.state.finished]
        self._units[unit] = {task.id for task in running}
        group = VariationSet(self, tasks) if tasks[0].set_id is not None else None
        for task in running:
            job = Job(self, task, group)
            job.cancel_requested = task.cancel_requested_at is not None
            job.taken_over = claimed
            self._spawn(group.join(job) if group else job, unit)

    def _spawn(self, job: Job, unit: int) -> None:
        task_id = job.task.id
        self._running[task_id] = job
        running = asyncio.create_task(self._run(job, unit), name=f"banana-task-{task_id}")
        self._jobs[task_id] = running
        running.add_done_callback(lambda _: self._forget(task_id))

    def callback_url(self, task_id: int) -> str | None:
        """Where kie should report this task, with a token only this app can make (None: callbacks are off)."""
        if not self.settings.public_url:
            return None
        return f"{self.settings.public_url}{CALLBACK_PATH}?task={task_id}&token={self.callback_token(task_id)}"

    def callback_token(self, task_id: int) -> str:
        key = self.settings.kieai_api_key.encode()
        return hmac.new(key, f"banana-callback:{task_id}".encode(), hashlib.sha256).hexdigest()[:40]

    async def poke(self, task_id: int) -> None:
        """kie says this task changed: its holder reads it now instead of at the next poll, whichever replica it is."""
        if not self._poke_here(task_id):
            await self.store.signal(task_id, "poke")

    def _poke_here(self, task_id: int) -> bool:
        job = self._running.get(task_id)
        if job is None:
            return False
        job.poked = True
        job.call_attention()
        return True

    def _on_signal(self, task_id: int, kind: str) -> None:
        """A signal from a replica (perhaps this one), or from anyone else who can reach the database: only a hint
        about a task held here. A poke makes it read kie now (paced like every read); a cancel makes it read its own
        row, and stop only if the row says someone pressed Cancel."""
        if kind not in ("poke", "cancel"):
            log.debug("signals: ignored an unknown kind %.20r for task %s", kind, task_id)
        elif task_id not in self._running:
            return
        elif kind == "poke":
            self._poke_here(task_id)
        else:
            check = asyncio.create_task(self._cancel_if_asked(task_id), name=f"banana-cancel-check-{task_id}")
            self._checks.add(check)
            check.add_done_callback(self._checks.discard)

    async def _cancel_if_asked(self, task_id: int) -> None:
        """`cancel` stores the request before it signals, so the row says whether the signal is real."""
        try:
            task = await self.store.get(task_id)
        except StoreUnavailable as error:  # rare (away since the cancel was stored): a later claim reads the row
            log.warning("could not check a cancel signal for task %s (%s)", task_id, error)
            return
        if task is not None and task.cancel_requested_at is not None:
            self._cancel_here(task_id)

    async def record_cost(self, task: Task, credits: float) -> None:
        """kie reported what a task cost (its callback's consumeCredits): keep kie's figure instead of the estimate."""
        task = await self.store.update(task.id, credits=credits, credits_exact=True)
        job = self._running.get(task.id)
        if job is not None:
            job.task = task
        self.on_change(task)

    def _forget(self, task_id: int) -> None:
        self._jobs.pop(task_id, None)
        self._running.pop(task_id, None)

    async def _leave(self, task_id: int, unit: int) -> None:
        """A job has ended. When its unit has no job left here (finished, or left for the next holder on shutdown),
        its lease is freed at once, so another replica need not wait for it to run out."""
        tasks = self._units.get(unit)
        if tasks is None:
            return
        tasks.discard(task_id)
        if not tasks:
            del self._units[unit]
            with contextlib.suppress(StoreUnavailable):  # then the lease runs out by itself
                await self.store.release(self.holder, unit)

    async def cancel(self, task: Task) -> None:
        """Ask a task to stop waiting, wherever it runs: the request is stored (a replica that takes it over later
        sees it too) and its holder is told."""
        await self.store.update(task.id, cancel_requested_at=self.clock())
        if not self._cancel_here(task.id):
            await self.store.signal(task.id, "cancel")

    def _cancel_here(self, task_id: int) -> bool:
        job = self._running.get(task_id)
        if job is None:
            return False
        job.cancel_requested = True
        job.call_attention()
        return True

    async def delete(self, task: Task) -> Task:
        """Remove a task's result (file and captioned message) and its card from Slack; the row stays, deleted.

        A variation shares its card and its message with the rest of its set: those go with the set's last image."""
        siblings = [t for t in await self.store.set_of(task.set_id) if t.id != task.id] if task.set_id else []
        last = not any(t.deleted_at is None for t in siblings)
        slack = self.slack.team(task.team_id)
        if task.slack_file_id:
            if last:
                for ts in await slack.share_timestamps(task.slack_file_id, task.channel_id):
                    await slack.delete_message(task.channel_id, ts)
            await slack.delete_file(task.slack_file_id)
        if task.message_ts and last:
            await slack.delete_message(task.channel_id, task.message_ts)
        task = await self.store.update(task.id, deleted_at=self.clock())
        self.on_change(task)
        return task

    async def wait_finished(self, task_id: int) -> Task | None:
        """Wait until a task has finished (an edit waits for the image it edits); its row then."""
        while True:
            running = self._jobs.get(task_id)
            if running is not None:
                await asyncio.wait([running])
            task = await self.store.get(task_id)
            if task is None or task.state.finished or self.stopping:
                return task
            await asyncio.sleep(self.settings.polling.fast_interval)  # held by no job here yet: look again

    async def wait_idle(self) -> None:
        """Wait until every in-flight task has finished (tests and shutdown use it)."""
        while self._jobs:
            await asyncio.gather(*list(self._jobs.values()), return_exceptions=True)

    async def close(self, grace: float | None = None) -> None:
        """Stop: tasks waiting on kie stop at once, short steps (a create, an upload) get `grace` seconds to finish;
        whatever is left is stored as it is, for the next start to pick up."""
        self.stopping = True
        if self._keeper is not None:
            self._keeper.cancel()
        for job in self._running.values():
            job.call_attention()
        running = list(self._jobs.values())
        if running:
            await asyncio.wait(running, timeout=self.settings.shutdown_grace if grace is None else grace)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def outlook(self, resolution: str) -> Expectation | None:
        """What recent tasks of a resolution say: kie's spread of times, which the polls and the card follow; None
        until there is enough of it."""
        if resolution not in self._outlooks:
            self._outlooks[resolution] = expectation(await self.store.recent_kie_seconds(resolution))
        return self._outlooks[resolution]

    def forget_outlook(self, resolution: str) -> None:
        self._outlooks.pop(resolution, None)

    async def _run(self, job: Job, unit: int) -> None:
        try:
            await job.run()
        except asyncio.CancelledError:
            raise
        except StoreUnavailable as error:  # left as stored: its lease runs out, and it is claimed again
            log.warning("task %s paused: the database is away (%s)", job.task.id, error)
            self._let_go(unit)
            return
        except Exception as error:
            if _workspace_gone(error):
                await self._end_quietly(job, error)
            else:
                log.exception("task %s broke unexpectedly", job.task.id)
                await job.finish_failed(
                    TaskFailed(
                        "internal_error", "Something broke on our side. Try again; if it repeats, tell an admin."
                    )
                )
        await self._leave(job.task.id, unit)


def request_key(request: GenerationRequest, images: list[InputImage]) -> str:
    """What makes two requests the same: the prompt kie gets, the options, and the input images' bytes as sent to kie
    (after any conversion or scaling)."""
    parts = [
        kie_prompt(request),
        request.options.aspect_ratio,
        request.options.resolution,
        request.options.output_format,
        *(hashlib.sha256(image.data).hexdigest() for image in images),
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class _Stopping(Exception):
    """The app is shutting down: leave the task as stored, for the next start to pick up."""


class Job:
    """One task's journey. Kept small: each step is a method, failures travel as TaskFailed."""

    def __init__(self, runner: JobRunner, task: Task, group: VariationSet | None = None) -> None:
        self.runner = runner
        self.task = task
        self.slack = runner.slack.team(task.team_id)  # the bot of the task's own workspace
        self.group = group  # the variations it was made with, which share its card and its message
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
        self.shown = ProgressCard(runner, self.slack)

    @property
    def request(self) -> GenerationRequest:
        return self.task.request

    @property
    def origin(self) -> Origin:
        return self.task.origin

    def call_attention(self) -> None:
        self._attention.set()

    async def run(self) -> None:
        """Every step first checks what the store says is done, so a task picked up after a restart goes on from
        where it stopped: it is never created at kie twice, and its image is never posted twice."""
        self.expect = await self.runner.outlook(self.task.resolution)
        try:
            if self.group is not None:
                await self._run_variation(self.group)
                return
            images = None
            if not self.task.kie_task_id:
                await self._resolve_edit()
            if not self.task.message_ts:
                images = await self._fetch_inputs()
                await self._post_progress()
            if not self.task.kie_task_id:
                if self.task.create_started_at:
                    raise TaskFailed("create_unknown", KieUnknownOutcome().user_message)
                images = images if images is not None else await self._fetch_inputs()
                if await self._reuse_earlier(images):
                    return
                image_urls = await self._upload_inputs(images)
                images = None  # the bytes are at kie now: they must not wait in memory through the generation
                await self._create_when_allowed(image_urls)
            result = await self._wait(self.task.kie_task_id or "")
            await self._deliver(result)
        except TaskFailed as failure:
            await self.finish_failed(failure)
        except _Stopping:
            log.info("task %s left for the next start (%s)", self.task.id, self.task.state)

    async def _run_variation(self, group: VariationSet) -> None:
        """One image of a set: the set fetches the inputs and posts the card once for all; each image is created and
        waited for on its own; the set delivers them together."""
        if not self.task.kie_task_id:
            if self.task.create_started_at:
                raise TaskFailed("create_unknown", KieUnknownOutcome().user_message)
            image_urls = await group.inputs_at_kie(self)
            await self._create_when_allowed(image_urls)
        result = await self._wait(self.task.kie_task_id or "")
        await group.arrive(self, result)

    async def _create_when_allowed(self, image_urls: list[str]) -> None:
        await self._wait_for_turn()
        self._stop_if_cancelled()  # the last moment at which nothing has been spent
        await self._create(image_urls)

    async def finish_failed(self, failure: TaskFailed) -> None:
        await self.record_failure(failure)
        if self.group is not None:
            await self.group.settle(self)
        elif self.task.message_ts:
            await self._show(final=True)
        else:  # no card to edit: say it privately instead
            await self._tell(failure.message)

    async def record_failure(self, failure: TaskFailed) -> None:
        log.info("task %s %s (%s) after %.1f s", self.task.id, failure.state, failure.code, self._elapsed())
        await self._set_state(
            failure.state,
            failure.code,
            error_code=failure.code,
            error_message=failure.message,
            credits=failure.credits,
        )

    async def _resolve_edit(self) -> None:
        """An edit starts from its parent's image, so it waits for a parent still running (showing that on its card),
        then takes the parent's image as its first input. A parent without an image fails it, saying what to edit
        instead."""
        if self.task.relation != "edit" or self.task.parent_task_id is None:
            return
        store = self.runner.store
        parent = await store.get(self.task.parent_task_id)
        if parent is not None and not parent.state.finished:
            self.waiting_for = parent.id
            if not self.task.message_ts:
                await self._post_card()
            parent = await self.runner.wait_finished(parent.id)
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

    async def _tell(self, message: str) -> None:
        slack = self.slack
        if self.origin.view_id and await slack.show_view(self.origin.view_id, modals.problem_view(message)):
            return
        if self.task.response_url:
            await slack.tell(self.task.response_url, f":x: {message}")
        else:  # asked by a mention, which has no response_url: a note in its thread only they see
            await slack.whisper(
                self.task.channel_id, self.task.user_id, f":x: {message}", thread_ts=self.task.thread_ts
            )

    async def _fetch_inputs(self) -> list[InputImage]:
        """Input images are read and checked before anything is posted or spent. Images Slack hides because they
        come from a conversation Banana is not in are read after joining it (a public channel), or refused with
        what to do (a private channel or a DM)."""
        if not self.request.inputs:
            return []
        # The image an edit starts from is kie's own result: it goes back as it was delivered.
        as_made = frozenset(f.id for f in self.request.inputs[:1]) if self.task.relation == "edit" else frozenset()
        try:
            return await self.runner.inputs.fetch(
                self.slack, self.request.inputs, conversation=self.task.channel_id, as_made=as_made
            )
        except InputRejected as error:
            code = "not_in_conversation" if error.outside else "input_rejected"
            raise TaskFailed(code, f"{error} Nothing was started and nothing was charged.") from error

    async def _post_progress(self) -> None:
        if not self.task.message_ts:  # an edit waiting for its parent has posted it already
            await self._post_card()
        if self.origin.view_id:
            await self.slack.show_view(self.origin.view_id, modals.started_view(self.task.channel_id))

    async def _post_card(self) -> None:
        text, card = self._card()
        ts, permalink = await post_card(self.slack, self.task.channel_id, text, card, self.origin.thread_ts)
        self.shown.posted(card)
        self.task = await self.runner.store.update(
            self.task.id, message_ts=ts, thread_ts=self.origin.thread_ts or ts, permalink=permalink
        )

    async def _upload_inputs(self, images: list[InputImage]) -> list[str]:
        """kie needs public URLs: each image goes to kie's upload API under a name unique to this task and file.
        Slack's own links (and the token they need) never reach kie."""
        kie = self.runner.kie
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
            return list(urls)
        except KieError as error:
            message = f"Sending the images to kie.ai failed. {error.user_message} Nothing was charged."
            raise TaskFailed("input_upload_failed", message) from error

    async def _tell_input_notes(self, images: list[InputImage]) -> None:
        """What was done to input images that kie could not take as posted (converted, turned upright, scaled), as a
        short reply in the card's thread, while they upload. A reply that fails does not stop the task."""
        notes = [image.note for image in images if image.note]
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
        key = request_key(self.request, images)
        self.task = await self.runner.store.update(self.task.id, request_key=key)
        if self.request.fresh:
            return False
        earlier = await self.runner.store.reusable(self.task.team_id, key, self.task.channel_id)
        if earlier is None or not earlier.slack_file_id:
            return False
        slack = self.slack
        try:
            data = await slack.download_file(
                await slack.file_info(earlier.slack_file_id), max_bytes=self.runner.settings.max_result_bytes
            )
        except FileFetchError as error:
            log.debug("task %s: could not reuse #%s (%s); generating anew", self.task.id, earlier.id, error)
            return False
        await self._set_state(TaskState.UPLOADING, f"reusing #{earlier.id}", reused_from=earlier.id, credits=0)
        file_id, detail = await self._upload_result(data)
        del data  # the final edit may wait minutes for Slack's budget; the image must not wait with it
        await self._finish_done(file_id, detail)
        return True

    async def _wait_for_turn(self) -> None:
        """kie takes 20 new tasks per 10 s; later ones wait here, in order, showing their place in the line."""

        async def show_position(position: int) -> None:
            self._stop_if_stopping()
            self.queue_position = position
            await self._show()

        await self.runner.create_queue.take_turn(show_position)
        self.queue_position = None

    async def _create(self, image_urls: list[str]) -> None:
        # Recorded before the call: after a crash, a create that may have happened is never repeated blindly.
        self.task = await self.runner.store.update(self.task.id, create_started_at=self.runner.clock())
        try:
            kie_task_id = await self.runner.kie.create_task(
                self.request,
                image_urls=image_urls,
                callback_url=self.runner.callback_url(self.task.id),
                turn=self._wait_for_turn,
            )
        except KieError as error:
            raise TaskFailed(f"kie_{error.code or type(error).__name__}", error.user_message) from error
        await self._set_state(TaskState.QUEUED, f"kie task {kie_task_id}", kie_task_id=kie_task_id)
        await self._show()

    async def _wait(self, kie_task_id: str) -> KieTask:
        """Poll kie until the task ends. With callbacks on, a callback wakes the poll and polling is only a sparse
        safety net for callbacks that never come."""
        settings = self.runner.settings
        polling = settings.polling
        started = self.task.created_at
        if settings.callbacks and self.task.state is TaskState.QUEUED and not self.taken_over:
            # a callback wakes it; one taken over from another replica may have missed its callback, so reads first
            await self._pause(min(settings.callback_poll_interval, polling.timeout))
        else:  # tasks started together start reading at different moments, and so stay out of step
            await self._pause(random.uniform(0, settings.poll_jitter * polling.fast_interval))
        at_kie = self.task.create_started_at or started
        while True:
            elapsed = self.runner.clock() - started
            info = await self._read(kie_task_id)
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
            else:
                interval = next_interval(self.runner.clock() - at_kie, self.expect, polling)
            await self._pause(min(interval, max(0.0, polling.timeout - elapsed)))

    async def _read(self, kie_task_id: str) -> KieTask | None:
        try:
            # When reads are scarce, a task kie called back about goes first (it is done), then the task most likely
            # to be done by now.
            guess = self._estimate()
            expected = self.task.created_at + (guess.likely if guess else 0.0)  # no history: the oldest first
            info = await self.runner.kie.get_task(kie_task_id, priority=0.0 if self.called_back else expected)
            self.called_back = False
        except KieError as error:
            if error.retryable:  # already retried with backoff; the next poll tries again
                log.warning("task %s: reading from kie failed: %s", self.task.id, error)
                return None
            raise TaskFailed(f"kie_{error.code}", error.user_message) from error
        created = self.task.create_started_at or self.task.created_at  # a wait in the create queue does not count
        if info is None and self.runner.clock() - created > RECORD_GRACE_SECONDS:
            raise TaskFailed("kie_no_record", "kie.ai lost track of this task. Try again.")
        return info

    def _generation_failed(self, info: KieTask) -> TaskFailed:
        reason = f" kie.ai said: “{shorten(info.fail_msg, KIE_WORDS_CHARS)}”." if info.fail_msg else ""
        if info.fail_code.startswith("5") or "try again" in info.fail_msg.lower():
            advice = "This is usually temporary: try again in a minute."
        else:
            advice = "Try rephrasing the prompt; if it names real people or brands, describe them instead."
        return TaskFailed(f"kie_fail_{info.fail_code or 'unknown'}", f"The generation failed.{reason} {advice}")

    async def _deliver(self, info: KieTask) -> None:
        settings, store = self.runner.settings, self.runner.store
        if not info.result_urls:
            raise TaskFailed("no_result", "kie.ai said the image was done but sent no image. Try again.")
        await self._set_state(
            TaskState.UPLOADING,
            "downloading result",
            result_url=info.result_urls[0],
            kie_seconds=self._kie_seconds(info),
        )
        await self._show()
        credits, exact = await self._cost(info)
        async with self.runner.deliveries:  # a few results in memory at a time, however many finish at once
            try:
                data = await self.runner.kie.download(info.result_urls[0], max_bytes=settings.max_result_bytes)
            except DownloadError as error:
                raise self._lost_result(str(error), credits) from error
            if sniff_image(data) is None:
                raise self._lost_result("kie.ai sent a file that is not an image", credits)
            self.task = await store.update(self.task.id, credits=credits, credits_exact=exact)
            file_id, detail = await self._upload_result(data)
            del data  # the final edit may wait minutes for Slack's budget; the image must not wait with it
        await self._finish_done(file_id, detail)

    def _kie_seconds(self, info: KieTask) -> float | None:
        """How long kie took: by its own clock when it says (create and complete times), else by ours."""
        if info.create_time_ms and info.complete_time_ms and info.complete_time_ms >= info.create_time_ms:
            return (info.complete_time_ms - info.create_time_ms) / 1000
        return self.runner.clock() - self.task.create_started_at if self.task.create_started_at else None

    async def _cost(self, info: KieTask) -> tuple[float, bool]:
        """What the image cost, and whether kie said so: its callback's figure (recorded by `record_cost`, perhaps
        while this task was polling), else its answer's, else the price table's estimate."""
        stored = await self.runner.store.get(self.task.id)
        if stored is not None and stored.credits_exact and stored.credits is not None:
            return stored.credits, True
        if info.credits is not None:
            return info.credits, True
        return self.runner.settings.prices[self.task.resolution], False

    async def _upload_result(self, data: bytes) -> tuple[str, str]:
        if self.task.upload_started_at:  # a restart during the upload: it may have landed already
            found = await self.slack.find_upload(
                self.task.channel_id, cards.result_filename(self.task), since=self.task.upload_started_at
            )
            if found:
                return found, "found after restart"
        self.task = await self.runner.store.update(
            self.task.id,
            duration=round(self.runner.clock() - self.task.created_at, 1),
            upload_started_at=self.runner.clock(),
        )
        credits = self.task.credits or 0
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
        except UploadFailed as error:
            if error.error in _GONE_ERRORS:
                raise NotInstalled(self.task.team_id) from error
            raise self._lost_result(f"uploading it to Slack failed ({error.error})", credits) from error
        return file_id, f"file {file_id}"

    async def _finish_done(self, file_id: str, detail: str) -> None:
        await self._set_state(TaskState.DONE, detail, slack_file_id=file_id)
        self.runner.forget_outlook(self.task.resolution)
        await self._show(final=True)

    def _lost_result(self, what: str, credits: float) -> TaskFailed:
        where = f" Its link, valid for about a day: {self.task.result_url}" if self.task.result_url else ""
        return TaskFailed(
            "delivery_failed",
            f"The image was made (kie.ai charged for it) but {what}.{where}",
            credits=credits,
        )

    async def _set_state(self, state: TaskState, detail: str = "", **changes: object) -> None:
        self.task = await self.runner.store.set_state(self.task.id, state, detail, **changes)
        if state is TaskState.DONE:  # one image or one of a set: both end here
            cost = f"{'' if self.task.credits_exact else '≈'}{self.task.credits or 0:g} credits"
            log.info("task %s done in %.1f s, %s", self.task.id, self._elapsed(), cost)
        self.runner.on_change(self.task)

    def _elapsed(self) -> float:
        """Seconds since the task was asked for."""
        return self.runner.clock() - self.task.created_at

    def _stop_if_stopping(self) -> None:
        if self.runner.stopping or self.lost:
            raise _Stopping

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
            await self._set_state(state)
        await self._show()

    async def _pause(self, seconds: float) -> None:
        """Sleep until the next poll, refreshing elapsed time and the estimate on the card meanwhile.

        A cancel, a callback or a shutdown ends the pause at once.
        """
        deadline = self.runner.clock() + seconds
        while (left := deadline - self.runner.clock()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._attention.wait(), min(left, self.runner.settings.progress_interval))
            self._attention.clear()
            self._stop_if_cancelled()
            if self.poked:
                self.poked, self.called_back = False, True
                return
            await self._show()

    def _estimate(self) -> Estimate | None:
        """Seconds from the command to the image, from the same figures the polls follow: the time until the create,
        then kie's spread of times for this resolution. None while there is too little history to say."""
        at_kie = self.task.create_started_at or self.runner.clock()
        return estimate(self.expect, at_kie - self.task.created_at)

    def _card(self) -> tuple[str, list[dict[str, Any]]]:
        card = cards.card_blocks(
            self.task,
            now=self.runner.clock(),
            estimate=self._estimate(),
            queue_position=self.queue_position,
            prices=self.runner.settings.prices,
            waiting_for=self.waiting_for,
        )
        return cards.card_text(self.task), card

    async def _show(self, *, final: bool = False) -> None:
        if self.group is not None:
            await self.group.show()
        elif self.task.message_ts:
            await self.shown.show(self.task.channel_id, self.task.message_ts, self._card, final=final)


async def post_card(
    slack: SlackDelivery, channel: str, text: str, card: list[dict[str, Any]], thread_ts: str | None
) -> tuple[str, str | None]:
    """Post a task's card; its ts and permalink. A conversation Banana cannot post in fails the task before anything
    is spent."""
    try:
        ts = await slack.post(channel, text=text, blocks=card, thread_ts=thread_ts)
    except ChannelUnavailable as error:
        raise TaskFailed(error.error, invite_hint(channel)) from error
    except SlackApiError as error:
        reason = error.response.get("error")
        if reason in _GONE_ERRORS:
            raise  # the workspace's token no longer works: there is no one to tell
        message = f"Slack would not let me post here ({reason}), so I didn't start the image; nothing was charged."
        raise TaskFailed(f"slack_{reason}", message) from error
    return ts, await slack.permalink(channel, ts)


class ProgressCard:
    """What a card in the channel last showed, and its edits: only when what it shows changed, at most every
    progress_interval. Final edits skip the interval and go first in the chat.update budget; slack_sdk's rate-limit
    handler waits out a 429 for them."""

    def __init__(self, runner: JobRunner, slack: SlackDelivery) -> None:
        self.runner = runner
        self.slack = slack
        self._shown: list[dict[str, Any]] | None = None
        self._shown_at = 0.0

    def posted(self, card: list[dict[str, Any]]) -> None:
        self._shown, self._shown_at = card, self.runner.clock()

    async def show(
        self,
        channel: str,
        ts: str,
        render: Callable[[], tuple[str, list[dict[str, Any]]]],
        *,
        final: bool = False,
    ) -> None:
        now, budget = self.runner.clock(), self.runner.update_budget(self.slack.team_id)
        if not final and (
            now - self._shown_at < self.runner.settings.progress_interval
            or not budget.allows_progress(self.runner.in_flight)
        ):
            return
        text, card = render()
        if card == self._shown:
            return
        if not final and not await self._progress_slot():
            return
        if final:
            async with budget.final_turn():
                sent = await self._edit(channel, ts, text, card, final=True)
        else:
            budget.spend_progress()
            sent = await self._edit(channel, ts, text, card, final=False)
        if sent:
            self._shown, self._shown_at = card, now

    async def _progress_slot(self) -> bool:
        """With several replicas, progress edits of a workspace take at most a third of its chat.update budget among
        them all, and are skipped rather than waited for when it is spent: final edits always find room."""
        store = self.runner.store
        if not store.shared:
            return True
        share = max(1, self.runner.settings.slack_updates_per_minute // 3)
        return await store.take_slot(f"slack:progress:{self.slack.team_id}", share, 60.0) == 0

    async def _edit(self, channel: str, ts: str, text: str, card: list[dict[str, Any]], *, final: bool) -> bool:
        try:
            await self.slack.update(channel, ts, text=text, blocks=card)
        except SlackApiError as error:
            if error.response.get("error") in _GONE_ERRORS:
                raise  # the workspace's token no longer works: the task ends (JobRunner._end_quietly)
            # slack_sdk has already waited out 429s and retried 5xx; the task itself goes on either way.
            level = logging.ERROR if final else logging.WARNING
            log.log(level, "card %s in %s: edit failed: %s", ts, channel, error.response.get("error"))
            return False
        return True


class VariationSet:
    """Variations made together (`--n 3`, the Variations button). Each image is its own task and its own Job, created
    and waited for at kie on its own; the set fetches the inputs and posts the card once for all of them, shows every
    image on that one card, and delivers the images together: one message with numbered files.

    After a restart the set is rebuilt from the store: images that had finished stay as they were, the others go on
    from their own stored step, and the delivery finds an upload that had already landed instead of posting twice.
    """

    def __init__(self, runner: JobRunner, tasks: list[Task]) -> None:
        self.runner = runner
        self.slack = runner.slack.team(tasks[0].team_id)
        self.tasks = {task.id: task for task in tasks}  # every image of the set, as last stored
        self.jobs: dict[int, Job] = {}  # the images running here
        self.card = ProgressCard(runner, self.slack)
        self._inputs = asyncio.Lock()
        self._image_urls: list[str] | None = None
        self._failure: TaskFailed | None = None  # why the inputs or the card failed, for every image
        self._arrived: set[int] = set()  # images ready at kie in this run, waiting for the rest
        self._delivering = False
        self._delivered = asyncio.Event()
        self._told = False

    def join(self, job: Job) -> Job:
        self.jobs[job.task.id] = job
        return job

    def slots(self) -> list[Task]:
        current = [self.jobs[i].task if i in self.jobs else task for i, task in self.tasks.items()]
        return sorted(current, key=lambda task: task.slot or 0)

    async def inputs_at_kie(self, job: Job) -> list[str]:
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

    async def _prepare(self, job: Job) -> list[str]:
        await job._resolve_edit()
        if job.task.input_files:  # an edit's inputs, known once its parent has finished: the same for every image
            for task in self.slots():
                if task.input_files != job.task.input_files:
                    self._stored(await self.runner.store.update(task.id, input_files=job.task.input_files))
        images = await job._fetch_inputs()
        if not self.slots()[0].message_ts:
            await self.post_card()
        return await job._upload_inputs(images)

    async def post_card(self) -> None:
        lead = self.slots()[0]
        text, card = self._render()
        thread = lead.origin.thread_ts
        ts, permalink = await post_card(self.slack, lead.channel_id, text, card, thread)
        self.card.posted(card)
        for task in self.slots():
            self._stored(
                await self.runner.store.update(task.id, message_ts=ts, thread_ts=thread or ts, permalink=permalink)
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
            now=self.runner.clock(),
            estimates={job.task.id: job._estimate() for job in running},
            queue_positions={job.task.id: job.queue_position for job in running if job.queue_position is not None},
            prices=self.runner.settings.prices,
        )
        return cards.set_card_text(slots), blocks

    async def show(self) -> None:
        """Edit the set's card; the edit is final once every image has finished."""
        slots = self.slots()
        lead = slots[0]
        if lead.message_ts:
            final = all(task.state.finished for task in slots)
            await self.card.show(lead.channel_id, lead.message_ts, self._render, final=final)

    async def arrive(self, job: Job, info: KieTask) -> None:
        """An image is ready at kie: note it, then wait for the rest of the set to be delivered with them."""
        if not info.result_urls:
            raise TaskFailed("no_result", "kie.ai said the image was done but sent no image. Try again.")
        credits, exact = await job._cost(info)
        await job._set_state(
            TaskState.UPLOADING,
            "ready; waiting for the rest of the set",
            result_url=info.result_urls[0],
            kie_seconds=job._kie_seconds(info),
            credits=credits,
            credits_exact=exact,
        )
        self._arrived.add(job.task.id)
        await self.settle(job)
        await self._delivered.wait()
        if not job.task.state.finished:  # the delivery broke before it reached this image
            raise TaskFailed("internal_error", "Something broke on our side. Try again; if it repeats, tell an admin.")

    async def settle(self, job: Job) -> None:
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
            await job._tell(job.task.error_message or "The images could not be made.")

    async def _deliver(self, ready: list[Job]) -> None:
        runner = self.runner
        async with runner.deliveries:
            files = [(job, data) for job in ready if (data := await self._download(job)) is not None]
            if not files:
                return
            uploaded = [job for job, _ in files]
            file_ids = await self._find_upload(files) or await self._upload(files)
            files.clear()  # the final edit may wait for Slack's budget; the images must not wait with it
        for job, file_id in zip(uploaded, file_ids, strict=False):  # no ids: the upload failed, and they with it
            await job._set_state(TaskState.DONE, f"file {file_id}", slack_file_id=file_id)
        runner.forget_outlook(ready[0].task.resolution)

    async def _download(self, job: Job) -> bytes | None:
        credits = job.task.credits or 0
        try:
            data = await self.runner.kie.download(
                job.task.result_url or "", max_bytes=self.runner.settings.max_result_bytes
            )
        except DownloadError as error:
            await job.record_failure(job._lost_result(str(error), credits))
            return None
        if sniff_image(data) is None:
            await job.record_failure(job._lost_result("kie.ai sent a file that is not an image", credits))
            return None
        return data

    async def _find_upload(self, files: list[tuple[Job, bytes]]) -> list[str] | None:
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

    async def _upload(self, files: list[tuple[Job, bytes]]) -> list[str]:
        runner = self.runner
        for job, _ in files:
            duration = round(runner.clock() - job.task.created_at, 1)
            job.task = await runner.store.update(job.task.id, duration=duration, upload_started_at=runner.clock())
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
        try:
            return await self.slack.upload_many(
                lead.channel_id, lead.thread_ts or "", uploads, comment=cards.set_caption(tasks)
            )
        except UploadFailed as error:
            for job, _ in files:
                await job.record_failure(
                    job._lost_result(f"uploading it to Slack failed ({error.error})", job.task.credits or 0)
                )
            return []

"""The job runner: owns every in-flight task it holds, from the stored row to the image in the thread.

Each task is one asyncio task held in a dict (the loop itself keeps only weak references). A task is written to the
store before anything else happens, and every step it takes is recorded there.

Work is held through leases in the store: a unit (a task, or a set of variations) belongs to one replica at a time,
which renews its lease while it works. A replica that dies stops renewing, and another claims the unit once the lease
has run out, carrying on from each task's stored step. With SQLite the one process is the only holder.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from bot.clients.inputs import InputFetcher
from bot.clients.kie_keys import KieKeys
from bot.clients.slack import SlackDelivery
from bot.jobs.failures import INTERNAL_ERROR, WORKSPACE_GONE, TaskFailed, workspace_gone
from bot.jobs.job import Job
from bot.jobs.kit import JobKit, Outlooks, UpdateBudgets
from bot.jobs.schedule import Prior
from bot.jobs.variations import Variation, VariationSet
from bot.metrics import Metrics
from bot.settings import Settings
from bot.store import StoreUnavailable, TaskStore
from prompts.catalog import Brand
from prompts.options import GenerationRequest
from prompts.references import brand_for_task
from prompts.tasks import Origin, Task, TaskState, new_task

log = logging.getLogger(__name__)

CALLBACK_PATH = "/kie/callback"


def replica_name() -> str:
    """Who holds a lease: this host and process, and a random part, since a restarted process may get the same pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobRunner:
    def __init__(
        self,
        settings: Settings,
        store: TaskStore,
        kie: KieKeys,
        slack: SlackDelivery,
        *,
        on_change: Callable[[Task], None] = lambda task: None,
        clock: Callable[[], float] = time.time,
        holder: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.holder = holder or replica_name()
        self.store = store
        self.on_change = on_change  # told of every stored change of a task (the Home tab listens)
        self.metrics = metrics or Metrics()
        self.kit = JobKit(
            settings=settings,
            store=store,
            kie=kie,
            slack=slack,
            inputs=InputFetcher(max_side=settings.max_input_side, decodes_at_once=settings.image_decodes_at_once),
            deliveries=asyncio.Semaphore(16),
            outlooks=Outlooks(
                store,
                {resolution: Prior(low, high) for resolution, low, high in settings.kie_expected_seconds},
                self._at_kie,
                clock,
            ),
            update_budgets=UpdateBudgets(settings.slack_updates_per_minute),
            clock=clock,
            on_change=self._changed,
            callback_url=self.callback_url,
            wait_finished=self.wait_finished,
            in_flight=lambda: self.in_flight,
            stopping=lambda: self.stopping,
            metrics=self.metrics,
        )
        self.stopping = False
        self._jobs: dict[int, asyncio.Task[None]] = {}
        self._running: dict[int, Job] = {}
        self._units: dict[int, set[int]] = {}  # the units held here, and their tasks still running
        self._keeper: asyncio.Task[None] | None = None
        self._gone: set[str] = set()  # workspaces that can no longer be reached, each logged once
        self._checks: set[asyncio.Task[None]] = set()  # cancel signals being checked against the store
        self.metrics.watch(
            tasks_by_state=lambda: collections.Counter(job.task.state.value for job in self._running.values()),
            create_queue=lambda: self.kit.kie.waiting,
            leases=lambda: len(self._units),
        )

    def _at_kie(self, resolution: str) -> list[float]:
        """How long each task of a resolution held here has been at kie so far."""
        now = self.kit.clock()
        return [
            now - job.task.create_started_at
            for job in self._running.values()
            if job.task.timing_key == resolution
            and job.task.kie_task_id
            and job.task.create_started_at
            and not job.task.state.finished
        ]

    def _changed(self, task: Task) -> None:
        self.metrics.task_changed(task)
        self.on_change(task)

    @property
    def in_flight(self) -> int:
        return len(self._jobs)

    async def add(self, request: GenerationRequest, origin: Origin, brand: Brand | None = None) -> list[Task]:
        """Store a request's tasks (one, or a set of variations), held here from the start so no replica claims them.
        Which of the workspace's `brand` images they carry is decided here, once, and stored with them.

        Surfaces do not call this: they go through `TaskStarter.start`, which checks the caps first, then runs them."""
        parent = await self.store.get(request.parent_task_id) if request.parent_task_id else None
        holder, lease = self.holder, self.settings.lease_seconds
        carried = brand_for_task(request, brand, parent)
        own_key = await self.kit.kie.current(origin.team_id)  # the key it spends from, for its whole life
        kie_key = own_key.fingerprint if own_key else None
        if request.count > 1:
            news = [
                replace(new_task(request, origin, parent=parent, slot=n), brand=carried, kie_key=kie_key)
                for n in range(1, request.count + 1)
            ]
            return await self.store.add_set(news, holder=holder, lease_seconds=lease)
        one = replace(new_task(request, origin, parent=parent), brand=carried, kie_key=kie_key)
        return [await self.store.add(one, holder=holder, lease_seconds=lease)]

    def run(self, tasks: list[Task]) -> None:
        """Run stored tasks in the background."""
        for task in tasks:
            what = f"{task.resolution} {task.relation or 'image'}"
            log.info("task %s started: %s for %s in %s", task.id, what, task.user_id, task.team_id)
            self.kit.update_budgets.of(task.team_id).started()
            self._changed(task)
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
        self.metrics.leases_taken.inc(len(units))
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
        self.kit.kie.forget(team_id)
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
        """A job for each unfinished task of a unit (or finished, its card's final edit still owed); variations made
        together share one VariationSet (one card)."""
        unit = tasks[0].set_id or tasks[0].id
        if unit in self._units:  # held here already
            return
        running = [task for task in tasks if not task.state.finished or task.card_pending]
        self._units[unit] = {task.id for task in running}
        group = VariationSet(self.kit, tasks) if tasks[0].set_id is not None else None
        for task in running:
            job = group.join(Variation(self.kit, task, group)) if group else Job(self.kit, task)
            job.cancel_requested = task.cancel_requested_at is not None
            job.taken_over = claimed
            self._spawn(job, unit)

    def _spawn(self, job: Job, unit: int) -> None:
        task_id = job.task.id
        self._running[task_id] = job
        running = asyncio.create_task(self._run(job, unit), name=f"banana-task-{task_id}")
        self._jobs[task_id] = running
        running.add_done_callback(lambda done: self._ended(task_id, done))

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

    def cost_known(self, task_id: int, credits: float) -> None:
        """kie said what a task cost (the tasks service has stored it): its job here, if any, keeps the figure."""
        job = self._running.get(task_id)
        if job is not None:
            job.task = replace(job.task, credits=credits, credits_exact=True)

    def _ended(self, task_id: int, done: asyncio.Task[None]) -> None:
        self._forget(task_id)
        if not done.cancelled() and (error := done.exception()) is not None:  # never an unobserved task exception
            log.error("task %s: its job ended on an error", task_id, exc_info=error)

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

    async def stop(self, task_id: int) -> None:
        """Someone pressed Cancel (stored in the task's row first): its job stops waiting, wherever it runs."""
        if not self._cancel_here(task_id):
            await self.store.signal(task_id, "cancel")

    def _cancel_here(self, task_id: int) -> bool:
        job = self._running.get(task_id)
        if job is None:
            return False
        job.cancel_requested = True
        job.call_attention()
        return True

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
            if workspace_gone(error):
                await self._end_quietly(job, error)
            else:
                log.exception("task %s broke unexpectedly", job.task.id)
                await job.finish_failed(TaskFailed("internal_error", INTERNAL_ERROR))
        if job.task.state.finished:
            with contextlib.suppress(StoreUnavailable):  # a replaced key is then forgotten at the next end
                await self.kit.kie.done_with(job.task)
        await self._leave(job.task.id, unit)

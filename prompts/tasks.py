"""A task and its states, as the store keeps them: plain data shared by every layer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from prompts.options import NANO_BANANA_PRO, TOPAZ_UPSCALE, GenerationRequest, InputFile, Options, upscale_price_key


class TaskState(StrEnum):
    PENDING = "pending"  # stored, not yet sent to kie
    QUEUED = "queued"  # kie has it, waiting or queuing
    GENERATING = "generating"
    UPLOADING = "uploading"  # downloading from kie and uploading to Slack
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskState.DONE, TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED)


class HomeFilter(StrEnum):
    """The Home tab's views of a person's history."""

    ALL = "all"
    DONE = "done"
    FAILED = "failed"
    RUNNING = "running"

    @property
    def states(self) -> tuple[TaskState, ...]:
        if self is HomeFilter.DONE:
            return (TaskState.DONE,)
        if self is HomeFilter.FAILED:
            return (TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED)
        if self is HomeFilter.RUNNING:
            return tuple(s for s in TaskState if not s.finished)
        return tuple(TaskState)


@dataclass(frozen=True)
class Usage:
    images: int
    credits: float
    exact_credits: float = 0  # the part of `credits` kie reported itself; the rest is the price table's estimate


@dataclass(frozen=True, kw_only=True)
class NewTask:
    """A task as asked: everything that shapes its request and where it goes. `new_task` writes it from a request,
    and `Task.request` and `Task.origin` read it back, so a task resumed after a restart is exactly the one asked."""

    team_id: str
    user_id: str
    channel_id: str
    prompt: str
    avoid: str
    aspect_ratio: str
    resolution: str
    output_format: str
    response_url: str | None = None
    input_files: str = ""  # JSON list of [file id, name]
    parent_task_id: int | None = None
    relation: str | None = None  # how it came from its parent: one of RELATIONS
    ancestry: str = ""  # JSON list of [relation, task id], the parent first: the chain the card shows
    set_id: int | None = None  # variations made together share it: the id of the set's first task
    slot: int | None = None  # this task's number within its set, from 1
    fresh: bool = False  # a new image even if an identical one exists
    source: str = "command"  # the surface it came from (GenerationRequest.source)
    thread_ts: str | None = None  # the thread asked from; once the card is posted, the card's thread
    view_id: str | None = None  # the modal it was submitted from, to report back in
    public_channel: bool = False  # asked in a channel Slack said is public; anything else is private to it
    model: str = NANO_BANANA_PRO  # the kie model it runs on
    upscale_factor: int | None = None  # an upscale: how many times larger than its one input
    width: int | None = None  # the image's size: read from it once delivered; an upscale's is known from the start
    height: int | None = None
    brand: str = ""  # the brand applied to it (empty: none)
    kie_key: str | None = None  # the fingerprint of the workspace's own kie.ai key it spends from; None: the operator's


@dataclass(frozen=True, kw_only=True)
class Task(NewTask):
    """A stored task: what was asked, and how far it has come."""

    id: int
    state: TaskState
    created_at: float
    updated_at: float
    message_ts: str | None = None  # the progress message
    kie_task_id: str | None = None
    result_url: str | None = None
    slack_file_id: str | None = None
    credits: float | None = None  # what the image cost: kie's own figure when credits_exact, else the price table's
    credits_exact: bool = False  # kie reported the cost (its callback's consumeCredits)
    duration: float | None = None  # seconds from the command to the image in the thread
    kie_seconds: float | None = None  # how long kie took, from the create to the image being ready
    finished_at: float | None = None
    error_code: str | None = None
    error_message: str | None = None  # written for the person who asked
    permalink: str | None = None  # link to the progress message
    deleted_at: float | None = None  # the requester removed the result from Slack
    file_gone_at: float | None = None  # the result file was found deleted in Slack itself
    create_started_at: float | None = None  # a create was sent to kie (its answer may have been lost)
    upload_started_at: float | None = None  # the upload into Slack began (it may have landed)
    request_key: str | None = None  # the request by content: prompt, options and input images
    reused_from: int | None = None  # an earlier task whose image this one reused, at no cost
    cancel_requested_at: float | None = None  # someone pressed Cancel (perhaps on another replica than its holder)
    card_pending: bool = False  # finished, but its card's final edit has not landed yet

    @property
    def options(self) -> Options:
        return Options(self.aspect_ratio, self.resolution, self.output_format)

    @property
    def inputs(self) -> tuple[InputFile, ...]:
        return tuple(InputFile(id=i, name=n) for i, n in json.loads(self.input_files or "[]"))

    @property
    def chain(self) -> tuple[tuple[str, int], ...]:
        """How it came to be, the parent first: (("edit", 12), ("remix", 9))."""
        return tuple((str(r), int(i)) for r, i in json.loads(self.ancestry or "[]"))

    @property
    def request(self) -> GenerationRequest:
        """The request this task was started with: the one way a stored task becomes a request again."""
        return GenerationRequest(
            prompt=self.prompt,
            options=self.options,
            avoid=self.avoid,
            inputs=self.inputs,
            parent_task_id=self.parent_task_id,
            relation=self.relation,
            fresh=self.fresh,
            source=self.source,
            model=self.model,
            upscale_factor=self.upscale_factor,
            size=(self.width, self.height) if self.upscale_factor and self.width and self.height else None,
        )

    @property
    def is_upscale(self) -> bool:
        return self.model == TOPAZ_UPSCALE

    @property
    def timing_key(self) -> str:
        """Which recent tasks say how long kie will take for it: those of its resolution, or upscales."""
        return self.model if self.is_upscale else self.resolution

    @property
    def price_key(self) -> str:
        """What the price table prices it by: its resolution, or for an upscale its result's size."""
        if self.is_upscale and self.width and self.height:
            return upscale_price_key(max(self.width, self.height))
        return self.resolution

    @property
    def origin(self) -> Origin:
        """Where it was asked and where it goes. Until the card is posted `thread_ts` is the thread asked from; after,
        it is the card's own thread, which counts as no thread of origin."""
        thread = self.thread_ts if self.thread_ts != self.message_ts else None
        public = True if self.public_channel else None  # stored: known public, or not known to be
        return Origin(self.team_id, self.channel_id, self.user_id, self.response_url, thread, self.view_id, public)


MAX_CHAIN = 6  # ancestors a task remembers; a longer chain shows its nearest ones


def new_task(
    request: GenerationRequest, origin: Origin, *, parent: Task | None = None, slot: int | None = None
) -> NewTask:
    """The task to store for a request. `parent` is the task it came from, whose chain it extends; `slot` its number
    in a set of variations."""
    public = origin.public_channel
    if public is None:  # the surface could not tell: as public as a parent in the same conversation, else private
        public = parent is not None and parent.public_channel and _same_place(parent, origin)
    chain = ((request.relation or "remix", parent.id), *parent.chain) if parent is not None else ()
    return NewTask(
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
        ancestry=json.dumps([list(link) for link in chain[:MAX_CHAIN]]) if chain else "",
        slot=slot,
        fresh=request.fresh,
        source=request.source,
        thread_ts=origin.thread_ts,
        view_id=origin.view_id,
        public_channel=public,
        model=request.model,
        upscale_factor=request.upscale_factor,
        width=request.size[0] if request.size else None,
        height=request.size[1] if request.size else None,
    )


def _same_place(task: Task, origin: Origin) -> bool:
    return (task.team_id, task.channel_id) == (origin.team_id, origin.channel_id)


def encode_inputs(inputs: tuple[InputFile, ...]) -> str:
    return json.dumps([[f.id, f.name] for f in inputs]) if inputs else ""


@dataclass(frozen=True)
class TaskEvent:
    task_id: int
    state: str
    at: float
    detail: str


@dataclass(frozen=True)
class SavedPrompt:
    """A prompt kept in a workspace's shared library, with the options it was used with."""

    id: int
    team_id: str
    user_id: str  # who saved it
    name: str
    prompt: str
    avoid: str
    aspect_ratio: str
    resolution: str
    output_format: str
    created_at: float

    @property
    def options(self) -> Options:
        return Options(self.aspect_ratio, self.resolution, self.output_format)


BRAND_IMAGE_ROLES = ("logo", "style")


@dataclass(frozen=True)
class BrandImage:
    """One image of a workspace's brand kit, as prepared for kie and stored by its sha256. `data` is None where only
    what it is was read (`workspace_brand`), and on an image a save keeps as it is."""

    team_id: str
    sha256: str
    role: str  # one of BRAND_IMAGE_ROLES
    position: int  # its place among the images of its role, from 0
    name: str  # the file's name as uploaded, to show (Slack cannot show the stored bytes)
    mime: str
    width: int
    height: int
    data: bytes | None = None
    kie_url: str = ""  # kie's copy of it, while kie keeps the file
    kie_url_at: float | None = None  # when kie took it


@dataclass(frozen=True)
class StoredBrand:
    """A workspace's own brand kit: its fields (as prompts.catalog reads them) and its images, without their bytes."""

    team_id: str
    data: dict[str, Any]
    images: tuple[BrandImage, ...]
    updated_at: float


@dataclass(frozen=True)
class Origin:
    """Where a request came from in Slack."""

    team_id: str
    channel_id: str
    user_id: str
    response_url: str | None = None
    thread_ts: str | None = None  # post into this thread instead of starting one
    view_id: str | None = None  # the modal the request came from, to report back in
    # True in a public channel, False in a private one or a DM, None when the payload does not say (bot.
    # privacy reads it); not known to be public counts as private.
    public_channel: bool | None = None

"""Pure builders for the modals: the generation form and the short views that follow a submission."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    ConversationSelectElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.blocks.block_elements import FileInputElement
from slack_sdk.models.blocks.blocks import Block
from slack_sdk.models.views import View

from bot.blocks.text import (
    CONTEXT_CHARS,
    FAILURE_CHARS,
    METADATA_CHARS,
    MODAL_TITLE_CHARS,
    OPTION_TEXT_CHARS,
    SECTION_CHARS,
    clip,
    credits_text,
    escaped,
    shorten,
)
from prompts.options import (
    ASPECT_RATIOS,
    MAX_INPUT_IMAGES,
    OUTPUT_FORMATS,
    PRICES,
    RESOLUTIONS,
    InputFile,
    Options,
    Prices,
)

GENERATE_CALLBACK = "banana_generate"
SLACK_INPUT_CHARS = 3000  # the most a Slack text field (max_length, initial_value) may hold
FILE_NAME_CHARS = 60  # an input image's name, as shown and as carried in private_metadata

# Block ids double as action ids: one input per block.
PROMPT, AVOID, ASPECT_RATIO, RESOLUTION, FORMAT, CHANNEL, UPLOADS = (
    "prompt",
    "avoid",
    "aspect_ratio",
    "resolution",
    "output_format",
    "channel",
    "uploads",
)
UPLOAD_FILETYPES = ["png", "jpg", "jpeg", "webp"]


@dataclass(frozen=True)
class FormContext:
    """What a modal cannot know by itself, carried through `private_metadata`."""

    channel_id: str | None = None
    thread_ts: str | None = None
    inputs: tuple[InputFile, ...] = ()
    parent_task_id: int | None = None

    def to_metadata(self) -> str:
        """At most METADATA_CHARS characters: the file names (only shown, never used) are shortened, or left out."""
        text = ""
        for name_chars in (FILE_NAME_CHARS, 20, 0):
            data: dict[str, Any] = {
                "c": self.channel_id,
                "t": self.thread_ts,
                "f": [[f.id, shorten(f.name, name_chars)] for f in self.inputs],
                "p": self.parent_task_id,
            }
            text = json.dumps({k: v for k, v in data.items() if v}, ensure_ascii=False)
            if len(text) <= METADATA_CHARS:
                break
        return text

    @classmethod
    def from_metadata(cls, text: str) -> FormContext:
        data = json.loads(text or "{}")
        return cls(
            channel_id=data.get("c"),
            thread_ts=data.get("t"),
            inputs=tuple(InputFile(id=i, name=n) for i, n in data.get("f", [])),
            parent_task_id=data.get("p"),
        )


@dataclass(frozen=True)
class FormSetup:
    title: str
    defaults: Options
    context: FormContext = field(default_factory=FormContext)
    notes: tuple[str, ...] = ()  # what was left out of the inputs, and why
    choose_channel: bool = False
    allow_uploads: bool = False
    prices: Prices = PRICES  # shown beside each resolution


def generation_modal(setup: FormSetup) -> dict[str, Any]:
    blocks: list[Block] = []
    inputs = setup.context.inputs
    if inputs:
        names = ", ".join(escaped(f.name or f.id, FILE_NAME_CHARS) for f in inputs)
        noun = "image" if len(inputs) == 1 else "images"
        text = clip(f":frame_with_picture: *{len(inputs)} {noun}:* {names}", SECTION_CHARS)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
    if setup.notes:
        notes = escaped(" ".join(setup.notes), CONTEXT_CHARS)
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=notes)]))
    blocks.append(
        InputBlock(
            block_id=PROMPT,
            label="What should the image show?" if not inputs else "What should Banana do with the images?",
            element=PlainTextInputElement(
                action_id=PROMPT,
                multiline=True,
                max_length=SLACK_INPUT_CHARS,  # Slack's own cap on a text field; longer prompts: the command
                placeholder="Add our logo in the top right corner and make it a square social post",
            ),
        )
    )
    blocks.append(
        InputBlock(
            block_id=AVOID,
            label="Leave out",
            optional=True,
            element=PlainTextInputElement(action_id=AVOID, placeholder="text, watermarks"),
        )
    )
    ratio_default = "auto" if inputs else setup.defaults.aspect_ratio
    blocks.append(_select(ASPECT_RATIO, "Aspect ratio", [(a, a) for a in ASPECT_RATIOS], ratio_default))
    resolutions = resolution_choices(setup.prices)
    blocks.append(_select(RESOLUTION, "Resolution", resolutions, setup.defaults.resolution))
    blocks.append(_select(FORMAT, "Format", [(f, f.upper()) for f in OUTPUT_FORMATS], setup.defaults.output_format))
    if setup.choose_channel:
        blocks.append(
            InputBlock(
                block_id=CHANNEL,
                label="Post in",
                element=ConversationSelectElement(
                    action_id=CHANNEL,
                    initial_conversation=setup.context.channel_id,
                    default_to_current_conversation=setup.context.channel_id is None,
                ),
            )
        )
    room = MAX_INPUT_IMAGES - len(inputs)
    if setup.allow_uploads and room > 0:
        blocks.append(
            InputBlock(
                block_id=UPLOADS,
                label=f"Images to start from (up to {room})",
                optional=True,
                element=FileInputElement(action_id=UPLOADS, filetypes=UPLOAD_FILETYPES, max_files=room),
            )
        )
    return View(
        type="modal",
        callback_id=GENERATE_CALLBACK,
        title=shorten(setup.title, MODAL_TITLE_CHARS),
        submit="Generate",
        close="Cancel",
        private_metadata=setup.context.to_metadata(),
        blocks=blocks,
    ).to_dict()


def new_image_modal(defaults: Options, prices: Prices, *, channel_id: str | None) -> dict[str, Any]:
    """The "New image" form: a prompt, options, uploads, and where to post (this conversation, when known)."""
    setup = FormSetup(
        title="New image",
        defaults=defaults,
        prices=prices,
        context=FormContext(channel_id=channel_id),
        choose_channel=True,
        allow_uploads=True,
    )
    return generation_modal(setup)


def resolution_choices(prices: Prices) -> list[tuple[str, str]]:
    """Each resolution with its price from the table, an estimate: `2K · ≈18 credits`."""
    return [(r, shorten(f"{r} · {credits_text(prices[r], exact=False)}", OPTION_TEXT_CHARS)) for r in RESOLUTIONS]


def _select(block_id: str, label: str, choices: list[tuple[str, str]], initial: str) -> InputBlock:
    options = [Option(value=value, text=shorten(text, OPTION_TEXT_CHARS)) for value, text in choices]
    chosen = next(o for o in options if o.value == initial)
    return InputBlock(
        block_id=block_id,
        label=label,
        element=StaticSelectElement(action_id=block_id, options=options, initial_option=chosen),
    )


def notice_view(title: str, text: str) -> dict[str, Any]:
    """A modal with one message (mrkdwn, cut to fit) and only a Close button: progress, success or a problem to fix."""
    return View(
        type="modal",
        title=shorten(title, MODAL_TITLE_CHARS),
        close="Close",
        blocks=[SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_CHARS)))],
    ).to_dict()


def checking_view(image_count: int) -> dict[str, Any]:
    if image_count:
        noun = "image" if image_count == 1 else f"{image_count} images"
        return notice_view("Banana", f":hourglass_flowing_sand: Checking your {noun}…")
    return notice_view("Banana", ":hourglass_flowing_sand: Starting…")


def started_view(channel_id: str) -> dict[str, Any]:
    return notice_view(
        "Banana", f":white_check_mark: Started. Follow it in <#{channel_id}>; the image will arrive there."
    )


def problem_view(message: str) -> dict[str, Any]:
    """A problem in plain words; a long one (kie.ai's words inside it) loses its middle, so the advice at its end
    stays."""
    return notice_view("Banana", f":warning: {escaped(message, FAILURE_CHARS, middle=True)}")

"""The prompt studio in Slack: the forms (pure Block Kit builders) and reading them back; what the commands' text
fills in, each field's rules and the prompt built from the fields are prompts/studio.py's.

Each format has a form with pickers and context fields. Submitting it builds the prompt and replaces the form with a
review step that shows the prompt in editable fields, with the aspect ratio the layout suits best chosen, and nothing
is generated before that step is submitted. Slack's text inputs hold at most 3,000 characters, so a longer prompt is
shown in consecutive parts, cut at paragraph breaks and joined again with a blank line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    OptionGroup,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.blocks.blocks import Block
from slack_sdk.models.views import View

from bot.blocks.inputs import text_input
from bot.blocks.modals import ASPECT_RATIO, AVOID, FORMAT, RESOLUTION, SLACK_INPUT_CHARS, resolution_choices
from bot.blocks.text import (
    CONTEXT_CHARS,
    FALLBACK_CHARS,
    MODAL_TITLE_CHARS,
    OPTION_TEXT_CHARS,
    SECTION_CHARS,
    clip,
    escaped,
    shorten,
)
from prompts.catalog import Brand, Catalog
from prompts.options import ASPECT_RATIOS, OUTPUT_FORMATS, Options, Prices
from prompts.studio import (
    DENSITY,
    EN_DASH,
    FIELD_CHARS,
    FOOTER,
    GUEST,
    HEADLINE,
    KEY_POINTS,
    KINDS,
    LAYOUT,
    MAX_KEY_POINTS,
    MAX_ROLES,
    NAME,
    PALETTE,
    PERSON,
    QUOTE,
    ROLE,
    ROLE_EXAMPLE,
    ROLES,
    SOURCE,
    SPEAKER,
    STYLE,
    SUBTITLE,
    TEMPLATE,
    TITLE,
    Built,
    build_prompt,
    infographic_prefill,
    quote_prefill,
    timeline_prefill,
)
from prompts.tasks import SavedPrompt, Task

INFOGRAPHIC_FORM = "studio_infographic"
QUOTE_FORM = "studio_quote"
TIMELINE_FORM = "studio_timeline"
FORMS = (INFOGRAPHIC_FORM, QUOTE_FORM, TIMELINE_FORM)
REVIEW = "studio_review"
SAVE_PROMPT_FORM = "studio_save_prompt"
USE_SAVED_PROMPT = "saved_prompt_use"  # the Use button beside a saved prompt; its value is the prompt's id

PROMPT_PART = "prompt_"  # prompt_1, prompt_2, ...: the review step's parts of the prompt

PART_BREAK = "\n\n"
SAVED_PROMPTS_SHOWN = 20
SEARCH_SHOWN_CHARS = 100  # the words a person searched saved prompts for, as shown back to them
NAME_SHOWN_CHARS = 150  # a saved prompt's name as shown (the form takes 80; older or imported names may be longer)
SUMMARY_CHARS = 1500  # the review step's summary (mrkdwn), before its instructions


@dataclass(frozen=True)
class Review:
    """The step before generating: the prompt, editable, with the options it starts with."""

    prompt: str
    options: Options
    channel_id: str | None
    summary: str = ""  # mrkdwn, already escaped
    avoid: str = ""
    title: str = "Check the prompt"
    source: str = "studio"  # kept with the task: studio:<kind> or saved:<id>


# ---------------------------------------------------------------------------------------------------------- the forms


def studio_form(kind: str, catalog: Catalog, *, channel_id: str | None, text: str = "") -> dict[str, Any]:
    """The form `/banana <kind> <text>` opens, with what the text says already filled in."""
    builders: dict[str, Callable[..., dict[str, Any]]] = {
        "infographic": infographic_form,
        "quote": quote_form,
        "timeline": timeline_form,
    }
    return builders[kind](catalog, channel_id=channel_id, text=text)


def infographic_form(catalog: Catalog, *, channel_id: str | None, text: str = "") -> dict[str, Any]:
    given = infographic_prefill(text)
    blocks: list[Block] = [
        _note("Say what it shows and choose how it looks. Next you see the whole prompt and can edit it."),
        _text_input(TITLE, "Title or topic", given.get(TITLE), placeholder="5 ways to grow a podcast audience"),
        _text_input(
            KEY_POINTS,
            "Key points",
            given.get(KEY_POINTS),
            optional=True,
            multiline=True,
            hint=f"One per line, up to {MAX_KEY_POINTS}; each is printed exactly as written. "
            "Leave empty to let the model write them.",
        ),
        _text_input(SUBTITLE, "Show or episode", None, optional=True, placeholder="The Growth Show, episode 42"),
        _text_input(GUEST, "Guest", None, optional=True, placeholder="Ada Lovelace, CTO at Acme"),
        _text_input(FOOTER, "Footer or call to action", None, optional=True, placeholder="Listen at example.fm"),
        _select(TEMPLATE, "Template", [(t.id, t.label) for t in catalog.templates.values()]),
        _layout_select(catalog),
        *_style_selects(catalog, density=True),
    ]
    return _form(INFOGRAPHIC_FORM, "Infographic", blocks, channel_id)


def quote_form(catalog: Catalog, *, channel_id: str | None, text: str = "") -> dict[str, Any]:
    given = quote_prefill(text)
    card = catalog.quote_card
    blocks: list[Block] = [
        _note("The quote is printed exactly as written. Next you see the whole prompt and can edit it."),
        _text_input(QUOTE, "Quote", given.get(QUOTE), multiline=True, placeholder="Ship it, then make it better."),
        _text_input(SPEAKER, "Who said it", given.get(SPEAKER), placeholder="Ada Lovelace"),
        _text_input(ROLE, "Their role", given.get(ROLE), optional=True, placeholder="CTO at Acme"),
        _text_input(SOURCE, "Show or episode", None, optional=True, placeholder="The Growth Show, episode 42"),
        _select(LAYOUT, "Layout", [(layout.id, layout.label) for layout in card.layouts.values()]),
        *_style_selects(catalog, density=False),
    ]
    return _form(QUOTE_FORM, "Quote card", blocks, channel_id)


def timeline_form(catalog: Catalog, *, channel_id: str | None, text: str = "") -> dict[str, Any]:
    given = timeline_prefill(text)
    timeline = catalog.career_timeline
    blocks: list[Block] = [
        _note("Every name, role and year is printed exactly as written. Next you see the prompt and can edit it."),
        _text_input(PERSON, "Name", given.get(PERSON), placeholder="Ada Lovelace"),
        _text_input(HEADLINE, "Known for", None, optional=True, placeholder="Builder of developer tools"),
        _text_input(
            ROLES,
            "Roles",
            given.get(ROLES),
            multiline=True,
            placeholder=f"{ROLE_EXAMPLE}\n2019{EN_DASH}present CTO at Example",
            hint=f"One per line, up to {MAX_ROLES}: years, role, then the company after “at”, “@” or a comma. "
            "They are shown oldest first.",
        ),
        _select(LAYOUT, "Layout", [(layout.id, layout.label) for layout in timeline.layouts.values()]),
        *_style_selects(catalog, density=False),
    ]
    return _form(TIMELINE_FORM, "Career timeline", blocks, channel_id)


def _form(callback_id: str, title: str, blocks: list[Block], channel_id: str | None) -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=callback_id,
        title=title,
        submit="Show the prompt",
        close="Cancel",
        private_metadata=_metadata(channel_id),
        blocks=blocks,
    ).to_dict()


def _layout_select(catalog: Catalog) -> InputBlock:
    """Layouts grouped by what they show; left empty, the template's best layout is used."""
    groups: dict[str, list[Option]] = {}
    for layout in catalog.layouts.values():
        groups.setdefault(layout.group, []).append(
            Option(value=layout.id, text=shorten(layout.label, OPTION_TEXT_CHARS))
        )
    return InputBlock(
        block_id=LAYOUT,
        label="Layout",
        optional=True,
        hint="Leave empty for the layout that suits the template best.",
        element=StaticSelectElement(
            action_id=LAYOUT,
            placeholder="The template's best layout",
            option_groups=[
                OptionGroup(label=shorten(group, OPTION_TEXT_CHARS), options=options)
                for group, options in groups.items()
            ],
        ),
    )


def _style_selects(catalog: Catalog, *, density: bool) -> list[InputBlock]:
    selects = [
        _select(STYLE, "Style", [(s.id, s.label) for s in catalog.styles.values()]),
        _select(PALETTE, "Colours", [(p.id, p.label) for p in catalog.palettes.values()]),
    ]
    if density:
        selects.append(_select(DENSITY, "Density", [(d.id, d.label) for d in catalog.densities.values()]))
    return selects


# ---------------------------------------------------------------------------------------------- reading a form back


class _Values:
    """A submitted view's values; a block the view did not have reads as empty."""

    def __init__(self, view: dict[str, Any]) -> None:
        self.values: dict[str, Any] = view.get("state", {}).get("values", {})

    def text(self, block_id: str) -> str:
        return ((self.values.get(block_id) or {}).get(block_id) or {}).get("value") or ""

    def choice(self, block_id: str) -> str | None:
        selected = ((self.values.get(block_id) or {}).get(block_id) or {}).get("selected_option") or {}
        return selected.get("value")

    def prompt_parts(self) -> list[str]:
        numbered = [(int(key.removeprefix(PROMPT_PART)), key) for key in self.values if _is_part(key)]
        return [self.text(key) for _, key in sorted(numbered)]


def _is_part(block_id: str) -> bool:
    return block_id.startswith(PROMPT_PART) and block_id.removeprefix(PROMPT_PART).isdigit()


def build_from_form(view: dict[str, Any], catalog: Catalog, brand: Brand) -> Built:
    """The prompt a submitted studio form asks for. Raises FormProblems with what to fix, by field."""
    return build_prompt(kind_of(view), _Values(view), catalog, brand)


# ------------------------------------------------------------------------------------------------ the review step


def split_prompt(prompt: str, size: int = SLACK_INPUT_CHARS) -> list[str]:
    """The prompt in parts of at most `size` characters for Slack's inputs, cut at paragraph breaks where possible.

    `join_prompt` puts them back together; a cut inside a paragraph comes back as a paragraph break."""
    parts: list[str] = []
    for paragraph in prompt.split(PART_BREAK):
        for piece in _pieces(paragraph, size):
            if parts and len(parts[-1]) + len(PART_BREAK) + len(piece) <= size:
                parts[-1] += PART_BREAK + piece
            else:
                parts.append(piece)
    return parts or [""]


def _pieces(paragraph: str, size: int) -> list[str]:
    """A paragraph as pieces that each fit: whole, or cut at line breaks, or a very long line cut at spaces."""
    if len(paragraph) <= size:
        return [paragraph]
    pieces: list[str] = []
    for line in paragraph.split("\n"):
        while len(line) > size:
            cut = line.rfind(" ", 0, size)
            cut = cut if cut > 0 else size
            pieces.append(line[:cut])
            line = line[cut:].lstrip(" ")
        if pieces and len(pieces[-1]) + 1 + len(line) <= size:
            pieces[-1] += "\n" + line
        else:
            pieces.append(line)
    return pieces


def join_prompt(parts: Sequence[str]) -> str:
    return PART_BREAK.join(part.strip() for part in parts if part.strip())


def review_modal(review: Review, prices: Prices) -> dict[str, Any]:
    parts = split_prompt(review.prompt)
    about = [clip(review.summary, SUMMARY_CHARS)] if review.summary else []
    about.append(f"{len(review.prompt):,} characters. Edit anything you like, then press *Generate*.")
    if len(parts) > 1:
        about.append(
            f"A Slack field holds {SLACK_INPUT_CHARS:,} characters, so the prompt is shown in {len(parts)} parts; "
            "they are joined with a blank line."
        )
    blocks: list[Block] = [_note(clip(" ".join(about), CONTEXT_CHARS))]
    for number, part in enumerate(parts, start=1):
        label = "Prompt" if len(parts) == 1 else f"Prompt, part {number} of {len(parts)}"
        blocks.append(
            InputBlock(
                block_id=f"{PROMPT_PART}{number}",
                label=label,
                optional=number > 1,
                element=PlainTextInputElement(
                    action_id=f"{PROMPT_PART}{number}",
                    multiline=True,
                    max_length=SLACK_INPUT_CHARS,
                    initial_value=part or None,
                ),
            )
        )
    blocks += [
        # A text field holds SLACK_INPUT_CHARS; what it shows is what is submitted, so no "…" is added.
        _text_input(
            AVOID, "Leave out", review.avoid[:SLACK_INPUT_CHARS] or None, optional=True, placeholder="text, watermarks"
        ),
        _select(ASPECT_RATIO, "Aspect ratio", [(a, a) for a in ASPECT_RATIOS], review.options.aspect_ratio),
        _select(RESOLUTION, "Resolution", resolution_choices(prices), review.options.resolution),
        _select(FORMAT, "Format", [(f, f.upper()) for f in OUTPUT_FORMATS], review.options.output_format),
    ]
    return View(
        type="modal",
        callback_id=REVIEW,
        title=shorten(review.title, MODAL_TITLE_CHARS),
        submit="Generate",
        close="Cancel",
        private_metadata=_metadata(review.channel_id, review.source),
        blocks=blocks,
    ).to_dict()


@dataclass(frozen=True)
class Reviewed:
    """What the review step was submitted with."""

    prompt: str
    avoid: str
    options: Options
    source: str


def read_review(view: dict[str, Any]) -> Reviewed:
    values = _Values(view)
    return Reviewed(
        prompt=join_prompt(values.prompt_parts()),
        avoid=values.text(AVOID).strip(),
        options=Options(
            aspect_ratio=values.choice(ASPECT_RATIO) or "",
            resolution=values.choice(RESOLUTION) or "",
            output_format=values.choice(FORMAT) or "",
        ),
        source=json.loads(view.get("private_metadata") or "{}").get("s") or "studio",
    )


def channel_of(view: dict[str, Any]) -> str | None:
    """Where the image goes: the conversation the command was typed in, carried through the form."""
    return json.loads(view.get("private_metadata") or "{}").get("c")


def kind_of(view: dict[str, Any]) -> str:
    """Which studio form this is: infographic, quote or timeline."""
    return dict(zip(FORMS, KINDS, strict=True)).get(view.get("callback_id", ""), "studio")


def _metadata(channel_id: str | None, source: str = "") -> str:
    data = {"c": channel_id, "s": source}
    return json.dumps({k: v for k, v in data.items() if v})


# ------------------------------------------------------------------------------------------------- saved prompts


def save_prompt_modal(task: Task) -> dict[str, Any]:
    preview = "\n".join(f"> {line}" for line in escaped(task.prompt, 400).splitlines()[:8])
    return View(
        type="modal",
        callback_id=SAVE_PROMPT_FORM,
        title="Save prompt",
        submit="Save",
        close="Cancel",
        private_metadata=str(task.id),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=preview or "> (empty)")),
            _text_input(NAME, "Name", None, placeholder="Episode takeaways, bold editorial"),
            _note(
                f"Saved with its options ({task.options.summary()}). Everyone in the workspace can find it with "
                "`/banana prompts`."
            ),
        ],
    ).to_dict()


def saved_name(view: dict[str, Any]) -> str:
    return " ".join(_Values(view).text(NAME).split())


def saved_prompts_message(prompts: list[SavedPrompt], *, search: str = "", more: bool = False) -> dict[str, Any]:
    """`/banana prompts`: the workspace's library, newest first, each with a Use button. Fits a message's 50 blocks."""
    words = escaped(search, SEARCH_SHOWN_CHARS)
    if not prompts:
        text = (
            f"No saved prompt has “{words}” in its name. `/banana prompts` lists them all."
            if search
            else "No saved prompts yet. Press *Save prompt* on any finished image to add its prompt here."
        )
        return {"text": clip(text, FALLBACK_CHARS)}
    heading = f"*Saved prompts* with “{words}” in the name" if search else "*Saved prompts*, newest first"
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"{heading}. *Use* opens one, ready to edit."))]
    for saved in prompts[:SAVED_PROMPTS_SHOWN]:
        preview = escaped(" ".join(saved.prompt.split()), 200)
        details = f"{saved.options.summary()} · saved by <@{saved.user_id}>"
        text = f"*{escaped(saved.name, NAME_SHOWN_CHARS)}* · {details}\n> {preview}"
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(text=clip(text, SECTION_CHARS)),
                accessory=ButtonElement(text="Use", action_id=USE_SAVED_PROMPT, value=str(saved.id)),
            )
        )
    if more:
        blocks.append(
            _note(f"Showing the newest {SAVED_PROMPTS_SHOWN}. Add words to find others: `/banana prompts podcast`.")
        )
    return {"text": "Saved prompts", "blocks": [block.to_dict() for block in blocks]}


def saved_prompt_review(saved: SavedPrompt, channel_id: str | None) -> Review:
    return Review(
        prompt=saved.prompt,
        options=saved.options,
        channel_id=channel_id,
        summary=f"*{escaped(saved.name, NAME_SHOWN_CHARS)}*, saved by <@{saved.user_id}>.",
        avoid=saved.avoid,
        title="Use a saved prompt",
        source=f"saved:{saved.id}",
    )


# ------------------------------------------------------------------------------------------------------- pieces


def _note(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, CONTEXT_CHARS))])


def _text_input(block_id: str, label: str, initial: str | None, **options: Any) -> InputBlock:
    """A studio field, as long as its field may be."""
    return text_input(block_id, label, initial, most=FIELD_CHARS.get(block_id), **options)


def _select(block_id: str, label: str, choices: list[tuple[str, str]], initial: str | None = None) -> InputBlock:
    """A required picker that starts on `initial`, or on its first choice."""
    options = [Option(value=value, text=shorten(text, OPTION_TEXT_CHARS)) for value, text in choices]
    chosen = next((o for o in options if o.value == initial), options[0])
    return InputBlock(
        block_id=block_id,
        label=label,
        element=StaticSelectElement(action_id=block_id, options=options, initial_option=chosen),
    )

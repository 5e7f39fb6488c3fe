"""What Banana says in a person's DM with it, where a plain message is a prompt: the short help, the full help, and
the notes a remix or a studio word gets. Plain messages, not ephemeral ones: nobody else reads one's own DM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.blocks.guide import help_text
from bot.blocks.text import FALLBACK_CHARS, SECTION_CHARS, clip
from prompts.options import MAX_INPUT_IMAGES, Options, Prices

EXAMPLE = "a lighthouse at dawn, isometric --ar 16:9"
SHORT_HELP = (
    f"Tell me what to draw, for example `{EXAMPLE}`, and I'll make it here. "
    "Attach images to remix them, reply in a result's thread to change it, or type `help` for every option."
)
EDIT_HELP = (
    "Tell me what to change, for example `make the sky stormy --ar 9:16`: I edit the newest image in this thread, "
    "and `#12` picks another one. Type `help` for every option."
)
INTRO = (
    "*Here in our DM* no `/banana` is needed: type the prompt with its options (`--ar 16:9 --n 2`), attach images "
    "to remix them, and reply in a result's thread to edit it. `help`, `usage` and `prompts` work as words too."
)
MAX_BLOCKS = 50  # a message's blocks


def short_help(why: str = "") -> str:
    """The answer to a message that is not a prompt, after what was wrong with it, if anything."""
    return f"{why} {SHORT_HELP}" if why else SHORT_HELP


def full_help(defaults: Options, prices: Prices) -> str:
    """`help` in the DM: how the DM takes prompts, then everything `/banana help` says."""
    return f"{INTRO}\n\n{help_text(defaults, prices)}"


def not_images(skipped: Sequence[str]) -> str:
    """Files came, but none is an image to remix."""
    return short_help(f":warning: I can't remix that: {'; '.join(skipped)}.")


def needs_prompt(images: int) -> str:
    """Images came without words: a remix needs a prompt."""
    them = "this image" if images == 1 else f"these {images} images"
    return (
        f"What should I make of {them}? Send {'it' if images == 1 else 'them'} again with a prompt in the same "
        "message, for example `turn it into a watercolour poster --ar 4:5`."
    )


def remix_notes(skipped: Sequence[str], over_limit: int, used: int) -> str:
    """What a remix left out, or "" when it used every file."""
    notes = [f"{reason}." for reason in skipped]
    if over_limit:
        notes.insert(0, f"You sent {used + over_limit} images; kie takes {MAX_INPUT_IMAGES}, so I used the first 8.")
    return " ".join(notes)


def studio_elsewhere(kind: str) -> str:
    """A studio word: its form needs a command, which a message cannot open."""
    return (
        f"The prompt studio's {kind} opens a form, which a message can't do: type `/banana {kind}` here instead. "
        f"To draw your words as they are, add an option, for example `{kind} … --ar 1:1`."
    )


def message(text: str) -> dict[str, Any]:
    """`text` (mrkdwn) as a message: one section a paragraph, each within Slack's limits."""
    paragraphs = [part.strip() for part in text.split("\n\n") if part.strip()][:MAX_BLOCKS]
    blocks = [SectionBlock(text=MarkdownTextObject(text=clip(part, SECTION_CHARS))).to_dict() for part in paragraphs]
    return {"text": clip(text.split("\n", 1)[0], FALLBACK_CHARS), "blocks": blocks}

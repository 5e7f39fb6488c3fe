"""Pure builder for the brand kit modal a workspace's admins open from their Home tab: the brand's words and colours,
its logo and style reference images (uploaded with `file_input`), and which images go with which prompts.

Slack cannot show the stored images, so the form lists them by name and size, each with a box to remove it.
https://docs.slack.dev/reference/block-kit/block-elements/file-input-element
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    StaticSelectElement,
)
from slack_sdk.models.blocks.block_elements import FileInputElement
from slack_sdk.models.blocks.blocks import Block
from slack_sdk.models.views import View

from bot.blocks.inputs import text_input
from bot.blocks.settings import Change, changes_text
from prompts.catalog import (
    BRAND_FONT_CHARS,
    BRAND_NAME_CHARS,
    BRAND_NEVER_CHARS,
    BRAND_SHORT_CHARS,
    BRAND_TEXT_CHARS,
)

BRAND_CALLBACK = "banana_brand"
HOME_BRAND = "home_brand"  # the Home tab's Brand kit button, beside Settings
NAME = "brand_name"
TONE = "brand_tone"
COLOUR = "brand_colour_"  # + role
HEADING_FONT = "brand_heading_font"
BODY_FONT = "brand_body_font"
NEVER = "brand_never"
LOGO_WORDS = "brand_logo_words"
PLACEMENT = "brand_logo_placement"
SAVED = "brand_saved_images"  # the stored images, each a box to tick to remove it
LOGO_FILE = "brand_logo_file"
STYLE_FILES = "brand_style_files"
REFERENCES = "brand_references"

COLOUR_ROLES = ("primary", "secondary", "accent", "background", "text")
MAX_STYLE_IMAGES = 3
# What the file pickers offer; the app still checks each file by its bytes (images.prepare).
IMAGE_FILETYPES = ["png", "jpg", "jpeg", "webp", "gif", "heic", "heif", "bmp", "tiff"]
COLOUR_HINT = "As #RRGGBB, such as #1A2B3C. At least one colour; the first is the main one."
REFERENCE_CHOICES = {"studio": "Studio images only", "all": "Every image"}


@dataclass(frozen=True)
class SavedImage:
    sha256: str
    role: str  # "logo" or "style"
    name: str
    width: int
    height: int

    @property
    def label(self) -> str:
        what = "Logo" if self.role == "logo" else "Style reference"
        return f"{what}: {self.name} ({self.width}\u00d7{self.height})"


@dataclass(frozen=True)
class BrandForm:
    """What the modal shows: the brand's fields as a brand file has them (the workspace's, else the operator's),
    its saved images, and the last changes."""

    fields: Mapping[str, Any]
    images: Sequence[SavedImage] = ()
    references: str = "studio"
    own: bool = False  # the workspace set its own brand (else the fields are the operator's, to start from)
    changes: Sequence[Change] = ()


def brand_modal(form: BrandForm) -> dict[str, Any]:
    f = form.fields
    colours: Mapping[str, Any] = f.get("colours") or {}
    fonts: Mapping[str, Any] = f.get("fonts") or {}
    start = "" if form.own else "These are the operator's brand, to start from. "
    blocks: list[Block] = [
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"{start}Studio prompts in this workspace follow this brand; its logo and style images go "
                    "to the image model with them."
                )
            ]
        ),
        text_input(NAME, "Brand name", f.get("name"), most=BRAND_NAME_CHARS),
        text_input(
            TONE, "Tone of voice", f.get("tone"), most=BRAND_TEXT_CHARS, multiline=True, hint="How the words sound."
        ),
    ]
    for role in COLOUR_ROLES:
        hint = COLOUR_HINT if role == "primary" else None
        blocks.append(
            text_input(
                f"{COLOUR}{role}", f"{role.capitalize()} colour", colours.get(role), most=7, optional=True, hint=hint
            )
        )
    blocks += [
        text_input(HEADING_FONT, "Heading font", fonts.get("headings"), most=BRAND_FONT_CHARS),
        text_input(BODY_FONT, "Body font", fonts.get("body"), most=BRAND_FONT_CHARS),
        text_input(
            NEVER,
            "Never show",
            "\n".join(f.get("never") or ()) or None,
            most=12 * (BRAND_NEVER_CHARS + 1),
            multiline=True,
            optional=True,
            hint="One per line, at most 12: each becomes a “do not include” instruction.",
        ),
        text_input(LOGO_WORDS, "The logo, in words", f.get("logo"), most=BRAND_TEXT_CHARS, optional=True),
        text_input(PLACEMENT, "Where the logo goes", f.get("logo_placement"), most=BRAND_SHORT_CHARS, optional=True),
    ]
    if form.images:
        options = [Option(value=i.sha256, text=i.label[:75]) for i in form.images]
        blocks.append(
            InputBlock(
                block_id=SAVED,
                label="Saved images",
                hint="Tick an image to remove it.",
                optional=True,
                element=CheckboxesElement(action_id=SAVED, options=options),
            )
        )
    blocks += [
        InputBlock(
            block_id=LOGO_FILE,
            label="Logo image",
            hint="A new logo replaces the saved one. PNG, JPEG, WebP, HEIC or GIF, up to 10 MB.",
            optional=True,
            element=FileInputElement(action_id=LOGO_FILE, filetypes=IMAGE_FILETYPES, max_files=1),
        ),
        InputBlock(
            block_id=STYLE_FILES,
            label="Style reference images",
            hint=f"Added to those saved: {MAX_STYLE_IMAGES} at most in all.",
            optional=True,
            element=FileInputElement(action_id=STYLE_FILES, filetypes=IMAGE_FILETYPES, max_files=MAX_STYLE_IMAGES),
        ),
    ]
    choices = [Option(value=v, text=t) for v, t in REFERENCE_CHOICES.items()]
    chosen = next((o for o in choices if o.value == form.references), choices[0])
    blocks.append(
        InputBlock(
            block_id=REFERENCES,
            label="Send the brand images with",
            element=StaticSelectElement(action_id=REFERENCES, options=choices, initial_option=chosen),
        )
    )
    if form.changes:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=changes_text(form.changes))]))
    return View(
        type="modal", callback_id=BRAND_CALLBACK, title="Brand kit", submit="Save", close="Cancel", blocks=blocks
    ).to_dict()

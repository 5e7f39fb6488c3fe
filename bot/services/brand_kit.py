"""A workspace's brand kit, set by its admins in Slack: the brand its studio prompts follow, and the logo and style
images that go to kie with them. A workspace that set none follows the operator's brand (BRAND_FILE, or the default).

The brand's words are checked by the one rule a BRAND_FILE is read by (prompts.catalog.check_brand); its images as
remix inputs are (bot.clients.inputs: fetched with the bot token, decoded, turned upright and fitted for kie), then
stored by their sha256. Like the settings, it is read per request with a cache of a few seconds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.blocks import brand as form
from bot.blocks.settings import Change
from bot.clients.images import image_size
from bot.clients.inputs import InputFetcher, InputImage, InputRejected
from bot.clients.slack import SlackDelivery
from bot.services.workspace_settings import WorkspaceSettings
from bot.store import TaskStore
from bot.store.recent import Recent
from prompts.catalog import Brand, brand_fields, check_brand
from prompts.options import InputFile
from prompts.tasks import BrandImage, StoredBrand

log = logging.getLogger("banana.brand")

MAX_BRAND_FILE_BYTES = 10 * 1024 * 1024  # what Slack's file_input takes per file
# Slack waits 3 s for the answer to a submitted form: fetching the images gets this long, the rest is for the save.
FETCH_SECONDS = 2.0
TOO_SLOW = "Slack took too long to hand me the images, so nothing was saved. Press Save again."
REFERENCES = tuple(form.REFERENCE_CHOICES)
_WORDS = {
    "name": form.NAME,
    "tone": form.TONE,
    "logo": form.LOGO_WORDS,
    "logo_placement": form.PLACEMENT,
    "fonts.headings": form.HEADING_FONT,
    "fonts.body": form.BODY_FONT,
}
_LABELS = {
    "name": "name",
    "tone": "tone",
    "logo": "logo words",
    "logo_placement": "logo placement",
    "references": "images go with",
}


def brand_data(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A submitted form's words (by block id) as a brand file has them."""

    def text(block: str) -> str:
        return str(fields.get(block) or "").strip()

    colours = {role: text(form.COLOUR + role) for role in form.COLOUR_ROLES if text(form.COLOUR + role)}
    data: dict[str, Any] = {
        "name": text(form.NAME),
        "tone": text(form.TONE),
        "colours": colours,
        "fonts": {"headings": text(form.HEADING_FONT), "body": text(form.BODY_FONT)},
    }
    never = [line.strip() for line in text(form.NEVER).splitlines() if line.strip()]
    optional = {"logo": text(form.LOGO_WORDS), "logo_placement": text(form.PLACEMENT), "never": never}
    return data | {key: value for key, value in optional.items() if value}


def word_errors(data: Mapping[str, Any]) -> dict[str, str]:
    """The brand rule's problems, each beside its field."""
    _, problems = check_brand(data)
    errors: dict[str, str] = {}
    for field, message in problems.items():
        if field == "colours":
            block, said = form.COLOUR + form.COLOUR_ROLES[0], "Give at least one colour, as #RRGGBB."
        elif field.startswith("colours."):
            block, said = form.COLOUR + field.removeprefix("colours."), f"{_said(message)}"
        elif field.startswith("never"):
            line = int(field.removeprefix("never[").rstrip("]") or 0) + 1 if "[" in field else 0
            block, said = form.NEVER, f"Line {line}: {message}." if line else _said(message)
        else:
            block, said = _WORDS.get(field, form.NAME), _said(message)
        errors.setdefault(block, said)
    return errors


def _said(message: str) -> str:
    if message in ("is empty", "is missing"):
        return "Fill this in."
    return message[:1].upper() + message[1:] + "."


def kit_brand(stored: StoredBrand, operator: Brand) -> Brand:
    """The brand a workspace's kit makes (the operator's, should its words no longer pass the rule)."""
    words = {key: value for key, value in stored.data.items() if key != "references"}
    brand, problems = check_brand(words)
    if problems:
        log.warning("workspace %s: its brand kit no longer passes the brand rule (%s)", stored.team_id, problems)
        return operator
    logo = next((i.sha256 for i in stored.images if i.role == "logo"), "")
    styles = tuple(i.sha256 for i in sorted(stored.images, key=lambda i: i.position) if i.role == "style")
    references = stored.data.get("references")
    return dataclasses.replace(
        brand, logo_image=logo, style_images=styles, references=references if references in REFERENCES else "studio"
    )


def _shown(value: Any) -> str:
    text = ", ".join(value) if isinstance(value, list) else str(value or "")
    return "none" if not text else text if len(text) <= 40 else text[:39] + "…"


def _image_text(image: BrandImage) -> str:
    return f"{image.name} ({image.width}\u00d7{image.height})"


def brand_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], old: Sequence[BrandImage], new: Sequence[BrandImage]
) -> str:
    """What changed, for the log: "brand: name Acme → Acme Co; logo: logo.png (512 by 512 px)"."""
    parts: list[str] = []

    def compare(label: str, was: Any, now: Any) -> None:
        if (was or "") != (now or ""):
            parts.append(f"{label} {_shown(was)} → {_shown(now)}" if was else f"{label} {_shown(now)}")

    for key, label in _LABELS.items():
        compare(label, before.get(key), after.get(key))
    colours = (before.get("colours") or {}, after.get("colours") or {})
    for role in dict.fromkeys([*colours[0], *colours[1]]):
        compare(f"{role} colour", colours[0].get(role), colours[1].get(role))
    fonts = (before.get("fonts") or {}, after.get("fonts") or {})
    for key, label in (("headings", "heading font"), ("body", "body font")):
        compare(label, fonts[0].get(key), fonts[1].get(key))
    compare("never-list", before.get("never"), after.get("never"))
    kept = {i.sha256 for i in new}
    parts += [f"removed {i.role} {_image_text(i)}" for i in old if i.sha256 not in kept]
    had = {i.sha256 for i in old}
    parts += [f"{'logo' if i.role == 'logo' else 'style'}: {_image_text(i)}" for i in new if i.sha256 not in had]
    return "brand: " + "; ".join(parts) if parts else ""


class BrandKit:
    """Each workspace's brand (briefly cached), its admins' form, and saving what they submit."""

    def __init__(
        self,
        store: TaskStore,
        slack: SlackDelivery,
        workspaces: WorkspaceSettings,
        operator: Brand,
        *,
        inputs: InputFetcher | None = None,
        fetch_seconds: float = FETCH_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._slack = slack
        self._workspaces = workspaces
        self.operator = operator
        self._inputs = inputs or InputFetcher(max_download_bytes=MAX_BRAND_FILE_BYTES)
        self._fetch_seconds = fetch_seconds
        self._recent: Recent[Brand] = Recent(clock=clock)

    async def brand_for(self, team_id: str) -> Brand:
        """The workspace's brand kit, else the operator's brand."""

        async def read() -> Brand:
            stored = await self._store.workspace_brand(team_id)
            return self.operator if stored is None else kit_brand(stored, self.operator)

        return await self._recent.get(team_id, read)

    async def may_change(self, team_id: str, user_id: str) -> bool:
        return await self._workspaces.may_change(team_id, user_id)

    async def form(self, team_id: str) -> dict[str, Any]:
        """The brand kit modal as the workspace's kit is now (read afresh), or the operator's brand to start from."""
        stored = await self._store.workspace_brand(team_id)
        history = await self._workspaces.history(team_id)
        return form.brand_modal(
            form.BrandForm(
                fields=stored.data if stored else brand_fields(self.operator),
                images=[form.SavedImage(i.sha256, i.role, i.name, i.width, i.height) for i in _images(stored)],
                references=str(stored.data.get("references") or "studio") if stored else "studio",
                own=stored is not None,
                changes=[Change(h.user_id, h.at, h.change) for h in history if h.change.startswith("brand:")],
            )
        )

    async def submit(self, team_id: str, user_id: str, fields: Mapping[str, Any]) -> dict[str, str] | None:
        """A submitted brand form: errors beside their fields, or None once saved (or when nothing changed). Who may
        change the brand is checked here again: a forged submission from anyone else changes nothing. The words are
        checked before any file is fetched; nothing is saved unless everything passes."""
        if not await self.may_change(team_id, user_id):
            return None
        words = brand_data(fields)
        errors = word_errors(words)
        references = fields.get(form.REFERENCES)
        data = words | {"references": references if references in REFERENCES else "studio"}
        stored = await self._store.workspace_brand(team_id)
        removed = set(fields.get(form.SAVED) or ())
        kept = [i for i in _images(stored) if i.sha256 not in removed]
        logos: list[InputFile] = list(fields.get(form.LOGO_FILE) or [])
        styles: list[InputFile] = list(fields.get(form.STYLE_FILES) or [])
        if logos:
            kept = [i for i in kept if i.role != "logo"]
        if len(logos) > 1:
            errors[form.LOGO_FILE] = "One logo at most."
        kept_styles = sum(1 for i in kept if i.role == "style")
        if kept_styles + len(styles) > form.MAX_STYLE_IMAGES:
            errors[form.STYLE_FILES] = (
                f"{form.MAX_STYLE_IMAGES} style images at most: {kept_styles} saved and {len(styles)} new. "
                "Tick saved ones to remove them, or choose fewer."
            )
        if errors:
            return errors
        slack = self._slack.team(team_id)
        try:
            async with asyncio.timeout(self._fetch_seconds):
                fetched = await asyncio.gather(
                    self._inputs.fetch(slack, logos), self._inputs.fetch(slack, styles), return_exceptions=True
                )
        except TimeoutError:
            return {form.LOGO_FILE if logos else form.STYLE_FILES: TOO_SLOW}
        for block, result in zip((form.LOGO_FILE, form.STYLE_FILES), fetched, strict=True):
            if isinstance(result, InputRejected):
                errors[block] = str(result)
            elif isinstance(result, BaseException):
                raise result
        if errors:
            return errors
        new_logos, new_styles = (r for r in fetched if isinstance(r, list))
        images = _arranged(team_id, kept, new_logos, new_styles)
        what = brand_changes(stored.data if stored else {}, data, _images(stored), images)
        if not what:
            return None
        try:
            await self._store.save_workspace_brand(team_id, user_id, data, images, what)
        except KeyError:  # another admin removed a kept image meanwhile
            return {form.SAVED: "The saved images changed meanwhile: nothing was saved. Open the brand kit again."}
        self._recent.forget(team_id)
        log.info("workspace %s: brand kit saved by %s", team_id, user_id)
        return None

    def forget(self, team_id: str) -> None:
        self._recent.forget(team_id)


def _images(stored: StoredBrand | None) -> tuple[BrandImage, ...]:
    return stored.images if stored is not None else ()


def _arranged(
    team_id: str, kept: list[BrandImage], logos: list[InputImage], styles: list[InputImage]
) -> list[BrandImage]:
    """The kit's images in order: the logo, then the style references (saved first), each image once."""
    images: list[BrandImage] = []
    seen: set[str] = set()
    ordered = [("logo", i) for i in kept if i.role == "logo"] + [("logo", i) for i in logos]
    ordered += [("style", i) for i in kept if i.role == "style"] + [("style", i) for i in styles]
    positions = dict.fromkeys(("logo", "style"), 0)
    for role, image in ordered:
        if isinstance(image, BrandImage):
            made = dataclasses.replace(image, position=positions[role])
        else:
            size = image_size(image.data)
            assert size is not None  # the fetcher prepared it: an image kie takes
            width, height = size
            made = BrandImage(
                team_id=team_id,
                sha256=hashlib.sha256(image.data).hexdigest(),
                role=role,
                position=positions[role],
                name=image.file.name or image.file.id,
                mime=image.mime,
                width=width,
                height=height,
                data=image.data,
            )
        if made.sha256 not in seen:
            seen.add(made.sha256)
            images.append(made)
            positions[role] += 1
    return images

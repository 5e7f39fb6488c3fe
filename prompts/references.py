"""The brand's images a task carries to kie: which ones, in what order within kie's eight, and what the prompt and the
card say of them. Pure: decided once as a task is stored (`brand_for_task`, from the brand the starter read), kept
with the task, sent by its job.

The person's own images come first, then the logo, then the style references, at most MAX_INPUT_IMAGES in all; the
numbers the prompt gives them ("reference image 3") follow that order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from prompts.catalog import Brand
from prompts.options import MAX_INPUT_IMAGES, NANO_BANANA_PRO, GenerationRequest
from prompts.tasks import Task

LOGO, STYLE = "logo", "style"
# Relations that make the same image again or change it: they keep their parent's choice of brand.
KEEPS_PARENTS_BRAND = frozenset({"edit", "variation", "upscale", "regenerate", "retry"})  # "upscale": Redraw at 4K
STUDIO_SOURCE = "studio:"


@dataclass(frozen=True)
class BrandImages:
    """The brand a task was started with: its name, the images it offers (by sha256) and whether the prompt itself was
    written for this brand (a studio prompt places the images, so nothing is appended to it)."""

    name: str
    logo: str = ""
    styles: tuple[str, ...] = ()
    studio: bool = False

    @property
    def offered(self) -> tuple[tuple[str, str], ...]:
        """(role, sha256), the logo first."""
        return ((LOGO, self.logo),) * bool(self.logo) + tuple((STYLE, sha) for sha in self.styles)

    def fitted(self, own_images: int) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
        """What is sent and what is left out, when the task has `own_images` of its own: theirs come first."""
        room = max(0, MAX_INPUT_IMAGES - own_images)
        return self.offered[:room], self.offered[room:]

    def encode(self) -> str:
        return json.dumps({"name": self.name, "logo": self.logo, "styles": list(self.styles), "studio": self.studio})

    @classmethod
    def decode(cls, text: str) -> BrandImages | None:
        """The stored field read back; None for a task without the brand."""
        if not text:
            return None
        data = json.loads(text)
        return cls(
            name=str(data.get("name", "")),
            logo=str(data.get("logo", "")),
            styles=tuple(str(sha) for sha in data.get("styles", ())),
            studio=bool(data.get("studio", False)),
        )


def brand_for_task(request: GenerationRequest, brand: Brand | None, parent: Task | None) -> str:
    """The brand field of a new task (BrandImages encoded, or "" for none), decided once when it starts.

    Studio images carry the logo and style references; other images only when the brand says `references = "all"`;
    none with `--no-brand`, nor with an upscale (kie's upscaler takes the one image). Edits, variations, redraws,
    regenerates and retries keep their parent's choice, with the workspace's brand as it is now. An edit has a new
    prompt, which the studio did not write."""
    if brand is None or not request.brand or request.model != NANO_BANANA_PRO:  # an upscaler takes one image alone
        return ""
    if parent is not None and request.relation in KEEPS_PARENTS_BRAND:
        kept = BrandImages.decode(parent.brand)
        if kept is None:
            return ""
        studio = kept.studio and request.relation != "edit"
    else:
        studio = request.source.startswith(STUDIO_SOURCE)
        if not studio and brand.references != "all":
            return ""
    chosen = BrandImages(brand.name, brand.logo_image, tuple(brand.style_images), studio)
    return chosen.encode() if chosen.offered or studio else ""


def studio_placement(brand: Brand) -> tuple[str, str]:
    """What a studio prompt (which has no images of the person's) says of the brand's images: the logo's sentence and
    the style references' sentence; empty where the brand has none."""
    images = BrandImages(brand.name, brand.logo_image, tuple(brand.style_images), studio=True)
    sent, _ = images.fitted(0)
    logo = ""
    if sent and sent[0][0] == LOGO:
        placement = f", {brand.logo_placement.strip().rstrip('.')}" if brand.logo_placement.strip() else ""
        logo = f"Logo: use reference image 1 exactly as given, as the brand's logo{placement}."
    styles = _numbers(sent, STYLE)
    style = f"{_images(styles)} the brand's style: follow their look, do not copy their content." if styles else ""
    return logo, style


def brand_sentence(images: BrandImages, own_images: int) -> str:
    """One short sentence saying which reference images are the brand's, for a prompt the studio did not write; empty
    when no brand image is sent or the prompt places them itself."""
    if images.studio:
        return ""
    sent, _ = images.fitted(own_images)
    if not sent:
        return ""
    parts = []
    if sent[0][0] == LOGO:
        parts.append(f"reference image {own_images + 1} is the brand's logo, to use exactly as given where a logo fits")
    if styles := _numbers(sent, STYLE, start=own_images + 1):
        parts.append(f"{_images(styles).lower()} the brand's style, to follow without copying their content")
    return f"Brand {images.name.strip() or 'references'}: {'; '.join(parts)}."


def summary(images: BrandImages | None, own_images: int) -> str:
    """What the card and the caption say: "brand: Acme · logo + 2 style images"; "" when the brand was not applied."""
    if images is None:
        return ""
    sent, _ = images.fitted(own_images)
    if not sent and not images.studio:
        return ""
    return " · ".join(filter(None, (f"brand: {images.name}", _counted(sent))))


def left_out_note(images: BrandImages | None, own_images: int) -> str:
    """Why some brand images did not go, for the card's thread; "" when all of them did."""
    if images is None:
        return ""
    _, left = images.fitted(own_images)
    if not left:
        return ""
    return (
        f"Left out the brand's {_counted(left, ' and ')}: kie takes at most {MAX_INPUT_IMAGES} images and this one has "
        f"{own_images} of its own."
    )


def _counted(images: tuple[tuple[str, str], ...], joined_by: str = " + ") -> str:
    logo = any(role == LOGO for role, _ in images)
    styles = sum(1 for role, _ in images if role == STYLE)
    words = ["logo"] * logo + ([f"{styles} style image{'s' * (styles != 1)}"] if styles else [])
    return joined_by.join(words)


def _numbers(sent: tuple[tuple[str, str], ...], role: str, *, start: int = 1) -> list[int]:
    return [number for number, (kind, _) in enumerate(sent, start=start) if kind == role]


def _images(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"Reference image {numbers[0]} shows"
    return f"Reference images {numbers[0]}-{numbers[-1]} show"

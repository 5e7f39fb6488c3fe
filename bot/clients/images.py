"""Input images made ready for kie: decoded fully, converted to what kie takes, turned upright and fitted to its limits.

`prepare` is pure and synchronous (it decodes, so callers run it in a thread). It recognises an image by its bytes,
through Pillow, never by what a server or a file name claims.

The rule for converting: kie takes PNG, JPEG and WebP. A still PNG, JPEG or WebP that is upright (no EXIF rotation),
within `max_side` pixels and `max_bytes`, and not CMYK goes to kie byte for byte. Anything else is re-encoded:
as JPEG when it has no transparency and comes from a camera format (JPEG or HEIC/HEIF), as PNG otherwise (GIF, BMP,
TIFF, WebP, PNG, or anything with transparency). An animated image gives its first frame.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

pillow_heif.register_heif_opener()

# What kie accepts in image_input, by kind.
MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}

# Pillow formats read as input, and the kind each passes to kie as when it needs no change (None: always converted).
_READABLE: dict[str, str | None] = {
    "PNG": "png",
    "JPEG": "jpeg",
    "MPO": "jpeg",  # a JPEG with extra pictures (many phone cameras): its first picture is a plain JPEG
    "WEBP": "webp",
    "GIF": None,
    "BMP": None,
    "TIFF": None,
    "HEIF": None,
}
_OPENERS = tuple(f for f in _READABLE if f != "MPO")  # the JPEG opener gives MPO when it finds more pictures
_PHOTO_FORMATS = ("JPEG", "MPO", "HEIF")
# Pixels decoded at most, checked from the header before decoding: a few bytes may claim 30,000 x 30,000 (900 MP,
# gigabytes once decoded). 80 MP is beyond any phone's default photo and under Pillow's own bomb warning (89 MP).
# A JPEG is checked at the reduced size it is decoded at (`draft`), so a larger JPEG still fits.
MAX_DECODE_PIXELS = 80_000_000
JPEG_QUALITY = 90
_ORIENTATION = 0x0112
_MAX_TRIES = 6


class ImageRefused(Exception):
    """A file that cannot be sent to kie; the message names it and says why, for people."""


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """What goes to kie: the bytes, their kind (`png`, `jpeg` or `webp`), and what was done to them, if anything."""

    data: bytes
    kind: str
    note: str | None = None

    @property
    def mime(self) -> str:
        return MIME_TYPES[self.kind]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.kind]


def looks_like_html(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<!--"))


def sniff_image(data: bytes) -> str | None:
    """Whether kie's result is a PNG, JPEG or WebP by its signature (the kind), or None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _not_an_image(data: bytes, name: str) -> ImageRefused:
    head = data[:1024].lstrip().lower()
    if head.startswith(b"%pdf"):
        return ImageRefused(f"{name} is a PDF, not an image. Export the page as PNG or JPEG and try again.")
    if b"<svg" in head:
        return ImageRefused(f"{name} is an SVG drawing, which I can't read. Export it as PNG and try again.")
    if looks_like_html(data):
        return ImageRefused(f"{name} is a web page, not an image.")
    return ImageRefused(
        f"{name} is not an image I can read. I take PNG, JPEG, WebP, HEIC, GIF, BMP and TIFF; "
        "if it is one of those, it may be damaged."
    )


def _too_large(name: str, size: tuple[int, int] | None) -> ImageRefused:
    claims = f"is {size[0]:,} by {size[1]:,} pixels" if size else "claims to be far larger"
    return ImageRefused(
        f"{name} {claims}; I take images up to {MAX_DECODE_PIXELS // 1_000_000} megapixels. "
        "Scale it down and try again."
    )


def prepare(data: bytes, name: str, *, max_bytes: int, max_side: int) -> Prepared:
    """Decode `data` fully and return what kie should get, or raise ImageRefused saying why not in plain words."""
    if not data:
        raise ImageRefused(f"{name} is empty (0 bytes).")
    try:
        image = Image.open(io.BytesIO(data), formats=_OPENERS)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        if isinstance(error, Image.DecompressionBombError):  # Pillow's own check, from the header, far over ours
            raise _too_large(name, None) from error
        raise _not_an_image(data, name) from error
    with image:
        source = str(image.format)
        width, height = image.size
        jpeg = source in ("JPEG", "MPO")
        if not jpeg and width * height > MAX_DECODE_PIXELS:  # by the header alone: a bomb is never decoded
            raise _too_large(name, (width, height))
        try:
            # An MPO's further pictures are not frames (depth maps, previews): it is a plain JPEG to kie.
            animated = source != "MPO" and getattr(image, "n_frames", 1) > 1
            orientation = image.getexif().get(_ORIENTATION, 1)
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as error:
            raise _damaged(name) from error
        as_is = _READABLE[source]
        passes = (
            as_is is not None
            and not animated
            and orientation in (0, 1)
            and image.mode != "CMYK"
            and max(width, height) <= max_side
            and len(data) <= max_bytes
        )
        if jpeg:
            # A JPEG decodes at 1/2, 1/4 or 1/8 of its size and still reads every byte: one sent as it is only needs
            # checking, at an eighth of the size (a 12 MP photo in under 1 MB instead of 36); a larger one is decoded
            # no smaller than it will be scaled to.
            scale = 1 / 8 if passes else min(1.0, max_side / max(width, height))
            image.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
        if image.width * image.height > MAX_DECODE_PIXELS:
            raise _too_large(name, (width, height))
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError) as error:
            raise _damaged(name) from error
        if passes:
            return Prepared(data=data, kind=str(as_is))
        turned = orientation not in (0, 1)
        picture = _plain_mode(ImageOps.exif_transpose(image) if turned else image)
        kind = "jpeg" if source in _PHOTO_FORMATS and picture.mode != "RGBA" else "png"
        encoded, long_side = _fit(
            picture,
            kind,
            stored_long_side=max(width, height),
            size=len(data),
            same=as_is == kind,
            max_bytes=max_bytes,
            max_side=max_side,
            name=name,
        )
        actions = []
        if as_is != kind:
            actions.append(f"converted to {kind.upper()}")
        elif image.mode == "CMYK":
            actions.append("converted from CMYK to RGB")
        if turned:
            actions.append("turned upright")
        if long_side < max(width, height):
            actions.append(f"scaled to {long_side} px")
        if not actions:
            actions.append(f"re-encoded to fit {max_bytes // 1_048_576} MB")
        note = f"{name}: {_joined(actions)}"
        if animated:
            note += " (first page only: it has several)" if source == "TIFF" else " (first frame only: it is animated)"
        return Prepared(data=encoded, kind=kind, note=note)


# Tried in order on an image over the upscaler's size limit: lossless first, then high-quality lossy encodings.
_UPSCALE_ENCODINGS = (("png", None), ("webp", None), ("jpeg", 95), ("jpeg", 90))


def fit_for_upscale(data: bytes, name: str, *, max_bytes: int, max_side: int) -> Prepared:
    """The image kie's upscaler enlarges, at its own size: as it is when kie takes it; else re-encoded without loss,
    else as a high-quality WebP or JPEG. Only an image none of those fit is scaled down (never refused for its
    size: the person could not do anything about it)."""
    ready = prepare(data, name, max_bytes=max(len(data), max_bytes), max_side=max_side)
    if len(ready.data) <= max_bytes:
        return ready
    with Image.open(io.BytesIO(ready.data)) as image:
        picture = _plain_mode(image)
        picture.load()
    for kind, quality in _UPSCALE_ENCODINGS:
        if kind == "jpeg" and picture.mode == "RGBA":
            continue  # JPEG has no transparency
        encoded = _encode_for_upscale(picture, kind, quality)
        if len(encoded) <= max_bytes:
            how = "without loss" if quality is None and kind == "png" else f"as {kind.upper()}"
            if kind == "webp":
                how = "as lossless WebP"
            elif quality is not None:
                how += f" (quality {quality})"
            note = f"{name}: re-encoded {how} to fit kie.ai's {max_bytes // 1_048_576} MB upscaler limit"
            return Prepared(data=encoded, kind=kind, note=note)
    return prepare(data, name, max_bytes=max_bytes, max_side=max_side)


def _encode_for_upscale(image: Image.Image, kind: str, quality: int | None) -> bytes:
    buffer = io.BytesIO()
    if kind == "png":
        image.save(buffer, "PNG", optimize=True)
    elif kind == "webp":
        image.save(buffer, "WEBP", lossless=True, quality=100, method=4)
    else:
        image.save(buffer, "JPEG", quality=quality, subsampling=0)
    return buffer.getvalue()


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from an image's header (Pillow reads no further), or None when it is not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        return None


def extension_of(mime: str) -> str:
    """The file extension of an image kie takes, by its MIME type (PNG's for any other)."""
    kinds = {type_: kind for kind, type_ in MIME_TYPES.items()}
    return EXTENSIONS[kinds.get(mime, "png")]


def _damaged(name: str) -> ImageRefused:
    return ImageRefused(f"{name} is damaged or cut short: it does not decode fully.")


def _fit(
    picture: Image.Image,
    kind: str,
    *,
    stored_long_side: int,
    size: int,
    same: bool,
    max_bytes: int,
    max_side: int,
    name: str,
) -> tuple[bytes, int]:
    """`picture` encoded as `kind`, scaled down (long side at most `max_side`) until it is at most `max_bytes`; with
    the long side it got."""
    long_side = min(max_side, stored_long_side)
    if same and size > max_bytes:  # the same format was too big already: start smaller, not with a wasted encoding
        long_side = min(long_side, int(stored_long_side * math.sqrt(max_bytes / size) * 0.9))
    for _ in range(_MAX_TRIES):
        fitted = _scaled(picture, long_side)
        encoded = _encode(fitted, kind)
        if len(encoded) <= max_bytes:
            return encoded, max(fitted.size)
        long_side = int(long_side * math.sqrt(max_bytes / len(encoded)) * 0.9)
    raise ImageRefused(f"{name} could not be made small enough for kie ({max_bytes // 1_048_576} MB).")


def _plain_mode(image: Image.Image) -> Image.Image:
    """RGB or RGBA (L stays L): palette, CMYK and the rest converted, transparency kept."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image.mode in ("RGB", "L"):
        return image
    converted = image.convert("RGB")
    if image.mode == "CMYK":  # its colour profile describes CMYK ink, not the RGB pixels now
        converted.info.pop("icc_profile", None)
    return converted


def _scaled(image: Image.Image, long_side: int) -> Image.Image:
    if max(image.size) <= long_side:
        return image
    scaled = image.copy()
    scaled.thumbnail((long_side, long_side), Image.Resampling.LANCZOS, reducing_gap=2.0)
    return scaled


def _encode(image: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    icc = image.info.get("icc_profile")
    options: dict[str, object] = {"icc_profile": icc} if isinstance(icc, bytes) else {}
    if kind == "jpeg":
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, **options)
    else:
        image.save(buffer, "PNG", compress_level=6, **options)
    return buffer.getvalue()


def _joined(actions: list[str]) -> str:
    if len(actions) <= 1:
        return "".join(actions)
    return ", ".join(actions[:-1]) + f" and {actions[-1]}"

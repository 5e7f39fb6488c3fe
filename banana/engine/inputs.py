"""Input images from Slack: found on a message, fetched with the bot token, checked before anything is spent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from banana.domain.options import MAX_INPUT_IMAGES, InputFile
from banana.engine.images import EXTENSIONS, KIE_INPUT_KINDS, looks_like_html, sniff_image
from banana.engine.slack import FileFetchError, SlackDelivery

MAX_INPUT_BYTES = 30 * 1024 * 1024  # kie's limit per input image
_IMAGE_FILETYPES = {"png", "jpg", "jpeg", "webp", "gif", "heic", "heif", "bmp", "tiff", "svg"}


@dataclass(frozen=True)
class InputImage:
    file: InputFile
    data: bytes
    kind: str

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.kind]


class InputRejected(Exception):
    """Input images that cannot be used; the message names each file and says why."""


def is_image_file(file: dict[str, Any]) -> bool | None:
    """Whether a Slack file object is an image; None when Slack sent only its id (`file_access: check_file_info`)."""
    if file.get("file_access") == "check_file_info" and not file.get("mimetype"):
        return None
    return str(file.get("mimetype", "")).startswith("image/") or file.get("filetype") in _IMAGE_FILETYPES


@dataclass(frozen=True)
class MessageImages:
    """What a message offers for a remix: the images to use and what was left out, with why."""

    images: tuple[InputFile, ...]
    skipped: tuple[str, ...]
    over_limit: int = 0


def pick_message_images(files: Iterable[dict[str, Any]]) -> MessageImages:
    images: list[InputFile] = []
    skipped: list[str] = []
    for file in files:
        name = str(file.get("name") or file.get("title") or file.get("id"))
        if is_image_file(file) is False:
            skipped.append(f"{name} is not an image")
        else:
            images.append(InputFile(id=str(file["id"]), name=name))
    over = max(0, len(images) - MAX_INPUT_IMAGES)
    return MessageImages(images=tuple(images[:MAX_INPUT_IMAGES]), skipped=tuple(skipped), over_limit=over)


class InputFetcher:
    def __init__(self, slack: SlackDelivery, *, max_bytes: int = MAX_INPUT_BYTES) -> None:
        self._slack = slack
        self._max_bytes = max_bytes

    async def fetch(self, files: Iterable[InputFile]) -> list[InputImage]:
        """Download and check every file at once; if any cannot be used, say which and why for all of them."""
        results = await asyncio.gather(*(self._fetch_one(f) for f in files), return_exceptions=True)
        problems = [str(r) for r in results if isinstance(r, InputRejected)]
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, InputRejected):
                raise result
        if problems:
            raise InputRejected(" ".join(problems))
        return [r for r in results if isinstance(r, InputImage)]

    async def _fetch_one(self, file: InputFile) -> InputImage:
        try:
            info = await self._slack.file_info(file.id)
        except FileFetchError as error:
            raise InputRejected(f"{file.name or file.id}: {error}") from error
        name = str(info.get("name") or file.name or file.id)
        file = InputFile(id=file.id, name=name)
        size = info.get("size")
        if isinstance(size, int) and size > self._max_bytes:
            raise InputRejected(f"{name} is {size / 1_048_576:.0f} MB; kie takes images up to 30 MB.")
        try:
            data = await self._slack.download_file(info, max_bytes=self._max_bytes)
        except FileFetchError as error:
            raise InputRejected(f"{name}: {error}") from error
        return InputImage(file=file, data=data, kind=_check_kind(name, data))


def _check_kind(name: str, data: bytes) -> str:
    kind = sniff_image(data)
    if kind in KIE_INPUT_KINDS:
        return kind
    if kind in ("gif", "heic"):
        raise InputRejected(f"{name} is a {kind.upper()}; kie takes PNG, JPEG or WebP. Convert it and try again.")
    if looks_like_html(data):
        raise InputRejected(
            f"{name}: Slack sent a web page instead of the image, which means the app lacks the files:read scope. "
            "Ask an admin to add it (see manifest.yml) and reinstall the app."
        )
    raise InputRejected(f"{name} is not a PNG, JPEG or WebP image (it may be damaged).")

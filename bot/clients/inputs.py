"""Input images from Slack: found on a message, fetched with the bot token, decoded and made ready for kie (see
`images.prepare`) before anything is spent."""

from __future__ import annotations

import asyncio
import enum
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.clients.images import ImageRefused, Prepared, fit_for_upscale, looks_like_html, prepare
from bot.clients.slack import (
    REMOTE_FILE_REASON,
    FileFetchError,
    FileNotVisible,
    Membership,
    RemoteFile,
    SlackDelivery,
)
from bot.clients.slack_hosts import is_remote_file
from prompts.options import MAX_INPUT_IMAGES, UPSCALE_MAX_BYTES, UPSCALE_MAX_SIDE, InputFile

MAX_INPUT_BYTES = 30 * 1024 * 1024  # kie's limit per input image
# What is downloaded from Slack at most: larger photos are scaled down to fit kie's limit, so they are read too.
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024
MAX_MADE_SIDE = 16_384  # no bound in practice for kie's own results: its largest output is about 6000 px
_IMAGE_FILETYPES = {"png", "jpg", "jpeg", "webp", "gif", "heic", "heif", "bmp", "tiff", "svg"}


@dataclass(frozen=True, kw_only=True)
class InputImage(Prepared):
    """An input image as kie gets it: `data` are the bytes sent (converted or scaled if it had to be), `note` says
    what was done to them, for the person, or is None when they are the file as posted."""

    file: InputFile


class InputRejected(Exception):
    """Input images that cannot be used; the message names each file and says why.

    `unseen` are the files Slack hid from the bot (`file_not_found`, or its sign-in page instead of the bytes), and
    `others` the reasons given for the rest; `outside` says why they were hidden: they are shared only in a private
    conversation the bot is not in.
    """

    def __init__(
        self,
        message: str,
        *,
        unseen: tuple[InputFile, ...] = (),
        others: tuple[str, ...] = (),
        outside: bool = False,
    ) -> None:
        super().__init__(message)
        self.unseen = unseen
        self.others = others
        self.outside = outside


class Conversation(enum.Enum):
    """The kinds of conversation the bot may be outside of, for saying what works there."""

    PRIVATE_CHANNEL = "private channel"  # people there can /invite the bot
    DM = "direct message"  # between other people: the bot cannot be invited into it
    GROUP_DM = "group DM"  # not suggested either: what works is a channel Banana is in, or the form's uploads
    PRIVATE = "private conversation"  # a private channel or a group DM: Slack did not say which


def conversation_kind(channel_id: str, name: str | None = None) -> Conversation:
    """The kind of a conversation the bot cannot see, from what an interaction payload says about it.

    Slack names the conversation in a shortcut's payload `directmessage` for a DM, `mpdm-…` for a group DM and
    `privategroup` (or its name) for a private channel. Without a name, only a `D` id tells: it is always a DM.
    """
    if name == "directmessage":
        return Conversation.DM
    if name and name.startswith("mpdm-"):
        return Conversation.GROUP_DM
    if channel_id.startswith("D"):
        return Conversation.DM
    return Conversation.PRIVATE_CHANNEL if name else Conversation.PRIVATE


def _names(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def outside_message(kind: Conversation, names: Sequence[str]) -> str:
    """Why files from a conversation the bot is not in cannot be read, naming each, and what to do instead."""
    files = _names(names) or "the images"
    where = "it is" if len(names) == 1 else "they are"
    elsewhere = (
        "post the image in a channel I'm in and remix it there, or upload it in the *New image* form "
        "(the shortcut, or `/banana` on its own) and choose where I should post"
    )
    if kind is Conversation.PRIVATE_CHANNEL:
        return (
            f"I can't read {files}: {where} in a private channel I'm not in. "
            "Invite me with `/invite @Banana` in that channel, then try again."
        )
    if kind is Conversation.PRIVATE:
        return (
            f"I can't read {files}: {where} in a private conversation I'm not in. "
            f"If it is a private channel, invite me with `/invite @Banana` there, then try again. "
            f"If it is a group DM, {elsewhere}."
        )
    if kind is Conversation.GROUP_DM:
        return f"I can't read {files}: {where} in a group DM I'm not part of. Instead, {elsewhere}."
    return (
        f"I can't read {files}: {where} in a direct message between other people, where I can't be invited. "
        f"Instead, {elsewhere}."
    )


def remote_file_reason(name: str) -> str:
    """Why a remote file (a link another app keeps in Slack) is not read, and what works instead."""
    return f"I can't read {name}: {REMOTE_FILE_REASON}; upload the image itself to Slack and remix that"


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
        if is_remote_file(file):
            skipped.append(remote_file_reason(name))
        elif is_image_file(file) is False:
            skipped.append(f"{name} is not an image")
        else:
            images.append(InputFile(id=str(file["id"]), name=name))
    over = max(0, len(images) - MAX_INPUT_IMAGES)
    return MessageImages(images=tuple(images[:MAX_INPUT_IMAGES]), skipped=tuple(skipped), over_limit=over)


class InputFetcher:
    """Fetches input images for every task. At most `decodes_at_once` files are downloaded and decoded at a time,
    across all tasks, so large photos are not all in memory together; decoding runs in a thread, off the loop."""

    def __init__(
        self,
        *,
        max_bytes: int = MAX_INPUT_BYTES,
        max_side: int = 4096,
        decodes_at_once: int = 2,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> None:
        self._max_bytes = max_bytes
        self._max_side = max_side
        self._max_download_bytes = max_download_bytes
        self._decodes = asyncio.Semaphore(decodes_at_once)

    async def fetch(
        self,
        slack: SlackDelivery,
        files: Iterable[InputFile],
        *,
        conversation: str | None = None,
        as_made: frozenset[str] = frozenset(),
        upscale: bool = False,
    ) -> list[InputImage]:
        """Download and check every file at once; if any cannot be used, say which and why for all of them.

        `conversation` is where the files were shared (a remixed message's channel). Files Slack hides there are
        what a conversation the bot is not in looks like: a public channel is joined and the files read again;
        a private one is refused, saying how to let the bot in or what works instead.

        `as_made` are Banana's own results (the image an edit starts from): kie made them, so kie takes them at any
        size, and they go as they are, byte for byte, unless over kie's 30 MB.

        `upscale`: the files go to kie's upscaler, at their own size, re-encoded only when over its 10 MB.
        """
        chosen = tuple(files)
        try:
            return await self._fetch_all(slack, chosen, as_made, upscale)
        except InputRejected as rejected:
            if conversation is None or not rejected.unseen:
                raise
            membership = await slack.join(conversation)
            if membership is Membership.JOINED:
                return await self._fetch_all(slack, chosen, as_made, upscale)
            if membership is not Membership.OUTSIDE:
                raise  # it was in already (so the files are gone), or Slack did not say: the reasons stand
            names = [f.name or f.id for f in rejected.unseen]
            message = " ".join([outside_message(conversation_kind(conversation), names), *rejected.others])
            raise InputRejected(message, unseen=rejected.unseen, others=rejected.others, outside=True) from rejected

    async def _fetch_all(
        self, slack: SlackDelivery, files: tuple[InputFile, ...], as_made: frozenset[str], upscale: bool = False
    ) -> list[InputImage]:
        fetches = (self._fetch_one(slack, f, f.id in as_made, upscale) for f in files)
        results = await asyncio.gather(*fetches, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, InputRejected):
                raise result
        rejected = [r for r in results if isinstance(r, InputRejected)]
        if rejected:
            raise InputRejected(
                " ".join(str(r) for r in rejected),
                unseen=tuple(f for r in rejected for f in r.unseen),
                others=tuple(str(r) for r in rejected if not r.unseen),
            )
        return [r for r in results if isinstance(r, InputImage)]

    async def _fetch_one(
        self, slack: SlackDelivery, file: InputFile, as_made: bool = False, upscale: bool = False
    ) -> InputImage:
        try:
            info = await slack.file_info(file.id)
        except FileNotVisible as error:
            raise InputRejected(f"{file.name or file.id}: {error}", unseen=(file,)) from error
        except FileFetchError as error:
            raise InputRejected(f"{file.name or file.id}: {error}") from error
        name = str(info.get("name") or file.name or file.id)
        file = InputFile(id=file.id, name=name)
        size = info.get("size")
        if isinstance(size, int) and size > self._max_download_bytes:
            limit = self._max_download_bytes // 1_048_576
            raise InputRejected(f"{name} is {size / 1_048_576:.0f} MB; I take images up to {limit} MB.")
        async with self._decodes:
            try:
                data = await slack.download_file(info, max_bytes=self._max_download_bytes)
            except RemoteFile as error:  # never requested: the token must not go where its link points
                raise InputRejected(f"{remote_file_reason(name)}.") from error
            except FileNotVisible as error:
                raise InputRejected(f"{name}: {error}", unseen=(file,)) from error
            except FileFetchError as error:
                raise InputRejected(f"{name}: {error}") from error
            if looks_like_html(data):
                # Slack's sign-in page: what a file it hides from the bot looks like, when it answers with the page.
                raise InputRejected(
                    f"{name}: Slack sent a web page instead of the image, which means the app lacks the files:read "
                    "scope. Ask an admin to add it (see manifest.yml) and reinstall the app.",
                    unseen=(file,),
                )
            try:
                max_side = MAX_MADE_SIDE if as_made else self._max_side
                if upscale:
                    fit = functools.partial(fit_for_upscale, max_bytes=UPSCALE_MAX_BYTES, max_side=UPSCALE_MAX_SIDE)
                    ready = await asyncio.to_thread(fit, data, name)
                else:
                    ready = await asyncio.to_thread(prepare, data, name, max_bytes=self._max_bytes, max_side=max_side)
            except ImageRefused as error:
                raise InputRejected(str(error)) from error
        return InputImage(file=file, data=ready.data, kind=ready.kind, note=ready.note)

"""Files: the three steps of slack_sdk's ``files_upload_v2`` (files.getUploadURLExternal, a raw POST to the
upload URL, files.completeUploadExternal), files.info, files.list, files.delete, the retired files.upload, remote
files (files.remote.add, files.remote.share), and ``url_private`` downloads (a 302 to the login page without a usable
token, as Slack does).

The bot reads only the files it may see (:func:`bot_can_read`): those it uploaded, those shared in a conversation it
is a member of, and those a person uploaded through a modal's ``file_input``. Any other file does not exist for it:
files.info answers ``file_not_found`` and a download gets the sign-in redirect.
"""

from __future__ import annotations

import mimetypes
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .blocks import MAX_MESSAGE_BLOCKS, blocks_arg
from .core import (
    Channel,
    Handler,
    Message,
    SlackError,
    SlackFile,
    SlackUser,
    Workspace,
    as_str,
    bearer,
    invalid_args,
)
from .limits import Limits, fault_response

MAX_ALT_TXT = 1000
# What a remote file is made of, from the files.remote.info page's response (a remote file added with no filetype):
# https://docs.slack.dev/reference/methods/files.remote.info
REMOTE_MIMETYPE = "application/vnd.slack-remote"
REMOTE_FILETYPE = "remote"
MAX_UPLOAD_BYTES = 200 * 1024 * 1024

FILETYPES = {
    "image/png": ("png", "PNG"),
    "image/jpeg": ("jpg", "JPEG"),
    "image/gif": ("gif", "GIF"),
    "image/webp": ("webp", "WebP"),
    "text/plain": ("text", "Plain Text"),
    "application/pdf": ("pdf", "PDF"),
    "application/json": ("json", "JSON"),
}


@dataclass
class _PendingUpload:
    file_id: str
    filename: str
    length: int
    alt_txt: str | None
    snippet_type: str | None
    data: bytes | None = None


def _sniff_mimetype(data: bytes, filename: str) -> str:
    # Slack identifies type by content first, so a wrongly named PNG is still a PNG.
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def _filetype(mimetype: str) -> tuple[str, str]:
    return FILETYPES.get(mimetype, ("binary", "Binary"))


def bot_can_read(ws: Workspace, file: SlackFile) -> bool:
    """Whether the bot token may describe and download a file, as Slack decides it at the time of asking."""
    if file.user == ws.bot_user_id:
        return True  # the bot's own uploads
    if file.channel is None:
        # Shared nowhere: the only way such a file reaches the app is a modal's file_input element, and Slack lets
        # the app read what was uploaded through it (the element needs files:read for exactly that):
        # https://api.slack.com/reference/block-kit/block-elements#file_input
        return True
    # files:read covers only "files shared in channels and conversations that your slack app has been added to":
    # https://api.slack.com/scopes/files:read . Membership counts now, so joining a public channel opens its files.
    channel = ws.channels.get(file.channel)
    return channel is not None and channel.is_member


def file_object(ws: Workspace, file_id: str, *, with_shares: bool = True) -> dict[str, Any]:
    """The file as files.info returns it (and as messages carry it)."""
    file = ws.files[file_id]
    _, pretty_type = _filetype(file.mimetype)
    obj: dict[str, Any] = {
        "id": file.id,
        "created": file.created,
        "timestamp": file.created,
        "name": file.name,
        "title": file.title,
        "mimetype": file.mimetype,
        "filetype": file.filetype,
        "pretty_type": pretty_type,
        "user": file.user,
        "user_team": ws.team_id,
        "editable": False,
        "size": file.size,
        "mode": "hosted",
        "is_external": False,
        "external_type": "",
        "is_public": False,
        "public_url_shared": False,
        "display_as_bot": False,
        "username": "",
        "url_private": file.url_private,
        "url_private_download": file.url_private_download,
        "permalink": file.permalink,
        "permalink_public": f"{ws.base_url}/{ws.team_id}-{file.id}-{secrets.token_hex(5)}",
        "channels": [],
        "groups": [],
        "ims": [],
        "shares": {},
        "comments_count": 0,
        "has_rich_preview": False,
        "file_access": "visible",
    }
    if file.external_url is not None:
        # A remote file: no bytes on Slack, and url_private is the external URL, which "can point to any host"
        # (https://docs.slack.dev/reference/methods/files.remote.info); no url_private_download.
        del obj["url_private_download"], obj["permalink_public"]
        obj.update(
            pretty_type="Remote",
            mode="external",
            is_external=True,
            external_type="app",
            external_id=file.external_id,
            external_url=file.external_url,
        )
    if file.alt_txt is not None:
        obj["alt_txt"] = file.alt_txt
    if file.initial_comment:
        obj["initial_comment"] = {"comment": file.initial_comment, "user": file.user}
    channel = ws.channels.get(file.channel) if file.channel else None
    if with_shares and channel is not None and file.share_ts is not None:
        kind = "private" if channel.is_private else "public"
        obj["is_public"] = kind == "public"
        obj["ims" if channel.is_im else "groups" if channel.is_private else "channels"] = [channel.id]
        share: dict[str, Any] = {
            "reply_users": [],
            "reply_users_count": 0,
            "reply_count": 0,
            "ts": file.share_ts,
            "channel_name": channel.name,
            "team_id": ws.team_id,
            "share_user_id": file.user,
            "source": "UNKNOWN",
        }
        if file.thread_ts:
            share["thread_ts"] = file.thread_ts
        obj["shares"] = {kind: {channel.id: [share]}}
    return obj


class FilesAPI:
    def __init__(self, ws: Workspace, limits: Limits) -> None:
        self.ws = ws
        self.limits = limits
        self._uploads: dict[str, _PendingUpload] = {}  # upload id (in the upload URL) -> what was announced

    def methods(self) -> dict[str, Handler]:
        return {
            "files.getUploadURLExternal": self.get_upload_url,
            "files.completeUploadExternal": self.complete_upload,
            "files.info": self.info,
            "files.list": self.list_files,
            "files.upload": self.upload_v1,
            "files.delete": self.delete,
            "files.remote.add": self.remote_add,
            "files.remote.share": self.remote_share,
        }

    def add_file(
        self,
        data: bytes,
        name: str,
        mimetype: str,
        *,
        user: str | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
        text: str = "",
    ) -> SlackFile:
        """A file uploaded by a user (by default the workspace's ``user_id``). With ``channel`` it is also shared
        there in a message by that user."""
        ws = self.ws
        user = user or ws.user_id
        filetype, _ = _filetype(mimetype)
        file = SlackFile(
            id=ws.next_file_id(),
            name=name,
            title=name,
            mimetype=mimetype,
            filetype=filetype,
            data=data,
            user=user,
            channel=None,
            thread_ts=None,
            initial_comment=None,
            alt_txt=None,
            base_url=ws.base_url,
            team_id=ws.team_id,
        )
        ws.files[file.id] = file
        if channel is not None:
            message = ws.add_message(channel, text, user=user, thread_ts=thread_ts, files=[file.id])
            file.channel, file.thread_ts, file.share_ts = channel, thread_ts, message.ts
        return file

    def add_remote(
        self,
        external_url: str,
        title: str,
        *,
        external_id: str | None = None,
        filetype: str | None = None,
        user: str | None = None,
    ) -> SlackFile:
        """A remote file, as files.remote.add makes it for the app whose bot user is ``user`` (by default another
        app's, not Banana's): shared nowhere yet. The same app adding the same ``external_id`` again updates that
        file ("This method performs an upsert", https://docs.slack.dev/reference/methods/files.remote.add)."""
        ws = self.ws
        user = user or self._other_app_bot()
        external_id = external_id or secrets.token_hex(8)
        file = next(
            (f for f in ws.files.values() if f.external_id == external_id and f.user == user and not f.deleted), None
        )
        if file is None:
            file = SlackFile(
                id=ws.next_file_id(),
                name=title,
                title=title,
                mimetype=REMOTE_MIMETYPE,
                filetype=filetype or REMOTE_FILETYPE,
                data=b"",
                user=user,
                channel=None,
                thread_ts=None,
                initial_comment=None,
                alt_txt=None,
                base_url=ws.base_url,
                team_id=ws.team_id,
                external_id=external_id,
            )
            ws.files[file.id] = file
        file.name = file.title = title
        file.filetype = filetype or file.filetype
        file.external_url = external_url
        return file

    def _other_app_bot(self) -> str:
        """The bot user of another app in the workspace, the one remote files come from unless a test says."""
        user_id = f"U0RAPP{self.ws.number:04d}"
        self.ws.users.setdefault(user_id, SlackUser(id=user_id, name="other-app", real_name="Other App", is_bot=True))
        return user_id

    # ------------------------------------------------------------------ methods

    def get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = as_str(args.get("filename"))
        try:
            length = int(str(args.get("length")))
        except ValueError:
            length = -1
        if not filename or length < 0:
            raise invalid_args("missing required field: filename/length")
        alt_txt = as_str(args.get("alt_txt"))
        if alt_txt is not None and len(alt_txt) > MAX_ALT_TXT:
            raise SlackError("alt_txt_too_large")
        if length > MAX_UPLOAD_BYTES:
            raise SlackError("file_upload_size_restricted")
        upload_id = secrets.token_urlsafe(24)
        file_id = self.ws.next_file_id()
        self._uploads[upload_id] = _PendingUpload(
            file_id=file_id,
            filename=filename,
            length=length,
            alt_txt=alt_txt,
            snippet_type=as_str(args.get("snippet_type")),
        )
        return {"upload_url": f"{self.ws.base_url}/upload/v1/{upload_id}", "file_id": file_id}

    def complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            raise invalid_args("must provide files as a JSON array of {id, title}")
        pending: list[tuple[str, _PendingUpload, str]] = []
        for entry in entries:
            if not isinstance(entry, dict) or not entry.get("id"):
                raise invalid_args("each file needs an id")
            found = next(((k, u) for k, u in self._uploads.items() if u.file_id == entry["id"]), None)
            if found is None or found[1].data is None:
                raise SlackError("file_not_found")
            pending.append((found[0], found[1], as_str(entry.get("title")) or found[1].filename))

        targets: list[str] = []
        if args.get("channel_id"):
            targets = [str(args["channel_id"])]
        elif args.get("channels"):
            raw_channels = args["channels"]
            targets = raw_channels if isinstance(raw_channels, list) else str(raw_channels).split(",")
            targets = [t.strip() for t in targets if t.strip()]
        thread_ts = as_str(args.get("thread_ts")) or None
        if thread_ts and len(targets) > 1:
            raise invalid_args("provide only one channel when using thread_ts")
        channels: list[Channel] = []
        for target in targets:
            if target[:1] in ("U", "W"):
                raise invalid_args(f"{target} is a user id, not a channel id")
            channel = ws.visible_channel(target)
            if not channel.is_member:
                # Unlike chat.postMessage, chat:write.public does not help here.
                raise SlackError("not_in_channel")
            channels.append(channel)
        initial_comment = as_str(args.get("initial_comment")) or None
        blocks = None if initial_comment else blocks_arg(args, MAX_MESSAGE_BLOCKS, ws.files)

        files: list[SlackFile] = []
        for upload_id, upload, title in pending:
            del self._uploads[upload_id]
            assert upload.data is not None
            mimetype = _sniff_mimetype(upload.data, upload.filename)
            file = SlackFile(
                id=upload.file_id,
                name=upload.filename,
                title=title,
                mimetype=mimetype,
                filetype=_filetype(mimetype)[0],
                data=upload.data,
                user=ws.bot_user_id,
                channel=None,
                thread_ts=None,
                initial_comment=initial_comment,
                alt_txt=upload.alt_txt,
                base_url=ws.base_url,
                team_id=ws.team_id,
            )
            ws.files[file.id] = file
            files.append(file)
        for channel in channels:
            message = Message(
                channel=channel.id,
                ts=ws.next_ts(),
                text=initial_comment or "",
                blocks=blocks or [],
                thread_ts=thread_ts,
                user=ws.bot_user_id,
                files=[f.id for f in files],
                edits=[],
            )
            ws.messages.append(message)
            for file in files:
                file.channel, file.thread_ts, file.share_ts = channel.id, thread_ts, message.ts
            ws.message_posted(message)  # a file_share message, for the Events API (events.py)
        # As in Slack, the shares are not in this response yet; files.info has them.
        return {"files": [file_object(ws, f.id, with_shares=False) for f in files]}

    def info(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = as_str(args.get("file"))
        if not file_id or file_id not in self.ws.files:
            raise SlackError("file_not_found")
        if not bot_can_read(self.ws, self.ws.files[file_id]):
            # A file shared only where the bot is not a member is not there for it at all:
            # https://api.slack.com/scopes/files:read (and files.info's file_not_found,
            # https://api.slack.com/methods/files.info).
            raise SlackError("file_not_found")
        if self.ws.files[file_id].deleted:
            raise SlackError("file_deleted")
        return {"file": file_object(self.ws, file_id), "comments": [], "response_metadata": {"next_cursor": ""}}

    def list_files(self, args: dict[str, Any]) -> dict[str, Any]:
        """Files shared in a channel (or all), newest first, filtered by time and user like Slack's files.list."""
        channel = as_str(args.get("channel"))
        user = as_str(args.get("user"))
        ts_from = float(as_str(args.get("ts_from")) or 0)
        ts_to = float(as_str(args.get("ts_to")) or "inf")
        count = int(as_str(args.get("count")) or 100)
        found = [
            f
            for f in self.ws.files.values()
            if not f.deleted
            and bot_can_read(self.ws, f)  # https://api.slack.com/scopes/files:read
            and (not channel or f.channel == channel)
            and (not user or f.user == user)
            and ts_from <= f.created <= ts_to
        ]
        found.sort(key=lambda f: f.created, reverse=True)
        files = [file_object(self.ws, f.id) for f in found[:count]]
        paging = {"count": count, "total": len(found), "page": 1, "pages": 1}
        return {"files": files, "paging": paging}

    def delete(self, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        file_id = as_str(args.get("file"))
        if not file_id:
            raise invalid_args("missing required field: file")
        file = ws.files.get(file_id)
        if file is None:
            raise SlackError("file_not_found")
        if file.deleted:
            raise SlackError("file_deleted")
        if file.user != ws.bot_user_id:
            # A bot token may only delete the files its bot uploaded.
            raise SlackError("cant_delete_file")
        file.deleted = True
        # Slack removes a message that was nothing but the share of now-deleted files.
        for message in ws.messages:
            if (
                file_id in message.files
                and not message.deleted
                and not message.text.strip()
                and not message.blocks
                and all(f not in ws.files or ws.files[f].deleted for f in message.files)
            ):
                message.deleted = True
                ws.message_deleted(message)
        return {}

    def remote_add(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.slack.dev/reference/methods/files.remote.add : external_id, external_url and title required,
        filetype, indexable_file_contents and preview_image optional (the last two only help search and the preview,
        and are not kept here); scope remote_files:write; the file is added by the calling app's bot."""
        external_id = as_str(args.get("external_id"))
        external_url = as_str(args.get("external_url"))
        title = as_str(args.get("title"))
        if not (external_id and external_url and title):
            raise invalid_args("missing required field: external_id, external_url and title are all required")
        file = self.add_remote(
            external_url,
            title,
            external_id=external_id,
            filetype=as_str(args.get("filetype")) or None,
            user=self.ws.bot_user_id,
        )
        return {"file": file_object(self.ws, file.id, with_shares=False)}

    def remote_share(self, args: dict[str, Any]) -> dict[str, Any]:
        """https://docs.slack.dev/reference/methods/files.remote.share : shares a remote file (by ``file`` or
        ``external_id``) in ``channels`` (comma-separated), as a message of the calling app's bot; scope
        remote_files:share. A channel the bot cannot see is channel_not_found, one it is not in not_in_channel."""
        ws = self.ws
        raw_channels = args.get("channels")
        channels = raw_channels if isinstance(raw_channels, list) else str(raw_channels or "").split(",")
        targets = [str(c).strip() for c in channels if str(c).strip()]
        file_id, external_id = as_str(args.get("file")), as_str(args.get("external_id"))
        if not targets or not (file_id or external_id):
            raise invalid_args("channels and one of file or external_id are required")
        file = next(
            (
                f
                for f in ws.files.values()
                if f.external_url is not None
                and not f.deleted
                and (file_id is None or f.id == file_id)
                and (external_id is None or f.external_id == external_id)
            ),
            None,
        )
        if file is None:
            raise SlackError("file_not_found")
        found = [ws.visible_channel(target) for target in targets]
        if any(not channel.is_member for channel in found):
            raise SlackError("not_in_channel")
        for channel in found:
            message = Message(
                channel=channel.id,
                ts=ws.next_ts(),
                text="",
                blocks=[],
                thread_ts=None,
                user=ws.bot_user_id,
                files=[file.id],
                edits=[],
            )
            ws.messages.append(message)
            file.channel, file.thread_ts, file.share_ts = channel.id, None, message.ts
            ws.message_posted(message)
        return {"file": file_object(ws, file.id)}

    def upload_v1(self, args: dict[str, Any]) -> dict[str, Any]:
        # files.upload was retired; slack_sdk's files_upload_v2 does not use it.
        raise SlackError("method_deprecated")

    # ------------------------------------------------------------------ HTTP: upload URL and downloads

    def has_upload(self, upload_id: str) -> bool:
        """Whether an upload URL of this workspace ends in ``upload_id`` (the server routes the upload here)."""
        return upload_id in self._uploads

    async def handle_upload(self, request: web.Request) -> web.Response:
        upload = self._uploads.get(request.match_info["upload_id"])
        if upload is None:
            return web.Response(status=404, text="Not Found")
        fault = self.limits.take_fault("upload")
        if fault is not None:
            status, _, headers = fault_response(fault)
            return web.Response(status=status, text="rate limited" if status == 429 else "error", headers=headers)
        if request.content_type == "multipart/form-data":
            form = await request.post()
            part = form.get("file") or next((v for v in form.values() if isinstance(v, web.FileField)), None)
            if isinstance(part, web.FileField):
                data = part.file.read()
            elif isinstance(part, str):
                data = part.encode()
            else:
                return web.Response(status=400, text="missing file")
        else:
            data = await request.read()
        if len(data) != upload.length:
            return web.Response(status=400, text=f"length mismatch: expected {upload.length}, got {len(data)}")
        upload.data = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    async def handle_download(self, request: web.Request) -> web.StreamResponse:
        ws = self.ws
        team_file = request.match_info["team_file"]
        file_id = team_file.split("-", 1)[-1]
        file = ws.files.get(file_id)
        # The workspace's own bot token only: another workspace's token finds no file here.
        authorized = ws.bot_token_ok(bearer(request)) and "files:read" in ws.scopes
        # A file shared only in conversations the bot is not in gets the same sign-in redirect as a bad token:
        # files:read reaches only conversations the app was added to, https://api.slack.com/scopes/files:read
        # (what a modal's file_input brought in stays readable, see bot_can_read).
        visible = file is None or bot_can_read(ws, file)
        record: dict[str, Any] = {"path": request.path, "file_id": file_id, "at": time.monotonic()}
        ws.downloads.append(record)
        if not authorized or not visible:
            # What Slack does for a missing/bad token, a token without files:read, or a file it may not read.
            record["status"] = 302
            location = f"{ws.base_url}/?redir={quote(request.path_qs, safe='')}"
            raise web.HTTPFound(location, headers={"x-slack-meta": "acl_fail"})
        if file is None or file.deleted or file.external_url is not None:  # a remote file has no bytes here
            record["status"] = 404
            return web.Response(status=404, text="<html><body>File not found</body></html>", content_type="text/html")
        record["status"] = 200
        disposition = "attachment" if "/download/" in request.path else "inline"
        return web.Response(
            body=file.data,
            content_type=file.mimetype,
            headers={"Content-Disposition": f'{disposition}; filename="{file.name}"'},
        )

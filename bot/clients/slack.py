"""Everything the job runner says in Slack: the progress message, its edits, the result file, private notes."""

from __future__ import annotations

import copy
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiohttp import ClientSession
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.clients.limits import Pacer, SharedPace
from bot.clients.slack_hosts import is_remote_file, may_carry_token

log = logging.getLogger(__name__)

T = TypeVar("T")

ADMIN_CACHE_SECONDS = 300.0

# Errors that mean "the bot is not in this conversation": joining (public channels only) may cure them.
_NOT_IN_CHANNEL = frozenset({"not_in_channel", "channel_not_found"})


class ChannelUnavailable(Exception):
    """The bot cannot post in the conversation and could not join it."""

    def __init__(self, error: str) -> None:
        self.error = error
        super().__init__(error)


class FileFetchError(Exception):
    """A Slack file that could not be read; the message says why, for the person who chose it."""


class FileDeleted(FileFetchError):
    """files.info's `file_deleted` (https://api.slack.com/methods/files.info): the file is gone for good."""


class FileNotVisible(FileFetchError):
    """Slack hid the file from the bot: `file_not_found` from files.info, or its sign-in page for the download.

    files:read reaches only the conversations the bot is a member of (https://api.slack.com/scopes/files:read), so
    the usual cause is a file shared only where the bot is not; a deleted file or a missing scope look the same.
    Whoever knows the conversation the file came from can tell which (see `SlackDelivery.join`).
    """


REMOTE_FILE_REASON = "it is a link to a file kept outside Slack"


class RemoteFile(FileFetchError):
    """A file whose bytes are not on Slack: a remote file (files.remote.add), or a link to another host. It is never
    requested, as the bot token must not go there (https://docs.slack.dev/reference/methods/files.remote.info)."""

    def __init__(self) -> None:
        super().__init__(REMOTE_FILE_REASON)


class Membership(enum.Enum):
    """Whether the bot is in a conversation, as Slack's answer to conversations.join tells it."""

    MEMBER = "member"  # it was in already: a public channel (already_in_channel), or a private one it can see
    JOINED = "joined"  # a public channel it has just joined
    OUTSIDE = "outside"  # a private channel, DM or group DM it is not in: only the people there can let it in
    UNKNOWN = "unknown"  # Slack refused for another reason (archived, rate limited, no channels:join)


@dataclass(frozen=True)
class Upload:
    """A file to upload: its bytes and how Slack shows it."""

    data: bytes
    filename: str
    title: str
    alt_text: str


class UploadFailed(Exception):
    def __init__(self, error: str, *, transient: bool = False) -> None:
        self.error = error
        self.transient = transient  # worth trying again: Slack or the network failed, not the request
        super().__init__(error)


# Slack's answers that say it failed, not the request: https://api.slack.com/web#errors ("fatal_error",
# "internal_error", "service_unavailable", "request_timeout") and the HTTP 5xx and 429 slack_sdk gave up on.
_TRANSIENT_ERRORS = frozenset(
    {"fatal_error", "internal_error", "service_unavailable", "request_timeout", "ratelimited"}
)


def transient(error: BaseException) -> bool:
    """Whether a failed Slack call is worth making again once slack_sdk's own retries are spent: a dropped or refused
    connection, a timeout, a 5xx or 429, or one of Slack's own failure codes."""
    if isinstance(error, aiohttp.ClientError | TimeoutError):
        return True
    if isinstance(error, SlackApiError):
        status = getattr(error.response, "status_code", 200)
        return status >= 500 or status == 429 or _error_code(error) in _TRANSIENT_ERRORS
    return False


def invite_hint(channel_id: str) -> str:
    return (
        "I can't post in this conversation, so I didn't start the image and nothing was charged. "
        f"Invite me with `/invite @Banana` in <#{channel_id}> (or run `/banana` in a channel I'm in), then try again."
    )


class SlackDelivery:
    def __init__(
        self,
        client: AsyncWebClient,
        session: ClientSession | None = None,
        *,
        post_interval: float = 0,
        shared_posts: SharedPace | None = None,
        shared_updates: SharedPace | None = None,
        tokens: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self.client = client
        # Installed in many workspaces: each call uses the bot token of the workspace this delivery is for (`team`).
        # In one workspace the client's own token serves every call.
        self._tokens = tokens
        self.team_id = ""
        self._session = session
        self._posts = Pacer(post_interval)
        # With several replicas: Slack counts a workspace's calls, not a replica's.
        self._shared_posts = shared_posts
        self._shared_updates = shared_updates
        self._admins: dict[tuple[str, str], tuple[bool, float]] = {}  # by (workspace, user)

    def team(self, team_id: str) -> SlackDelivery:
        """This delivery for one workspace: the same paces and caches, that workspace's bot token."""
        bound = copy.copy(self)
        bound.team_id = team_id
        return bound

    async def token(self) -> str:
        if self._tokens is None:
            return str(self.client.token or "")
        return await self._tokens(self.team_id)

    async def post(self, channel: str, *, text: str, blocks: list[dict[str, Any]], thread_ts: str | None = None) -> str:
        """Post a message and return its ts; joins a public channel first if that is what it takes.

        Posts to one channel are spaced out to Slack's pace (about one a second), so a burst of commands waits
        a moment instead of being refused.
        """
        async with self._posts.turn(channel):
            if self._shared_posts is not None:
                await self._shared_posts.wait(channel)
            token = await self.token()
            response = await self._in_channel(
                channel,
                lambda: self.client.chat_postMessage(
                    channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, token=token
                ),
            )
        return str(response["ts"])

    async def update(self, channel: str, ts: str, *, text: str, blocks: list[dict[str, Any]]) -> bool:
        """Edit a message. False when it is gone (someone deleted it): the task goes on regardless."""
        if self._shared_updates is not None:
            await self._shared_updates.wait(self.team_id)
        try:
            await self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks, token=await self.token())
        except SlackApiError as error:
            if _error_code(error) in ("message_not_found", "cant_update_message", "channel_not_found"):
                log.debug("progress message %s in %s is gone (%s)", ts, channel, _error_code(error))
                return False
            raise
        return True

    async def upload(
        self, channel: str, thread_ts: str, *, data: bytes, filename: str, title: str, comment: str, alt_text: str
    ) -> str:
        """Upload a file into a thread with files_upload_v2 and return the file id."""
        upload = Upload(data=data, filename=filename, title=title, alt_text=alt_text)
        (file_id,) = await self.upload_many(channel, thread_ts, [upload], comment=comment)
        return file_id

    async def upload_many(self, channel: str, thread_ts: str, uploads: list[Upload], *, comment: str) -> list[str]:
        """Upload files into a thread as one message (files_upload_v2's file_uploads); their ids, in order.

        Only Web API calls carry the token: slack_sdk POSTs the bytes to the upload_url with no Authorization header
        (AsyncBaseClient._upload_file), and that URL is SLACK_API_URL's own answer to files.getUploadURLExternal."""

        token = await self.token()

        async def upload_once() -> AsyncSlackResponse:
            return await self.client.files_upload_v2(
                token=token,
                file_uploads=[
                    {"content": u.data, "filename": u.filename, "title": u.title, "alt_txt": u.alt_text[:1000]}
                    for u in uploads
                ],
                channel=channel,
                thread_ts=thread_ts,
                initial_comment=comment,
            )

        try:
            response = await self._in_channel(channel, upload_once)
        except ChannelUnavailable as error:
            raise UploadFailed(error.error) from error
        except SlackApiError as error:
            raise UploadFailed(_error_code(error), transient=transient(error)) from error
        except SlackRequestError as error:  # the upload URL refused the bytes
            raise UploadFailed(str(error), transient=True) from error
        except (aiohttp.ClientError, TimeoutError) as error:  # the connection dropped: it may have landed all the same
            raise UploadFailed(type(error).__name__, transient=True) from error
        files = response.get("files") or [response.get("file") or {}]
        return [str(file.get("id", "")) for file in files]

    async def permalink(self, channel: str, ts: str) -> str | None:
        """A link to a message for the Home tab; nice to have, so no failure here may stop a task."""
        try:
            response = await self.client.chat_getPermalink(channel=channel, message_ts=ts, token=await self.token())
        except (SlackApiError, SlackRequestError, aiohttp.ClientError, ValueError) as error:
            log.debug("no permalink for %s in %s: %s", ts, channel, error)
            return None
        return response.get("permalink")

    async def delete_message(self, channel: str, ts: str) -> None:
        """Delete a bot message; one that is already gone is fine."""
        try:
            await self.client.chat_delete(channel=channel, ts=ts, token=await self.token())
        except SlackApiError as error:
            if _error_code(error) not in ("message_not_found", "channel_not_found"):
                raise

    async def find_upload(self, channel: str, filename: str, since: float) -> str | None:
        """The id of a file named `filename` shared in `channel` since a time, if one is there: how a restart tells
        that an upload it was in the middle of had in fact landed."""
        try:
            response = await self.client.files_list(
                channel=channel, ts_from=str(int(since) - 1), count=100, token=await self.token()
            )
        except SlackApiError as error:
            log.warning("could not list files in %s: %s", channel, _error_code(error))
            return None
        for file in response.get("files") or []:
            if file.get("name") == filename:
                return str(file["id"])
        return None

    async def share_timestamps(self, file_id: str, channel: str) -> list[str]:
        """The messages that share a file in a channel (the result with its caption), from files.info."""
        try:
            file = await self.file_info(file_id)
        except FileFetchError:
            return []
        shares = file.get("shares") or {}
        found = [*(shares.get("public") or {}).get(channel, []), *(shares.get("private") or {}).get(channel, [])]
        return [str(share["ts"]) for share in found if share.get("ts")]

    async def delete_file(self, file_id: str) -> None:
        """Delete a file the bot uploaded; one that is already gone is fine."""
        try:
            await self.client.files_delete(file=file_id, token=await self.token())
        except SlackApiError as error:
            if _error_code(error) not in ("file_not_found", "file_deleted"):
                raise

    async def is_admin(self, user_id: str) -> bool:
        """Whether a person is a workspace admin or owner (needs users:read); remembered for a few minutes."""
        cached = self._admins.get((self.team_id, user_id))
        now = time.monotonic()
        if cached is not None and now - cached[1] < ADMIN_CACHE_SECONDS:
            return cached[0]
        try:
            response = await self.client.users_info(user=user_id, token=await self.token())
        except SlackApiError as error:
            log.warning("could not tell whether %s is an admin: %s", user_id, _error_code(error))
            return False
        user = response.get("user") or {}
        admin = bool(user.get("is_admin") or user.get("is_owner"))
        self._admins[self.team_id, user_id] = (admin, now)
        return admin

    async def show_view(self, view_id: str, view: dict[str, Any]) -> bool:
        """Replace an open modal. False when it is gone (closed by the person), which is not an error."""
        try:
            await self.client.views_update(view_id=view_id, view=view, token=await self.token())
        except SlackApiError as error:
            log.debug("could not update view %s: %s", view_id, _error_code(error))
            return False
        return True

    async def file_info(self, file_id: str) -> dict[str, Any]:
        try:
            response = await self.client.files_info(file=file_id, token=await self.token())
        except SlackApiError as error:
            code = _error_code(error)
            if code == "missing_scope":
                raise FileFetchError("the app lacks the files:read scope; ask an admin to add it") from error
            if code == "file_not_found":
                # Also what a file shared only where the bot is not a member looks like.
                raise FileNotVisible("the file was deleted, or I cannot see it") from error
            if code == "file_deleted":
                raise FileDeleted("the file was deleted") from error
            raise FileFetchError(f"Slack would not describe the file ({code})") from error
        return dict(response["file"])

    async def download_file(self, file: dict[str, Any], *, max_bytes: int) -> bytes:
        """Fetch a file's bytes with the bot token. Redirects are not followed: Slack redirects to its login page
        when the token may not read the file, and that page must never pass for the file (nor the token follow it).

        A remote file, or a link anywhere but Slack's file hosts (see `slack_hosts`), is not requested at all."""
        if is_remote_file(file):
            raise RemoteFile
        url = file.get("url_private_download") or file.get("url_private")
        if not url:
            raise FileFetchError("Slack gave no download link for it")
        if not may_carry_token(str(url), str(self.client.base_url)):
            log.warning("file %s: not downloading from a link outside Slack's file hosts", file.get("id"))
            raise RemoteFile
        session = self._session or self.client.session
        if session is None:
            raise RuntimeError("SlackDelivery needs an aiohttp session to download files")
        headers = {"Authorization": f"Bearer {await self.token()}"}
        try:
            async with session.get(url, headers=headers, allow_redirects=False) as response:
                if 300 <= response.status < 400:
                    raise FileNotVisible(
                        "Slack redirected to its sign-in page: either the file is shared only in conversations I'm "
                        "not in, or the app lacks the files:read scope (see manifest.yml)"
                    )
                if response.status != 200:
                    raise FileFetchError(f"Slack answered HTTP {response.status} for it")
                if (response.content_length or 0) > max_bytes:
                    raise FileFetchError(f"it is larger than {max_bytes // 1_048_576} MB")
                data = bytearray()
                async for chunk in response.content.iter_chunked(256 * 1024):
                    data.extend(chunk)
                    if len(data) > max_bytes:
                        raise FileFetchError(f"it is larger than {max_bytes // 1_048_576} MB")
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise FileFetchError(f"downloading it failed ({type(error).__name__})") from error

    async def whisper(self, channel: str, user: str, text: str, *, thread_ts: str | None = None) -> bool:
        """A note only `user` sees, in a conversation Banana is in (chat.postEphemeral): the answer to a mention."""
        try:
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=thread_ts, token=await self.token()
            )
        except SlackApiError as error:
            log.debug("could not whisper to %s in %s: %s", user, channel, _error_code(error))
            return False
        return True

    async def tell(self, response_url: str | None, text: str) -> bool:
        """A private note to the person who ran the command, through the command's response_url."""
        if not response_url:
            return False
        # No token goes with it: a response_url authorizes itself, and it came in Slack's signed request.
        webhook = AsyncWebhookClient(response_url, session=self._session)
        try:
            response = await webhook.send(text=text, response_type="ephemeral", replace_original=False)
        except Exception:  # a broken response_url must not break the task that tries to explain itself
            log.warning("could not send a private note through the response_url", exc_info=True)
            return False
        return response.status_code == 200

    async def join(self, channel: str) -> Membership:
        """Be a member of a conversation: join it if it is a public channel, and say what Slack's answer showed.

        https://api.slack.com/methods/conversations.join (scope channels:join) joins public channels only. It warns
        `already_in_channel` for a member, answers `method_not_supported_for_channel_type` for a private channel, DM
        or group DM the bot can see (it sees only those it is in), and `channel_not_found` for one it is not in.
        """
        try:
            response = await self.client.conversations_join(channel=channel, token=await self.token())
        except SlackApiError as error:
            code = _error_code(error)
            if code == "method_not_supported_for_channel_type":
                return Membership.MEMBER
            if code == "channel_not_found":
                return Membership.OUTSIDE
            log.debug("cannot join %s: %s", channel, code)
            return Membership.UNKNOWN
        metadata = response.get("response_metadata") or {}
        warnings = {response.get("warning"), *(metadata.get("warnings") or [])}
        if "already_in_channel" in warnings:
            return Membership.MEMBER
        log.debug("joined %s", channel)
        return Membership.JOINED

    async def _in_channel(self, channel: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except SlackApiError as error:
            if _error_code(error) not in _NOT_IN_CHANNEL:
                raise
            first_error = _error_code(error)
        membership = await self.join(channel)
        if membership is not Membership.JOINED and membership is not Membership.MEMBER:
            log.debug("cannot join %s (%s) after %s", channel, membership.value, first_error)
            raise ChannelUnavailable(first_error)
        try:
            return await call()
        except SlackApiError as error:
            if _error_code(error) in _NOT_IN_CHANNEL:
                raise ChannelUnavailable(_error_code(error)) from error
            raise


def _error_code(error: SlackApiError) -> str:
    return str(error.response.get("error", "unknown_error"))

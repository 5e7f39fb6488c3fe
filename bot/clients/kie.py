"""kie.ai client for its market models (Nano Banana Pro, the Topaz upscaler): create a task, read it, read the credit
balance, download a result. `request_body` is the one place each model's request is written.

kie answers HTTP 200 even when a call fails, with the real outcome in the body's `code`; every documented code becomes
a typed error that says what happened and what to do.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import httpx

from bot.clients.limits import RateLimit
from prompts.options import NANO_BANANA_PRO, TOPAZ_UPSCALE, Options

log = logging.getLogger(__name__)


def request_body(
    model: str, prompt: str, options: Options, image_urls: Sequence[str] = (), upscale_factor: int | None = None
) -> dict[str, Any]:
    """createTask's body for `model`, as its page documents it."""
    if model == TOPAZ_UPSCALE:
        # docs.kie.ai/market/topaz/image-upscale: one `image_url`, and `upscale_factor` as a string ("1", "2", "4").
        if len(image_urls) != 1 or upscale_factor is None:
            raise ValueError("an upscale takes exactly one image and a factor")
        return {"model": model, "input": {"image_url": image_urls[0], "upscale_factor": str(upscale_factor)}}
    if model != NANO_BANANA_PRO:
        raise ValueError(f"unknown kie model {model!r}")
    # docs.kie.ai/market/google/pro-image-to-image: the prompt, the three options, up to 8 `image_input` URLs.
    body: dict[str, Any] = {
        "model": model,
        "input": {
            "prompt": prompt,
            "aspect_ratio": options.aspect_ratio,
            "resolution": options.resolution,
            "output_format": options.output_format,
        },
    }
    if image_urls:
        body["input"]["image_input"] = list(image_urls)
    return body


class KieError(Exception):
    """A call to kie.ai that did not succeed. `summary` and `advice` are written for the person who asked."""

    code: int | None = None
    summary: ClassVar[str] = "kie.ai answered with an error."
    advice: ClassVar[str] = "Try again in a minute; if it keeps happening, tell whoever runs this app."
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str = "", *, code: int | None = None) -> None:
        self.detail = detail
        if code is not None:
            self.code = code
        super().__init__(f"kie.ai {self.code or 'error'}: {detail}" if detail else f"kie.ai {self.code or 'error'}")

    @property
    def user_message(self) -> str:
        return f"{self.summary} {self.advice}"


class KieAuthError(KieError):
    code = 401
    summary = "kie.ai did not accept this app's API key."
    advice = "Ask whoever installed Banana to check the KIEAI_API_KEY setting."


class KieInsufficientCredits(KieError):
    code = 402
    summary = "The workspace is out of kie.ai credits, so nothing was generated and nothing was charged."
    advice = "Ask whoever manages the kie.ai account to top it up at kie.ai, then try again."


class KieNotFound(KieError):
    code = 404
    summary = "kie.ai no longer knows this task."
    advice = "Run the command again to start a new image."


class KieValidationError(KieError):
    code = 422
    summary = "kie.ai refused the request as invalid."
    advice = "Check the prompt and options (`/banana help`) and try again."

    @property
    def user_message(self) -> str:
        reason = f" It said: “{self.detail}”." if self.detail else ""
        return f"{self.summary}{reason} {self.advice}"


class KieRateLimited(KieError):
    code = 429
    summary = "kie.ai is receiving too many requests right now."
    advice = "Wait a few seconds and try again."
    retryable = True


class KieMaintenance(KieError):
    code = 455
    summary = "kie.ai is down for maintenance."
    advice = "Try again in a few minutes."
    retryable = True


class KieServerError(KieError):
    code = 500
    summary = "kie.ai had an internal error."
    advice = "Try again in a minute."
    retryable = True


class KieGenerationFailed(KieError):
    code = 501
    summary = "kie.ai could not generate this image."
    advice = "Try again, or rephrase the prompt."


class KieFeatureDisabled(KieError):
    code = 505
    summary = "This feature is switched off for the workspace's kie.ai account."
    advice = "Ask whoever manages the kie.ai account to enable it."


class KieUnavailable(KieError):
    summary = "kie.ai could not be reached."
    advice = "Try again in a minute."
    retryable = True


class KieNotReached(KieUnavailable):
    """A request that provably never reached kie: a refused connection, or its gateway's own 502 or 503 page (not
    kie's JSON). Sending a create again after it cannot bill twice."""


# A gateway in front of kie answers these with its own page when kie is down or refuses the connection: the request
# went no further. (A 504 is not among them: the gateway had passed the request on and stopped waiting for kie.)
GATEWAY_NOT_REACHED = frozenset({502, 503})


class KieUnknownOutcome(KieError):
    """A create whose answer never came: kie may have started (and will bill) the task, so it is not repeated."""

    summary = "kie.ai did not answer in time, so it is unknown whether the image was started."
    advice = "Check the result at kie.ai/logs before trying again, so you are not charged twice."


ERRORS_BY_CODE: dict[int, type[KieError]] = {
    cls.code: cls
    for cls in (
        KieAuthError,
        KieInsufficientCredits,
        KieNotFound,
        KieValidationError,
        KieRateLimited,
        KieMaintenance,
        KieServerError,
        KieGenerationFailed,
        KieFeatureDisabled,
    )
    if cls.code is not None
}


def error_for(code: int, detail: str = "") -> KieError:
    cls = ERRORS_BY_CODE.get(code)
    if cls is not None:
        return cls(detail)
    if 500 <= code < 600:
        return KieServerError(detail, code=code)
    return KieError(detail, code=code)


class Phase(Enum):
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UNKNOWN = "unknown"


_PHASES = {
    "waiting": Phase.RUNNING,
    "queuing": Phase.RUNNING,
    "generating": Phase.RUNNING,
    "success": Phase.SUCCESS,
    "fail": Phase.FAILED,
}


@dataclass(frozen=True)
class KieTask:
    """One answer of recordInfo (or a callback), parsed."""

    task_id: str
    state: str
    result_urls: tuple[str, ...] = ()
    fail_code: str = ""
    fail_msg: str = ""
    credits: float | None = None  # what kie says the task cost (its callbacks carry consumeCredits)
    create_time_ms: int | None = None
    complete_time_ms: int | None = None

    @property
    def phase(self) -> Phase:
        # Market models such as the Topaz upscaler may answer with the result and no `state` (the reference notes'
        # upscaler entry): result URLs without a state are a success, a failure code or message without one a failure.
        if not self.state:
            if self.result_urls:
                return Phase.SUCCESS
            if self.fail_code or self.fail_msg:
                return Phase.FAILED
        # An unknown state is never taken for success: it is reported and the task keeps being watched.
        return _PHASES.get(self.state, Phase.UNKNOWN)

    @property
    def is_queued(self) -> bool:
        return self.state in ("waiting", "queuing")

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> KieTask:
        credits = next((data[key] for key in ("consumeCredits", "creditsConsumed") if _is_number(data.get(key))), None)
        return cls(
            task_id=str(data.get("taskId") or data.get("task_id") or ""),
            state=str(data.get("state") or ""),
            result_urls=_result_urls(data.get("resultJson")),
            fail_code=str(data.get("failCode") or ""),
            fail_msg=str(data.get("failMsg") or ""),
            credits=credits,
            create_time_ms=_int_or_none(data.get("createTime")),
            complete_time_ms=_int_or_none(data.get("completeTime")),
        )


def _result_urls(raw: Any) -> tuple[str, ...]:
    """`resultJson` is documented as a JSON string; accept an object too, and anything broken as no result."""
    if isinstance(raw, str):
        if not raw.strip():
            return ()
        try:
            raw = json.loads(raw)
        except ValueError:
            log.warning("kie sent a resultJson that is not JSON")
            return ()
    if not isinstance(raw, dict):
        return ()
    urls = raw.get("resultUrls") or []
    return tuple(u for u in urls if isinstance(u, str) and u.startswith(("http://", "https://")))


def _is_number(value: Any) -> bool:
    """A finite JSON number, not negative (a count of credits): never a boolean, `Infinity` or `NaN`."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class DownloadError(Exception):
    """The finished image could not be fetched; the message is for the person who asked."""


class KieClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_key: str,
        base_url: str,
        upload_url: str,
        retry_delays: Sequence[float] = (1.0, 2.0, 4.0),
        reads: RateLimit | None = None,
    ) -> None:
        self._http = http
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._base_url = base_url.rstrip("/")
        self._upload_url = upload_url.rstrip("/")
        self._retry_delays = tuple(retry_delays)
        # At most this many requests to kie at once: httpx's pool slows down quadratically with a queue in it.
        self._slots = asyncio.Semaphore(32)
        self._reads = reads or RateLimit(8)  # every recordInfo read, across every task

    async def create_task(
        self,
        prompt: str,
        options: Options,
        *,
        image_urls: Sequence[str] = (),
        callback_url: str | None = None,
        model: str = NANO_BANANA_PRO,
        upscale_factor: int | None = None,
    ) -> str:
        """Start a task of `model` and return kie's task id. `prompt` is sent as it is (prompts.command.kie_prompt).

        Nothing is retried here: a create that provably never reached kie (KieNotReached) or that kie refused with a
        429 (KieRateLimited, kie does not queue it) may be sent again once the caller's create limit allows. A
        timeout after sending, or a gateway that gave up waiting for kie, is KieUnknownOutcome instead, because
        repeating it could start, and bill, a second image.
        """
        body = request_body(model, prompt, options, image_urls, upscale_factor)
        if callback_url:
            body["callBackUrl"] = callback_url
        data = await self._call("POST", "/api/v1/jobs/createTask", json=body, sent_is_unknown=True)
        task_id = data.get("taskId") if isinstance(data, dict) else None
        if not task_id:
            raise KieUnknownOutcome("createTask succeeded without a taskId")
        return str(task_id)

    async def get_task(self, task_id: str, *, priority: float = 0.0) -> KieTask | None:
        """Read a task. None means kie has no record of it: normal just after create, when kie answers 422
        "recordInfo is null" or 404 "task not found" for a while; the runner decides how long that is normal.

        Reads share one pace; when they must wait, the lowest `priority` goes first."""
        try:
            data = await self._read("/api/v1/jobs/recordInfo", params={"taskId": task_id}, priority=priority)
        except (KieValidationError, KieNotFound):
            return None
        if not isinstance(data, dict):
            return None
        return KieTask.from_data(data)

    async def upload_image(self, data: bytes, *, file_name: str, upload_path: str, mime_type: str) -> str:
        """Put an input image on kie's file upload API and return its public `downloadUrl` for `image_input`.

        Uploads are free and a name is unique per task and file, so repeating one after a failure is harmless.
        """
        url = f"{self._upload_url}/api/file-stream-upload"
        form = {"uploadPath": upload_path, "fileName": file_name}
        for delay in (*self._retry_delays, None):
            try:
                response = await self._http.post(
                    url, data=form, files={"file": (file_name, data, mime_type)}, headers=self._headers
                )
                uploaded = _body_data(response)
            except httpx.TransportError as transport:
                error: KieError = KieUnavailable(type(transport).__name__)
            except KieError as kie_error:
                if not kie_error.retryable:
                    raise
                error = kie_error
            else:
                download_url = uploaded.get("downloadUrl") if isinstance(uploaded, dict) else None
                if not download_url:
                    raise KieError("the upload API answered without a downloadUrl")
                return str(download_url)
            if delay is None:
                raise error
            log.debug("kie upload failed (%s), retrying in %.1fs", error, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def get_credits(self) -> float:
        """The account's balance. The docs show a whole number; nothing promises one, so a fraction is taken too."""
        data = await self._read("/api/v1/chat/credit")
        if not _is_number(data):
            raise KieError("unexpected credit balance")
        return float(data)

    async def download(self, url: str, *, max_bytes: int) -> bytes:
        """Fetch a result file. kie's URLs are public and expire, so no key is sent and this happens at once."""
        last_problem = "no attempt was made"
        for delay in (*self._retry_delays[:2], None):
            try:
                return await self._download_once(url, max_bytes)
            except _TransientDownload as problem:
                last_problem = str(problem)
            if delay is None:
                break
            await asyncio.sleep(delay)
        raise DownloadError(f"the image could not be downloaded from kie.ai ({last_problem})")

    async def _download_once(self, url: str, max_bytes: int) -> bytes:
        try:
            async with self._http.stream("GET", url, follow_redirects=True) as response:
                if response.status_code >= 500:
                    raise _TransientDownload(f"HTTP {response.status_code}")
                if response.status_code != 200:
                    raise DownloadError(f"the image link answered HTTP {response.status_code}; it may have expired")
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise DownloadError(f"the image is {declared:,} bytes, over the {max_bytes:,} byte limit")
                chunks = bytearray()
                async for chunk in response.aiter_bytes():
                    chunks.extend(chunk)
                    if len(chunks) > max_bytes:
                        raise DownloadError(f"the image is over the {max_bytes:,} byte limit")
                return bytes(chunks)
        except httpx.TransportError as error:
            raise _TransientDownload(type(error).__name__) from error

    async def _read(self, path: str, *, params: dict[str, str] | None = None, priority: float | None = None) -> Any:
        """A GET that changes nothing at kie, so transient failures are retried with backoff. A read with a priority
        waits its turn in the shared read pace first, each attempt."""
        for delay in (*self._retry_delays, None):
            if priority is not None:
                await self._reads.take(priority)
            try:
                return await self._call("GET", path, params=params)
            except KieError as kie_error:
                if not kie_error.retryable:
                    raise
                error = kie_error
            if delay is None:
                raise error
            log.debug("kie read %s failed (%s), retrying in %.1fs", path, error, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        sent_is_unknown: bool = False,
    ) -> Any:
        try:
            async with self._slots:
                response = await self._http.request(
                    method, self._base_url + path, json=json, params=params, headers=self._headers
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise KieNotReached(type(error).__name__) from error
        except httpx.TransportError as error:
            if sent_is_unknown:
                raise KieUnknownOutcome(type(error).__name__) from error
            raise KieUnavailable(type(error).__name__) from error
        if sent_is_unknown and response.status_code >= 500 and not _is_kie_answer(response):
            status = f"HTTP {response.status_code} from the gateway"
            raise KieNotReached(status) if response.status_code in GATEWAY_NOT_REACHED else KieUnknownOutcome(status)
        return _body_data(response)


def _is_kie_answer(response: httpx.Response) -> bool:
    """Whether the body is kie's own JSON (with its `code`), not a page from something in front of it."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("code"), int)


def _body_data(response: httpx.Response) -> Any:
    """The `data` of a kie answer, or the typed error its body `code` (or, lacking a body, its HTTP status) means."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("code"), int):
        if response.status_code == 200:
            raise KieError("kie.ai sent an answer that could not be read")
        raise error_for(response.status_code, f"HTTP {response.status_code}")
    code = body["code"]
    if body.get("success") is False and code == 200:  # the upload API's own failure flag
        raise KieError(str(body.get("msg") or "upload failed"))
    if code != 200:
        raise error_for(code, str(body.get("msg") or body.get("message") or ""))
    if response.status_code != 200:
        raise error_for(response.status_code, f"HTTP {response.status_code}")
    return body.get("data")


class _TransientDownload(Exception):
    pass

"""A local stand-in for the kie.ai API (nano-banana-pro and topaz/image-upscale jobs, credits, file upload API,
callbacks).

It follows /work/shared/reference/kieai-api.md: HTTP 200 with a body `code` for most errors, a real HTTP 429
for the create and read rate limits, `param`/`resultJson` as JSON strings, Unix-millisecond times, and opt-in HMAC
signed callbacks. Test-only controls (plan, fail_next, finish_now) shape what happens to created tasks.

Each behaviour names the kie.ai page it follows:
- [S1] https://docs.kie.ai/market/google/pro-image-to-image (createTask: model, input fields and their limits);
- [S2] https://docs.kie.ai/market/common/get-task-detail (recordInfo: states, errors, polling rate);
- [S3] https://docs.kie.ai/ ("Getting Started": Bearer auth, 20 creates per 10 s, HTTP 429, retention);
- [S4] https://docs.kie.ai/common-api/webhook-verification (callback signatures);
- [S5] https://docs.kie.ai/file-upload-api/quickstart (upload API; kept 3 days, or 24 h by another line);
- [S6] https://docs.kie.ai/common-api/get-account-credits (`GET /api/v1/chat/credit`);
- [S7] https://docs.kie.ai/market/topaz/image-upscale and https://kie.ai/topaz-image-upscale (the upscaler:
  `input.image_url`, JPEG/PNG/WebP "Maximum file size: 10MB", `input.upscale_factor` "1"/"2"/"4" as a string, "The
  longest side of the uploaded image resolution × upscale_factor cannot exceed 20,000 pixels").

Run it by hand with: python -m standins.kie --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import json
import mimetypes
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from PIL import Image, ImageDraw

API_KEY = "kie-test-key"
MODEL = "nano-banana-pro"
PRICES = {"1K": 18, "2K": 18, "4K": 24}
UPSCALE_MODEL = "topaz/image-upscale"
UPSCALE_FACTORS = ("1", "2", "4")  # [S7] strings, not numbers
UPSCALE_MAX_BYTES = 10 * 1024 * 1024  # [S7]
UPSCALE_MAX_SIDE = 20_000  # [S7] longest side × factor
# [S7] no price on the page; kie's listing as a third party quotes it: 10 credits up to 2K, 20 up to 4K, 40 beyond.
UPSCALE_PRICES = ((2048, 10), (4096, 20))
UPSCALE_TOP_PRICE = 40

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto")
RESOLUTIONS = ("1K", "2K", "4K")
OUTPUT_FORMATS = ("png", "jpg")
MAX_PROMPT_CHARS = 10_000  # [S1] input.prompt maxLength 10000
MAX_IMAGE_INPUTS = 8  # [S1] input.image_input maxItems 8
INPUT_IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")  # [S1] "Accepted types"
MAX_INPUT_IMAGE_BYTES = 30 * 1024 * 1024  # [S1] "Max size: 30.0MB"
# [S2] "Maximum query rate: 10 requests per second per API key" (unverified since, see the notes' corrections).
READ_LIMIT = 10
READ_WINDOW = 1.0
CREATE_LIMIT = 20  # [S3] "Up to 20 new generation requests per 10 seconds"
CREATE_WINDOW = 10.0
# [S5] uploaded files are "temporary, automatically deleted after 3 days"; the same pages' header line says "deleted
# after 24h" (notes §8.2). The shorter one is kept.
UPLOAD_TTL = 24 * 3600.0
RESULT_TTL = 24 * 3600.0  # [S2] "Generated content URLs typically expire after 24 hours"

CREATE_PATH = "/api/v1/jobs/createTask"
RECORD_PATH = "/api/v1/jobs/recordInfo"
CREDIT_PATH = "/api/v1/chat/credit"
STREAM_UPLOAD_PATH = "/api/file-stream-upload"
BASE64_UPLOAD_PATH = "/api/file-base64-upload"
URL_UPLOAD_PATH = "/api/file-url-upload"
UPLOAD_PATHS = (STREAM_UPLOAD_PATH, BASE64_UPLOAD_PATH, URL_UPLOAD_PATH)
STATS_PATH = "/standin/stats"  # not kie's: what a benchmark in another process reads back

UNSEEN_CODES = (404, 422)  # [S2] what recordInfo says of a task it cannot show yet
OUTCOME_KINDS = ("success", "fail", "success_no_url", "broken_image", "expired_url", "never", "unknown_state")
SUCCESS_KINDS = ("success", "success_no_url", "broken_image", "expired_url")
FINAL_STATES = ("success", "fail")

# The documented wording for each body code; used when fail_next is given no msg.
# What a reverse proxy in front of api.kie.ai answers in its own words (RFC 9110 §15.6.3-15.6.5), not kie's JSON.
GATEWAY_PAGES = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
DOCUMENTED_MESSAGES: dict[int, str] = {
    200: "success",
    400: "Bad Request",
    401: "You do not have access permissions",
    402: "Insufficient Credits",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Validation Error",
    429: "Rate limit exceeded",
    433: "Error",
    455: "Service Unavailable",
    500: "Server Error",
    501: "Generation Failed",
    505: "Feature Disabled",
}
# recordInfo has its own wording for some codes (S2 in the reference).
RECORD_MESSAGES: dict[int, str] = {
    400: "taskId parameter is required",
    401: "Unauthorized",
    404: "Task not found",
    422: "recordInfo is null",
}

UNAUTHORIZED_MSG = "You do not have access permissions"
UPLOAD_UNAUTHORIZED_MSG = "Authentication failed: Invalid API Key"
CALLBACK_SUCCESS_MSG = "Playground task completed successfully."
CALLBACK_FAIL_MSG = "Playground task failed."
# Big enough for the documented 30 MB inputs; aiohttp's default is only 1 MiB.
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass
class Outcome:
    """What happens to one created task."""

    kind: str = "success"
    queue_seconds: float = 0.0  # "waiting" for the first half, "queuing" for the second half
    generate_seconds: float = 0.0  # time in "generating"
    fail_code: str = "500"
    fail_msg: str = "Internal Error, Please try again later."  # any length: kie documents no limit
    # Just after a create, recordInfo may not know the task yet [S2 lists 404 "Task not found" and 422 "recordInfo
    # is null"]: it answers `unseen_code` for the first `unseen_seconds` after the create and the first
    # `unseen_reads` reads of it, whichever lasts longer.
    unseen_seconds: float = 0.0
    unseen_reads: int = 0
    unseen_code: int = 404
    # What a success costs, as the callback's consumeCredits reports it (may be fractional); None: the price table.
    credits: float | None = None
    # recordInfo answers a success with resultJson and no `state`, as independent clients report market models such
    # as the Topaz upscaler do (the reference notes' upscaler entry).
    state_missing: bool = False

    def __post_init__(self) -> None:
        if self.kind not in OUTCOME_KINDS:
            raise ValueError(f"unknown outcome kind {self.kind!r}; expected one of {OUTCOME_KINDS}")
        if self.unseen_code not in UNSEEN_CODES:
            raise ValueError(f"unseen_code must be one of {UNSEEN_CODES}, not {self.unseen_code!r}")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any | None
    form: dict[str, Any] | None  # file fields become {"filename", "content_type", "data"}
    at: float  # stand-in clock


@dataclass
class FakeTask:
    task_id: str
    body: dict[str, Any]  # the create request JSON as sent
    outcome: Outcome
    created_at: float  # stand-in clock (monotonic by default)
    created_wall_ms: int  # Unix ms, the createTime reported to the app
    result_url: str
    done_at: float | None = None  # clock time of success/fail; None while it never ends by itself
    settled: bool = False  # credits charged (success) and callback scheduled, at most once
    credits_consumed: float = 0
    api_key: str = API_KEY  # the account that created it, which pays for it and alone may read it
    reads: int = 0  # recordInfo reads of this task that got past the rate limit
    callback_scheduled: bool = False
    callback_sent: bool = False
    callback_status: int | None = None
    image_bytes: bytes | None = None  # rendered lazily, then cached
    source: bytes | None = None  # an upscale's image, as uploaded

    @property
    def upscale_factor(self) -> int | None:
        return int(self.input["upscale_factor"]) if self.body["model"] == UPSCALE_MODEL else None

    @property
    def input(self) -> dict[str, Any]:
        return self.body["input"]

    @property
    def resolution(self) -> str:
        return self.input.get("resolution", "1K")

    @property
    def aspect_ratio(self) -> str:
        return self.input.get("aspect_ratio", "1:1")

    @property
    def output_format(self) -> str:
        if self.source is not None:  # an upscale comes back in its image's format (WebP as PNG)
            return "jpg" if _sniff_mime(self.source) == "image/jpeg" else "png"
        return self.input.get("output_format", "png")

    @property
    def callback_url(self) -> str | None:
        return self.body.get("callBackUrl")

    @property
    def price(self) -> int:
        if self.source is not None and self.upscale_factor:
            longest = max(_pixels(self.source) or [0]) * self.upscale_factor
            return next((price for side, price in UPSCALE_PRICES if longest <= side), UPSCALE_TOP_PRICE)
        return PRICES[self.resolution]

    def state(self, now: float) -> str:
        if self.done_at is not None and now >= self.done_at:
            return "fail" if self.outcome.kind == "fail" else "success"
        elapsed = now - self.created_at
        if elapsed < self.outcome.queue_seconds / 2:
            return "waiting"
        if elapsed < self.outcome.queue_seconds:
            return "queuing"
        if self.outcome.kind == "unknown_state":
            return "mystery"
        return "generating"

    def wall_ms(self, at: float) -> int:
        return self.created_wall_ms + round((at - self.created_at) * 1000)

    def last_change(self, now: float) -> float:
        """Clock time of the latest state change at or before `now`."""
        queue = self.outcome.queue_seconds
        changes = [self.created_at, self.created_at + queue / 2, self.created_at + queue]
        if self.done_at is not None:
            changes = [t for t in changes if t <= self.done_at] + [self.done_at]
        return max(t for t in changes if t <= now)

    def result_json(self, state: str) -> str:
        if state != "success":
            return ""
        urls = [] if self.outcome.kind == "success_no_url" else [self.result_url]
        return json.dumps({"resultUrls": urls})

    def unseen(self, now: float) -> bool:
        """Whether recordInfo still answers that the task does not exist (read before counting this read)."""
        return now - self.created_at < self.outcome.unseen_seconds or self.reads < self.outcome.unseen_reads

    def record(self, now: float) -> dict[str, Any]:
        """The recordInfo `data` object: exactly the fields [S2] lists, and no credits field (the notes'
        corrections: the cost arrives only in the callback)."""
        state = self.state(now)
        final = state in FINAL_STATES
        complete_ms = self.wall_ms(self.done_at) if final and self.done_at is not None else None
        record = {
            "taskId": self.task_id,
            "model": self.body["model"],
            "state": state,
            "param": json.dumps(self.body),
            "resultJson": self.result_json(state),
            "failCode": self.outcome.fail_code if state == "fail" else "",
            "failMsg": self.outcome.fail_msg if state == "fail" else "",
            "costTime": complete_ms - self.created_wall_ms if complete_ms is not None else 0,
            "completeTime": complete_ms,
            "createTime": self.created_wall_ms,
            "updateTime": self.wall_ms(self.last_change(now)),
        }
        if self.outcome.state_missing and state == "success":
            del record["state"]
        return record


def _error(code: int, msg: str, *, http_status: int = 200, with_data: bool = True) -> web.Response:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if with_data:
        body["data"] = None
    return web.json_response(body, status=http_status)


def _number(value: float) -> float:
    """A credit figure as kie writes it: an integer when it is whole (18, not 18.0), else the fraction (17.5)."""
    return int(value) if float(value).is_integer() else value


def _upload_error(code: int, msg: str, *, http_status: int = 200) -> web.Response:
    return web.json_response({"success": False, "code": code, "msg": msg}, status=http_status)


def _sniff_mime(data: bytes) -> str | None:
    signatures = {
        b"\x89PNG\r\n\x1a\n": "image/png",
        b"\xff\xd8\xff": "image/jpeg",
        b"GIF87a": "image/gif",
        b"GIF89a": "image/gif",
    }
    for magic, mime in signatures.items():
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _pixels(data: bytes) -> list[int] | None:
    """Width and height from the image's header (Pillow reads no more of it), or None if it is not an image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return list(image.size)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def enlarge(data: bytes, factor: int) -> bytes:
    """[S7] the same picture, `factor` times larger on each side, in its own format (WebP comes back as PNG)."""
    with Image.open(io.BytesIO(data)) as image:
        larger = image.resize((image.width * factor, image.height * factor), Image.Resampling.BICUBIC)
        jpeg = image.format == "JPEG"
    out = io.BytesIO()
    larger.save(out, format="JPEG" if jpeg else "PNG", **({"quality": 95} if jpeg else {}))
    return out.getvalue()


def render_result_image(aspect_ratio: str, output_format: str, long_side: int, seed: str) -> bytes:
    """A small real PNG/JPEG whose pixel size follows the aspect ratio ("auto" renders square)."""
    width_part, height_part = (1, 1) if aspect_ratio == "auto" else map(int, aspect_ratio.split(":"))
    if width_part >= height_part:
        size = (long_side, max(1, round(long_side * height_part / width_part)))
    else:
        size = (max(1, round(long_side * width_part / height_part)), long_side)
    digest = hashlib.sha256(seed.encode()).digest()
    image = Image.new("RGB", size, (digest[0], digest[1], digest[2]))
    # A lighter lower-right quarter, so the picture is not a single flat colour.
    ImageDraw.Draw(image).rectangle(
        (size[0] // 2, size[1] // 2, size[0], size[1]), fill=(255 - digest[0], 255 - digest[1], 255 - digest[2])
    )
    out = io.BytesIO()
    image.save(out, format="PNG" if output_format == "png" else "JPEG")
    return out.getvalue()


class KieStandIn:
    def __init__(
        self,
        *,
        api_key: str = API_KEY,
        credits: float = 10_000,
        rate_limit: int = CREATE_LIMIT,
        rate_window: float = CREATE_WINDOW,
        read_limit: int | None = READ_LIMIT,
        read_window: float = READ_WINDOW,
        read_limit_http_status: int = 429,
        upload_ttl: float | None = UPLOAD_TTL,
        result_ttl: float | None = RESULT_TTL,
        default_outcome: Outcome | None = None,
        webhook_hmac_key: str | None = None,
        record_null_seconds: float = 0.0,
        result_long_side: int = 64,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        callback_timeout: float = 10.0,
        generate_jitter: float = 0.0,
        jitter_seed: int | None = None,
        result_padding: int = 0,
    ) -> None:
        self.api_key = api_key  # the operator's account; `add_account` makes others (a workspace's own key)
        self._credits: float = credits
        self._other_credits: dict[str, float] = {}  # the other accounts' balances, by key
        # [S3] creates: `rate_limit` per `rate_window` seconds, per account ("Limits are applied per account"): each
        # key here is one account, with its own window. Over it, HTTP 429 and no task.
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        # [S2] recordInfo reads: `read_limit` per `read_window` seconds per API key (None: no limit). Over it, the
        # read gets {"code": 429, "msg": "Rate limit exceeded"} with HTTP `read_limit_http_status` (429 as for
        # creates [S3]; 200 to try the "HTTP 200 with a body code" form kie uses elsewhere).
        self.read_limit = read_limit
        self.read_window = read_window
        self.read_limit_http_status = read_limit_http_status
        # How long uploads [S5] and result files [S2] stay downloadable (None: for ever), on the stand-in clock.
        self.upload_ttl = upload_ttl
        self.result_ttl = result_ttl
        self.default_outcome = default_outcome or Outcome()
        self.webhook_hmac_key = webhook_hmac_key
        self.record_null_seconds = record_null_seconds
        self.result_long_side = result_long_side
        self.clock = clock
        self.wall_clock = wall_clock
        self.callback_timeout = callback_timeout
        # Up to this many seconds are added at random to each default outcome's generate time, so tasks finish at
        # random moments relative to the app's polls, as real generations do.
        self.generate_jitter = generate_jitter
        # With a seed, the n-th accepted create draws the same time in every stand-in given it: a benchmark can put
        # two pollers on the same tasks, side by side, instead of on two random samples.
        self._draws = random.Random(jitter_seed)
        self.refused_creates = 0  # creates answered with HTTP 429
        self.creates_by_key: dict[str, int] = {}  # accepted creates per account key
        self.refused_reads = 0  # recordInfo reads refused over the read limit
        self.refused_reads_by_task: dict[str, int] = {}
        # Bytes appended to every result (after the image's end, where readers ignore them): results as big as real
        # 2K images, without drawing megabytes of pixels. Shared, so the stand-in itself stays small.
        self.result_padding = random.randbytes(result_padding)

        self.base_url = ""
        self.tasks: dict[str, FakeTask] = {}
        self.requests: list[RecordedRequest] = []
        self.uploads: dict[str, bytes] = {}  # downloadUrl -> bytes
        self.callbacks_sent: list[tuple[str, int]] = []  # status 0 = the app's endpoint gave no HTTP answer

        self._files: dict[str, tuple[bytes, str, float]] = {}  # filePath -> (bytes, mime type, clock at upload)
        self._planned: deque[Outcome] = deque()
        self._injected: dict[str, deque[tuple[int, str | None, int]]] = {}
        self._gateway: dict[str, deque[int]] = {}
        self._accepted_creates: dict[str, deque[float]] = {}  # account key -> clock times of accepted creates
        self._accepted_reads: dict[str, deque[float]] = {}  # Authorization header -> clock times of accepted reads
        self._background: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

        self.app = web.Application(middlewares=[self._record_middleware], client_max_size=MAX_BODY_BYTES)
        self.app.router.add_post(CREATE_PATH, self._create_task)
        self.app.router.add_get(RECORD_PATH, self._record_info)
        self.app.router.add_get(CREDIT_PATH, self._credit)
        self.app.router.add_post(STREAM_UPLOAD_PATH, self._stream_upload)
        self.app.router.add_post(BASE64_UPLOAD_PATH, self._base64_upload)
        self.app.router.add_post(URL_UPLOAD_PATH, self._url_upload)
        self.app.router.add_get("/tempfile/{name}", self._result_file)
        self.app.router.add_get("/files/{path:.+}", self._uploaded_file)
        self.app.router.add_get(STATS_PATH, self._stats)
        self.app.on_cleanup.append(self._on_cleanup)

    # ---- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()  # runs _on_cleanup
            self._runner = None
        else:
            await self._on_cleanup(self.app)

    async def _on_cleanup(self, _app: web.Application) -> None:
        pending = list(self._background)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---- assertions and controls ----------------------------------------------------------------

    @property
    def credits(self) -> float:
        """The balance `GET /api/v1/chat/credit` reports [S6]: whole numbers as int, fractions (17.5) as they are."""
        # Settle finished tasks first so the balance never lags behind a state the app could observe.
        self._settle_all()
        return _number(self._credits)

    @credits.setter
    def credits(self, value: float) -> None:
        self._credits = value

    def add_account(self, api_key: str, credits: float = 10_000) -> None:
        """Another kie.ai account, with its own key, balance and limits (a workspace's own key)."""
        self._other_credits[api_key] = credits

    def remove_account(self, api_key: str) -> None:
        """The key is deleted at kie.ai: every call with it is a 401 from now on."""
        del self._other_credits[api_key]

    def credits_of(self, api_key: str) -> float:
        self._settle_all()
        return _number(self._credits if api_key == self.api_key else self._other_credits[api_key])

    def _charge(self, api_key: str, amount: float) -> None:
        if api_key == self.api_key:
            self._credits -= amount
        else:
            self._other_credits[api_key] -= amount

    def _balance(self, api_key: str) -> float:
        return self._credits if api_key == self.api_key else self._other_credits[api_key]

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    def plan(self, *outcomes: Outcome) -> None:
        """The next created tasks take these outcomes in order, then default_outcome."""
        self._planned.extend(outcomes)

    def fail_next(
        self, path: str, code: int, msg: str | None = None, *, times: int = 1, http_status: int = 200
    ) -> None:
        """The next `times` requests to `path` answer {"code": code, "msg": ..., "data": None} instead."""
        queue = self._injected.setdefault(path, deque())
        queue.extend([(code, msg, http_status)] * times)

    def gateway_error(self, path: str, status: int = 502, *, times: int = 1) -> None:
        """The next `times` requests to `path` meet an HTML error page from a gateway in front of kie (502, 503 or
        504), as a proxy answers when kie is down, refuses it, or is too slow; for 502 and 503 they reach nothing."""
        if status not in GATEWAY_PAGES:
            raise ValueError(f"a gateway page is one of {sorted(GATEWAY_PAGES)}, not {status}")
        self._gateway.setdefault(path, deque()).extend([status] * times)

    def finish_now(self, task_id: str, kind: str | None = None) -> None:
        """Make a slow, "never" or "unknown_state" task reach its outcome now (success unless `kind` says otherwise)."""
        task = self.tasks[task_id]
        if task.settled:
            return
        final_kind = kind or ("success" if task.outcome.kind in ("never", "unknown_state") else task.outcome.kind)
        if final_kind not in (*SUCCESS_KINDS, "fail"):
            raise ValueError(f"finish_now needs a final outcome kind, not {final_kind!r}")
        task.outcome = replace(task.outcome, kind=final_kind)
        now = self.clock()
        task.done_at = now if task.done_at is None else min(task.done_at, now)
        self._settle(task)

    # ---- internals -----------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _settle_all(self) -> None:
        for task in list(self.tasks.values()):
            self._settle(task)

    def _settle(self, task: FakeTask) -> None:
        """Apply a finished task's effects once: charge credits on success, send the callback."""
        if task.settled or task.state(self.clock()) not in FINAL_STATES:
            return
        task.settled = True
        if task.outcome.kind in SUCCESS_KINDS:
            # Failed tasks cost nothing (the notes, §6: "0 for failed tasks").
            task.credits_consumed = task.outcome.credits if task.outcome.credits is not None else task.price
            self._charge(task.api_key, task.credits_consumed)
        if task.callback_url:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # read from sync code; the task's timer sends the callback
            task.callback_scheduled = True
            self._spawn(self._send_callback(task))

    async def _finish_later(self, task: FakeTask) -> None:
        # Loop rather than sleep once: an injected clock may not follow real time.
        while task.done_at is not None and not task.settled:
            remaining = task.done_at - self.clock()
            if remaining <= 0:
                break
            await asyncio.sleep(remaining)
        self._settle(task)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.callback_timeout))
        return self._session

    def callback_payload(self, task: FakeTask) -> dict[str, Any]:
        """What kie POSTs to callBackUrl: {code, msg, data:{taskId, state, resultJson, consumeCredits,
        remainedCredits, costTime, ...}}, as the nano-banana-pro callback example shows (the notes' corrections and
        §3; model page https://docs.kie.ai/market/google/pro-image-to-image). Not the newer `creditsConsumed`."""
        data = task.record(self.clock())
        succeeded = task.state(self.clock()) == "success"
        # The callback schema documents costTime in seconds, unlike recordInfo's milliseconds.
        data["costTime"] = round(data["costTime"] / 1000)
        data["consumeCredits"] = _number(task.credits_consumed)
        data["remainedCredits"] = _number(self._balance(task.api_key))
        if succeeded:
            return {"code": 200, "msg": CALLBACK_SUCCESS_MSG, "data": data}
        return {"code": 501, "msg": CALLBACK_FAIL_MSG, "data": data}

    def sign(self, task_id: str, timestamp: int) -> str:
        assert self.webhook_hmac_key is not None
        digest = hmac.new(self.webhook_hmac_key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    async def _send_callback(self, task: FakeTask) -> None:
        assert task.callback_url is not None
        headers = {"Content-Type": "application/json"}
        if self.webhook_hmac_key is not None:
            timestamp = int(self.wall_clock())
            headers["X-Webhook-Timestamp"] = str(timestamp)
            headers["X-Webhook-Signature"] = self.sign(task.task_id, timestamp)
        payload = json.dumps(self.callback_payload(task))
        status = 0
        try:
            async with self._get_session().post(task.callback_url, data=payload, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0  # no retries: kie documents none
        task.callback_sent = True
        task.callback_status = status
        self.callbacks_sent.append((task.task_id, status))

    def _origin(self, request: web.Request) -> str:
        return self.base_url or str(request.url.origin())

    def _authorized(self, request: web.Request) -> bool:
        return self._account(request) is not None

    def _account(self, request: web.Request) -> str | None:
        """[S3] "Authorization: Bearer <API_KEY>" on every call; the key of a known account, else None (a 401)."""
        given = request.headers.get("Authorization", "")
        for key in (self.api_key, *self._other_credits):
            if hmac.compare_digest(given, f"Bearer {key}"):
                return key
        return None

    def _read_allowed(self, request: web.Request) -> bool:
        """[S2] A sliding window of accepted reads per API key; False (and counted) when this read is over it."""
        if self.read_limit is None:
            return True
        now = self.clock()
        accepted = self._accepted_reads.setdefault(request.headers.get("Authorization", ""), deque())
        while accepted and accepted[0] <= now - self.read_window:
            accepted.popleft()
        if len(accepted) >= self.read_limit:
            self.refused_reads += 1
            task_id = request.query.get("taskId", "")
            self.refused_reads_by_task[task_id] = self.refused_reads_by_task.get(task_id, 0) + 1
            return False
        accepted.append(now)
        return True

    @web.middleware
    async def _record_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path == STATS_PATH:
            return await handler(request)
        json_body: Any | None = None
        form: dict[str, Any] | None = None
        if request.content_type == "application/json":
            try:
                json_body = json.loads(await request.read())
            except ValueError:
                json_body = None
        elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            try:
                posted = await request.post()  # cached, so handlers can call post() again
            except ValueError:
                posted = None
            if posted is not None:
                form = {}
                for name, value in posted.items():
                    if isinstance(value, web.FileField):
                        data = value.file.read()
                        value.file.seek(0)
                        form[name] = {"filename": value.filename, "content_type": value.content_type, "data": data}
                    else:
                        form[name] = value
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                json=json_body,
                form=form,
                at=self.clock(),
            )
        )
        gateway = self._gateway.get(request.path)
        if gateway:  # the front door's own page: the request went no further, so nothing else happens
            status = gateway.popleft()
            page = f"<html><body><h1>{status} {GATEWAY_PAGES[status]}</h1></body></html>"
            return web.Response(status=status, text=page, content_type="text/html")
        injected = self._injected.get(request.path)
        if injected:
            code, msg, http_status = injected.popleft()
            default = DOCUMENTED_MESSAGES.get(code, "Error")
            if request.path == RECORD_PATH:
                default = RECORD_MESSAGES.get(code, default)
            if request.path in UPLOAD_PATHS:
                body: dict[str, Any] = {"success": code == 200, "code": code, "msg": msg or default, "data": None}
            else:
                body = {"code": code, "msg": msg or default, "data": None}
            return web.json_response(body, status=http_status)
        return await handler(request)

    # ---- api.kie.ai ----------------------------------------------------------------------------

    async def _create_task(self, request: web.Request) -> web.Response:
        account = self._account(request)
        if account is None:
            return _error(401, UNAUTHORIZED_MSG, with_data=False)
        now = self.clock()
        accepted = self._accepted_creates.setdefault(account, deque())
        while accepted and accepted[0] <= now - self.rate_window:
            accepted.popleft()
        if len(accepted) >= self.rate_limit:
            # [S3] "rejected with HTTP 429" and "not entered into the queue".
            self.refused_creates += 1
            return _error(429, "Rate limit exceeded", http_status=429, with_data=False)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(422, "Validation Error: request body must be JSON")
        if isinstance(body, dict) and body.get("model") == UPSCALE_MODEL:
            checked = self._check_upscale(body)
            if isinstance(checked, str):
                return _error(422, checked)
            source: bytes | None = checked
        else:
            problem = self._validate_create(body) or self._check_hosted_inputs(body)
            if problem:
                return _error(422, problem)
            source = None
        probe = FakeTask("", body, Outcome(), now, 0, "", source=source)
        if self._balance(account) < probe.price:
            return _error(402, "Insufficient Credits")  # [S1]/[S3] body code 402

        planned = bool(self._planned)
        outcome = replace(self._planned.popleft() if planned else self.default_outcome)
        if self.generate_jitter and not planned:
            outcome.generate_seconds += self._draws.uniform(0.0, self.generate_jitter)
        task_id = uuid.uuid4().hex
        task = FakeTask(
            task_id=task_id,
            body=body,
            outcome=outcome,
            created_at=now,
            created_wall_ms=int(self.wall_clock() * 1000),
            result_url="",
            source=source,
            api_key=account,
        )
        task.result_url = f"{self._origin(request)}/tempfile/{task_id}.{task.output_format}"
        if outcome.kind not in ("never", "unknown_state"):
            task.done_at = now + outcome.queue_seconds + outcome.generate_seconds
            self._spawn(self._finish_later(task))
        self.tasks[task_id] = task
        accepted.append(now)
        self.creates_by_key[account] = self.creates_by_key.get(account, 0) + 1
        return web.json_response({"code": 200, "msg": "success", "data": {"taskId": task_id}})

    @staticmethod
    def _validate_create(body: Any) -> str | None:
        """[S1] The createTask schema's checks, each answered as body code 422 (HTTP 200) naming the field."""
        if not isinstance(body, dict):
            return "Validation Error: request body must be a JSON object"
        if "model" not in body:
            return "Validation Error: model is required"
        if body["model"] != MODEL:
            # [S1] exactly "nano-banana-pro"; a "google/" prefix gets 422 "model name not supported" (notes §1).
            return f"model name not supported: model must be {MODEL!r}"
        callback = body.get("callBackUrl")
        if "callBackUrl" in body and not (isinstance(callback, str) and callback.startswith(("http://", "https://"))):
            return "Validation Error: callBackUrl must be an http(s) URL"  # [S1] callBackUrl: URI
        params = body.get("input")
        if not isinstance(params, dict):
            return "Validation Error: input is required and must be an object"
        prompt = params.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return "Validation Error: input.prompt is required"
        if len(prompt) > MAX_PROMPT_CHARS:
            return f"Validation Error: input.prompt must be at most {MAX_PROMPT_CHARS} characters"
        if "image_input" in params:
            images = params["image_input"]
            if not isinstance(images, list):
                return "Validation Error: input.image_input must be an array of URLs"
            if len(images) > MAX_IMAGE_INPUTS:
                return f"Validation Error: input.image_input must have at most {MAX_IMAGE_INPUTS} items"
            for url in images:
                if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
                    return "Validation Error: input.image_input items must be http(s) URLs"
        # [S1] the three enums, case-sensitive ("4K", not "4k"; "jpg", not "jpeg").
        choices = (("aspect_ratio", ASPECT_RATIOS), ("resolution", RESOLUTIONS), ("output_format", OUTPUT_FORMATS))
        for name, allowed in choices:
            if name in params and params[name] not in allowed:
                return f"Validation Error: input.{name} must be one of {', '.join(allowed)}"
        return None

    def _check_upscale(self, body: dict[str, Any]) -> bytes | str:
        """[S7] The upscaler's schema, strict: `image_url` (a file kie can fetch: here, one on this upload API) and
        `upscale_factor` as the string "1", "2" or "4" (a number is refused); the image JPEG, PNG or WebP, at most
        10 MB, and its longest side times the factor at most 20,000 px. The image's bytes, or what is wrong."""
        callback = body.get("callBackUrl")
        if "callBackUrl" in body and not (isinstance(callback, str) and callback.startswith(("http://", "https://"))):
            return "Validation Error: callBackUrl must be an http(s) URL"
        params = body.get("input")
        if not isinstance(params, dict):
            return "Validation Error: input is required and must be an object"
        factor = params.get("upscale_factor")
        if not isinstance(factor, str) or factor not in UPSCALE_FACTORS:
            return f"Validation Error: input.upscale_factor must be one of {', '.join(map(repr, UPSCALE_FACTORS))}"
        url = params.get("image_url")
        if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            return "Validation Error: input.image_url is required and must be an http(s) URL"
        prefix = f"{self.base_url}/files/"
        stored = self._stored_file(url.removeprefix(prefix)) if self.base_url and url.startswith(prefix) else None
        if stored is None:
            return f"Validation Error: input.image_url could not be downloaded: {url}"
        data, mime = stored
        pixels = _pixels(data)
        if mime not in INPUT_IMAGE_TYPES or pixels is None:
            return f"Validation Error: input.image_url accepts {', '.join(INPUT_IMAGE_TYPES)}, not {mime}"
        if len(data) > UPSCALE_MAX_BYTES:
            return "Validation Error: input.image_url file must be at most 10MB"
        if max(pixels) * int(factor) > UPSCALE_MAX_SIDE:
            return (
                "Validation Error: the longest side of the uploaded image resolution × upscale_factor cannot exceed "
                f"{UPSCALE_MAX_SIDE:,} pixels"
            )
        return data

    def _check_hosted_inputs(self, body: dict[str, Any]) -> str | None:
        """[S1] image_input files must be jpeg/png/webp and at most 30 MB. Only files on this stand-in's upload API
        can be checked; a gone (expired [S5]) upload cannot be fetched either. Where kie reports this (at create or
        as a failed task) is not documented; a 422 naming the field, like kie's other validation errors, is used."""
        prefix = f"{self.base_url}/files/"
        for url in body["input"].get("image_input") or []:
            if not (self.base_url and url.startswith(prefix)):
                continue
            stored = self._stored_file(url.removeprefix(prefix))
            if stored is None:
                return f"Validation Error: input.image_input file could not be downloaded: {url}"
            data, mime = stored
            if mime not in INPUT_IMAGE_TYPES:
                return f"Validation Error: input.image_input accepts {', '.join(INPUT_IMAGE_TYPES)}, not {mime}"
            if len(data) > MAX_INPUT_IMAGE_BYTES:
                return "Validation Error: input.image_input files must be at most 30.0MB"
        return None

    def _stored_file(self, file_path: str) -> tuple[bytes, str] | None:
        """An uploaded file while it is kept [S5], else None."""
        stored = self._files.get(file_path)
        if stored is None:
            return None
        data, mime, uploaded_at = stored
        if self.upload_ttl is not None and self.clock() - uploaded_at >= self.upload_ttl:
            return None
        return data, mime

    async def _record_info(self, request: web.Request) -> web.Response:
        """[S2] GET /api/v1/jobs/recordInfo?taskId=..., with the page's own error wording."""
        account = self._account(request)
        if account is None:
            return _error(401, UNAUTHORIZED_MSG, with_data=False)
        if not self._read_allowed(request):
            return _error(429, "Rate limit exceeded", http_status=self.read_limit_http_status, with_data=False)
        task_id = request.query.get("taskId", "")
        if not task_id:
            return _error(400, "taskId parameter is required")
        task = self.tasks.get(task_id)
        if task is None or task.api_key != account:
            # [I] another account's task is not this key's to read: kie documents no sharing between accounts.
            return _error(404, "Task not found")
        now = self.clock()
        unseen = task.unseen(now)
        task.reads += 1
        if unseen:
            return _error(task.outcome.unseen_code, RECORD_MESSAGES[task.outcome.unseen_code])
        if now - task.created_at < self.record_null_seconds:
            return _error(422, "recordInfo is null")
        self._settle(task)
        return web.json_response({"code": 200, "msg": "success", "data": task.record(now)})

    async def _credit(self, request: web.Request) -> web.Response:
        """[S6] {"code": 200, "msg": "success", "data": <balance>} of the key's own account; the example is whole,
        the balance need not be."""
        account = self._account(request)
        if account is None:
            return _error(401, UNAUTHORIZED_MSG, with_data=False)
        return web.json_response({"code": 200, "msg": "success", "data": self.credits_of(account)})

    async def _result_file(self, request: web.Request) -> web.Response:
        task_id, _, ext = request.match_info["name"].partition(".")
        task = self.tasks.get(task_id)
        if task is None or ext != task.output_format:
            raise web.HTTPNotFound()
        self._settle(task)
        if task.state(self.clock()) != "success" or task.outcome.kind in ("expired_url", "success_no_url"):
            raise web.HTTPNotFound()
        if self.result_ttl is not None and task.done_at is not None and self.clock() - task.done_at >= self.result_ttl:
            raise web.HTTPNotFound()  # [S2] result URLs "typically expire after 24 hours"
        if task.outcome.kind == "broken_image":
            html = "<!DOCTYPE html><html><body><h1>Something went wrong</h1></body></html>"
            return web.Response(body=html.encode(), content_type="text/html")
        if task.image_bytes is None and task.source is not None:
            task.image_bytes = enlarge(task.source, task.upscale_factor or 1)
        if task.image_bytes is None:
            task.image_bytes = render_result_image(
                task.aspect_ratio, task.output_format, self.result_long_side, task.task_id
            )
        mime = "image/png" if task.output_format == "png" else "image/jpeg"
        return web.Response(body=task.image_bytes + self.result_padding, content_type=mime)

    async def _stats(self, request: web.Request) -> web.Response:
        """Every task with its times on this machine's monotonic clock, and how often each was read: what a
        benchmark in another process needs to measure delivery lag and recordInfo calls per task."""
        self._settle_all()
        reads: dict[str, int] = {}
        paths: dict[str, int] = {}
        for recorded in self.requests:
            paths[recorded.path] = paths.get(recorded.path, 0) + 1
            if recorded.path == RECORD_PATH:
                task_id = recorded.query.get("taskId", "")
                reads[task_id] = reads.get(task_id, 0) + 1
        now = self.clock()
        tasks = [
            {
                "taskId": task.task_id,
                "prompt": task.input.get("prompt", ""),
                "created_at": task.created_at,
                "done_at": task.done_at,
                "state": task.state(now),
                "record_info_calls": reads.get(task.task_id, 0),  # refused ones included
                "record_info_refused": self.refused_reads_by_task.get(task.task_id, 0),
                "callback_status": task.callback_status,
                "image_input": task.input.get("image_input") or [],
            }
            for task in self.tasks.values()
        ]
        # Each file on the upload API: when it arrived (this clock), its size and type, and its pixels if readable.
        uploads = [
            {"path": path, "at": at, "bytes": len(data), "mime": mime, "pixels": _pixels(data)}
            for path, (data, mime, at) in self._files.items()
        ]
        body = {
            "now": now,
            "tasks": tasks,
            "uploads": uploads,
            "requests": paths,
            "refused_creates": self.refused_creates,
            "creates_by_key": {hashlib.sha256(k.encode()).hexdigest()[:12]: n for k, n in self.creates_by_key.items()},
            "refused_reads": self.refused_reads,
        }
        return web.json_response(body)

    # ---- file upload API -----------------------------------------------------------------------

    def _store_upload(
        self, request: web.Request, data: bytes, upload_path: str, file_name: str | None, mime: str | None
    ) -> web.Response:
        if upload_path.startswith("/") or upload_path.endswith("/"):
            return _upload_error(400, "Invalid parameter: uploadPath must not start or end with a slash")
        mime = mime or _sniff_mime(data) or (mimetypes.guess_type(file_name)[0] if file_name else None)
        mime = mime or "application/octet-stream"
        if not file_name:
            # Documented: a random name when none is given.
            file_name = uuid.uuid4().hex + (mimetypes.guess_extension(mime) or "")
        file_path = f"{upload_path}/{file_name}"
        download_url = f"{self._origin(request)}/files/{file_path}"
        self._files[file_path] = (data, mime, self.clock())
        self.uploads[download_url] = data  # same name overwrites, as documented
        uploaded_at = datetime.fromtimestamp(self.wall_clock(), UTC).isoformat(timespec="milliseconds")
        return web.json_response(
            {
                "success": True,
                "code": 200,
                "msg": "File uploaded successfully",
                "data": {
                    "fileName": file_name,
                    "filePath": file_path,
                    "downloadUrl": download_url,
                    "fileSize": len(data),
                    "mimeType": mime,
                    "uploadedAt": uploaded_at.replace("+00:00", "Z"),
                },
            }
        )

    async def _stream_upload(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _upload_error(401, UPLOAD_UNAUTHORIZED_MSG)
        try:
            form = await request.post()
        except ValueError:
            return _upload_error(400, "Missing required parameter: file")
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return _upload_error(400, "Missing required parameter: file")
        upload_path = form.get("uploadPath")
        if not isinstance(upload_path, str) or not upload_path:
            return _upload_error(400, "Missing required parameter: uploadPath")
        file_name = form.get("fileName")
        data = upload.file.read()
        upload.file.seek(0)
        declared = upload.content_type if upload.content_type != "application/octet-stream" else None
        name = file_name if isinstance(file_name, str) and file_name else None
        return self._store_upload(request, data, upload_path, name, _sniff_mime(data) or declared)

    async def _upload_json(self, request: web.Request) -> dict[str, Any] | web.Response:
        if not self._authorized(request):
            return _upload_error(401, UPLOAD_UNAUTHORIZED_MSG)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _upload_error(400, "Invalid JSON body")
        if not isinstance(body, dict):
            return _upload_error(400, "Invalid JSON body")
        return body

    async def _base64_upload(self, request: web.Request) -> web.Response:
        body = await self._upload_json(request)
        if isinstance(body, web.Response):
            return body
        encoded = body.get("base64Data")
        if not isinstance(encoded, str) or not encoded:
            return _upload_error(400, "Missing required parameter: base64Data")
        upload_path = body.get("uploadPath")
        if not isinstance(upload_path, str) or not upload_path:
            return _upload_error(400, "Missing required parameter: uploadPath")
        mime: str | None = None
        if encoded.startswith("data:"):
            header, _, encoded = encoded.partition(",")
            mime = header[len("data:") :].split(";")[0] or None
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return _upload_error(400, "Base64 decoding failed: invalid base64 data")
        file_name = body.get("fileName") or None
        return self._store_upload(request, data, upload_path, file_name, mime or _sniff_mime(data))

    async def _url_upload(self, request: web.Request) -> web.Response:
        body = await self._upload_json(request)
        if isinstance(body, web.Response):
            return body
        file_url = body.get("fileUrl")
        if not isinstance(file_url, str) or not file_url:
            return _upload_error(400, "Missing required parameter: fileUrl")
        if not file_url.startswith(("http://", "https://")):
            return _upload_error(400, "Invalid parameter: fileUrl must be an http(s) URL")
        upload_path = body.get("uploadPath")
        if not isinstance(upload_path, str) or not upload_path:
            return _upload_error(400, "Missing required parameter: uploadPath")
        try:
            timeout = aiohttp.ClientTimeout(total=30)  # documented download timeout
            async with self._get_session().get(file_url, timeout=timeout) as response:
                if response.status != 200:
                    return _upload_error(400, f"Failed to download file from URL: HTTP {response.status}")
                data = await response.read()
                declared = response.content_type if response.content_type != "application/octet-stream" else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _upload_error(400, f"Failed to download file from URL: {exc}")
        file_name = body.get("fileName") or file_url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or None
        return self._store_upload(request, data, upload_path, file_name, _sniff_mime(data) or declared)

    async def _uploaded_file(self, request: web.Request) -> web.Response:
        stored = self._stored_file(request.match_info["path"])  # gone after upload_ttl [S5]
        if stored is None:
            raise web.HTTPNotFound()
        data, mime = stored
        return web.Response(body=data, content_type=mime)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the kie.ai stand-in until interrupted.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--api-key", default=API_KEY)
    parser.add_argument("--credits", type=float, default=10_000, help="the balance; may be fractional (17.5)")
    parser.add_argument("--queue-seconds", type=float, default=2.0)
    parser.add_argument("--generate-seconds", type=float, default=5.0)
    parser.add_argument("--outcome", choices=OUTCOME_KINDS, default="success")
    parser.add_argument("--webhook-hmac-key", default=None)
    parser.add_argument("--generate-jitter", type=float, default=0.0, help="up to this many seconds more, at random")
    parser.add_argument("--jitter-seed", type=int, help="draw the random times from this seed (the same for every run)")
    parser.add_argument(
        "--rate-limit", type=int, default=CREATE_LIMIT, help="creates accepted per --rate-window seconds"
    )
    parser.add_argument("--rate-window", type=float, default=CREATE_WINDOW)
    parser.add_argument(
        "--read-limit",
        type=int,
        default=READ_LIMIT,
        help="recordInfo reads accepted per --read-window seconds per API key; 0 for no limit",
    )
    parser.add_argument("--read-window", type=float, default=READ_WINDOW)
    parser.add_argument(
        "--read-limit-status", type=int, default=429, help="HTTP status of a refused read (its body code is 429)"
    )
    parser.add_argument(
        "--unseen-seconds", type=float, default=0.0, help="recordInfo says the task is unknown for this long"
    )
    parser.add_argument("--unseen-reads", type=int, default=0, help="... and for this many reads of it")
    parser.add_argument("--unseen-code", type=int, choices=UNSEEN_CODES, default=404)
    parser.add_argument(
        "--consume-credits", type=float, default=None, help="what each success costs (default: the price table)"
    )
    parser.add_argument("--result-long-side", type=int, default=64, help="pixels on the result's long side")
    parser.add_argument("--result-padding", type=int, default=0, help="bytes added to each result, for size")
    return parser.parse_args(argv)


def from_args(args: argparse.Namespace) -> KieStandIn:
    """The stand-in the command line describes (not started)."""
    return KieStandIn(
        api_key=args.api_key,
        credits=args.credits,
        default_outcome=Outcome(
            kind=args.outcome,
            queue_seconds=args.queue_seconds,
            generate_seconds=args.generate_seconds,
            unseen_seconds=args.unseen_seconds,
            unseen_reads=args.unseen_reads,
            unseen_code=args.unseen_code,
            credits=args.consume_credits,
        ),
        webhook_hmac_key=args.webhook_hmac_key,
        generate_jitter=args.generate_jitter,
        jitter_seed=args.jitter_seed,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
        read_limit=args.read_limit or None,
        read_window=args.read_window,
        read_limit_http_status=args.read_limit_status,
        result_long_side=args.result_long_side,
        result_padding=args.result_padding,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)

    async def serve() -> None:
        standin = from_args(args)
        base_url = await standin.start(args.host, args.port)
        print(f"kie.ai stand-in at {base_url} (KIEAI_BASE_URL, KIEAI_UPLOAD_URL); key {args.api_key!r}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await standin.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()

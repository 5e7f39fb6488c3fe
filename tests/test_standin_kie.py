"""Tests for the kie.ai stand-in: it must answer like the documented API, or the app's tests prove nothing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from PIL import Image

from standins import kie
from standins.kie import API_KEY, PRICES, STATS_PATH, KieStandIn, Outcome

CREATE = "/api/v1/jobs/createTask"
RECORD = "/api/v1/jobs/recordInfo"
CREDIT = "/api/v1/chat/credit"
STREAM_UPLOAD = "/api/file-stream-upload"
BASE64_UPLOAD = "/api/file-base64-upload"
AUTH = {"Authorization": f"Bearer {API_KEY}"}

MakeStandIn = Callable[..., Awaitable[KieStandIn]]
# One TLS context for every client: httpx builds a fresh one per client otherwise, ~60 ms each.
TLS = ssl.create_default_context()


def http_client(**kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=TLS, timeout=5.0, **kwargs)


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def create_body(**input_fields: Any) -> dict[str, Any]:
    return {"model": "nano-banana-pro", "input": {"prompt": "a banana on the moon", **input_fields}}


def png_bytes(size: tuple[int, int] = (8, 4)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def wait_for(condition: Callable[[], bool], within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.fixture
async def make_standin() -> AsyncIterator[MakeStandIn]:
    started: list[KieStandIn] = []

    async def make(**kwargs: Any) -> KieStandIn:
        standin = KieStandIn(**kwargs)
        await standin.start()
        started.append(standin)
        return standin

    yield make
    for standin in started:
        await standin.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(headers=AUTH) as http:
        yield http


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[tuple[dict[str, str], dict[str, Any]]]]]:
    """A tiny app endpoint that takes kie callbacks."""
    received: list[tuple[dict[str, str], dict[str, Any]]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.json()))
        return web.json_response({"code": 200, "msg": "success"})

    app = web.Application()
    app.router.add_post("/kie/callback", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/kie/callback", received
    await runner.cleanup()


async def create(client: httpx.AsyncClient, standin: KieStandIn, body: dict[str, Any]) -> str:
    response = await client.post(standin.base_url + CREATE, json=body)
    payload = response.json()
    assert payload["code"] == 200, payload
    return payload["data"]["taskId"]


async def record(client: httpx.AsyncClient, standin: KieStandIn, task_id: str) -> dict[str, Any]:
    response = await client.get(standin.base_url + RECORD, params={"taskId": task_id})
    assert response.status_code == 200
    return response.json()


async def test_requests_without_the_right_key_are_refused(make_standin: MakeStandIn) -> None:
    standin = await make_standin()
    for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": API_KEY}):
        async with http_client(base_url=standin.base_url, headers=headers) as http:
            for response in (
                await http.post(CREATE, json=create_body()),
                await http.get(RECORD, params={"taskId": "x"}),
                await http.get(CREDIT),
            ):
                assert response.status_code == 200
                assert response.json() == {"code": 401, "msg": "You do not have access permissions"}
            upload = await http.post(STREAM_UPLOAD, files={"file": ("a.png", png_bytes())}, data={"uploadPath": "i"})
            assert upload.status_code == 200
            assert upload.json() == {"success": False, "code": 401, "msg": "Authentication failed: Invalid API Key"}
    assert standin.tasks == {}
    assert standin.uploads == {}
    # Every request is recorded, with the header it carried.
    assert [r.headers.get("Authorization") for r in standin.requests_to(CREATE)] == [None, "Bearer wrong-key", API_KEY]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**create_body(), "model": "google/nano-banana-pro"}, "model"),
        ({"input": {"prompt": "x"}}, "model"),
        (create_body(aspect_ratio="7:5"), "aspect_ratio"),
        (create_body(prompt="x" * 10_001), "prompt"),
        (create_body(prompt=""), "prompt"),
        ({"model": "nano-banana-pro", "input": {}}, "prompt"),
        (create_body(image_input=[f"https://example.com/{i}.png" for i in range(9)]), "image_input"),
        (create_body(image_input=["file:///etc/passwd"]), "image_input"),
        (create_body(resolution="4k"), "resolution"),
        (create_body(output_format="jpeg"), "output_format"),
        ({**create_body(), "callBackUrl": "not a url"}, "callBackUrl"),
    ],
)
async def test_invalid_creates_get_422_naming_the_field(
    make_standin: MakeStandIn, client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    standin = await make_standin()
    response = await client.post(standin.base_url + CREATE, json=body)
    assert response.status_code == 200
    payload = response.json()
    assert payload["code"] == 422
    assert field in payload["msg"]
    assert payload["data"] is None
    assert standin.tasks == {}


async def test_limits_are_inclusive_and_task_ids_are_32_hex(
    make_standin: MakeStandIn, client: httpx.AsyncClient
) -> None:
    standin = await make_standin()
    body = create_body(
        prompt="x" * 10_000,
        image_input=[f"https://example.com/{i}.png" for i in range(8)],
        aspect_ratio="21:9",
        resolution="4K",
        output_format="jpg",
    )
    task_id = await create(client, standin, body)
    assert re.fullmatch(r"[0-9a-f]{32}", task_id)
    assert standin.tasks[task_id].body == body


async def test_states_progress_over_time_to_success(make_standin: MakeStandIn, client: httpx.AsyncClient) -> None:
    clock = FakeClock()
    standin = await make_standin(clock=clock, default_outcome=Outcome(queue_seconds=2.0, generate_seconds=2.0))
    body = {**create_body(resolution="2K"), "callBackUrl": "https://app.example/cb"}
    task_id = await create(client, standin, body)

    seen: list[dict[str, Any]] = []
    for step in (0.0, 1.0, 1.0, 1.5, 0.5):
        clock.advance(step)
        payload = await record(client, standin, task_id)
        assert payload["code"] == 200
        assert payload["msg"] == "success"
        seen.append(payload["data"])
    assert [d["state"] for d in seen] == ["waiting", "queuing", "generating", "generating", "success"]

    running, done = seen[2], seen[-1]
    assert "progress" not in done
    assert running["resultJson"] == "" and running["completeTime"] is None
    assert json.loads(done["param"]) == body  # param is a JSON string echoing the whole create body
    assert done["model"] == "nano-banana-pro" and done["taskId"] == task_id
    assert done["failCode"] == "" and done["failMsg"] == ""
    assert done["completeTime"] - done["createTime"] == 4000
    assert done["costTime"] == 4000
    assert done["updateTime"] == done["completeTime"]
    assert running["updateTime"] == running["createTime"] + 2000
    [url] = json.loads(done["resultJson"])["resultUrls"]
    assert url.startswith(standin.base_url)


@pytest.mark.parametrize(
    ("output_format", "aspect_ratio", "size", "pil_format", "content_type"),
    [
        ("png", "16:9", (64, 36), "PNG", "image/png"),
        ("jpg", "9:16", (36, 64), "JPEG", "image/jpeg"),
        ("jpg", "21:9", (64, 27), "JPEG", "image/jpeg"),
        ("png", "auto", (64, 64), "PNG", "image/png"),
    ],
)
async def test_result_url_serves_a_real_image_in_the_asked_shape(
    make_standin: MakeStandIn,
    client: httpx.AsyncClient,
    output_format: str,
    aspect_ratio: str,
    size: tuple[int, int],
    pil_format: str,
    content_type: str,
) -> None:
    standin = await make_standin()
    task_id = await create(client, standin, create_body(output_format=output_format, aspect_ratio=aspect_ratio))
    data = (await record(client, standin, task_id))["data"]
    assert data["state"] == "success"
    [url] = json.loads(data["resultJson"])["resultUrls"]
    assert url.endswith("." + output_format)
    async with http_client() as anonymous:  # result URLs are public
        image_response = await anonymous.get(url)
    assert image_response.status_code == 200
    assert image_response.headers["Content-Type"] == content_type
    image = Image.open(io.BytesIO(image_response.content))
    assert image.format == pil_format
    assert image.size == size


async def test_failed_task_reports_why_and_costs_nothing(make_standin: MakeStandIn, client: httpx.AsyncClient) -> None:
    standin = await make_standin(credits=100)
    standin.plan(Outcome(kind="fail", fail_code="422", fail_msg="Invalid prompt: prompt contains prohibited content"))
    task_id = await create(client, standin, create_body(resolution="4K"))
    data = (await record(client, standin, task_id))["data"]
    assert data["state"] == "fail"
    assert data["failCode"] == "422"
    assert data["failMsg"] == "Invalid prompt: prompt contains prohibited content"
    assert data["resultJson"] == ""
    assert data["completeTime"] is not None
    assert standin.credits == 100
    assert (await client.get(standin.base_url + CREDIT)).json()["data"] == 100


async def test_success_deducts_the_price_once(make_standin: MakeStandIn, client: httpx.AsyncClient) -> None:
    standin = await make_standin(credits=1000)
    four_k = await create(client, standin, create_body(resolution="4K"))
    one_k = await create(client, standin, create_body())
    for _ in range(3):
        for task_id in (four_k, one_k):
            assert (await record(client, standin, task_id))["data"]["state"] == "success"
    assert standin.credits == 1000 - PRICES["4K"] - PRICES["1K"]
    assert (await client.get(standin.base_url + CREDIT)).json() == {"code": 200, "msg": "success", "data": 958}


async def test_too_few_credits_gives_402(make_standin: MakeStandIn, client: httpx.AsyncClient) -> None:
    standin = await make_standin(credits=PRICES["4K"] - 1)
    response = await client.post(standin.base_url + CREATE, json=create_body(resolution="4K"))
    assert response.status_code == 200
    assert response.json() == {"code": 402, "msg": "Insufficient Credits", "data": None}
    assert standin.tasks == {}
    await create(client, standin, create_body(resolution="1K"))  # cheaper one still fits


async def test_21st_create_in_the_window_gets_http_429_and_no_task(
    make_standin: MakeStandIn, client: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    standin = await make_standin(clock=clock)
    for _ in range(20):
        await create(client, standin, create_body())
        clock.advance(0.1)
    response = await client.post(standin.base_url + CREATE, json=create_body())
    assert response.status_code == 429
    assert response.json() == {"code": 429, "msg": "Rate limit exceeded"}
    assert len(standin.tasks) == 20
    clock.advance(8.0)  # the window slides: the first create is now over 10 s old
    await create(client, standin, create_body())
    assert len(standin.tasks) == 21


async def test_fail_next_answers_the_injected_error_then_recovers(
    make_standin: MakeStandIn, client: httpx.AsyncClient
) -> None:
    standin = await make_standin()
    standin.fail_next(CREATE, 500, times=2, http_status=500)
    standin.fail_next(RECORD, 455, "maintenance")
    for _ in range(2):
        response = await client.post(standin.base_url + CREATE, json=create_body())
        assert response.status_code == 500
        assert response.json() == {"code": 500, "msg": "Server Error", "data": None}
    assert standin.tasks == {}
    task_id = await create(client, standin, create_body())
    assert (await record(client, standin, task_id)) == {"code": 455, "msg": "maintenance", "data": None}
    assert (await record(client, standin, task_id))["data"]["state"] == "success"
    assert len(standin.requests_to(CREATE)) == 3

    standin.fail_next(RECORD, 404)
    assert (await record(client, standin, task_id))["msg"] == "Task not found"  # recordInfo's own wording
    standin.fail_next(STREAM_UPLOAD, 500)
    upload = await client.post(standin.base_url + STREAM_UPLOAD, files={"file": ("a.png", png_bytes())})
    assert upload.json()["success"] is False and upload.json()["code"] == 500


async def test_record_info_errors_and_null_record_just_after_create(
    make_standin: MakeStandIn, client: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    standin = await make_standin(clock=clock, record_null_seconds=1.0)
    task_id = await create(client, standin, create_body())
    assert await record(client, standin, task_id) == {"code": 422, "msg": "recordInfo is null", "data": None}
    clock.advance(1.0)
    assert (await record(client, standin, task_id))["data"]["state"] == "success"
    assert (await record(client, standin, "0" * 32))["code"] == 404
    missing = await client.get(standin.base_url + RECORD)
    assert missing.json() == {"code": 400, "msg": "taskId parameter is required", "data": None}


async def test_credit_endpoint_reports_the_balance(make_standin: MakeStandIn, client: httpx.AsyncClient) -> None:
    standin = await make_standin(credits=1234)
    assert (await client.get(standin.base_url + CREDIT)).json() == {"code": 200, "msg": "success", "data": 1234}
    standin.credits = 7
    assert (await client.get(standin.base_url + CREDIT)).json()["data"] == 7


async def test_stream_upload_round_trips_bytes(make_standin: MakeStandIn, client: httpx.AsyncClient) -> None:
    standin = await make_standin()
    first, second = png_bytes((8, 4)), png_bytes((3, 3))
    url = standin.base_url + STREAM_UPLOAD
    form = {"uploadPath": "images/user-uploads", "fileName": "ref.png"}
    response = await client.post(url, files={"file": ("photo.png", first, "image/png")}, data=form)
    payload = response.json()
    assert payload["success"] is True and payload["code"] == 200 and payload["msg"] == "File uploaded successfully"
    data = payload["data"]
    assert data["fileName"] == "ref.png"
    assert data["filePath"] == "images/user-uploads/ref.png"
    assert data["fileSize"] == len(first) and data["mimeType"] == "image/png"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["uploadedAt"])
    async with http_client() as anonymous:
        assert (await anonymous.get(data["downloadUrl"])).content == first
        # The same fileName again overwrites, as documented.
        again = await client.post(url, files={"file": ("photo.png", second, "image/png")}, data=form)
        assert again.json()["data"]["downloadUrl"] == data["downloadUrl"]
        assert (await anonymous.get(data["downloadUrl"])).content == second
    assert standin.uploads == {data["downloadUrl"]: second}
    assert standin.requests_to(STREAM_UPLOAD)[0].form["file"]["data"] == first

    no_path = await client.post(url, files={"file": ("photo.png", first)})
    assert no_path.json() == {"success": False, "code": 400, "msg": "Missing required parameter: uploadPath"}
    no_file = await client.post(url, data={"uploadPath": "images"}, files={"other": ("x", b"x")})
    assert no_file.json()["msg"] == "Missing required parameter: file"
    slashed = await client.post(url, files={"file": ("photo.png", first)}, data={"uploadPath": "/images"})
    assert slashed.json()["code"] == 400


async def test_base64_upload_round_trips_raw_and_data_url(make_standin: MakeStandIn, client: httpx.AsyncClient) -> None:
    standin = await make_standin()
    url = standin.base_url + BASE64_UPLOAD
    image = png_bytes()
    encoded = base64.b64encode(image).decode()
    raw = (await client.post(url, json={"base64Data": encoded, "uploadPath": "images", "fileName": "raw.png"})).json()
    data_url = (
        await client.post(url, json={"base64Data": f"data:image/png;base64,{encoded}", "uploadPath": "b"})
    ).json()
    assert raw["success"] is True and data_url["success"] is True
    assert raw["data"]["filePath"] == "images/raw.png"
    assert data_url["data"]["fileName"].endswith(".png")  # a random name when none is given
    assert data_url["data"]["mimeType"] == "image/png"
    async with http_client() as anonymous:
        for payload in (raw, data_url):
            assert (await anonymous.get(payload["data"]["downloadUrl"])).content == image
            assert standin.uploads[payload["data"]["downloadUrl"]] == image

    bad = (await client.post(url, json={"base64Data": "not base64!!", "uploadPath": "images"})).json()
    assert bad["success"] is False and bad["code"] == 400 and "Base64 decoding failed" in bad["msg"]
    missing = (await client.post(url, json={"base64Data": encoded})).json()
    assert missing["msg"] == "Missing required parameter: uploadPath"


async def test_callbacks_arrive_on_time_with_a_valid_signature(
    make_standin: MakeStandIn,
    client: httpx.AsyncClient,
    receiver: tuple[str, list[tuple[dict[str, str], dict[str, Any]]]],
) -> None:
    callback_url, received = receiver
    standin = await make_standin(webhook_hmac_key="hmac-secret")
    standin.plan(
        Outcome(queue_seconds=0.02, generate_seconds=0.03),
        Outcome(kind="fail", queue_seconds=0.02, generate_seconds=0.03, fail_msg="Internal server error"),
    )
    body = {**create_body(resolution="4K"), "callBackUrl": callback_url}
    ok_id = await create(client, standin, body)
    failed_id = await create(client, standin, body)
    assert received == []  # not before the task is done

    # No polling: the stand-in's own timers must send them.
    await wait_for(lambda: len(received) == 2)
    assert standin.requests_to(RECORD) == []
    by_id = {payload["data"]["taskId"]: (headers, payload) for headers, payload in received}

    for task_id, (headers, _payload) in by_id.items():
        timestamp = headers["X-Webhook-Timestamp"]
        assert abs(int(timestamp) - time.time()) < 5
        expected = base64.b64encode(
            hmac.new(b"hmac-secret", f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()
        ).decode()
        assert hmac.compare_digest(headers["X-Webhook-Signature"], expected)

    ok = by_id[ok_id][1]
    assert ok["code"] == 200 and ok["msg"] == "Playground task completed successfully."
    assert ok["data"]["state"] == "success" and ok["data"]["consumeCredits"] == PRICES["4K"]
    assert json.loads(ok["data"]["param"])["callBackUrl"] == callback_url
    # The callback schema gives costTime in seconds, recordInfo in milliseconds.
    assert ok["data"]["costTime"] == round((ok["data"]["completeTime"] - ok["data"]["createTime"]) / 1000)
    assert json.loads(ok["data"]["resultJson"])["resultUrls"] == [standin.tasks[ok_id].result_url]

    failed = by_id[failed_id][1]
    assert failed["code"] == 501 and failed["msg"] == "Playground task failed."
    assert failed["data"]["state"] == "fail" and failed["data"]["consumeCredits"] == 0
    assert failed["data"]["failCode"] == "500" and failed["data"]["failMsg"] == "Internal server error"
    assert failed["data"]["resultJson"] == ""

    await wait_for(lambda: len(standin.callbacks_sent) == 2)
    assert sorted(standin.callbacks_sent) == sorted([(ok_id, 200), (failed_id, 200)])


async def test_unsigned_callbacks_without_a_key(
    make_standin: MakeStandIn,
    client: httpx.AsyncClient,
    receiver: tuple[str, list[tuple[dict[str, str], dict[str, Any]]]],
) -> None:
    callback_url, received = receiver
    standin = await make_standin()
    await create(client, standin, {**create_body(), "callBackUrl": callback_url})
    await wait_for(lambda: len(received) == 1)
    assert "X-Webhook-Signature" not in received[0][0]


async def test_never_task_waits_for_finish_now(
    make_standin: MakeStandIn,
    client: httpx.AsyncClient,
    receiver: tuple[str, list[tuple[dict[str, str], dict[str, Any]]]],
) -> None:
    callback_url, received = receiver
    standin = await make_standin(credits=100)
    standin.plan(Outcome(kind="never"))
    task_id = await create(client, standin, {**create_body(), "callBackUrl": callback_url})
    await asyncio.sleep(0.05)
    assert (await record(client, standin, task_id))["data"]["state"] == "generating"
    assert received == [] and standin.credits == 100

    standin.finish_now(task_id)
    await wait_for(lambda: len(received) == 1)
    assert received[0][1]["data"]["state"] == "success"
    assert (await record(client, standin, task_id))["data"]["state"] == "success"
    assert standin.credits == 100 - PRICES["1K"]


async def test_odd_outcomes(make_standin: MakeStandIn, client: httpx.AsyncClient) -> None:
    standin = await make_standin()
    standin.plan(
        Outcome(kind="success_no_url"),
        Outcome(kind="broken_image"),
        Outcome(kind="expired_url"),
        Outcome(kind="unknown_state"),
    )
    no_url, broken, expired, mystery = [await create(client, standin, create_body()) for _ in range(4)]

    no_url_data = (await record(client, standin, no_url))["data"]
    assert no_url_data["state"] == "success"
    assert json.loads(no_url_data["resultJson"]) == {"resultUrls": []}

    async with http_client() as anonymous:
        [broken_url] = json.loads((await record(client, standin, broken))["data"]["resultJson"])["resultUrls"]
        page = await anonymous.get(broken_url)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        with pytest.raises(OSError):
            Image.open(io.BytesIO(page.content))

        [expired_url] = json.loads((await record(client, standin, expired))["data"]["resultJson"])["resultUrls"]
        assert (await anonymous.get(expired_url)).status_code == 404

    assert (await record(client, standin, mystery))["data"]["state"] == "mystery"
    await asyncio.sleep(0.02)
    assert (await record(client, standin, mystery))["data"]["state"] == "mystery"


async def test_result_url_is_404_until_the_task_succeeds(make_standin: MakeStandIn, client: httpx.AsyncClient) -> None:
    standin = await make_standin()
    standin.plan(Outcome(kind="never"))
    task_id = await create(client, standin, create_body())
    url = standin.tasks[task_id].result_url
    async with http_client() as anonymous:
        assert (await anonymous.get(url)).status_code == 404
        standin.finish_now(task_id)
        assert (await anonymous.get(url)).status_code == 200


# ---- reads are rate limited, young tasks may be unseen, callbacks carry the credits -----------------------------


async def test_reads_over_ten_a_second_per_key_get_http_429_and_are_counted(
    make_standin: MakeStandIn, client: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    standin = await make_standin(clock=clock)  # the default: 10 reads per second per key, as kie's page says
    assert (standin.read_limit, standin.read_window) == (10, 1.0)
    task_id = await create(client, standin, create_body())
    for _ in range(5):
        assert (await record(client, standin, task_id))["code"] == 200
    clock.advance(0.5)
    for _ in range(5):
        assert (await record(client, standin, task_id))["code"] == 200
    refused = await client.get(standin.base_url + RECORD, params={"taskId": task_id})
    assert refused.status_code == 429
    assert refused.json() == {"code": 429, "msg": "Rate limit exceeded"}
    # A bad key is still told so first, and does not count.
    async with http_client(headers={"Authorization": "Bearer wrong"}) as stranger:
        assert (await stranger.get(standin.base_url + RECORD, params={"taskId": task_id})).json()["code"] == 401

    clock.advance(0.5)  # the window slides: the first five reads are now a second old
    for _ in range(5):
        assert (await record(client, standin, task_id))["code"] == 200
    assert (await client.get(standin.base_url + RECORD, params={"taskId": task_id})).status_code == 429
    assert standin.refused_reads == 2
    assert len(standin.tasks) == 1 and (await create(client, standin, create_body()))  # creates have their own limit

    stats = (await client.get(standin.base_url + STATS_PATH)).json()
    assert stats["refused_reads"] == 2 and stats["refused_creates"] == 0
    by_id = {t["taskId"]: t for t in stats["tasks"]}
    assert by_id[task_id]["record_info_refused"] == 2
    assert by_id[task_id]["record_info_calls"] == 18  # every read kie saw: refused and unauthorized ones too


async def test_read_limit_can_answer_http_200_with_body_code_429_or_be_off(
    make_standin: MakeStandIn, client: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    quiet = await make_standin(clock=clock, read_limit=2, read_window=10.0, read_limit_http_status=200)
    task_id = await create(client, quiet, create_body())
    for _ in range(2):
        await record(client, quiet, task_id)
    over = await client.get(quiet.base_url + RECORD, params={"taskId": task_id})
    assert (over.status_code, over.json()) == (200, {"code": 429, "msg": "Rate limit exceeded"})

    unlimited = await make_standin(clock=clock, read_limit=None)
    task_id = await create(client, unlimited, create_body())
    for _ in range(50):
        assert (await record(client, unlimited, task_id))["code"] == 200
    assert unlimited.refused_reads == 0


def test_command_line_sets_the_read_limit_young_tasks_and_credits() -> None:
    standin = kie.from_args(
        kie.parse_args(
            [
                "--read-limit",
                "4",
                "--read-window",
                "2",
                "--unseen-seconds",
                "1.5",
                "--unseen-code",
                "422",
                "--consume-credits",
                "17.5",
                "--credits",
                "100.25",
            ]
        )
    )
    assert (standin.read_limit, standin.read_window) == (4, 2.0)
    outcome = standin.default_outcome
    assert (outcome.unseen_seconds, outcome.unseen_code, outcome.credits) == (1.5, 422, 17.5)
    assert standin.credits == 100.25
    assert kie.from_args(kie.parse_args(["--read-limit", "0"])).read_limit is None
    assert kie.from_args(kie.parse_args([])).read_limit == 10


async def test_a_young_task_is_not_found_for_its_first_seconds(
    make_standin: MakeStandIn, client: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    standin = await make_standin(clock=clock)
    standin.plan(Outcome(unseen_seconds=1.0))
    task_id = await create(client, standin, create_body())
    for _ in range(3):
        answer = await client.get(standin.base_url + RECORD, params={"taskId": task_id})
        assert answer.status_code == 200
        assert answer.json() == {"code": 404, "msg": "Task not found", "data": None}  # recordInfo's own wording
        clock.advance(0.3)
    clock.advance(0.1)  # 1.0 s after the create
    assert (await record(client, standin, task_id))["data"]["state"] == "success"


async def test_a_young_task_can_be_null_for_its_first_reads(
    make_standin: MakeStandIn, client: httpx.AsyncClient
) -> None:
    # As a stand-in setting: every task starts unseen for two reads, with 422 "recordInfo is null".
    standin = await make_standin(default_outcome=Outcome(unseen_reads=2, unseen_code=422))
    task_id = await create(client, standin, create_body())
    for _ in range(2):
        assert await record(client, standin, task_id) == {"code": 422, "msg": "recordInfo is null", "data": None}
    assert (await record(client, standin, task_id))["data"]["state"] == "success"
    with pytest.raises(ValueError, match="unseen_code"):
        Outcome(unseen_code=500)


async def test_callback_carries_consume_and_remained_credits_and_record_info_none(
    make_standin: MakeStandIn,
    client: httpx.AsyncClient,
    receiver: tuple[str, list[tuple[dict[str, str], dict[str, Any]]]],
) -> None:
    callback_url, received = receiver
    standin = await make_standin(credits=100)
    standin.plan(Outcome(generate_seconds=0.02, credits=17.5), Outcome(kind="fail", generate_seconds=0.02))
    body = {**create_body(), "callBackUrl": callback_url}
    ok_id = await create(client, standin, body)
    await wait_for(lambda: len(received) == 1)
    failed_id = await create(client, standin, body)
    await wait_for(lambda: len(received) == 2)
    ok, failed = received[0][1]["data"], received[1][1]["data"]
    assert (ok["taskId"], ok["consumeCredits"], ok["remainedCredits"]) == (ok_id, 17.5, 82.5)
    assert (failed["taskId"], failed["consumeCredits"], failed["remainedCredits"]) == (failed_id, 0, 82.5)
    assert "creditsConsumed" not in ok  # the nano-banana-pro example's names, not the newer docs' one

    # The balance is fractional now, and the credit endpoint says so.
    assert (await client.get(standin.base_url + CREDIT)).json() == {"code": 200, "msg": "success", "data": 82.5}
    # recordInfo lists exactly the documented fields: no credits of any name.
    data = (await record(client, standin, ok_id))["data"]
    assert set(data) == {
        "taskId",
        "model",
        "state",
        "param",
        "resultJson",
        "failCode",
        "failMsg",
        "costTime",
        "completeTime",
        "createTime",
        "updateTime",
    }


async def test_whole_balances_are_integers_and_fractions_stay_fractions(
    make_standin: MakeStandIn, client: httpx.AsyncClient
) -> None:
    standin = await make_standin(credits=1000.0)
    whole = (await client.get(standin.base_url + CREDIT)).json()["data"]
    assert whole == 1000 and isinstance(whole, int)  # as the documented example: `"data": 100`
    standin.credits = 12.25
    assert (await client.get(standin.base_url + CREDIT)).json()["data"] == 12.25
    short = await client.post(standin.base_url + CREATE, json=create_body())  # 18 credits: more than 12.25
    assert short.json() == {"code": 402, "msg": "Insufficient Credits", "data": None}


async def test_a_5000_character_fail_message_comes_back_whole(
    make_standin: MakeStandIn,
    client: httpx.AsyncClient,
    receiver: tuple[str, list[tuple[dict[str, str], dict[str, Any]]]],
) -> None:
    callback_url, received = receiver
    message = "The model refused. " + "x" * (5000 - 19)
    assert len(message) == 5000
    standin = await make_standin()
    standin.plan(Outcome(kind="fail", fail_code="400", fail_msg=message, generate_seconds=0.02))
    task_id = await create(client, standin, {**create_body(), "callBackUrl": callback_url})
    await wait_for(lambda: len(received) == 1)
    assert received[0][1]["data"]["failMsg"] == message
    assert (await record(client, standin, task_id))["data"]["failMsg"] == message


# ---- what kie keeps, and for how long -------------------------------------------------------------------------


async def test_image_inputs_on_the_upload_api_must_be_kie_image_types_and_still_there(
    make_standin: MakeStandIn, client: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    standin = await make_standin(clock=clock)
    url = standin.base_url + STREAM_UPLOAD
    gif = b"GIF89a" + bytes(32)
    png = (await client.post(url, files={"file": ("a.png", png_bytes())}, data={"uploadPath": "in"})).json()
    moving = (await client.post(url, files={"file": ("b.gif", gif)}, data={"uploadPath": "in"})).json()
    assert moving["data"]["mimeType"] == "image/gif"

    refused = await client.post(
        standin.base_url + CREATE,
        json=create_body(image_input=[png["data"]["downloadUrl"], moving["data"]["downloadUrl"]]),
    )
    assert (
        refused.json()["code"] == 422
        and "image_input" in refused.json()["msg"]
        and "image/gif" in refused.json()["msg"]
    )
    await create(client, standin, create_body(image_input=[png["data"]["downloadUrl"]]))

    # Uploads are deleted after 3 days, or 24 h by another line of the same page: the shorter is kept. Then the
    # link is gone, and a task can no longer use it.
    clock.advance(24 * 3600 - 1)
    async with http_client() as anonymous:
        assert (await anonymous.get(png["data"]["downloadUrl"])).status_code == 200
    clock.advance(1)
    async with http_client() as anonymous:
        assert (await anonymous.get(png["data"]["downloadUrl"])).status_code == 404
    gone = await client.post(standin.base_url + CREATE, json=create_body(image_input=[png["data"]["downloadUrl"]]))
    assert gone.json()["code"] == 422 and "image_input" in gone.json()["msg"]


async def test_result_urls_expire_after_a_day(make_standin: MakeStandIn, client: httpx.AsyncClient) -> None:
    clock = FakeClock()
    standin = await make_standin(clock=clock)
    task_id = await create(client, standin, create_body())
    [url] = json.loads((await record(client, standin, task_id))["data"]["resultJson"])["resultUrls"]
    async with http_client() as anonymous:
        assert (await anonymous.get(url)).status_code == 200
        clock.advance(24 * 3600 - 1)
        assert (await anonymous.get(url)).status_code == 200
        clock.advance(1)
        assert (await anonymous.get(url)).status_code == 404

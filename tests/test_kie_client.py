"""The kie.ai client against the kie stand-in, plus the pure parsing of kie's answers."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from bot.clients.kie import (
    ERRORS_BY_CODE,
    DownloadError,
    KieClient,
    KieError,
    KieInsufficientCredits,
    KieNotReached,
    KieRateLimited,
    KieServerError,
    KieTask,
    KieUnavailable,
    KieUnknownOutcome,
    Phase,
)
from bot.clients.limits import RateLimit
from prompts.options import GenerationRequest, Options
from standins.kie import API_KEY, Outcome

REQUEST = GenerationRequest(prompt="a cat", options=Options("4:5", "1K", "jpg"))


def offline_client(http: httpx.AsyncClient, retry_delays: tuple[float, ...] = ()) -> KieClient:
    return KieClient(
        http, api_key="k", base_url="http://kie.test", upload_url="http://kie.test", retry_delays=retry_delays
    )


@pytest.fixture
async def http():
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def client(http, kie) -> KieClient:
    return KieClient(http, api_key=API_KEY, base_url=kie.base_url, upload_url=kie.base_url, retry_delays=(0, 0))


async def test_create_read_download(client, kie):
    kie.plan(Outcome(generate_seconds=0.05))
    task_id = await client.create_task(REQUEST.prompt, REQUEST.options)
    info = await client.get_task(task_id)
    assert info is not None and info.phase is Phase.RUNNING
    kie.finish_now(task_id)
    info = await client.get_task(task_id)
    assert info.phase is Phase.SUCCESS and len(info.result_urls) == 1
    data = await client.download(info.result_urls[0], max_bytes=10_000_000)
    assert data.startswith(b"\xff\xd8\xff")
    download = kie.requests[-1]
    assert "Authorization" not in download.headers  # the key never goes anywhere but kie's API


async def test_every_documented_code_is_a_typed_error_with_advice():
    assert sorted(ERRORS_BY_CODE) == [401, 402, 404, 422, 429, 455, 500, 501, 505]
    messages = {cls().user_message for cls in ERRORS_BY_CODE.values()}
    assert len(messages) == len(ERRORS_BY_CODE)


async def test_error_in_body_with_http_200_is_raised(client, kie):
    kie.fail_next("/api/v1/jobs/createTask", 402)
    with pytest.raises(KieInsufficientCredits):
        await client.create_task(REQUEST.prompt, REQUEST.options)


async def test_credit_balance(client, kie):
    kie.credits = 1234
    assert await client.get_credits() == 1234


async def test_reads_are_retried_then_give_up(client, kie):
    kie.fail_next("/api/v1/chat/credit", 500, times=3)
    with pytest.raises(KieServerError):
        await client.get_credits()
    kie.fail_next("/api/v1/chat/credit", 455, times=2)
    assert await client.get_credits() == kie.credits


async def test_create_is_not_repeated_when_its_outcome_is_unknown():
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("no answer", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = KieClient(
            http, api_key="k", base_url="http://kie.test", upload_url="http://kie.test", retry_delays=(0,)
        )
        with pytest.raises(KieUnknownOutcome) as caught:
            await client.create_task(REQUEST.prompt, REQUEST.options)
    assert len(calls) == 1
    assert "kie.ai/logs" in caught.value.user_message


async def test_a_create_that_never_connected_goes_back_to_the_job_as_not_reached():
    """The job sends it again through its create line (tests/test_faults.py): the client does not retry it itself."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(KieNotReached):
            await offline_client(http, retry_delays=(0, 0)).create_task(REQUEST.prompt, REQUEST.options)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (502, "<html>502 Bad Gateway</html>", KieNotReached),  # the gateway reached nothing behind it
        (503, "<html>503 Service Temporarily Unavailable</html>", KieNotReached),
        (504, "<html>504 Gateway Time-out</html>", KieUnknownOutcome),  # passed on, then stopped waiting for kie
        (500, "<html>500</html>", KieUnknownOutcome),
        (503, '{"code": 500, "msg": "internal error"}', KieServerError),  # kie's own answer: it saw the request
    ],
)
async def test_a_gateway_page_on_create_says_whether_kie_saw_it(status, body, error):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(error) as caught:
            await offline_client(http).create_task(REQUEST.prompt, REQUEST.options)
    assert type(caught.value) is error


async def test_unreachable_kie_is_its_own_error():
    async with httpx.AsyncClient() as http:
        client = KieClient(http, api_key="k", base_url="http://127.0.0.1:9", upload_url="http://x", retry_delays=())
        with pytest.raises(KieUnavailable):
            await client.get_credits()


async def test_http_429_without_a_json_body_is_rate_limited():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, text="Too Many Requests")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = offline_client(http)
        with pytest.raises(KieRateLimited):
            await client.create_task(REQUEST.prompt, REQUEST.options)


async def test_a_rate_limited_create_is_reported_to_the_caller_not_retried():
    """A 429 goes back to the job, which waits its turn in the create line (its card shows it) and sends it again."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(429, json={"code": 429, "msg": "rate limited"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(KieRateLimited):
            await offline_client(http, retry_delays=(0, 0)).create_task(REQUEST.prompt, REQUEST.options)
    assert len(calls) == 1


async def test_download_size_cap(client, kie):
    task_id = await client.create_task(REQUEST.prompt, REQUEST.options)
    kie.finish_now(task_id)
    info = await client.get_task(task_id)
    with pytest.raises(DownloadError, match="byte limit"):
        await client.download(info.result_urls[0], max_bytes=10)


@pytest.mark.parametrize(
    ("result_json", "urls"),
    [
        ('{"resultUrls":["https://x/a.png"]}', ("https://x/a.png",)),
        ({"resultUrls": ["https://x/b.png"]}, ("https://x/b.png",)),
        ("", ()),
        (None, ()),
        ("not json", ()),
        ('{"resultUrls":["javascript:alert(1)", 5]}', ()),
    ],
)
def test_result_json_parsing(result_json, urls):
    assert KieTask.from_data({"taskId": "t", "state": "success", "resultJson": result_json}).result_urls == urls


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("waiting", Phase.RUNNING),
        ("queuing", Phase.RUNNING),
        ("generating", Phase.RUNNING),
        ("success", Phase.SUCCESS),
        ("fail", Phase.FAILED),
        ("pending", Phase.UNKNOWN),
        ("SUCCESS", Phase.UNKNOWN),
        ("", Phase.UNKNOWN),
    ],
)
def test_states(state, phase):
    assert KieTask.from_data({"taskId": "t", "state": state}).phase is phase


def test_credit_field_names_from_either_doc_generation():
    assert KieTask.from_data({"taskId": "t", "state": "success", "creditsConsumed": 18}).credits == 18
    assert KieTask.from_data({"taskId": "t", "state": "success", "consumeCredits": 24}).credits == 24
    assert KieTask.from_data({"taskId": "t", "state": "success"}).credits is None


def test_unknown_code_is_still_an_error():
    from bot.clients.kie import error_for

    assert type(error_for(433, "odd")) is KieError
    assert isinstance(error_for(503), KieServerError)


async def test_a_task_kie_does_not_know_yet_reads_as_none_whether_404_or_422():
    answers = iter(
        [
            httpx.Response(200, json={"code": 404, "msg": "task not found"}),
            httpx.Response(200, json={"code": 422, "msg": "recordInfo is null"}),
            httpx.Response(200, json={"code": 200, "msg": "success", "data": {"taskId": "t", "state": "waiting"}}),
        ]
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: next(answers))) as http:
        client = offline_client(http)
        assert await client.get_task("t") is None
        assert await client.get_task("t") is None
        info = await client.get_task("t")
    assert info is not None and info.is_queued


async def test_a_fractional_balance_and_cost_are_taken_as_they_are():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": 200, "msg": "success", "data": 1234.5})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        assert await offline_client(http).get_credits() == 1234.5
    assert KieTask.from_data({"taskId": "t", "state": "success", "consumeCredits": 17.5}).credits == 17.5
    assert KieTask.from_data({"taskId": "t", "state": "success", "consumeCredits": True}).credits is None


async def test_reads_of_every_task_share_one_pace_but_other_calls_do_not_wait():
    reads: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("recordInfo"):
            reads.append(time.monotonic())
            return httpx.Response(200, json={"code": 200, "msg": "ok", "data": {"taskId": "t", "state": "waiting"}})
        return httpx.Response(200, json={"code": 200, "msg": "success", "data": 10})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = KieClient(
            http, api_key="k", base_url="http://kie.test", upload_url="http://kie.test", reads=RateLimit(5, 0.2)
        )
        started = time.monotonic()
        await asyncio.gather(*(client.get_task(f"t{i}") for i in range(12)))
        took = time.monotonic() - started
        # One read a minute: a read waits its turn, the balance (not a recordInfo read) does not queue behind it.
        slow = KieClient(
            http, api_key="k", base_url="http://kie.test", upload_url="http://kie.test", reads=RateLimit(1, 60)
        )
        await slow.get_task("first")
        waiting = asyncio.create_task(slow.get_task("second"))
        async with asyncio.timeout(10):  # a deadline: behind the read it would wait a minute
            assert await slow.get_credits() == 10
        assert not waiting.done()
        waiting.cancel()
    assert len(reads) == 13 and took >= 0.4  # 12 reads at 5 per 0.2 s need two waits (spacing: test_limits.py)

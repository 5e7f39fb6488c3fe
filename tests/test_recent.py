"""A workspace's settings, brand and kie.ai key are read again once they are a few seconds old."""

from __future__ import annotations

import asyncio

from bot.store.recent import Recent


async def test_a_value_is_kept_for_its_seconds_then_read_again_and_a_put_or_forget_acts_at_once():
    now, reads = [0.0], []

    async def read() -> str:
        reads.append(now[0])
        return f"read at {now[0]}"

    recent: Recent[str] = Recent(3.0, clock=lambda: now[0])
    assert await recent.get("T1", read) == "read at 0.0"
    now[0] = 2.9
    assert await recent.get("T1", read) == "read at 0.0" and reads == [0.0]
    assert await recent.get("T2", read) == "read at 2.9"  # each workspace its own
    now[0] = 3.0
    assert await recent.get("T1", read) == "read at 3.0"
    recent.put("T1", "saved here")
    assert await recent.get("T1", read) == "saved here"
    recent.forget("T1")
    assert await recent.get("T1", read) == "read at 3.0" and reads == [0.0, 2.9, 3.0, 3.0]


async def test_requests_that_miss_together_share_one_read_and_a_put_meanwhile_wins():
    gate, reads = asyncio.Event(), []

    async def read() -> str:
        reads.append(len(reads))
        await gate.wait()
        return f"read {len(reads)}"

    recent: Recent[str] = Recent(3.0, clock=lambda: 0.0)
    burst = [asyncio.create_task(recent.get("T1", read)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*burst) == ["read 1"] * 50 and len(reads) == 1

    gate.clear()
    recent.forget("T1")
    late = asyncio.create_task(recent.get("T1", read))
    await asyncio.sleep(0)
    recent.put("T1", "saved here")  # saved while the read was under way: the read saw the store before it
    gate.set()
    assert await late == "read 2"  # the request that asked still gets its answer
    assert await recent.get("T1", read) == "saved here" and len(reads) == 2


async def test_a_failed_read_reaches_every_waiter_and_the_next_request_reads_again():
    calls = []

    async def read() -> str:
        calls.append(1)
        await asyncio.sleep(0)
        if len(calls) == 1:
            raise OSError("store away")
        return "back"

    recent: Recent[str] = Recent(3.0, clock=lambda: 0.0)
    results = await asyncio.gather(*(recent.get("T1", read) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(result, OSError) for result in results) and len(calls) == 1
    assert await recent.get("T1", read) == "back"


async def test_a_waiter_that_gives_up_does_not_cancel_the_others_read():
    gate = asyncio.Event()

    async def read() -> str:
        await gate.wait()
        return "value"

    recent: Recent[str] = Recent(3.0, clock=lambda: 0.0)
    impatient = asyncio.create_task(recent.get("T1", read))
    patient = asyncio.create_task(recent.get("T1", read))
    await asyncio.sleep(0)
    impatient.cancel()
    gate.set()
    assert await patient == "value"

"""A workspace's settings, brand and kie.ai key are read again once they are a few seconds old."""

from __future__ import annotations

from bot.recent import Recent


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

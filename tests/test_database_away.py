"""A database that goes away while Banana runs: requests get a clear answer instead of an error, and no task is lost."""

from __future__ import annotations

import json

from banana.domain.tasks import TaskState
from banana.engine.starter import DATABASE_AWAY
from banana.engine.store import StoreUnavailable


async def test_a_command_while_the_database_is_away_gets_a_clear_answer(banana, kie, slack, monkeypatch):
    async def away(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("cannot reach the database at DATABASE_URL (postgresql://banana:***@db/banana)")

    monkeypatch.setattr(banana.services.store, "add", away)
    response = await banana.command("a lighthouse")
    assert response.status_code == 200
    answers = [response.text, *(json.dumps(r) for r in slack.responses)]
    await slack.wait_for(lambda: any(DATABASE_AWAY in a for a in [*answers, *(json.dumps(r) for r in slack.responses)]))
    assert kie.requests == []
    monkeypatch.undo()  # the database is back: the same command works
    await banana.command("a lighthouse")
    assert (await banana.only_task()).state is TaskState.DONE

import sqlite3

import pytest

from banana.domain.options import Options
from banana.domain.tasks import NewTask, TaskState
from banana.engine.store import SqliteTaskStore

NEW = NewTask(
    team_id="T1",
    user_id="U1",
    channel_id="C1",
    prompt="a cat",
    avoid="",
    aspect_ratio="1:1",
    resolution="2K",
    output_format="png",
    response_url="https://hooks.example/1",
)


@pytest.fixture
async def store(tmp_path):
    opened = await SqliteTaskStore(tmp_path / "db" / "banana.db").open()
    yield opened
    await opened.close()


async def test_add_stores_a_pending_task_with_its_first_event(store):
    task = await store.add(NEW)
    assert task.id == 1 and task.state is TaskState.PENDING
    assert (await store.get(task.id)) == task
    assert [e.state for e in await store.events(task.id)] == ["pending"]


async def test_state_changes_are_kept_with_their_times(store):
    task = await store.add(NEW)
    await store.set_state(task.id, TaskState.QUEUED, "kie task k1", kie_task_id="k1")
    done = await store.set_state(task.id, TaskState.DONE, slack_file_id="F1", credits=18)
    assert done.kie_task_id == "k1" and done.slack_file_id == "F1" and done.finished_at is not None
    events = await store.events(task.id)
    assert [e.state for e in events] == ["pending", "queued", "done"]
    assert events[1].detail == "kie task k1"
    assert events[0].at <= events[1].at <= events[2].at


async def test_update_refuses_unknown_fields(store):
    task = await store.add(NEW)
    with pytest.raises(ValueError, match="unknown task fields"):
        await store.update(task.id, colour="red")


async def test_unfinished_and_per_user_history(store):
    first = await store.add(NEW)
    second = await store.add(NEW)
    await store.add(NewTask(**{**NEW.__dict__, "user_id": "U2"}))
    await store.set_state(first.id, TaskState.FAILED, error_message="x")
    assert [t.id for t in await store.unfinished()] == [second.id, 3]
    assert [t.id for t in await store.for_user("U1")] == [second.id, first.id]


async def test_recent_durations_only_of_finished_tasks_at_that_resolution(store):
    for duration, resolution in ((30.0, "2K"), (40.0, "2K"), (90.0, "4K")):
        task = await store.add(NewTask(**{**NEW.__dict__, "resolution": resolution}))
        await store.set_state(task.id, TaskState.DONE, duration=duration)
    await store.add(NEW)
    assert sorted(await store.recent_durations("2K")) == [30.0, 40.0]


async def test_database_is_in_wal_mode(store, tmp_path):
    assert await store.ping()
    with sqlite3.connect(tmp_path / "db" / "banana.db") as conn:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"


async def test_older_schema_gains_new_columns_without_losing_rows(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("create table tasks (id integer primary key, user_id text, prompt text, state text)")
        conn.execute("insert into tasks (user_id, prompt, state) values ('U1', 'old prompt', 'done')")
    store = await SqliteTaskStore(path).open()
    try:
        old = await store.get(1)
        assert old is not None and old.prompt == "old prompt" and old.state is TaskState.DONE
        assert old.slack_file_id is None
        new = await store.add(NEW)
        assert new.id == 2
    finally:
        await store.close()


async def test_saved_prompts_are_per_workspace_newest_first_and_found_in_any_letter_case(store):
    options = Options("16:9", "4K", "jpg")
    first = await store.save_prompt("T1", "U1", "Podcast Takeaways", "a long prompt", options, avoid="text")
    await store.save_prompt("T1", "U2", "Guest quote card", "another prompt", options)
    await store.save_prompt("T2", "U3", "Ölmühle poster", "elsewhere", options)
    assert [p.name for p in await store.list_prompts("T1")] == ["Guest quote card", "Podcast Takeaways"]
    assert [p.name for p in await store.list_prompts("T1", contains="TAKEAWAYS podcast")] == ["Podcast Takeaways"]
    assert [p.name for p in await store.list_prompts("T2", contains="ölmühle")] == ["Ölmühle poster"]
    assert await store.list_prompts("T1", limit=1) == [await store.find_prompt("T1", "guest QUOTE card")]
    assert await store.find_prompt("T2", "podcast takeaways") is None
    saved = await store.get_prompt(first.id)
    assert saved == first and (saved.options, saved.avoid, saved.user_id) == (options, "text", "U1")
    assert await store.get_prompt(999) is None


async def test_a_set_is_stored_together_each_knowing_its_set_and_slot(store):
    tasks = await store.add_set([NEW, NEW, NEW])
    assert [(t.set_id, t.slot) for t in tasks] == [(tasks[0].id, 1), (tasks[0].id, 2), (tasks[0].id, 3)]
    assert await store.set_of(tasks[0].id) == tasks
    assert [e.detail for e in await store.events(tasks[2].id)] == ["variation 3 of 3"]


async def test_in_thread_finds_the_cards_and_results_of_one_thread_in_one_workspace(store):
    card = await store.update((await store.add(NEW)).id, message_ts="1.0", thread_ts="1.0")
    reply = await store.update((await store.add(NEW)).id, message_ts="1.5", thread_ts="1.0")
    await store.update((await store.add(NEW)).id, message_ts="2.0", thread_ts="2.0")  # another thread
    other_team = NewTask(**{**NEW.__dict__, "team_id": "T2"})
    await store.update((await store.add(other_team)).id, message_ts="1.6", thread_ts="1.0")
    assert [t.id for t in await store.in_thread("T1", "C1", "1.0")] == [card.id, reply.id]
    assert await store.in_thread("T1", "C2", "1.0") == []


async def test_a_family_is_its_first_ancestor_and_everything_made_from_it(store):
    root = await store.add(NEW)
    edit = await store.add(NewTask(**{**NEW.__dict__, "parent_task_id": root.id, "relation": "edit"}))
    variations = await store.add_set(
        [NewTask(**{**NEW.__dict__, "parent_task_id": edit.id, "relation": "variation"})] * 2
    )
    stranger = await store.add(NEW)
    loose_set = await store.add_set([NEW, NEW])  # `--n 2`: no parent, the set is the family
    expected = [root.id, edit.id, *(t.id for t in variations)]
    for member in (root, edit, variations[1]):
        assert [t.id for t in await store.family(member.id)] == expected
    assert [t.id for t in await store.family(stranger.id)] == [stranger.id]
    assert [t.id for t in await store.family(loose_set[1].id)] == [t.id for t in loose_set]
    assert await store.with_children([root.id, stranger.id, edit.id]) == frozenset({root.id, edit.id})

import asyncio
import dataclasses
import getpass
import sqlite3
import time
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from bot.store import (
    NameTaken,
    PostgresTaskStore,
    SqliteTaskStore,
    StoreUnavailable,
    installation_stores,
    masked,
    open_store,
)
from bot.store.postgres import migrate
from bot.store.schema import MIGRATIONS
from prompts.options import TOPAZ_UPSCALE, Options
from prompts.tasks import BrandImage, NewTask, TaskState
from tests.conftest import with_search_path

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
SMALL = {"min_size": 1, "max_size": 3, "open_timeout": 5, "acquire_timeout": 2, "ping_timeout": 1}


def postgres(url, **options):
    return PostgresTaskStore(url, **{**SMALL, **options})


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request, tmp_path):
    if request.param == "sqlite":
        opened = await SqliteTaskStore(tmp_path / "db" / "banana.db").open()
    else:
        opened = await postgres(request.getfixturevalue("postgres_url")).open()
    yield opened
    await opened.close()


@asynccontextmanager
async def stores(url, count=2, **options):
    """`count` stores on one database, as replicas see it."""
    opened = [await postgres(url, **options).open() for _ in range(count)]
    try:
        yield opened
    finally:
        for each in opened:
            await each.close()


@asynccontextmanager
async def another_schema(server_url):
    """A second deployment's schema in the same database."""
    schema = f"test_other_{time.time_ns()}"
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
        try:
            yield with_search_path(server_url, schema)
        finally:
            await admin.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))


async def eventually(check, deadline=5.0):
    """Wait until `check()` (a coroutine function) returns something true, or fail after `deadline` seconds."""
    async with asyncio.timeout(deadline):
        while True:
            if found := await check():
                return found
            await asyncio.sleep(0.005)


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


async def test_set_state_refuses_unknown_fields_and_leaves_the_task_as_it_was(store):
    task = await store.add(NEW)
    with pytest.raises(ValueError, match="unknown task fields"):
        await store.set_state(task.id, TaskState.DONE, colour="red")
    assert (await store.get(task.id)).state is TaskState.PENDING
    assert [e.state for e in await store.events(task.id)] == ["pending"]


async def test_unfinished_and_per_user_history(store):
    first = await store.add(NEW)
    second = await store.add(NEW)
    await store.add(NewTask(**{**NEW.__dict__, "user_id": "U2"}))
    await store.add(NewTask(**{**NEW.__dict__, "team_id": "T2"}))
    await store.set_state(first.id, TaskState.FAILED, error_message="x")
    assert [t.id for t in await store.unfinished("T1")] == [second.id, 3]  # never another workspace's
    assert [t.id for t in await store.for_user("T1", "U1")] == [second.id, first.id]


async def test_recent_kie_seconds_only_of_finished_tasks_at_that_resolution(store):
    for seconds, resolution in ((30.0, "2K"), (40.0, "2K"), (90.0, "4K")):
        task = await store.add(NewTask(**{**NEW.__dict__, "resolution": resolution}))
        await store.set_state(task.id, TaskState.DONE, kie_seconds=seconds)
    failed = await store.add(NEW)
    await store.set_state(failed.id, TaskState.FAILED, kie_seconds=5.0)
    await store.add(NEW)
    assert sorted(await store.recent_kie_seconds("2K")) == [30.0, 40.0]


async def test_upscales_have_their_own_kie_times(store):
    for seconds, model in ((30.0, "nano-banana-pro"), (7.0, TOPAZ_UPSCALE), (9.0, TOPAZ_UPSCALE)):
        task = await store.add(NewTask(**{**NEW.__dict__, "resolution": "2K", "model": model}))
        await store.set_state(task.id, TaskState.DONE, kie_seconds=seconds)
    assert await store.recent_kie_seconds("2K") == [30.0]
    assert sorted(await store.recent_kie_seconds(TOPAZ_UPSCALE)) == [7.0, 9.0]
    (upscale,) = [t for t in await store.for_user(NEW.team_id, NEW.user_id) if t.kie_seconds == 7.0]
    assert (upscale.model, upscale.timing_key) == (TOPAZ_UPSCALE, TOPAZ_UPSCALE)


async def test_sqlite_database_is_in_wal_mode(tmp_path):
    store = await SqliteTaskStore(tmp_path / "db" / "banana.db").open()
    try:
        assert await store.ping()
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "db" / "banana.db") as conn:
        assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"


async def test_older_sqlite_schema_gains_new_columns_without_losing_rows(tmp_path):
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
    saved = await store.get_prompt("T1", first.id)
    assert saved == first and (saved.options, saved.avoid, saved.user_id) == (options, "text", "U1")
    assert await store.get_prompt("T1", 999) is None
    assert await store.get_prompt("T2", first.id) is None  # another workspace's prompt is as good as gone


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
    assert await store.with_children([root.id, stranger.id, edit.id], "U1") == frozenset({root.id, edit.id})


async def test_family_is_offered_only_for_children_the_viewer_may_see(store):
    mine = await store.add(NEW)  # in a channel Slack did not call public: private
    await store.add(NewTask(**{**NEW.__dict__, "user_id": "U2", "parent_task_id": mine.id, "relation": "remix"}))
    assert await store.with_children([mine.id], "U1") == frozenset()  # someone else's private remix: no hint
    assert await store.with_children([mine.id], "U2") == frozenset({mine.id})
    public = {**NEW.__dict__, "user_id": "U2", "parent_task_id": mine.id, "public_channel": True}
    await store.add(NewTask(**{**public, "relation": "remix"}))
    assert await store.with_children([mine.id], "U1") == frozenset({mine.id})


async def test_both_backends_give_equal_tasks(tmp_path, postgres_url):
    lite = await SqliteTaskStore(tmp_path / "banana.db").open()
    pg = await postgres(postgres_url).open()
    try:
        seen = []
        for each in (lite, pg):
            new = NewTask(**{**NEW.__dict__, "fresh": True, "input_files": '[["F1", "a.png"]]', "thread_ts": "1.0"})
            task = await each.add(new)
            task = await each.set_state(task.id, TaskState.DONE, credits=18, credits_exact=True, kie_seconds=3.5)
            half = await each.update((await each.add(NEW)).id, credits=17.5)
            seen.append((task, half, await each.usage("T1", "U1", 0), await each.events(task.id)))
        (task, half, usage, events), (pg_task, pg_half, pg_usage, pg_events) = seen
        times = {"created_at": 0, "updated_at": 0, "finished_at": 0}
        assert dataclasses.replace(pg_task, **times) == dataclasses.replace(task, **times)
        assert type(pg_task.credits) is int and pg_task.fresh is True and pg_task.credits_exact is True
        assert pg_half.credits == half.credits == 17.5
        assert pg_usage == usage and type(pg_usage.credits) is type(usage.credits)
        assert [(e.state, e.detail) for e in pg_events] == [(e.state, e.detail) for e in events]
    finally:
        await lite.close()
        await pg.close()


# Leases: a unit (a task, or a set whose first task carries the lease) is held by one holder at a time.


async def test_a_claim_takes_every_unit_with_unfinished_work_each_with_its_tasks_by_slot(store):
    single = await store.add(NEW)
    variations = await store.add_set([NEW, NEW, NEW])
    done = await store.add(NEW)
    await store.set_state(done.id, TaskState.DONE)
    await store.set_state(variations[0].id, TaskState.DONE)  # a set with one member still running is still work
    units = await store.claim("A", 30)
    assert [[t.id for t in unit] for unit in units] == [[single.id], [t.id for t in variations]]
    assert await store.claim("B", 30) == []  # held by A
    finished = await store.add_set([NEW, NEW])
    for task in finished:
        await store.set_state(task.id, TaskState.FAILED)
    assert await store.claim("B", 30) == []


async def test_a_finished_task_whose_cards_final_edit_is_owed_is_still_work_until_it_lands(store):
    owed = await store.add(NEW)
    owed = await store.set_state(owed.id, TaskState.DONE, card_pending=True)
    assert owed.card_pending and (await store.get(owed.id)).card_pending
    variations = await store.add_set([NEW, NEW])
    for task in variations:
        await store.set_state(task.id, TaskState.FAILED, card_pending=True)  # the set's one card is owed
    units = await store.claim("A", 30)
    assert [[t.id for t in unit] for unit in units] == [[owed.id], [t.id for t in variations]]
    for task in [owed, *variations]:
        await store.update(task.id, card_pending=False)
        await store.release("A", task.id)
    assert await store.claim("B", 30) == []


async def test_new_work_is_held_by_its_holder_from_the_start(store):
    task = await store.add(NEW, holder="A", lease_seconds=30)
    variations = await store.add_set([NEW, NEW], holder="A", lease_seconds=30)
    assert await store.claim("B", 30) == []
    assert await store.renew("A", [task.id, variations[0].id], 30) == [task.id, variations[0].id]


async def test_a_lease_that_runs_out_is_taken_over_and_its_old_holder_loses_it(store):
    task = await store.add(NEW, holder="A", lease_seconds=0.05)
    kept = await store.add(NEW, holder="A", lease_seconds=30)
    (unit,) = await eventually(lambda: store.claim("B", 30))
    assert [t.id for t in unit] == [task.id]
    assert await store.renew("A", [task.id, kept.id], 30) == [kept.id]  # A keeps only what it still holds
    assert await store.renew("B", [task.id], 30) == [task.id]
    assert await store.claim("A", 30) == []


async def test_a_released_unit_is_free_at_once_but_only_its_holder_can_release_it(store):
    task = await store.add(NEW, holder="A", lease_seconds=30)
    await store.release("B", task.id)
    assert await store.claim("B", 30) == []
    await store.release("A", task.id)
    assert [[t.id for t in unit] for unit in await store.claim("B", 30)] == [[task.id]]
    assert await store.renew("A", [task.id], 30) == []


async def test_a_claim_takes_at_most_its_limit_oldest_first(store):
    tasks = [await store.add(NEW) for _ in range(3)]
    assert [unit[0].id for unit in await store.claim("A", 30, limit=2)] == [tasks[0].id, tasks[1].id]
    assert [unit[0].id for unit in await store.claim("B", 30, limit=2)] == [tasks[2].id]


async def test_concurrent_claims_from_two_replicas_never_take_the_same_unit(postgres_url):
    async with stores(postgres_url, max_size=4) as (a, b):
        for _ in range(3):
            units = {(await a.add(NEW)).id: 1 for _ in range(8)}
            units |= {(tasks := await a.add_set([NEW, NEW]))[0].id: len(tasks) for _ in range(4)}
            claims = await asyncio.gather(
                *(replica.claim(f"{name}{n}", 30, limit=2) for n in range(4) for name, replica in (("A", a), ("B", b)))
            )
            taken = {unit[0].id: len(unit) for claim in claims for unit in claim}
            assert sum(len(claim) for claim in claims) == len(taken)  # no unit twice
            for unit in await a.claim("sweeper", 30):  # whatever SKIP LOCKED passed over
                assert unit[0].id not in taken
                taken[unit[0].id] = len(unit)
            assert taken == units
            for unit in units:  # done: the next round has new work only
                for task in await a.set_of(unit) or [await a.get(unit)]:
                    await a.set_state(task.id, TaskState.DONE)


# Signals: every listener on the database hears them, the sender's included.


async def test_a_signal_reaches_the_listener(store):
    heard: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    await store.listen(lambda task_id, kind: heard.put_nowait((task_id, kind)))
    await store.signal(7, "poke")
    await store.signal(8, "cancel")
    async with asyncio.timeout(5):
        assert [await heard.get(), await heard.get()] == [(7, "poke"), (8, "cancel")]


async def test_signals_reach_every_replica_and_not_another_schema(postgres_url, postgres_server):
    async with (
        another_schema(postgres_server) as elsewhere,
        stores(postgres_url) as (a, b),
        stores(elsewhere, count=1) as (other,),
    ):
        heard: dict[str, asyncio.Queue[tuple[int, str]]] = {name: asyncio.Queue() for name in "abo"}
        for name, replica in zip("abo", (a, b, other), strict=True):
            await replica.listen(lambda task_id, kind, name=name: heard[name].put_nowait((task_id, kind)))
        await b.signal(12, "poke")
        await other.signal(13, "poke")  # another schema: another deployment
        await a.signal(14, "cancel")
        async with asyncio.timeout(5):
            assert [await heard["a"].get(), await heard["a"].get()] == [(12, "poke"), (14, "cancel")]
            assert [await heard["b"].get(), await heard["b"].get()] == [(12, "poke"), (14, "cancel")]
            assert await heard["o"].get() == (13, "poke")
        await a.signal(15, "poke")
        async with asyncio.timeout(5):
            assert await heard["b"].get() == (15, "poke")
        assert heard["o"].empty()


async def test_the_listener_reconnects_when_its_connection_drops(postgres_url):
    name = f"banana-test-{time.time_ns()}"
    async with stores(postgres_url, count=1, application_name=name) as (store,):
        heard: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        await store.listen(lambda task_id, kind: heard.put_nowait((task_id, kind)))
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
            cursor = await admin.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where application_name = %s", [f"{name}:listen"]
            )
            assert [row[0] for row in await cursor.fetchall()] == [True]

        async def heard_again():  # signals sent while it reconnects are lost: send until one arrives
            await store.signal(21, "poke")
            try:
                async with asyncio.timeout(0.1):
                    return await heard.get()
            except TimeoutError:
                return None

        assert await eventually(heard_again) == (21, "poke")


# Slack's repeated requests.


async def test_first_time_is_true_once_per_key_until_the_key_is_forgotten(store):
    assert await store.first_time("Ev1")
    assert not await store.first_time("Ev1")
    assert await store.first_time("Ev2")
    assert await store.first_time("Ev1", keep_seconds=0)  # kept no time at all: new again
    assert not await store.first_time("Ev1")


async def test_first_time_is_shared_by_replicas(postgres_url):
    async with stores(postgres_url) as (a, b):
        assert await a.first_time("Ev1")
        assert not await b.first_time("Ev1")


# Locks.


async def hold_in_turns(holders, name, rounds=3):
    """Run each holder's `exclusive(name)` a few times at once; the most that were ever inside together."""
    inside, most = 0, 0

    async def one(store):
        nonlocal inside, most
        for _ in range(rounds):
            async with store.exclusive(name):
                inside += 1
                most = max(most, inside)
                await asyncio.sleep(0.005)
                inside -= 1

    await asyncio.gather(*(one(store) for store in holders))
    return most


async def test_two_holders_of_one_lock_never_overlap(store):
    assert await hold_in_turns([store, store, store], "caps") == 1


async def test_replicas_holding_one_lock_never_overlap(postgres_url):
    async with stores(postgres_url) as (a, b):
        assert await hold_in_turns([a, b, a, b], "caps") == 1


async def test_locks_of_different_names_do_not_block_each_other(store):
    async with store.exclusive("caps:T1"), asyncio.timeout(2), store.exclusive("caps:T2"):
        pass


async def test_a_lock_is_released_on_error_and_on_cancellation(store):
    with pytest.raises(RuntimeError):
        async with store.exclusive("caps"):
            raise RuntimeError("boom")
    entered = asyncio.Event()

    async def hold_forever():
        async with store.exclusive("caps"):
            entered.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(hold_forever())
    await entered.wait()
    waiter = asyncio.create_task(hold_forever())  # waits for the lock: cancelled while waiting
    await asyncio.sleep(0)  # a turn of the loop, so it reaches the lock (not a timed wait)
    assert not waiter.done()
    for task in (waiter, holder):
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    async with asyncio.timeout(2), store.exclusive("caps"):
        pass


async def test_a_lock_waited_for_on_another_replica_is_released_when_the_waiter_is_cancelled(postgres_url):
    async with stores(postgres_url) as (a, b):
        async with a.exclusive("caps"):
            waiter = asyncio.create_task(b.exclusive("caps").__aenter__())
            await waiting_for_an_advisory_lock(postgres_url)  # b is blocked in the database, seen there
            assert not waiter.done()
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        async with asyncio.timeout(2), b.exclusive("caps"), a.exclusive("other"):
            pass


async def waiting_for_an_advisory_lock(url: str) -> None:
    """Until some session waits for an advisory lock (pg_locks shows it not granted), with a deadline."""
    async with asyncio.timeout(10), await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while True:
            cursor = await conn.execute("select count(*) from pg_locks where locktype = 'advisory' and not granted")
            row = await cursor.fetchone()
            if row is not None and row[0] >= 1:
                return
            await asyncio.sleep(0.01)


# Rate slots.


async def test_rate_slots(store):
    if not store.shared:  # one process: its own limiters are all the pacing there is
        assert [await store.take_slot("kie", 1, 10) for _ in range(3)] == [0.0, 0.0, 0.0]
        return
    assert [await store.take_slot("kie", 2, 10) for _ in range(2)] == [0.0, 0.0]
    wait = await store.take_slot("kie", 2, 10)
    assert 9 < wait <= 10  # until the oldest of the two leaves the window
    assert await store.take_slot("slack", 2, 10) == 0.0  # another name, another budget
    assert await store.take_slot("brief", 1, 0.1) == 0.0
    wait = await store.take_slot("brief", 1, 0.1)
    assert 0 < wait <= 0.1
    await asyncio.sleep(wait)
    assert await store.take_slot("brief", 1, 0.1) == 0.0


async def test_rate_slots_are_shared_by_replicas(postgres_url):
    async with stores(postgres_url) as (a, b):
        taken = await asyncio.gather(*(replica.take_slot("kie", 5, 10) for replica in (a, b) * 5))
        assert sorted(taken)[:5] == [0.0] * 5 and all(wait > 9 for wait in sorted(taken)[5:])


# PostgreSQL: schema, errors and choosing the backend.


async def test_replicas_starting_together_migrate_once(postgres_url):
    opened = await asyncio.gather(*(postgres(postgres_url).open() for _ in range(3)))
    try:
        await opened[0].add(NEW)
        assert [(await each.get(1)) is not None for each in opened] == [True] * 3
    finally:
        for each in opened:
            await each.close()
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cursor = await conn.execute("select version from schema_migrations order by version")
        assert [row[0] for row in await cursor.fetchall()] == [m.version for m in MIGRATIONS]


async def test_an_older_postgres_schema_gains_the_new_columns_without_losing_rows(postgres_url):
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        assert await migrate(conn, up_to=1) == [1]
        await conn.execute(
            "insert into tasks (team_id, user_id, channel_id, prompt, state, credits, fresh)"
            " values ('T1', 'U1', 'C1', 'old prompt', 'queued', 18, true)"
        )
        await conn.commit()
    async with stores(postgres_url, count=2) as (store, _):  # two replicas starting together: one migrates
        old = await store.get(1)
        assert old is not None and (old.prompt, old.state, old.credits, old.fresh) == ("old prompt", "queued", 18, True)
        assert old.cancel_requested_at is None
        assert [[t.id for t in unit] for unit in await store.claim("A", 30)] == [[1]]  # leases arrived with v2
        assert (await store.add(NEW)).id == 2
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cursor = await conn.execute("select version from schema_migrations order by version")
        assert [row[0] for row in await cursor.fetchall()] == [m.version for m in MIGRATIONS]


async def test_an_unreachable_postgres_fails_with_the_password_masked():
    url = "postgresql://banana:s3cret-pw@127.0.0.1:1/banana"
    with pytest.raises(StoreUnavailable) as raised:
        await PostgresTaskStore(url, open_timeout=3).open()
    message = str(raised.value)
    assert "DATABASE_URL=postgresql://banana:***@127.0.0.1:1/banana" in message
    assert "s3cret" not in message and "\n" not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no password in a traceback


def test_masked_hides_only_the_password():
    assert masked("postgresql://banana:s3cret@db:5432/banana") == "postgresql://banana:***@db:5432/banana"
    assert masked("postgres://banana@db/banana?sslmode=require") == "postgres://banana@db/banana?sslmode=require"
    assert masked("postgresql:///banana_test") == "postgresql:///banana_test"
    assert masked("postgresql://db/banana?password=s3cret&sslmode=require") == (
        "postgresql://db/banana?password=***&sslmode=require"
    )
    assert masked("postgresql://u:p%40ss@db/b") == "postgresql://u:***@db/b"


async def test_a_store_that_loses_its_database_says_so_and_ping_says_no(postgres_url):
    """A proxy stands between the store and PostgreSQL; when it goes away, so does the database."""
    target = psycopg.conninfo.conninfo_to_dict(postgres_url)
    host, port = target.get("host") or "/var/run/postgresql", int(target.get("port") or 5432)
    links: list[asyncio.StreamWriter] = []
    forwarding: list[asyncio.Task] = []

    async def forward(client_reader, client_writer):
        forwarding.append(asyncio.current_task())
        if host.startswith("/"):
            reader, writer = await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
        else:
            reader, writer = await asyncio.open_connection(host, port)
        links.extend([client_writer, writer])

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(client_reader, writer), pipe(reader, client_writer))

    proxy = await asyncio.start_server(forward, "127.0.0.1", 0)
    proxy_port = proxy.sockets[0].getsockname()[1]
    user = target.get("user") or getpass.getuser()
    query = postgres_url.split("?", 1)[1]
    url = f"postgresql://{user}:s3cret-pw@127.0.0.1:{proxy_port}/{target['dbname']}?{query}"  # the password unused
    store = await postgres(url, acquire_timeout=0.2, ping_timeout=0.2).open()
    try:
        assert await store.ping()
        await store.add(NEW)
        proxy.close()
        for link in links:
            link.close()
        await asyncio.gather(*forwarding, return_exceptions=True)
        with pytest.raises(StoreUnavailable) as raised:
            await store.get(1)
        assert f"postgresql://{user}:***@127.0.0.1" in str(raised.value) and "s3cret" not in str(raised.value)
        assert not await store.ping()
    finally:
        await store.close()


async def test_open_store_chooses_the_backend_by_the_url(tmp_path, postgres_url):
    lite = await open_store(None, tmp_path / "a.db")
    other = await open_store("mysql://nope", tmp_path / "b.db")
    pg = await open_store(postgres_url, tmp_path / "c.db")
    alias = await open_store("postgres://" + postgres_url.removeprefix("postgresql://"), tmp_path / "d.db")
    try:
        assert [s.backend for s in (lite, other, pg, alias)] == ["sqlite", "sqlite", "postgresql", "postgresql"]
        assert (tmp_path / "a.db").exists() and (tmp_path / "b.db").exists() and not (tmp_path / "c.db").exists()
        assert [s.shared for s in (lite, pg)] == [False, True]
    finally:
        for each in (lite, other, pg, alias):
            await each.close()
    with pytest.raises(StoreUnavailable, match=r"DATABASE_URL=postgresql://u:\*\*\*@127\.0\.0\.1:1/x"):
        await open_store("postgresql://u:pw@127.0.0.1:1/x", tmp_path / "e.db")


async def test_no_query_returns_another_workspaces_rows(store):
    mine = await store.set_state((await store.add(NEW)).id, TaskState.DONE, slack_file_id="F1", credits=18)
    theirs = NewTask(**{**NEW.__dict__, "team_id": "T2"})  # the same user id in another workspace
    await store.set_state((await store.add(theirs)).id, TaskState.DONE, slack_file_id="F2", credits=24)
    assert [t.id for t in await store.for_user("T1", "U1")] == [mine.id]
    assert [t.id for t in await store.history("T1", "U1", (TaskState.DONE,), 0, 10)] == [mine.id]
    assert await store.count("T1", "U1", (TaskState.DONE,)) == 1
    assert (await store.usage("T1", "U1", 0)).credits == 18
    assert (await store.team_usage("T1", 0)).credits == 18
    assert await store.by_file_id("T1", "F2") is None and (await store.by_file_id("T2", "F2")) is not None


# One contract for both backends: the same calls give the same answers, orderings and ties included.


@pytest.fixture(params=["sqlite", "postgresql"])
async def frozen(request, tmp_path):
    """A store whose clock stands still: every row it writes has the same time, so orderings must break ties alike."""
    clock = {"clock": lambda: 1_000.0}
    if request.param == "sqlite":
        opened = await SqliteTaskStore(tmp_path / "banana.db", **clock).open()
    else:
        opened = await postgres(request.getfixturevalue("postgres_url"), **clock).open()
    yield opened
    await opened.close()


async def test_ties_in_time_are_ordered_newest_id_first(frozen):
    ids = [(await frozen.add(NEW)).id for _ in range(3)]
    for task_id in ids:
        await frozen.set_state(task_id, TaskState.DONE, kie_seconds=float(task_id), slack_file_id=f"F{task_id}")
        await frozen.update(task_id, request_key="same", public_channel=True)
    newest_first = list(reversed(ids))
    assert [t.id for t in await frozen.for_user("T1", "U1")] == newest_first
    assert [t.id for t in await frozen.history("T1", "U1", (TaskState.DONE,), 0, 10)] == newest_first
    assert [t.id for t in await frozen.history("T1", "U1", (TaskState.DONE,), 1, 1)] == newest_first[1:2]
    assert await frozen.recent_kie_seconds("2K") == [float(i) for i in newest_first]
    assert (await frozen.reusable("T1", "same", "C9")).id == newest_first[0]
    options = Options("1:1", "2K", "png")
    names = ["one", "two", "three"]
    for name in names:
        await frozen.save_prompt("T1", "U1", name, "p", options)
    assert [p.name for p in await frozen.list_prompts("T1")] == list(reversed(names))


async def contract(store) -> list:
    """Every record query of the store, called on the same rows, its answers with the times taken out."""
    options = Options("16:9", "4K", "jpg")
    root = await store.add(NEW, holder="A", lease_seconds=30)
    done = await store.set_state(root.id, TaskState.DONE, "made", credits=18, credits_exact=True, kie_seconds=2.5)
    await store.update(root.id, slack_file_id="F1", request_key="k", public_channel=True, message_ts="1.0")
    kids = await store.add_set([NewTask(**{**NEW.__dict__, "parent_task_id": root.id, "relation": "edit"})] * 2)
    other = await store.add(NewTask(**{**NEW.__dict__, "user_id": "U2", "thread_ts": "1.0", "fresh": True}))
    await store.set_state(other.id, TaskState.FAILED, error_message="no", credits=17.5)
    await store.save_prompt("T1", "U1", "Cats", "a cat", options, avoid="dogs")
    await store.save_prompt("T1", "U2", "Dogs", "a dog", options)
    await store.save_workspace_settings("T1", "U1", {"user_daily_cap": 40, "channels": ["C1"]}, "daily cap: 40")
    await store.save_workspace_settings("T1", "U2", {"user_daily_cap": 20, "channels": []}, "daily cap: 40 → 20")
    await store.save_workspace_settings("T2", "U3", {"aspect_ratio": "1:1"}, "ratio: 1:1")
    await store.save_workspace_brand("T1", "U1", {"name": "Acme"}, [brand_image("T1", "a1")], "brand: name Acme")
    answers: list = [
        done,
        kids,
        await store.get(root.id),
        await store.get(999),
        await store.events(root.id),
        await store.unfinished("T1"),
        await store.for_user("T1", "U1"),
        await store.for_user("T1", "U1", limit=1),
        await store.by_file_id("T1", "F1"),
        await store.in_thread("T1", "C1", "1.0"),
        await store.set_of(kids[0].id),
        await store.family(kids[1].id),
        await store.with_children([root.id, other.id], "U1"),
        await store.reusable("T1", "k", "C1"),
        await store.history("T1", "U1", (TaskState.DONE, TaskState.PENDING), 0, 10),
        await store.count("T1", "U1", (TaskState.DONE, TaskState.PENDING)),
        await store.usage("T1", "U1", 0),
        await store.team_usage("T1", 0),
        await store.recent_kie_seconds("2K"),
        await store.list_prompts("T1"),
        await store.list_prompts("T1", contains="CAT"),
        await store.get_prompt("T1", 1),
        await store.find_prompt("T1", "dOgS"),
        await store.claim("B", 30),
        await store.renew("B", [kids[0].id, other.id], 30),
        await store.workspace_settings("T1"),
        await store.workspace_settings("T9"),
        await store.settings_changes("T1"),
        await store.settings_changes("T1", limit=1),
        await store.workspace_brand("T1"),
        await store.brand_image("T1", "a1"),
        await store.workspace_records("T1"),
        await store.forget_workspace("T1"),
        await store.workspace_records("T1"),
        await store.workspace_settings("T1"),
        await store.settings_changes("T1"),
        await store.workspace_settings("T2"),
    ]
    times = ("created_at", "updated_at", "finished_at", "at")

    def plain(value):
        if isinstance(value, list):
            return [plain(each) for each in value]
        if dataclasses.is_dataclass(value):
            names = {f.name for f in dataclasses.fields(value)}
            return dataclasses.replace(value, **{t: 0.0 for t in times if t in names and getattr(value, t)})
        return value

    return [plain(answer) for answer in answers]


async def test_every_record_query_answers_alike_on_both_backends(tmp_path, postgres_url):
    lite = await SqliteTaskStore(tmp_path / "banana.db").open()
    pg = await postgres(postgres_url).open()
    try:
        on_sqlite, on_postgres = await contract(lite), await contract(pg)
    finally:
        await lite.close()
        await pg.close()
    assert len(on_sqlite) == len(on_postgres)
    for number, (a, b) in enumerate(zip(on_sqlite, on_postgres, strict=True)):
        assert (number, a) == (number, b)
        assert type(a) is type(b)


async def test_a_workspaces_settings_are_kept_with_their_change_log_and_forgotten_with_it(store):
    assert await store.workspace_settings("T1") == {}
    await store.save_workspace_settings("T1", "U1", {"user_daily_cap": 40}, "daily cap: 40")
    await store.save_workspace_settings("T1", "U2", {"user_daily_cap": 20}, "daily cap: 40 → 20")
    await store.save_workspace_settings("T2", "U3", {"aspect_ratio": "1:1"}, "ratio: 1:1")
    assert await store.workspace_settings("T1") == {"user_daily_cap": 20}
    assert [(c.user_id, c.change) for c in await store.settings_changes("T1")] == [
        ("U2", "daily cap: 40 → 20"),
        ("U1", "daily cap: 40"),
    ]
    assert (await store.workspace_records("T1")).settings
    await store.forget_workspace("T1")
    assert await store.workspace_settings("T1") == {}
    assert await store.settings_changes("T1") == []
    assert (await store.workspace_records("T1")).empty
    assert await store.workspace_settings("T2") == {"aspect_ratio": "1:1"}


def brand_image(team: str, sha: str, role: str = "logo", position: int = 0, data: bytes | None = b"\x89PNG..."):
    return BrandImage(team, sha, role, position, f"{sha}.png", "image/png", 512, 256, data)


async def test_a_workspaces_brand_kit_is_kept_with_its_images_and_forgotten_with_it(store):
    assert await store.workspace_brand("T1") is None
    images = [brand_image("T1", "a1"), brand_image("T1", "b2", "style", 0), brand_image("T1", "c3", "style", 1)]
    await store.save_workspace_brand("T1", "U1", {"name": "Acme"}, images, "brand: name Acme")
    await store.save_workspace_brand("T2", "U3", {"name": "Other"}, [brand_image("T2", "a1")], "brand: name Other")
    await store.remember_kie_url("T1", "a1", "https://kie.example/a1.png", 100.0)
    saved = await store.workspace_brand("T1")
    assert saved.data == {"name": "Acme"}
    assert [(i.sha256, i.role, i.position, i.width, i.data) for i in saved.images] == [
        ("a1", "logo", 0, 512, None),
        ("b2", "style", 0, 512, None),
        ("c3", "style", 1, 512, None),
    ]
    logo = await store.brand_image("T1", "a1")
    assert (logo.data, logo.kie_url, logo.kie_url_at) == (b"\x89PNG...", "https://kie.example/a1.png", 100.0)
    assert (await store.brand_image("T2", "a1")).kie_url == ""  # the same bytes in another workspace are its own
    assert await store.brand_image("T2", "b2") is None

    # A save keeps the images given without bytes as they are (kie's URL too), adds the new, drops the rest.
    kept = [brand_image("T1", "a1", data=None), brand_image("T1", "d4", "style", 0)]
    await store.save_workspace_brand("T1", "U2", {"name": "Acme Co"}, kept, "brand: name Acme → Acme Co")
    assert [i.sha256 for i in (await store.workspace_brand("T1")).images] == ["a1", "d4"]
    assert (await store.brand_image("T1", "a1")).kie_url == "https://kie.example/a1.png"
    assert await store.brand_image("T1", "b2") is None
    assert (await store.settings_changes("T1"))[0].change == "brand: name Acme → Acme Co"

    # Nothing is saved in part: an image said to be kept that is no longer stored undoes the whole save.
    with pytest.raises(KeyError):
        await store.save_workspace_brand("T1", "U2", {"name": "X"}, [brand_image("T1", "zz", data=None)], "x")
    assert (await store.workspace_brand("T1")).data == {"name": "Acme Co"}
    assert [i.sha256 for i in (await store.workspace_brand("T1")).images] == ["a1", "d4"]

    await store.forget_settings("T2")
    assert await store.workspace_brand("T2") is None and await store.brand_image("T2", "a1") is None
    assert (await store.workspace_records("T1")).settings
    await store.forget_workspace("T1")
    assert await store.workspace_brand("T1") is None and await store.brand_image("T1", "a1") is None
    assert (await store.workspace_records("T1")).empty


async def test_a_task_keeps_the_brand_it_was_made_with(store):
    assert (await store.add(NEW)).brand == ""
    task = await store.add(NewTask(**{**NEW.__dict__, "brand": "Acme"}))
    assert (await store.get(task.id)).brand == "Acme"


# Saved prompts: a name is unique in its workspace, in any letter case, and the database holds to it.


async def test_a_saved_prompts_name_is_taken_in_any_letter_case_within_its_workspace(store):
    options = Options("1:1", "2K", "png")
    await store.save_prompt("T1", "U1", "Straße", "p", options)
    with pytest.raises(NameTaken):
        await store.save_prompt("T1", "U2", "STRASSE", "q", options)  # casefold, as the app compares names
    assert (await store.save_prompt("T2", "U1", "Straße", "p", options)).team_id == "T2"
    assert [p.prompt for p in await store.list_prompts("T1")] == ["p"]
    assert (await store.find_prompt("T1", "strasse")).name == "Straße"


async def test_two_saves_of_one_name_at_once_exactly_one_wins(store):
    options = Options("1:1", "2K", "png")
    saves = [store.save_prompt("T1", f"U{n}", "Cats" if n % 2 else "CATS", f"p{n}", options) for n in range(6)]
    results = await asyncio.gather(*saves, return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, NameTaken) for r in results if isinstance(r, Exception))
    assert len(await store.list_prompts("T1")) == 1


async def test_two_replicas_saving_one_name_at_once_exactly_one_wins(postgres_url):
    options = Options("1:1", "2K", "png")
    async with stores(postgres_url, count=2) as replicas:
        for round_ in range(5):
            name = f"Race {round_}"
            saves = [each.save_prompt("T1", f"U{n}", name, "p", options) for n, each in enumerate(replicas)]
            results = await asyncio.gather(*saves, return_exceptions=True)
            assert sorted(type(r).__name__ for r in results) == ["NameTaken", "SavedPrompt"]


# Databases made before the schema was shared upgrade in place (fixtures: dumps made by that code).

FIXTURES = Path(__file__).parent / "fixtures"


async def check_upgraded(store) -> None:
    done, first, second = [await store.get(n) for n in (1, 2, 3)]
    assert (done.state, done.credits, done.credits_exact, done.public_channel) == (TaskState.DONE, 18, True, True)
    assert (first.set_id, second.set_id, second.slot) == (2, 2, 2)
    assert [e.detail for e in await store.events(1)] == ["", "made"]
    assert (await store.find_prompt("T1", "CATS")).avoid == "dogs"
    with pytest.raises(NameTaken):
        await store.save_prompt("T1", "U2", "cats", "again", Options("1:1", "2K", "png"))
    assert (await store.add(NEW)).id == 4
    assert not await store.first_time("k1")
    bot = await installation_stores(store, "1111.2222", [FIXTURE_KEY])[0].async_find_bot(
        enterprise_id="E1", team_id="T1"
    )
    assert bot is not None and bot.bot_token == "xoxb-1"


FIXTURE_KEY = "Xq0mO2v3tYJ8bZk1c9RrW4eN6uPpL5sDgHfKjA7yQ0E="


async def test_a_sqlite_file_made_before_versions_upgrades_in_place(tmp_path):
    path = tmp_path / "banana.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "store_before_22.sqlite.sql").read_text())
        conn.execute("update seen_requests set at = ?", [time.time()])  # seen just now, not when the dump was made
    store = await SqliteTaskStore(path).open()
    try:
        await check_upgraded(store)
    finally:
        await store.close()
    with sqlite3.connect(path) as conn:
        versions = [row[0] for row in conn.execute("select version from schema_migrations order by version")]
        indexes = {row[0] for row in conn.execute("select name from sqlite_master where type = 'index'")}
    assert versions == [m.version for m in MIGRATIONS]
    assert "tasks_user_created" in indexes and not any(name.startswith("idx_") for name in indexes)


async def test_a_postgres_schema_at_version_5_upgrades_in_place(postgres_url):
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        await conn.execute((FIXTURES / "store_before_22.postgresql.sql").read_text())
        await conn.execute("update seen_requests set at = %s", [time.time()])  # seen just now, not at the dump
    async with stores(postgres_url, count=2) as (store, _):  # two replicas starting together: one migrates
        await check_upgraded(store)
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cursor = await conn.execute("select version from schema_migrations order by version")
        assert [row[0] for row in await cursor.fetchall()] == [m.version for m in MIGRATIONS]


async def test_names_saved_twice_before_the_constraint_keep_the_first_findable(tmp_path):
    path = tmp_path / "banana.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "store_before_22.sqlite.sql").read_text())
        conn.execute(
            "insert into saved_prompts (team_id, user_id, name, prompt, created_at) values ('T1', 'U2', 'CATS', 'x', 1)"
        )
    store = await SqliteTaskStore(path).open()
    try:
        assert (await store.find_prompt("T1", "cats")).prompt == "a cat"  # the first, as find_prompt found it before
        assert [p.name for p in await store.list_prompts("T1")] == ["Cats", "CATS"]  # nothing is lost
    finally:
        await store.close()

"""A workspace's own kie.ai key (issue 23, item 4): set in the settings form, checked with kie before it is saved,
sealed at rest and never logged, spent from by that workspace's tasks only (each task by the key it was created
with), kie's limits kept per key, its balance shown to that workspace's admins, gone with the workspace."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import httpx
import pytest
from cryptography.fernet import Fernet

from banana.app.doctor import Mark, kie_keys_check
from bot.blocks import settings as form
from bot.services.workspace_settings import Chosen, KeyChange
from bot.store.kie_keys import reencrypt_kie_keys
from bot.store.sealed import Sealer, UnknownKey
from standins import kie as kie_standin
from standins import slack as slack_standin
from standins.kie import CREATE_PATH, RECORD_PATH, Outcome
from tests.conftest import TEST_ENCRYPTION_KEY, USER_ID
from tests.test_budget import private_answer
from tests.test_workspace_settings import ADMIN, open_settings, save
from tests.test_workspaces import eventually, install, wait_done, with_oauth

TEAM = slack_standin.TEAM_ID
OWN_KEY = "wk-4f1c9e7d2b8a6c0e5f3d1b9a7c5ea1b2"
NEW_KEY = "wk-9e8d7c6b5a4f3e2d1c0b9a8f7e6dc3d4"
OPERATOR_KEY = f"Bearer {kie_standin.API_KEY}"


def bearer(key: str) -> str:
    return f"Bearer {key}"


def keys_sent(kie, path: str, task_id: str | None = None) -> list[str]:
    return [
        r.headers.get("Authorization", "")
        for r in kie.requests_to(path)
        if task_id is None or r.query.get("taskId") == task_id
    ]


async def sealed_rows(banana) -> list[dict]:
    return await banana.services.store.database.fetch("select * from workspace_kie_keys order by added_at")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> dict[str, str]:
    """The database setting of each backend; set up before Banana, so a schema is dropped only once it has stopped."""
    return {"DATABASE_URL": request.getfixturevalue("postgres_url")} if request.param == "postgresql" else {}


@pytest.fixture
async def sealing(backend, start_banana, kie):
    """Banana with BANANA_ENCRYPTION_KEYS, on each backend; the stand-in knows the workspace keys."""
    for key in (OWN_KEY, NEW_KEY):
        kie.add_account(key, credits=500)
    return await start_banana(BANANA_ENCRYPTION_KEYS=TEST_ENCRYPTION_KEY, **backend)


async def test_a_key_kie_refuses_is_answered_beside_the_field_and_nothing_is_saved(sealing, kie, slack):
    answer = await save(sealing, slack, **{form.KIE_KEY: "wk-not-a-key-kie-knows", form.DAILY_CAP: "10"})
    errors = answer.json()["errors"]
    assert list(errors) == [form.KIE_KEY] and "kie.ai refused this key" in errors[form.KIE_KEY]
    store = sealing.services.store
    assert await store.workspace_settings(TEAM) == {} and await store.settings_changes(TEAM) == []
    assert await sealed_rows(sealing) == []
    assert keys_sent(kie, kie_standin.CREDIT_PATH) == [bearer("wk-not-a-key-kie-knows")]  # asked kie with that key


async def test_a_check_kie_cannot_finish_in_time_is_answered_beside_the_field(sealing, kie, slack):
    sealing.services.kie_keys.check_seconds = 0.0  # kie's answer cannot arrive in no time at all
    answer = await save(sealing, slack, **{form.KIE_KEY: OWN_KEY})
    assert "did not answer in time" in answer.json()["errors"][form.KIE_KEY]
    assert await sealed_rows(sealing) == []


async def test_a_saved_key_shows_only_its_last_four_is_sealed_never_logged_and_spent_from(sealing, kie, slack, caplog):
    caplog.set_level(logging.DEBUG)
    answer = await save(sealing, slack, **{form.KIE_KEY: OWN_KEY})
    assert answer.status_code == 200 and "errors" not in answer.text

    view = json.dumps(await open_settings(sealing, slack), ensure_ascii=False)
    assert "Saved: …a1b2" in view and OWN_KEY not in view and OWN_KEY[:-4] not in view
    (row,) = await sealed_rows(sealing)
    assert OWN_KEY not in json.dumps(row) and row["last4"] == "a1b2"  # sealed at rest
    (change,) = await sealing.services.store.settings_changes(TEAM)
    assert change.change == "kie.ai key: operator's → own key …a1b2"

    await sealing.command("a red fox")
    task = await sealing.only_task()
    assert task.kie_key == row["fingerprint"] and OWN_KEY not in task.kie_key
    assert keys_sent(kie, CREATE_PATH) == [bearer(OWN_KEY)]
    assert set(keys_sent(kie, RECORD_PATH)) == {bearer(OWN_KEY)}
    assert {r.headers["Authorization"] for r in kie.requests_to(kie_standin.STREAM_UPLOAD_PATH)} <= {bearer(OWN_KEY)}
    assert kie.credits_of(OWN_KEY) < 500 and kie.credits == 10_000  # the workspace's account paid

    await sealing.command("usage", user=USER_ID)
    assert "kie.ai balance" not in await private_answer(slack, "Banana usage")
    await sealing.command("usage", user=ADMIN)
    usage = await private_answer(slack, "kie.ai balance")
    assert f"*kie.ai balance:* this workspace's own key …a1b2: {kie.credits_of(OWN_KEY)} credits" in usage
    assert OWN_KEY not in caplog.text and OWN_KEY[-12:] not in caplog.text


async def test_without_encryption_keys_the_field_says_the_operator_must_set_them(banana, kie, slack):
    kie.add_account(OWN_KEY)
    view = json.dumps(await open_settings(banana, slack), ensure_ascii=False)
    assert "must set BANANA_ENCRYPTION_KEYS" in view
    answer = await save(banana, slack, **{form.KIE_KEY: OWN_KEY, form.RATIO: "4:5"})
    assert "BANANA_ENCRYPTION_KEYS" in answer.json()["errors"][form.KIE_KEY]
    assert await banana.services.store.workspace_settings(TEAM) == {}
    assert keys_sent(kie, kie_standin.CREDIT_PATH) == []


async def test_a_task_reads_with_the_key_it_was_created_with_across_a_restart_and_a_replaced_key(
    start_banana, app_env, kie, slack
):
    for key in (OWN_KEY, NEW_KEY):
        kie.add_account(key)
    first = await start_banana(BANANA_ENCRYPTION_KEYS=TEST_ENCRYPTION_KEY)
    await save(first, slack, **{form.KIE_KEY: OWN_KEY})
    kie.plan(Outcome(kind="never"))
    await first.command("a slow lighthouse")
    store = first.services.store

    async def at_kie() -> bool:
        tasks = await store.for_user(TEAM, USER_ID)
        return bool(tasks and tasks[0].kie_task_id)

    await eventually(at_kie)
    await first.server.stop()

    second = await start_banana(BANANA_ENCRYPTION_KEYS=TEST_ENCRYPTION_KEY)
    answer = await save(second, slack, **{form.KIE_KEY: NEW_KEY})  # replaced while the task runs
    assert "errors" not in answer.text
    assert len(await sealed_rows(second)) == 2  # the replaced key stays while the task needs it
    (task,) = await second.services.store.for_user(TEAM, USER_ID)
    reads_before = len(keys_sent(kie, RECORD_PATH))
    kie.finish_now(task.kie_task_id or "")
    task = await second.only_task()
    assert task.state.value == "done"
    assert set(keys_sent(kie, RECORD_PATH)[reads_before:]) == {bearer(OWN_KEY)}

    await eventually(lambda: _rows_are(second, 1))  # the replaced key is forgotten once no task needs it
    (row,) = await sealed_rows(second)
    assert row["last4"] == "c3d4"
    await second.command("a second lighthouse")
    await eventually(lambda: _creates(kie, 2))
    assert keys_sent(kie, CREATE_PATH) == [bearer(OWN_KEY), bearer(NEW_KEY)]


async def _rows_are(banana, count: int) -> bool:
    return len(await sealed_rows(banana)) == count


async def _creates(kie, count: int) -> bool:
    return len(kie.requests_to(CREATE_PATH)) >= count


async def test_removing_the_key_mid_task_lets_the_task_finish_then_the_operators_key_is_used(sealing, kie, slack):
    await save(sealing, slack, **{form.KIE_KEY: OWN_KEY})
    kie.plan(Outcome(kind="never"))
    await sealing.command("a slow fox")
    store = sealing.services.store

    async def at_kie() -> bool:
        tasks = await store.for_user(TEAM, USER_ID)
        return bool(tasks and tasks[0].kie_task_id)

    await eventually(at_kie)
    answer = await save(sealing, slack, **{form.KIE_KEY: "remove"})
    assert "errors" not in answer.text
    assert (await store.settings_changes(TEAM))[0].change == "kie.ai key: own key …a1b2 → operator's"
    assert "Saved: …" not in json.dumps(await open_settings(sealing, slack), ensure_ascii=False)
    (task,) = await store.for_user(TEAM, USER_ID)
    kie.finish_now(task.kie_task_id or "")
    task = await sealing.only_task()
    assert task.state.value == "done" and set(keys_sent(kie, RECORD_PATH)) == {bearer(OWN_KEY)}
    await eventually(lambda: _rows_are(sealing, 0))

    await sealing.command("a quick fox")
    await eventually(lambda: _creates(kie, 2))
    assert keys_sent(kie, CREATE_PATH) == [bearer(OWN_KEY), OPERATOR_KEY]


async def test_a_workspace_key_kie_stops_taking_fails_the_task_saying_whose_key_it_is(sealing, kie, slack):
    await save(sealing, slack, **{form.KIE_KEY: OWN_KEY})
    kie.remove_account(OWN_KEY)
    await sealing.command("a red fox")
    task = await sealing.only_task()
    assert task.state.value == "failed" and "this workspace's own kie.ai key" in (task.error_message or "")
    assert "KIEAI_API_KEY" not in (task.error_message or "") and kie.tasks == {}


async def test_forget_workspace_and_uninstall_delete_the_key(sealing, kie, slack):
    await save(sealing, slack, **{form.KIE_KEY: OWN_KEY})
    store = sealing.services.store
    assert (await store.workspace_records(TEAM)).settings
    await store.forget_settings(TEAM)  # what an uninstall does
    assert await sealed_rows(sealing) == []
    await save(sealing, slack, **{form.KIE_KEY: OWN_KEY})
    await store.forget_workspace(TEAM)
    assert await sealed_rows(sealing) == [] and (await store.workspace_records(TEAM)).empty


async def test_each_workspace_spends_from_its_own_key_and_limits_are_kept_per_key(start_banana, app_env, kie, slack):
    """Three workspaces with keys of their own get three times the creates one key allows in kie's window: counted
    at the stand-in, per key. A fourth workspace, without a key, spends from the operator's."""
    kie.rate_limit, kie.rate_window = 2, 60.0
    app_env.update(KIEAI_CREATES_PER_WINDOW="2", KIEAI_CREATE_WINDOW="60")
    banana = await with_oauth(start_banana, slack)
    teams = [slack.add_workspace(name=f"Team {n}") for n in range(4)]
    async with httpx.AsyncClient(timeout=10) as browser:
        for team in teams:
            assert (await install(banana, team, browser)).status_code == 200
    keys = [f"wk-team{n}-0123456789abcdef{n:04d}" for n in range(3)]
    workspaces, kie_keys = banana.services.workspaces, banana.services.kie_keys
    assert workspaces is not None
    for team, key in zip(teams, keys, strict=False):
        kie.add_account(key)
        await workspaces.save(team.team_id, team.admin_user_id, Chosen(), KeyChange(kie_keys.seal(key)))

    await banana.command("a lone fox", team=teams[3])
    for n in range(3):
        for team in teams[:3]:
            await banana.command(f"fox {n}", team=team)

    async def each_key_full() -> bool:
        return all(kie.creates_by_key.get(key, 0) == 2 for key in keys)

    await eventually(each_key_full)
    assert sum(kie.creates_by_key.get(key, 0) for key in keys) == 3 * kie.rate_limit
    assert kie.refused_creates == 0  # nobody was refused: each key's line kept under its own limit
    assert kie.creates_by_key.get(kie_standin.API_KEY) == 1  # the workspace without a key: the operator's
    await wait_done(banana, teams[3])


async def test_the_standin_keeps_kies_limits_per_key(kie):
    """docs.kie.ai ("Getting Started"): limits apply per account; another account's key is not refused for it."""
    kie.rate_limit = 1
    kie.add_account(OWN_KEY)
    body = {"model": "nano-banana-pro", "input": {"prompt": "a fox"}}
    async with httpx.AsyncClient(base_url=kie.base_url) as http:
        codes = [
            (await http.post(CREATE_PATH, json=body, headers={"Authorization": bearer(key)})).status_code
            for key in (kie_standin.API_KEY, OWN_KEY, kie_standin.API_KEY)
        ]
        assert codes == [200, 200, 429]
        task_id = next(iter(kie.tasks))
        theirs = await http.get(RECORD_PATH, params={"taskId": task_id}, headers={"Authorization": bearer(OWN_KEY)})
        assert theirs.json()["code"] == 404  # another account's task


async def test_another_replica_spends_from_the_key_saved_on_the_first(postgres_url, start_banana, kie, slack):
    kie.add_account(OWN_KEY)
    env = {"DATABASE_URL": postgres_url, "BANANA_ENCRYPTION_KEYS": TEST_ENCRYPTION_KEY}
    first, second = await start_banana(**env), await start_banana(**env)
    await save(first, slack, **{form.KIE_KEY: OWN_KEY})
    await second.command("a red fox")
    (task,) = await wait_done(second, slack)
    assert task.state.value == "done" and keys_sent(kie, CREATE_PATH) == [bearer(OWN_KEY)]


async def test_reencrypt_seals_the_workspace_keys_with_the_newest_key(sealing, slack):
    await save(sealing, slack, **{form.KIE_KEY: OWN_KEY})
    newest = Fernet.generate_key().decode()
    database = sealing.services.store.database
    assert await reencrypt_kie_keys(database, [newest, TEST_ENCRYPTION_KEY]) == 1
    (row,) = await sealed_rows(sealing)
    assert Sealer([newest]).open(row["sealed"]) == OWN_KEY
    with pytest.raises(UnknownKey):  # a key no longer listed: nothing is changed
        await reencrypt_kie_keys(database, [TEST_ENCRYPTION_KEY])


async def test_doctor_says_when_workspace_keys_cannot_be_kept_or_opened(sealing, slack):
    store, settings = sealing.services.store, sealing.services.settings
    (none_yet,) = await kie_keys_check(store, replace(settings, encryption_keys=()))
    assert none_yet.mark is Mark.NOTE and "until BANANA_ENCRYPTION_KEYS is set" in none_yet.text
    assert await kie_keys_check(store, settings) == []
    await save(sealing, slack, **{form.KIE_KEY: OWN_KEY})
    (opened,) = await kie_keys_check(store, settings)
    assert opened.mark is Mark.OK
    (unset,) = await kie_keys_check(store, replace(settings, encryption_keys=()))
    assert unset.mark is Mark.FAIL and "BANANA_ENCRYPTION_KEYS is not set" in unset.text
    (closed,) = await kie_keys_check(store, replace(settings, encryption_keys=(Fernet.generate_key().decode(),)))
    assert closed.mark is Mark.FAIL and TEAM in closed.text

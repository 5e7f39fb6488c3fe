"""Budgets and cost: configurable prices recorded per task, caps checked before a task exists, `/banana usage`."""

from __future__ import annotations

import calendar
import json

import pytest

from bot.blocks import cards
from bot.blocks.usage import usage_text
from bot.services.budget import Budget, start_of_day, start_of_month, start_of_next_month
from bot.settings import SettingsError, load_settings
from bot.store import SqliteTaskStore
from prompts.options import PRICES, Prices
from prompts.tasks import NewTask, TaskState
from prompts.usage import Spend, UsageReport
from standins import slack as slack_standin
from standins.kie import CREDIT_PATH, Outcome
from tests.conftest import CHANNEL_ID, USER_ID
from tests.test_reliability import callback_app

CREATE = "/api/v1/jobs/createTask"
OTHER = "U0OTHER001"
ADMIN = "U0ADMIN001"
REQUIRED = {"SLACK_BOT_TOKEN": "xoxb-1-secret", "SLACK_SIGNING_SECRET": "signing-secret", "KIEAI_API_KEY": "kie-secret"}


async def rows(banana, user: str = USER_ID):
    return await banana.services.store.for_user(slack_standin.TEAM_ID, user, limit=100)


async def private_answer(slack, says: str) -> str:
    """The text of the response_url answer (an ephemeral message) that contains `says`."""
    await slack.wait_for(lambda: any(says in json.dumps(r, ensure_ascii=False) for r in slack.responses))
    return next(r["text"] for r in slack.responses if says in json.dumps(r, ensure_ascii=False))


# ---- caps, through the real app ------------------------------------------------------------------------------------


async def test_a_user_over_their_daily_cap_is_refused_before_any_task_is_created(start_banana, kie, slack):
    banana = await start_banana(USER_DAILY_CREDIT_CAP="30")
    await banana.command("a red fox")
    (first,) = await banana.settle(1)
    assert first.state is TaskState.DONE and first.credits == 18

    response = await banana.command("a blue whale")
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    assert "daily limit of 30 credits: ≈18 spent today, and a 2K image costs ≈18." in answer["text"]
    assert "USER_DAILY_CREDIT_CAP" in answer["text"] and "midnight UTC" in answer["text"]
    assert len(kie.requests_to(CREATE)) == 1
    assert [t.id for t in await rows(banana)] == [first.id]
    assert len(slack.calls_to("chat.postMessage")) == 1

    await banana.command("their whale", user=OTHER)  # a daily cap is per person
    (theirs,) = await banana.settle(1, user=OTHER)
    assert theirs.state is TaskState.DONE


async def test_a_workspace_over_its_monthly_cap_is_refused_and_a_cheaper_size_is_suggested(start_banana, kie, slack):
    banana = await start_banana(WORKSPACE_MONTHLY_CREDIT_CAP="30", PRICE_1K="10")
    await banana.command("a red fox")
    await banana.settle(1)

    answer = (await banana.command("a blue whale", user=OTHER)).json()
    assert "The workspace has reached its monthly limit of 30 credits: ≈18 spent this month" in answer["text"]
    assert "a 2K image costs ≈18." in answer["text"]
    assert "A 1K image (≈10 credits) still fits." in answer["text"]
    assert "WORKSPACE_MONTHLY_CREDIT_CAP" in answer["text"]
    assert await rows(banana, OTHER) == [] and len(kie.requests_to(CREATE)) == 1

    assert (await banana.command("a blue whale --res 1K", user=OTHER)).text == ""
    (small,) = await banana.settle(1, user=OTHER)
    assert small.state is TaskState.DONE and small.credits == 10


async def test_caps_count_tasks_still_running_at_their_price(start_banana, kie, slack):
    banana = await start_banana(USER_DAILY_CREDIT_CAP="36")
    kie.plan(Outcome(kind="never"), Outcome(kind="never"))
    await banana.command("one")
    await banana.command("two")
    await slack.wait_for(lambda: len(kie.tasks) == 2)

    answer = (await banana.command("three")).json()
    assert "daily limit of 36 credits: 0 spent and ≈36 in images still running today" in answer["text"]
    assert len(await rows(banana)) == 2

    for task_id in list(kie.tasks):
        kie.finish_now(task_id)
    done = await banana.settle(2)
    assert [t.credits for t in done] == [18, 18]
    answer = (await banana.command("four")).json()
    assert "≈36 spent today" in answer["text"]
    assert len(kie.requests_to(CREATE)) == 2


async def test_failed_tasks_cost_nothing_and_leave_the_cap_untouched(start_banana, kie, slack):
    banana = await start_banana(USER_DAILY_CREDIT_CAP="18")
    kie.plan(Outcome(kind="fail", fail_code="400", fail_msg="content policy"))
    await banana.command("first try")
    (failed,) = await banana.settle(1)
    assert failed.state is TaskState.FAILED and failed.credits == 0

    await banana.command("second try")
    _, done = await banana.settle(2)
    assert done.state is TaskState.DONE and done.credits == 18
    assert "daily limit" in (await banana.command("third try")).json()["text"]


async def test_the_regenerate_button_is_refused_over_the_cap(start_banana, kie, slack):
    banana = await start_banana(USER_DAILY_CREDIT_CAP="30")
    await banana.command("a red fox")
    task = await banana.only_task()

    await banana.click(cards.REGENERATE, str(task.id), message_ts=task.message_ts)
    text = await private_answer(slack, "daily limit")
    assert "30 credits" in text and "Nothing was started" in text
    assert len(kie.requests_to(CREATE)) == 1 and len(await rows(banana)) == 1


async def test_the_form_is_refused_over_the_cap_and_stays_open(start_banana, kie, slack):
    banana = await start_banana(USER_DAILY_CREDIT_CAP="30")
    await banana.command("a red fox")
    await banana.settle(1)

    await banana.command("")
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    response = await banana.submit(slack.views_opened[0], prompt="a lighthouse")
    answer = response.json()
    assert answer["response_action"] == "errors" and "daily limit" in answer["errors"]["prompt"]
    assert len(kie.requests_to(CREATE)) == 1 and len(await rows(banana)) == 1


# ---- prices, through the real app ----------------------------------------------------------------------------------


async def test_configured_prices_are_recorded_and_shown(start_banana, kie, slack):
    banana = await start_banana(PRICE_2K="20")
    await banana.command("a lighthouse --res 2K")
    task = await banana.only_task()
    assert task.credits == 20
    assert "≈20 credits" in json.dumps(slack.message(CHANNEL_ID, task.message_ts).blocks, ensure_ascii=False)
    (reply,) = slack.thread(CHANNEL_ID, task.message_ts)
    assert "≈20 credits" in reply.text

    help_text = (await banana.command("help")).json()["text"]
    assert "1K costs ≈18 credits, 2K costs ≈20, 4K costs ≈24" in help_text and "/banana usage" in help_text

    await banana.click(cards.REMIX, str(task.id), message_ts=task.message_ts)
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    resolution = next(b for b in slack.views_opened[0]["blocks"] if b.get("block_id") == "resolution")
    assert [o["text"]["text"] for o in resolution["element"]["options"]] == [
        "1K · ≈18 credits",
        "2K · ≈20 credits",
        "4K · ≈24 credits",
    ]


async def test_what_kie_reports_consumed_wins_over_the_price_table(start_banana, kie, slack):
    # kie states the cost in its callback only (recordInfo has no credits field).
    banana = await callback_app(start_banana, PRICE_2K="20", CALLBACK_POLL_INTERVAL="30")
    kie.plan(Outcome(generate_seconds=0.1, credits=17))
    await banana.command("a lighthouse")
    task = await banana.only_task()
    assert (task.credits, task.credits_exact) == (17, True)
    await banana.command("usage")
    usage = await private_answer(slack, "Banana usage")
    assert "*You today:* 1 image · 17 credits" in usage  # kie's own figure, not an estimate


# ---- /banana usage -------------------------------------------------------------------------------------------------


async def test_usage_for_a_person_shows_their_and_the_workspace_spend_but_no_balance(start_banana, kie, slack):
    banana = await start_banana(USER_DAILY_CREDIT_CAP="100", WORKSPACE_MONTHLY_CREDIT_CAP="1000")
    await banana.command("mine")
    await banana.command("theirs --res 4K", user=OTHER)
    await banana.settle(1)
    await banana.settle(1, user=OTHER)

    response = await banana.command("usage")
    assert response.status_code == 200 and response.text == ""
    text = await private_answer(slack, "Banana usage")
    assert "*You today:* 1 image · ≈18 credits · limit 100 a day, ≈82 left" in text
    assert "*You this month:* 1 image · ≈18 credits" in text
    assert "*The workspace this month:* 2 images · ≈42 credits · limit 1,000 a month, ≈958 left" in text
    assert "kie.ai balance" not in text
    assert kie.requests_to(CREDIT_PATH) == []
    (answer,) = slack.responses
    assert answer["response_type"] == "ephemeral"
    assert len(kie.requests_to(CREATE)) == 2  # `usage` is not a prompt


async def test_usage_for_an_admin_adds_the_kie_balance(start_banana, kie, slack):
    banana = await start_banana()
    await banana.command("mine")
    await banana.settle(1)

    await banana.command("usage", user=ADMIN)
    text = await private_answer(slack, "kie.ai balance")
    assert f"*kie.ai balance:* {kie.credits:,} credits" in text
    assert "*You today:* 0 images · 0 credits" in text and "*The workspace this month:* 1 image · ≈18 credits" in text
    assert "limit" not in text

    kie.credits = 5
    await banana.command("usage", user=ADMIN)
    text = await private_answer(slack, "not enough for one 2K image")
    assert "*kie.ai balance:* 5 credits" in text


async def test_usage_for_an_admin_when_kie_cannot_tell_the_balance(start_banana, kie, slack):
    banana = await start_banana()
    kie.fail_next(CREDIT_PATH, 401)
    await banana.command("usage", user=ADMIN)
    text = await private_answer(slack, "kie.ai balance")
    assert "could not be read just now" in text and "did not accept this app's API key" in text


# ---- units ---------------------------------------------------------------------------------------------------------


def load(**env: str):
    return load_settings({**REQUIRED, **env}, env_file=None)


def test_price_and_cap_settings_default_to_kie_prices_and_no_caps():
    settings = load(USER_DAILY_CREDIT_CAP="", WORKSPACE_MONTHLY_CREDIT_CAP=" ")
    assert settings.prices == Prices(18, 18, 24) == PRICES
    assert settings.user_daily_credit_cap is None and settings.workspace_monthly_credit_cap is None


def test_price_and_cap_settings_are_read():
    settings = load(PRICE_1K="10", PRICE_2K="20", PRICE_4K="30", USER_DAILY_CREDIT_CAP="0")
    assert settings.prices == Prices(10, 20, 30)
    assert [settings.prices[r] for r in ("1K", "2K", "4K")] == [10, 20, 30]
    assert settings.user_daily_credit_cap == 0  # nothing may be spent
    assert load(WORKSPACE_MONTHLY_CREDIT_CAP="5000").workspace_monthly_credit_cap == 5000


def test_bad_price_and_cap_settings_are_all_named_at_once():
    with pytest.raises(SettingsError) as caught:
        load(PRICE_1K="cheap", PRICE_4K="0", USER_DAILY_CREDIT_CAP="-5", WORKSPACE_MONTHLY_CREDIT_CAP="1.5")
    problems = caught.value.problems
    assert len(problems) == 4
    assert "PRICE_1K must be a whole number from 1 to 1000000, got 'cheap'" in problems
    assert "PRICE_4K must be a whole number from 1 to 1000000, got '0'" in problems
    assert any(p.startswith("USER_DAILY_CREDIT_CAP must be a whole number of credits") for p in problems)
    assert any(p.startswith("WORKSPACE_MONTHLY_CREDIT_CAP must be a whole number of credits") for p in problems)


def test_days_and_months_are_utc():
    now = calendar.timegm((2025, 12, 31, 23, 30, 0))
    assert start_of_day(now) == calendar.timegm((2025, 12, 31, 0, 0, 0))
    assert start_of_month(now) == calendar.timegm((2025, 12, 1, 0, 0, 0))
    assert start_of_next_month(now) == calendar.timegm((2026, 1, 1, 0, 0, 0))


async def test_spend_before_today_or_this_month_does_not_count(tmp_path):
    now = [float(calendar.timegm((2025, 6, 30, 12, 0, 0)))]
    store = await SqliteTaskStore(tmp_path / "banana.db", clock=lambda: now[0]).open()
    try:
        task = await store.add(
            NewTask(
                team_id="T1",
                user_id=USER_ID,
                channel_id=CHANNEL_ID,
                prompt="old",
                avoid="",
                aspect_ratio="1:1",
                resolution="2K",
                output_format="png",
            )
        )
        await store.set_state(task.id, TaskState.DONE, credits=18)
        budget = Budget(store, PRICES, user_daily_cap=18, workspace_monthly_cap=36, clock=lambda: now[0])
        assert "daily limit" in (await budget.refusal("T1", USER_ID, "2K") or "")

        now[0] += 86_400  # the next day, and the next month
        assert await budget.refusal("T1", USER_ID, "2K") is None
        report = await budget.report("T1", USER_ID)
        assert report.today == Spend(0, 0) and report.workspace_month == Spend(0, 0)
    finally:
        await store.close()


def test_usage_text_shows_running_tasks_and_what_is_left():
    report = UsageReport(
        today=Spend(images=1, credits=18, running_images=1, running=24),
        month=Spend(images=3, credits=54, running_images=1, running=24),
        workspace_month=Spend(images=9, credits=170, running_images=1, running=24),
        user_daily_cap=50,
        workspace_monthly_cap=None,
        prices=PRICES,
    )
    text = usage_text(report)
    assert "*You today:* 1 image · ≈18 credits · 1 running (≈24 credits when done) · limit 50 a day, ≈8 left" in text
    assert "*The workspace this month:* 9 images · ≈170 credits · 1 running (≈24 credits when done)\n" in text
    assert "Prices: 1K and 2K cost ≈18 credits, 4K costs ≈24. A failed image costs nothing." in text
    assert "kie.ai balance" not in text


async def test_followup_prices_everywhere(start_banana, kie, slack):
    banana = await start_banana(PRICE_2K="20", PRICE_4K="30")
    kie.plan(Outcome(kind="never"))
    await banana.command("slow")
    await slack.wait_for(lambda: bool(kie.tasks))
    await slack.wait_for(lambda: bool(slack.calls_to("chat.update")))
    (task,) = await rows(banana)
    assert "≈20 credits" in json.dumps(slack.message(CHANNEL_ID, task.message_ts).blocks, ensure_ascii=False)
    kie.finish_now(next(iter(kie.tasks)))
    task = await banana.only_task()
    card = json.dumps(slack.message(CHANNEL_ID, task.message_ts).blocks, ensure_ascii=False)
    assert "costs ≈30 credits" in card
    await banana.command("")
    await slack.wait_for(lambda: len(slack.views_opened) == 1)
    assert "2K · ≈20 credits" in json.dumps(slack.views_opened[0], ensure_ascii=False)
    await banana.event({"type": "app_home_opened", "user": USER_ID, "channel": "D0DIRECT01", "tab": "home"})
    await slack.wait_for(lambda: USER_ID in slack.views_published)
    assert "costs ≈30 credits" in json.dumps(slack.views_published[USER_ID], ensure_ascii=False)

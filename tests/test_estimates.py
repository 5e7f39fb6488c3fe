"""Credits are honest: figures from the price table are estimates and say so ("≈18 credits"); kie.ai's own figure
(a task with `credits_exact`) is shown as it is, fractional or not."""

from __future__ import annotations

import calendar
import json

import pytest

from bot.blocks import cards, guide, home, modals, studio
from bot.blocks.text import approx, credit_amount, credits_text, prices_text
from bot.blocks.usage import balance_text, usage_text
from bot.services.budget import Budget
from bot.store import SqliteTaskStore
from prompts.options import PRICES, Options, Prices
from prompts.tasks import HomeFilter, NewTask, Task, TaskState, Usage
from prompts.usage import Spend, UsageReport
from tests.test_blocks import make_task as blocks_task

DEFAULTS = Options("1:1", "2K", "png")


def make_task(**changes: object) -> Task:
    """A finished task, as test_blocks makes one."""
    values: dict[str, object] = {"state": TaskState.DONE, "duration": 52.0, "slack_file_id": "F1"}
    return blocks_task(**{**values, **changes})


def card(task: Task, prices: Prices = PRICES) -> str:
    return json.dumps(cards.card_blocks(task, now=1020.0, estimate=None, prices=prices), ensure_ascii=False)


def upscale_confirm(task: Task) -> str:
    (upscale,) = [b for b in cards.task_actions(task).to_dict()["elements"] if b["action_id"] == cards.REDRAW_4K]
    return upscale["confirm"]["text"]["text"]


def home_row(task: Task) -> str:
    page = home.HomePage("U123", [task], HomeFilter.ALL, 0, False, True, Usage(1, 18), Usage(1, 18))
    return json.dumps(home.home_view(page, DEFAULTS)["blocks"][3:], ensure_ascii=False)


# ---- the helpers ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (18, "18"),
        (18.0, "18"),
        (17.5, "17.5"),
        (17.456, "17.46"),
        (0.125, "0.12"),
        (17.999, "18"),
        (0.1 + 0.2, "0.3"),
        (1234.5, "1,234.5"),
        (1_000_000, "1,000,000"),
        (0, "0"),
        (-0.0001, "0"),
    ],
)
def test_a_credit_amount_has_no_dot_zero_at_most_two_decimals_and_thousands_separators(amount, shown):
    assert credit_amount(amount) == shown


def test_an_estimate_says_so_and_an_exact_figure_does_not():
    assert approx(18, exact=False) == "≈18" and approx(17.5, exact=True) == "17.5"
    assert credits_text(18, exact=False) == "≈18 credits"
    assert credits_text(17.5, exact=True) == "17.5 credits"
    assert credits_text(18.0, exact=True) == "18 credits"
    assert credits_text(1, exact=True) == "1 credit" and credits_text(1, exact=False) == "≈1 credit"
    assert credits_text(1234.567, exact=False) == "≈1,234.57 credits"


def test_the_price_table_is_always_an_estimate():
    assert prices_text(PRICES) == "1K and 2K cost ≈18 credits, 4K costs ≈24"
    assert prices_text(Prices(18, 18, 18)) == "1K, 2K and 4K cost ≈18 credits"
    assert prices_text(Prices(10, 20, 30)) == "1K costs ≈10 credits, 2K costs ≈20, 4K costs ≈30"
    assert prices_text(Prices(10, 20, 30)) == "1K costs ≈10 credits, 2K costs ≈20, 4K costs ≈30"


# ---- cards, captions, Home -----------------------------------------------------------------------------------------


def test_kies_own_figure_is_shown_exactly_everywhere_a_task_cost_appears():
    task = make_task(credits=17.5, credits_exact=True)
    assert "· 17.5 credits" in card(task) and "≈17.5" not in card(task)
    assert cards.result_caption(task).endswith("0:52 · 17.5 credits")
    assert "· 17.5 credits" in home_row(task) and "≈17.5" not in home_row(task)
    assert upscale_confirm(task).endswith("It costs ≈24 credits (this one cost 17.5 credits).")


def test_a_whole_exact_figure_has_no_estimate_mark():
    task = make_task(credits=18.0, credits_exact=True)
    assert "· 18 credits" in card(task) and "≈18 credits" not in card(task)
    assert cards.result_caption(task).endswith("· 18 credits")
    assert "(this one cost 18 credits)" in upscale_confirm(task)


def test_a_figure_from_the_price_table_is_an_estimate_everywhere():
    task = make_task(credits=18)
    assert "· ≈18 credits" in card(task)
    assert cards.result_caption(task).endswith("0:52 · ≈18 credits")
    assert "· ≈18 credits" in home_row(task)
    assert upscale_confirm(task).endswith("It costs ≈24 credits (this one cost ≈18 credits).")


def test_a_running_card_shows_the_price_until_kie_reports_the_cost():
    running = make_task(state=TaskState.GENERATING, duration=None, slack_file_id=None)
    assert "for <@U123> · ≈20 credits" in card(running, Prices(18, 20, 24))
    uploading = make_task(state=TaskState.UPLOADING, credits=19.25, credits_exact=True, duration=None)
    assert "for <@U123> · 19.25 credits" in card(uploading) and "≈" not in card(uploading)


def test_nothing_charged_is_exactly_nothing():
    reused = make_task(credits=0, reused_from=3)
    assert "reused from #3 at no cost" in card(reused) and "· 0 credits" in card(reused) and "≈0" not in card(reused)
    failed = make_task(state=TaskState.FAILED, credits=0, error_message="kie.ai refused it.")
    assert "nothing charged" in card(failed) and "≈" not in card(failed)


def test_home_spend_is_an_estimate_unless_nothing_was_spent():
    page = home.HomePage("U123", [], HomeFilter.ALL, 0, False, False, Usage(0, 0), Usage(3, 53.5))
    summary = home.home_view(page, DEFAULTS)["blocks"][1]["text"]["text"]
    assert "*Today:* 0 images · 0 credits\n" in summary
    assert "*This month:* 3 images · ≈53.5 credits" in summary


# ---- forms, help, the studio ---------------------------------------------------------------------------------------


def resolution_texts(view: dict) -> list[str]:
    block = next(b for b in view["blocks"] if b.get("block_id") == modals.RESOLUTION)
    return [o["text"]["text"] for o in block["element"]["options"]]


def test_the_forms_and_the_review_step_show_prices_as_estimates():
    prices = Prices(10, 20, 30)
    expected = ["1K · ≈10 credits", "2K · ≈20 credits", "4K · ≈30 credits"]
    assert resolution_texts(modals.new_image_modal(DEFAULTS, prices, channel_id="C1")) == expected
    review = studio.Review(prompt="a lighthouse", options=DEFAULTS, channel_id="C1")
    assert resolution_texts(studio.review_modal(review, prices)) == expected


def test_help_says_prices_are_estimates_and_what_is_exact():
    text = guide.help_text(DEFAULTS)
    assert "(default `2K`; 1K and 2K cost ≈18 credits, 4K costs ≈24)" in text
    assert "≈ are estimates from Banana's price table" in text and "kie.ai's exact cost, without ≈" in text


# ---- /banana usage, the balance, the caps --------------------------------------------------------------------------


def report(**spends: Spend) -> UsageReport:
    values: dict = dict(
        today=Spend(images=0, credits=0),
        month=Spend(images=0, credits=0),
        workspace_month=Spend(images=0, credits=0),
        user_daily_cap=100,
        workspace_monthly_cap=None,
        prices=PRICES,
    )
    values.update(spends)
    return UsageReport(**values)


def test_usage_marks_a_sum_that_holds_any_estimate():
    text = usage_text(
        report(
            today=Spend(images=2, credits=35.5, exact_credits=35.5),
            month=Spend(images=3, credits=53.5, exact_credits=35.5),
            workspace_month=Spend(images=3, credits=53.5, exact_credits=35.5, running_images=1, running=24),
        )
    )
    assert "*You today:* 2 images · 35.5 credits · limit 100 a day, 64.5 left" in text
    assert "*You this month:* 3 images · ≈53.5 credits\n" in text
    assert "*The workspace this month:* 3 images · ≈53.5 credits · 1 running (≈24 credits when done)\n" in text
    assert "Prices: 1K and 2K cost ≈18 credits, 4K costs ≈24. A failed image costs nothing." in text
    assert "≈ marks an estimate from the price table" in text


def test_usage_left_under_a_cap_is_an_estimate_while_images_run():
    text = usage_text(report(today=Spend(images=1, credits=17.5, exact_credits=17.5, running_images=1, running=18)))
    assert (
        "*You today:* 1 image · 17.5 credits · 1 running (≈18 credits when done) · limit 100 a day, ≈64.5 left" in text
    )


def test_a_fractional_balance_is_shown_well():
    assert balance_text(1234.5, PRICES, "2K") == "1,234.5 credits"
    assert balance_text(1_000_000, PRICES, "2K") == "1,000,000 credits"
    low = balance_text(12.25, PRICES, "2K")
    assert low == "12.25 credits :warning: not enough for one 2K image (≈18 credits); top it up at kie.ai"


def test_kies_words_in_the_balance_line_are_escaped_and_bounded():
    words = "could not be read just now. kie.ai said <!channel> " + "busy " * 1000 + "Try again later."
    text = usage_text(report(), balance=words)
    line = next(line for line in text.splitlines() if line.startswith("• *kie.ai balance:*"))
    assert "<!channel>" not in line and line.endswith("Try again later.") and len(line) < 1600


async def test_cap_refusals_name_prices_and_spend_as_estimates(tmp_path):
    now = float(calendar.timegm((2025, 6, 30, 12, 0, 0)))
    store = await SqliteTaskStore(tmp_path / "banana.db", clock=lambda: now).open()
    try:
        task = await store.add(
            NewTask(
                team_id="T1",
                user_id="U1",
                channel_id="C1",
                prompt="p",
                avoid="",
                aspect_ratio="1:1",
                resolution="2K",
                output_format="png",
            )
        )
        await store.set_state(task.id, TaskState.DONE, credits=17.5)
        budget = Budget(store, Prices(10, 18, 24), user_daily_cap=40, workspace_monthly_cap=1500, clock=lambda: now)
        refusal = await budget.refusal("T1", "U1", "4K") or ""
        assert refusal.startswith(
            "You have reached your daily limit of 40 credits: ≈17.5 spent today, and a 4K image costs ≈24. "
            "A 2K image (≈18 credits) still fits."
        )
        assert await budget.refusal("T1", "U1", "2K") is None
        budget = Budget(store, Prices(10, 18, 24), workspace_monthly_cap=1_000, clock=lambda: now)
        await store.set_state(task.id, TaskState.DONE, credits=990.25)
        refusal = await budget.refusal("T1", "U1", "2K") or ""
        assert "monthly limit of 1,000 credits: ≈990.25 spent this month, and a 2K image costs ≈18." in refusal
    finally:
        await store.close()

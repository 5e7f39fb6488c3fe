"""Edits, variations and lineage as people see them: the chain on a card, a set's shared card and its one message of
images, the Variations button, Home's groups and Family button, and the family tree. Pure builders, no app."""

from __future__ import annotations

import json
import random

import pytest

from bot.blocks import cards, family, guide, home
from prompts.options import MAX_VARIATIONS, Prices
from prompts.tasks import HomeFilter, Task, TaskState, Usage
from tests.test_blocks import (
    DEFAULTS,
    TYPICAL,
    accepted_message,
    accepted_view,
    home_page,
    make_task,
    mrkdwn_texts,
    within_block_kit,
)

HOSTILE = "<!channel> & *bold* <@U999> "


def chained(*links: tuple[str, int], **changes: object) -> Task:
    """A task with its chain recorded, the parent first."""
    values: dict[str, object] = {}
    if links:
        values = {
            "parent_task_id": links[0][1],
            "relation": links[0][0],
            "ancestry": json.dumps([list(link) for link in links]),
        }
    return make_task(**{**values, **changes})


# ---- lineage ------------------------------------------------------------------------------------------------------


def test_lineage_shows_the_whole_chain_parent_first():
    task = chained(("edit", 12), ("remix", 9), state=TaskState.DONE, duration=30.0, credits=18)
    assert cards.lineage(task) == ["edit of #12 ← remix of #9"]
    card = json.dumps(cards.card_blocks(task, now=1020, estimate=TYPICAL), ensure_ascii=False)
    assert "edit of #12 ← remix of #9" in card
    assert "edit of #12" in cards.result_caption(task)


def test_every_relation_reads_as_the_card_says_it():
    shown = {
        relation: cards.chain_text(chained((relation, 5)))
        for relation in ("edit", "remix", "variation", "upscale", "regenerate", "retry")
    }
    assert shown == {
        "edit": "edit of #5",
        "remix": "remix of #5",
        "variation": "variation of #5",
        "upscale": "4K version of #5",
        "regenerate": "again from #5",
        "retry": "retry of #5",
    }
    assert cards.chain_text(chained(("edit", 12), ("remix", 9)), depth=1) == "edit of #12"


def test_an_old_row_without_a_chain_shows_its_parent():
    assert cards.lineage(make_task(parent_task_id=3, relation="upscale")) == ["4K version of #3"]
    assert cards.lineage(make_task(parent_task_id=3)) == ["remix of #3"]  # stored before relations were
    assert cards.lineage(make_task(parent_task_id=3, relation="something new")) == ["from #3"]
    assert cards.lineage(make_task()) == []


def test_lineage_keeps_the_reused_image_and_the_input_count():
    task = chained(("edit", 12), reused_from=5, input_files='[["F1", "a.png"], ["F2", "b.png"]]')
    assert cards.lineage(task) == ["edit of #12", "reused from #5 at no cost", "2 input images"]


def test_an_edit_waiting_for_its_parent_says_so_and_can_still_be_cancelled():
    task = chained(("edit", 12), state=TaskState.PENDING)
    card = cards.card_blocks(task, now=1020, estimate=TYPICAL, waiting_for=12)
    accepted_message(card, cards.card_text(task))
    text = json.dumps(card, ensure_ascii=False)
    assert ":link: *Waiting for #12 to finish*" in text
    assert "░" not in text and "elapsed" not in text  # no progress bar: it has not started
    assert [b["action_id"] for b in card[-1]["elements"]] == [cards.CANCEL]
    assert "░" in json.dumps(cards.card_blocks(task, now=1020, estimate=TYPICAL), ensure_ascii=False)


# ---- a set's card -------------------------------------------------------------------------------------------------

MIXED = (TaskState.DONE, TaskState.GENERATING, TaskState.FAILED, TaskState.QUEUED)


def a_set(states: tuple[TaskState, ...], first_id: int = 12, **changes: object) -> list[Task]:
    tasks = []
    for slot, state in enumerate(states, start=1):
        values: dict[str, object] = dict(
            id=first_id + slot - 1,
            set_id=first_id,
            slot=slot,
            state=state,
            aspect_ratio="1:1",
            resolution="1K",
            created_at=1000.0,
        )
        if state is TaskState.DONE:
            values.update(duration=30.0 + slot, credits=18, slack_file_id=f"F{slot}")
        if state is TaskState.FAILED:
            values.update(error_message="kie.ai refused the prompt.", credits=0)
        tasks.append(make_task(**{**values, **changes}))
    return tasks


def set_card(tasks: list[Task], **kwargs: object) -> list[dict]:
    values: dict = dict(now=1020.0, estimates={t.id: TYPICAL for t in tasks}, queue_positions={})
    return cards.set_card_blocks(tasks, **{**values, **kwargs})


def slot_buttons(card: list[dict], task_id: int) -> list[str]:
    (actions,) = [b for b in card if b.get("block_id") == f"task-{task_id}"]
    assert actions["type"] == "actions"
    assert all(b["value"] == str(task_id) for b in actions["elements"])
    return [b["action_id"] for b in actions["elements"]]


EXPECTED_BUTTONS = {
    TaskState.DONE: [cards.REMIX, cards.UPSCALE_X2, cards.UPSCALE_X4, cards.REDRAW_4K, cards.VARIATIONS, cards.DELETE],
    TaskState.FAILED: [cards.RETRY, cards.DELETE],
    TaskState.TIMED_OUT: [cards.RETRY, cards.DELETE],
    TaskState.CANCELLED: [cards.RETRY, cards.DELETE],
    TaskState.GENERATING: [cards.CANCEL],
    TaskState.QUEUED: [cards.CANCEL],
    TaskState.PENDING: [cards.CANCEL],
    TaskState.UPLOADING: [cards.CANCEL],
}


@pytest.mark.parametrize("count", range(1, MAX_VARIATIONS + 1))
def test_a_set_card_of_any_size_has_each_slot_with_its_own_buttons_within_block_kit(count: int):
    tasks = a_set(MIXED[:count])
    random.Random(count).shuffle(tasks)  # given in any order, shown by slot
    card = set_card(tasks)
    accepted_message(card, cards.set_card_text(tasks))  # unique block ids, ≤ 50 blocks, ≤ 25 buttons a block
    actions = [b for b in card if b["type"] == "actions"]
    assert [b["block_id"] for b in actions] == [f"task-{12 + i}" for i in range(count)]
    for task in tasks:
        assert slot_buttons(card, task.id) == EXPECTED_BUTTONS[task.state]
    assert json.dumps(card, ensure_ascii=False).count("> a lighthouse at dawn") == 1  # the prompt once


def test_every_state_of_a_slot_has_its_buttons_and_a_4k_slot_has_no_upscale():
    states = tuple(TaskState)
    tasks = a_set(states, credits=None)
    card = set_card(tasks)
    accepted_message(card, cards.set_card_text(tasks))
    for task in tasks:
        assert slot_buttons(card, task.id) == EXPECTED_BUTTONS[task.state]
    four_k = a_set((TaskState.DONE,), resolution="4K")
    expected = [cards.REMIX, cards.UPSCALE_X2, cards.UPSCALE_X4, cards.VARIATIONS, cards.DELETE]
    assert slot_buttons(set_card(four_k), 12) == expected


def test_a_running_set_shows_each_slot_elapsed_left_and_its_queue_place():
    tasks = a_set((TaskState.DONE, TaskState.GENERATING, TaskState.PENDING))
    card = set_card(tasks, now=1020.0, estimates={13: TYPICAL, 14: TYPICAL}, queue_positions={14: 2})
    lines = [b["text"]["text"] for b in card if b["type"] == "section"]
    assert lines[0].startswith(":art: *Generating 3 variations* · 1 done\n> a lighthouse at dawn")
    assert lines[1] == "*1.* #12 · :white_check_mark: Done in 0:31"
    assert lines[2] == "*2.* #13 · :art: Generating · 0:20 elapsed · about 0:30 left"
    assert lines[3] == "*3.* #14 · :hourglass_flowing_sand: Queued, position 2 · 0:20 elapsed"  # no time: tasks ahead
    fresh = set_card(tasks, now=1020.0, estimates={}, queue_positions={})
    assert "*2.* #13 · :art: Generating · 0:20 elapsed · no estimate yet" in json.dumps(fresh, ensure_ascii=False)
    assert cards.set_card_text(tasks) == "Generating 3 variations: a lighthouse at dawn"


def test_a_finished_set_says_so_in_its_header_and_notification():
    done = a_set((TaskState.DONE,) * 3)
    assert set_card(done)[0]["text"]["text"].startswith(
        ":white_check_mark: *3 variations done* · images in the thread\n"
    )
    assert cards.set_card_text(done) == "3 variations ready: a lighthouse at dawn"
    partly = a_set((TaskState.DONE, TaskState.FAILED, TaskState.DONE))
    assert set_card(partly)[0]["text"]["text"].startswith(
        ":white_check_mark: *2 of 3 variations done* · 1 failed · images in the thread\n"
    )
    assert cards.set_card_text(partly) == "2 of 3 variations ready: a lighthouse at dawn"
    one = a_set((TaskState.DONE, TaskState.FAILED))
    assert "*1 of 2 variations done* · 1 failed · image in the thread" in set_card(one)[0]["text"]["text"]
    lost = a_set((TaskState.FAILED, TaskState.CANCELLED))
    assert set_card(lost)[0]["text"]["text"].startswith(":x: *2 variations not made*")
    assert cards.set_card_text(lost).startswith("2 variations not made: ")


def test_a_set_card_details_show_options_the_parents_chain_who_and_the_total():
    tasks = a_set((TaskState.DONE,) * 3, ancestry='[["variation", 9], ["edit", 4]]', parent_task_id=9)
    (details,) = [b for b in set_card(tasks) if b["type"] == "context"]
    text = details["elements"][0]["text"]
    assert text == "1:1 · 1K · png · variation of #9 ← edit of #4 · for <@U123> · total ≈54 credits"
    exact = a_set((TaskState.DONE,) * 2, credits_exact=True, credits=17.5)
    assert "total 35 credits" in json.dumps(set_card(exact))
    running = a_set((TaskState.DONE, TaskState.FAILED, TaskState.GENERATING))  # the failed one cost nothing
    assert "total ≈36 credits" in json.dumps(set_card(running), ensure_ascii=False)
    # The running one is figured from the price table; the done one cost what it cost.
    assert "total ≈33 credits" in json.dumps(set_card(running, prices=Prices(15, 15, 15)), ensure_ascii=False)


def test_a_set_card_with_hostile_and_huge_text_is_escaped_and_accepted():
    reason = HOSTILE + "kie words " * 800 + "Try rephrasing the prompt."
    tasks = a_set(
        (TaskState.FAILED, TaskState.DONE, TaskState.TIMED_OUT, TaskState.CANCELLED),
        prompt=HOSTILE + "x" * 12_000,
        avoid=HOSTILE * 100,
        input_files=json.dumps([[f"F{i}", "ü" * 500] for i in range(8)]),
        error_message=reason,
    )
    card = set_card(tasks)
    accepted_message(card, cards.set_card_text(tasks))
    texts = mrkdwn_texts(card)
    assert all("<!channel>" not in t and "<@U999>" not in t for t in texts)
    assert any("&lt;!channel&gt; &amp; *bold*" in t for t in texts)
    failed = next(t for t in texts if t.startswith("*1.* #12"))
    assert failed.endswith("Try rephrasing the prompt.") and "…" in failed and len(failed) < 600
    assert "<" not in cards.set_card_text(tasks)


def test_a_set_card_needs_a_task():
    with pytest.raises(ValueError):
        cards.set_card_blocks([], now=0, estimates={}, queue_positions={})


# ---- the one message with a set's images --------------------------------------------------------------------------


def delivered(count: int = 3, **changes: object) -> list[Task]:
    return a_set((TaskState.DONE,) * count, **changes)


def test_set_caption_names_who_options_ids_the_slowest_time_and_the_total():
    tasks = delivered(3)  # durations 31, 32, 33
    assert cards.set_caption(tasks) == (
        "<@U123> here are your 3 variations · 1:1 · 1K · png · #12 #13 #14 · 0:33 · ≈54 credits"
    )
    exact = delivered(2, credits=17.5, credits_exact=True, ancestry='[["variation", 9]]', parent_task_id=9)
    assert cards.set_caption(exact) == (
        "<@U123> here are your 2 variations · 1:1 · 1K · png · variation of #9 · #12 #13 · 0:32 · 35 credits"
    )
    assert cards.set_caption(delivered(1)).startswith("<@U123> here is your variation · ")


def test_set_caption_stays_within_a_message_and_pings_nobody():
    tasks = delivered(4, prompt=HOSTILE * 500, input_files=json.dumps([[f"F{i}", "ü" * 500] for i in range(8)]))
    caption = cards.set_caption(tasks)
    assert len(caption) <= 3000 and caption.count("<@") == 1 and "<!channel>" not in caption
    assert "#12 #13 #14 #15" in caption


def test_set_file_title_numbers_the_image_and_shortens_the_prompt():
    tasks = delivered(3, prompt="a lighthouse\nat dawn")
    assert cards.set_file_title(tasks[1], 3) == "Variation 2 of 3 · #13 · a lighthouse at dawn"
    long = cards.set_file_title(delivered(1, prompt="word " * 500)[0], 1)
    assert long.startswith("Variation 1 of 1 · #12 · word word") and long.endswith("…") and len(long) < 120


# ---- the Variations button ----------------------------------------------------------------------------------------


def variations_confirm(task: Task, prices: Prices | None = None) -> str:
    actions = cards.task_actions(task) if prices is None else cards.task_actions(task, prices)
    (button,) = [b for b in actions.to_dict()["elements"] if b["action_id"] == cards.VARIATIONS]
    assert button["value"] == str(task.id) and button["text"]["text"] == "Variations"
    within_block_kit(button)
    return json.dumps(button["confirm"], ensure_ascii=False)


def test_variations_confirm_says_what_three_more_cost():
    assert cards.VARIATIONS == "task_variations" and cards.VARIATIONS in cards.TASK_ACTIONS
    assert cards.VARIATIONS_BUTTON_COUNT == 3
    done = make_task(state=TaskState.DONE, credits=18, slack_file_id="F1")
    assert "at 2K cost ≈54 credits (≈18 each)" in variations_confirm(done)
    four_k = make_task(state=TaskState.DONE, credits=24, resolution="4K")
    assert "at 4K cost ≈72 credits (≈24 each)" in variations_confirm(four_k)
    assert "at 2K cost ≈60 credits (≈20 each)" in variations_confirm(done, Prices(18, 20, 24))
    assert "Make 3 variations?" in variations_confirm(done)


def test_variations_only_on_a_finished_image():
    for state in TaskState:
        ids = [b["action_id"] for b in cards.task_actions(make_task(state=state)).to_dict()["elements"]]
        assert (cards.VARIATIONS in ids) is (state is TaskState.DONE)


# ---- Home ---------------------------------------------------------------------------------------------------------


def row_actions(view: dict, task_id: int) -> list[dict]:
    (block,) = [b for b in view["blocks"] if b.get("block_id") == f"task-{task_id}"]
    return block["elements"]


def test_home_groups_variations_next_to_each_other_under_one_heading():
    newest_first = list(reversed(a_set((TaskState.DONE,) * 3, first_id=20, slack_file_id=None)))
    single = make_task(id=19, state=TaskState.DONE, prompt="a fox")
    view = home.home_view(home_page([*newest_first, single]), DEFAULTS)
    accepted_view(view)
    blocks = view["blocks"]
    headings = [i for i, b in enumerate(blocks) if "variations* of one prompt" in json.dumps(b)]
    assert len(headings) == 1
    heading = blocks[headings[0]]
    assert heading["type"] == "context"
    assert heading["elements"][0]["text"] == ":frame_with_picture: *3 variations* of one prompt: a lighthouse at dawn"
    assert blocks[headings[0] + 3]["block_id"] == "task-22"  # the heading, then the set's first row
    rows = [b["text"]["text"] for b in blocks if b["type"] == "section" and "*done*" in b["text"]["text"]]
    assert rows == [
        ":white_check_mark: *done* · variation 3",
        ":white_check_mark: *done* · variation 2",
        ":white_check_mark: *done* · variation 1",
        ":white_check_mark: *done* · a fox",
    ]


def test_home_does_not_group_a_set_split_by_other_tasks():
    first, second = a_set((TaskState.DONE,) * 2, first_id=20)
    between = make_task(id=19, state=TaskState.DONE)
    view = home.home_view(home_page([second, between, first]), DEFAULTS)
    assert "variations* of one prompt" not in json.dumps(view)
    assert list(home.runs_of_sets([second, first, between])) == [[second, first], [between]]


def test_home_family_button_on_rows_with_a_chain_a_set_or_children():
    plain = make_task(id=1, state=TaskState.DONE)
    parent = make_task(id=2, state=TaskState.DONE)
    edit = chained(("edit", 2), id=3, state=TaskState.DONE)
    old = make_task(id=4, parent_task_id=2, state=TaskState.FAILED)
    (in_set,) = a_set((TaskState.GENERATING,), first_id=5)
    page = home_page([in_set, old, edit, parent, plain], with_children=frozenset({2}))
    view = home.home_view(page, DEFAULTS)
    accepted_view(view)
    for task_id, expected in {1: False, 2: True, 3: True, 4: True, 5: True}.items():
        family_buttons = [b for b in row_actions(view, task_id) if b["action_id"] == home.FAMILY]
        assert len(family_buttons) == int(expected), task_id
        assert all(b["value"] == str(task_id) for b in family_buttons)
    ids = [b["action_id"] for b in row_actions(view, 3)]
    assert ids[-2:] == [home.FAMILY, cards.DELETE]  # beside the task's buttons, Delete stays last
    assert "edit of #2" in json.dumps(view)
    # Without with_children the parent has no family button: nothing shows it has a family.
    bare = home.home_view(home_page([parent]), DEFAULTS)
    assert home.FAMILY not in json.dumps(bare)


def test_a_home_page_of_sets_stays_within_slacks_limits():
    tasks: list[Task] = []
    for first in range(100, 100 + 2 * (home.HOME_PAGE_SIZE // 2), 2):
        pair = a_set(
            (TaskState.DONE, TaskState.FAILED),
            first_id=first,
            prompt=HOSTILE * 400,
            ancestry=json.dumps([["variation", 9]] + [["edit", i] for i in range(5)]),
            parent_task_id=9,
            permalink="https://banana-test.slack.com/p1",
            slack_file_id=None,
        )
        tasks.extend(reversed(pair))
    view = home.home_view(home_page(tasks, has_more=True, page=1, with_children=frozenset({100})), DEFAULTS)
    accepted_view(view)
    assert len(view["blocks"]) <= 100
    assert json.dumps(view).count("variations* of one prompt") == home.HOME_PAGE_SIZE // 2
    assert all("<!channel>" not in t and "<@U999>" not in t for t in mrkdwn_texts(view))


def test_home_page_knows_which_tasks_have_children_only_when_told():
    page = home.HomePage("U1", [], HomeFilter.ALL, 0, False, True, Usage(0, 0), Usage(0, 0))
    assert page.with_children == frozenset()


# ---- the family tree ----------------------------------------------------------------------------------------------


def kin() -> list[Task]:
    """9 ← 12 (edit) ← 15, 16 (variations of 12, one set); 9 ← 13 (remix) ← 14 (edit)."""
    return [
        make_task(id=9, state=TaskState.DONE, prompt="a lighthouse", permalink="https://x.slack.com/p9"),
        chained(("edit", 9), id=12, state=TaskState.DONE, prompt="make the sky stormy"),
        chained(("remix", 9), id=13, state=TaskState.FAILED, prompt="in watercolour"),
        chained(("edit", 13), ("remix", 9), id=14, state=TaskState.GENERATING, prompt="brighter"),
        chained(("variation", 12), ("edit", 9), id=15, set_id=15, slot=1, state=TaskState.DONE),
        chained(("variation", 12), ("edit", 9), id=16, set_id=15, slot=2, state=TaskState.CANCELLED),
    ]


def family_lines(view: dict) -> list[str]:
    sections = [b["text"]["text"] for b in view["blocks"][1:] if b["type"] == "section"]
    return [line for text in sections for line in text.split("\n")]


def test_family_tree_puts_each_task_under_its_parent_whatever_order_they_come_in():
    tasks = kin()
    random.Random(4).shuffle(tasks)
    assert [(t.id, depth) for t, depth in family.family_tree(tasks)] == [
        (9, 0),
        (12, 1),
        (15, 2),
        (16, 2),
        (13, 1),
        (14, 2),
    ]


def test_family_view_draws_the_tree_indented_with_the_focus_marked():
    tasks = kin()
    random.Random(7).shuffle(tasks)
    view = family.family_view(12, tasks)
    accepted_view(view)
    assert view["type"] == "modal" and view["close"]["text"] == "Close" and "submit" not in view
    assert view["title"]["text"] == "Family of #12"
    # Three done and one running from the price table; the failed one and the one cancelled before kie.ai cost nothing.
    assert view["blocks"][0]["text"]["text"] == "*6 images* · ≈72 credits together"
    lines = family_lines(view)
    indent = family.INDENT
    assert lines == [
        "*#9* · :white_check_mark: Done · a lighthouse · <https://x.slack.com/p9|open>",
        "↳ :point_right: *#12* · edit of #9 · :white_check_mark: Done · make the sky stormy",
        f"{indent}↳ *#15* · variation of #12 · image 1 of 2 · :white_check_mark: Done · a lighthouse at dawn",
        f"{indent}↳ *#16* · variation of #12 · image 2 of 2 · :no_entry_sign: Cancelled · a lighthouse at dawn",
        "↳ *#13* · remix of #9 · :x: Failed · in watercolour",
        f"{indent}↳ *#14* · edit of #13 · :art: Generating · brighter",
    ]
    assert sum(family.FOCUS in line for line in lines) == 1


def test_a_set_made_by_the_command_stands_together_and_an_orphan_or_a_loop_still_shows():
    first, second = a_set((TaskState.DONE,) * 2, first_id=20)
    edit = chained(("edit", 21), id=23)
    orphan = chained(("edit", 3), id=30)  # its parent is not among them: gone, or in another workspace
    assert [(t.id, d) for t, d in family.family_tree([edit, second, first, orphan])] == [
        (20, 0),
        (21, 0),
        (23, 1),
        (30, 0),
    ]
    loop = [make_task(id=1, parent_task_id=2), make_task(id=2, parent_task_id=1)]
    assert sorted(t.id for t, _ in family.family_tree(loop)) == [1, 2]
    accepted_view(family.family_view(1, loop))


def test_family_view_escapes_hostile_text_and_leaves_out_a_link_too_long():
    tasks = [
        make_task(id=1, prompt=HOSTILE + "\n> quoted", permalink="https://x.slack.com/" + "9" * 5000),
        chained(("edit", 1), id=2, prompt=HOSTILE, user_id="U0OTHER001", permalink="https://x.slack.com/p2"),
    ]
    view = family.family_view(2, tasks)
    accepted_view(view)
    texts = mrkdwn_texts(view)
    assert all("<!channel>" not in t and "<@U999>" not in t for t in texts)
    lines = family_lines(view)
    assert lines[0] == "*#1* · :art: Generating · &lt;!channel&gt; &amp; *bold* &lt;@U999&gt; &gt; quoted"
    assert lines[1].endswith("· by <@U0OTHER001> · <https://x.slack.com/p2|open>")
    assert "9" * 100 not in json.dumps(view)


def test_a_family_too_big_for_one_modal_shows_the_focus_and_counts_the_rest():
    root = make_task(id=1, prompt=HOSTILE * 50, permalink="https://x.slack.com/" + "p" * 990)
    children = [
        chained(("remix", 1), id=i, prompt=HOSTILE * 50, permalink="https://x.slack.com/" + "p" * 990)
        for i in range(2, 301)
    ]
    grandchild = chained(("edit", 250), ("remix", 1), id=301, prompt="the one")
    view = family.family_view(301, [grandchild, *children, root])
    accepted_view(view)  # ≤ 100 blocks, each section ≤ 3000 characters, the whole view within Slack's size
    lines = family_lines(view)
    assert len(lines) == family.MAX_FAMILY_LINES
    assert lines[0].startswith("*#1*")
    assert any(line.startswith(f"{family.INDENT}↳ {family.FOCUS} *#301*") for line in lines)
    assert any(line.startswith("↳ *#250*") for line in lines)  # the focus keeps the task it came from
    more = view["blocks"][-1]
    assert more["type"] == "context" and more["elements"][0]["text"] == "…and 201 more in this family, not shown."


def test_a_family_view_for_a_task_no_longer_stored():
    view = family.family_view(42, [])
    accepted_view(view)
    assert "#42" in json.dumps(view)


# ---- help ---------------------------------------------------------------------------------------------------------


def test_help_explains_edits_in_the_thread_variations_and_family():
    text = guide.help_text(DEFAULTS)
    for words in ("`@Banana make the sky stormy --ar 9:16`", "`#12`", "`--n`", "*Variations*", "*Family*"):
        assert words in text
    assert len(text) <= 3000  # it is also the Home tab's welcome, one section

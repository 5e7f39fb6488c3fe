import json

from banana.domain.options import Options
from banana.domain.tasks import HomeFilter, Task, TaskState, Usage
from banana.ui import cards, guide, home
from banana.ui.text import clock, escape, progress_bar

DEFAULTS = Options("1:1", "2K", "png")


def make_task(**changes) -> Task:
    values = dict(
        id=7,
        team_id="T1",
        user_id="U123",
        channel_id="C1",
        prompt="a lighthouse at dawn",
        avoid="",
        aspect_ratio="16:9",
        resolution="2K",
        output_format="png",
        state=TaskState.GENERATING,
        created_at=1000.0,
        updated_at=1000.0,
    )
    values.update(changes)
    return Task(**values)


def rendered(task: Task, now: float = 1020.0, estimate: float = 50.0) -> str:
    return json.dumps(cards.card_blocks(task, now=now, estimate=estimate), ensure_ascii=False)


def test_escape_stops_mentions_and_links():
    assert escape("<!channel> <@U1> & <https://x|y>") == "&lt;!channel&gt; &lt;@U1&gt; &amp; &lt;https://x|y&gt;"


def test_running_card_shows_state_elapsed_estimate_bar_and_options():
    text = rendered(make_task())
    assert "Generating" in text
    assert "0:20 elapsed" in text
    assert "about 0:30 left" in text
    assert progress_bar(0.4) in text
    assert "16:9 · 2K · png" in text
    assert "18 credits" in text


def test_each_running_state_has_its_own_label():
    labels = {rendered(make_task(state=state)) for state in (TaskState.PENDING, TaskState.QUEUED, TaskState.UPLOADING)}
    assert len(labels) == 3
    assert "Queued at kie.ai" in rendered(make_task(state=TaskState.QUEUED))


def test_running_past_the_estimate_says_so_honestly():
    text = rendered(make_task(), now=1100.0, estimate=50.0)
    assert "taking longer than usual" in text
    assert "left" not in text


def test_prompt_in_card_is_escaped_and_shortened():
    task = make_task(prompt="<!channel> hello <@U999> " + "x" * 2000)
    text = rendered(task)
    assert "<!channel>" not in text and "<@U999>" not in text
    assert "&lt;!channel&gt;" in text
    assert "…" in text
    assert cards.card_text(task).count("<") == 0


def test_done_card_is_compact_with_time_and_credits():
    task = make_task(state=TaskState.DONE, duration=52.0, credits=18, slack_file_id="F1")
    text = rendered(task)
    assert "Done" in text and "0:52" in text and "18 credits" in text
    card = cards.card_blocks(task, now=0, estimate=1)
    assert len(card) == 3


def buttons(task: Task) -> list[str]:
    actions = cards.card_blocks(task, now=1000, estimate=50)[-1]
    assert actions["type"] == "actions" and all(b["value"] == str(task.id) for b in actions["elements"])
    return [b["action_id"] for b in actions["elements"]]


def test_buttons_follow_the_state():
    assert buttons(make_task(state=TaskState.GENERATING)) == [cards.CANCEL]
    done = make_task(state=TaskState.DONE, slack_file_id="F1", credits=18)
    assert buttons(done) == [cards.REGENERATE, cards.REMIX, cards.UPSCALE, cards.SAVE_PROMPT, cards.DELETE]
    assert cards.UPSCALE not in buttons(make_task(state=TaskState.DONE, resolution="4K"))
    for state in (TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED):
        assert buttons(make_task(state=state)) == [cards.RETRY, cards.DELETE]


def test_upscale_confirm_says_it_costs_more():
    done = make_task(state=TaskState.DONE, slack_file_id="F1", credits=18)
    upscale = next(b for b in cards.task_actions(done).to_dict()["elements"] if b["action_id"] == cards.UPSCALE)
    assert "24 credits" in json.dumps(upscale["confirm"]) and "18" in json.dumps(upscale["confirm"])


def test_cancel_warns_that_kie_may_still_charge():
    cancel = cards.task_actions(make_task()).to_dict()["elements"][0]
    assert "may still charge" in json.dumps(cancel["confirm"])


def test_lineage_and_inputs_show_on_card_and_caption():
    task = make_task(parent_task_id=3, input_files='[["F1", "a.png"], ["F2", "b.png"]]', duration=10.0, credits=18)
    assert "remix of #3 · 2 input images" in rendered(task)
    assert "remix of #3" in cards.result_caption(task)


def test_failed_card_says_what_happened_and_that_nothing_was_charged():
    task = make_task(state=TaskState.FAILED, error_message="The workspace is out of kie.ai credits.", credits=0)
    text = rendered(task)
    assert "Failed" in text and "out of kie.ai credits" in text and "nothing charged" in text


def test_timed_out_card_is_honest_and_points_to_kie_logs():
    task = make_task(state=TaskState.TIMED_OUT, kie_task_id="abc123", finished_at=1900.0)
    text = rendered(task)
    assert "Not finished after 15:00" in text
    assert "abc123" in text and "kie.ai/logs" in text
    assert "may still finish it" in text


def test_caption_names_requester_options_time_and_cost():
    caption = cards.result_caption(make_task(duration=65.0, credits=24, resolution="4K"))
    assert caption.startswith("<@U123>")
    assert "16:9 · 4K · png" in caption and "1:05" in caption and "24 credits" in caption


def test_clock_formats():
    assert clock(7) == "0:07"
    assert clock(102) == "1:42"
    assert clock(3723) == "1:02:03"


def test_help_lists_every_option():
    text = guide.help_text(DEFAULTS)
    for value in ("1:1", "21:9", "auto", "1K", "4K", "png", "jpg", "--no"):
        assert value in text


def mrkdwn_texts(node) -> list[str]:
    """Every mrkdwn string in a view: the only text Slack turns into mentions and links."""
    if isinstance(node, dict):
        found = [node["text"]] if node.get("type") == "mrkdwn" else []
        return found + [t for value in node.values() for t in mrkdwn_texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn_texts(item)]
    return []


def home_page(tasks, **changes) -> home.HomePage:
    values = dict(
        user_id="U123",
        tasks=tasks,
        filter=HomeFilter.ALL,
        page=0,
        has_more=False,
        has_any=bool(tasks),
        today=Usage(2, 36),
        month=Usage(10, 192),
    )
    values.update(changes)
    return home.HomePage(**values)


def test_home_view_lists_tasks_within_limits_and_escaped():
    tasks = [
        make_task(id=i, prompt=f"<@U9> picture {i} " + "x" * 500, state=TaskState.DONE, credits=18, slack_file_id="F")
        for i in range(home.HOME_PAGE_SIZE)
    ]
    view = home.home_view(home_page(tasks, has_more=True, page=1), DEFAULTS)
    assert view["type"] == "home"
    assert len(view["blocks"]) <= 100
    text = json.dumps(view, ensure_ascii=False)
    assert "picture 9" in text
    assert all("<@U9>" not in t for t in mrkdwn_texts(view))  # plain-text fields (alt text) are never parsed
    assert len(text.encode()) < 250_000
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in view["blocks"])
    assert "2 images · 36 credits" in text and "10 images · 192 credits" in text
    assert '"slack_file": {"id": "F"}' in text
    pager = [e["value"] for e in view["blocks"][-1]["elements"]]
    assert pager == ["all:0", "all:2"]


def test_home_view_marks_the_current_filter_and_offers_a_new_image():
    view = home.home_view(home_page([make_task()], filter=HomeFilter.FAILED), DEFAULTS)
    filters = next(b for b in view["blocks"] if b.get("block_id") == "filters")
    styled = [e["value"] for e in filters["elements"] if e.get("style") == "primary"]
    assert styled == ["failed"]
    assert home.HOME_NEW_IMAGE in json.dumps(view)


def test_home_view_for_an_empty_filter():
    view = home.home_view(home_page([], has_any=True, filter=HomeFilter.RUNNING), DEFAULTS)
    assert "No running images" in json.dumps(view)


def test_home_view_for_a_newcomer_shows_how_to_start():
    text = json.dumps(home.home_view(home_page([]), DEFAULTS), ensure_ascii=False)
    assert "Nothing here yet" in text and "/banana an infographic" in text

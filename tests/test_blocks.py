import json

from bot import blocks
from bot.options import Options
from bot.store import Task, TaskState

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
    return json.dumps(blocks.card_blocks(task, now=now, estimate=estimate), ensure_ascii=False)


def test_escape_stops_mentions_and_links():
    assert blocks.escape("<!channel> <@U1> & <https://x|y>") == "&lt;!channel&gt; &lt;@U1&gt; &amp; &lt;https://x|y&gt;"


def test_running_card_shows_state_elapsed_estimate_bar_and_options():
    text = rendered(make_task())
    assert "Generating" in text
    assert "0:20 elapsed" in text
    assert "about 0:30 left" in text
    assert blocks.progress_bar(0.4) in text
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
    assert blocks.card_text(task).count("<") == 0


def test_done_card_is_compact_with_time_and_credits():
    task = make_task(state=TaskState.DONE, duration=52.0, credits=18, slack_file_id="F1")
    text = rendered(task)
    assert "Done" in text and "0:52" in text and "18 credits" in text
    card = blocks.card_blocks(task, now=0, estimate=1)
    assert len(card) == 3
    (button,) = card[-1]["elements"]
    assert button["action_id"] == blocks.REMIX_ACTION and button["value"] == "7"


def test_lineage_and_inputs_show_on_card_and_caption():
    task = make_task(parent_task_id=3, input_files='[["F1", "a.png"], ["F2", "b.png"]]', duration=10.0, credits=18)
    assert "remix of #3 · 2 input images" in rendered(task)
    assert "remix of #3" in blocks.result_caption(task)


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
    caption = blocks.result_caption(make_task(duration=65.0, credits=24, resolution="4K"))
    assert caption.startswith("<@U123>")
    assert "16:9 · 4K · png" in caption and "1:05" in caption and "24 credits" in caption


def test_clock_formats():
    assert blocks.clock(7) == "0:07"
    assert blocks.clock(102) == "1:42"
    assert blocks.clock(3723) == "1:02:03"


def test_help_lists_every_option():
    text = blocks.help_text(DEFAULTS)
    for value in ("1:1", "21:9", "auto", "1K", "4K", "png", "jpg", "--no"):
        assert value in text


def test_home_view_lists_tasks_within_limits_and_escaped():
    tasks = [make_task(id=i, prompt=f"<@U9> picture {i}", state=TaskState.DONE, credits=18) for i in range(20)]
    view = blocks.home_view(tasks, DEFAULTS)
    assert view["type"] == "home"
    assert len(view["blocks"]) <= 100
    text = json.dumps(view)
    assert "picture 19" in text and "<@U9>" not in text
    assert len(text.encode()) < 250_000


def test_home_view_for_a_newcomer_shows_how_to_start():
    assert "Nothing here yet" in json.dumps(blocks.home_view([], DEFAULTS))

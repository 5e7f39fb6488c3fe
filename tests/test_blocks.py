import json

from bot.blocks import cards, guide, home
from bot.blocks.text import RANGE_DASH, clock, duration_range, escape, progress_bar
from prompts.estimates import Estimate
from prompts.options import Options
from prompts.tasks import HomeFilter, Task, TaskState, Usage

DEFAULTS = Options("1:1", "2K", "png")
TYPICAL = Estimate(low=40.0, high=60.0, typical=50.0)  # most tasks take 40 to 60 s, typically 50


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


def rendered(task: Task, now: float = 1020.0, estimate: Estimate | None = TYPICAL) -> str:
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
    assert "≈18 credits" in text  # the price table's figure, an estimate


def test_each_running_state_has_its_own_label():
    labels = {rendered(make_task(state=state)) for state in (TaskState.PENDING, TaskState.QUEUED, TaskState.UPLOADING)}
    assert len(labels) == 3
    assert "Queued at kie.ai" in rendered(make_task(state=TaskState.QUEUED))


def test_running_past_the_estimate_says_so_honestly():
    text = rendered(make_task(), now=1100.0)
    assert "taking longer than usual" in text
    assert "left" not in text


def dashed(text: str) -> str:
    """A range as printed: "20-45 s" with its dash an en dash."""
    return text.replace("-", RANGE_DASH)


def status_line(task: Task, seconds: float, estimate: Estimate | None) -> str:
    """The card's status line (its first section, without the bar) `seconds` after the command."""
    card = cards.card_blocks(task, now=task.created_at + seconds, estimate=estimate)
    return card[0]["text"]["text"].split("\n")[0]


def test_without_history_the_card_says_so_and_shows_no_bar_second_by_second():
    for seconds in (0, 1, 5, 30, 90):
        assert (
            status_line(make_task(), seconds, None)
            == f":art: *Generating* · {clock(seconds)} elapsed · no estimate yet"
        )
        assert "░" not in rendered(make_task(), now=1000.0 + seconds, estimate=None)


def test_with_history_the_card_counts_down_then_says_finishing_then_longer_than_usual():
    said = {
        seconds: status_line(make_task(), seconds, TYPICAL).split(" · ")[-1] for seconds in (0, 20, 49, 49.5, 55, 60)
    }
    assert said == {
        0: "about 0:50 left",
        20: "about 0:30 left",
        49: "about 0:01 left",
        49.5: "finishing…",  # never "0:00 left", never a negative time
        55: "finishing…",  # past the typical time, within the time nine tenths of tasks took
        60: "taking longer than usual",
    }
    assert progress_bar(0.95) in rendered(make_task(), now=1055.0)  # nearly full, never full before the image


def test_where_tasks_vary_widely_the_card_shows_a_range_not_a_single_time():
    varying = Estimate(low=22.0, high=58.0)
    assert status_line(make_task(), 5, varying).endswith(dashed("0:05 elapsed · usually 20 s-1 min"))
    assert status_line(make_task(), 57, varying).endswith(dashed("· usually 20 s-1 min"))
    assert status_line(make_task(), 58, varying).endswith("· taking longer than usual")
    assert progress_bar(0.5) in rendered(make_task(), now=1029.0, estimate=varying)


def test_a_range_reads_as_people_say_it_widened_never_narrowed():
    assert duration_range(20, 45) == dashed("20-45 s")
    assert duration_range(18, 43) == dashed("15-45 s")
    assert duration_range(40, 90) == dashed("40 s-1.5 min")
    assert duration_range(60, 150) == dashed("1-2.5 min")
    assert duration_range(50, 52) == dashed("50-55 s")
    assert duration_range(2, 3) == "5 s"


def test_waiting_in_bananas_own_queue_claims_no_time_to_come():
    card = cards.card_blocks(make_task(state=TaskState.PENDING), now=1020.0, estimate=TYPICAL, queue_position=3)
    assert card[0]["text"]["text"] == ":hourglass_flowing_sand: *Queued, position 3* · 0:20 elapsed"


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
    assert "Done" in text and "0:52" in text and "≈18 credits" in text
    card = cards.card_blocks(task, now=0, estimate=None)
    assert len(card) == 3


def buttons(task: Task) -> list[str]:
    actions = cards.card_blocks(task, now=1000, estimate=TYPICAL)[-1]
    assert actions["type"] == "actions" and all(b["value"] == str(task.id) for b in actions["elements"])
    return [b["action_id"] for b in actions["elements"]]


def test_buttons_follow_the_state():
    assert buttons(make_task(state=TaskState.GENERATING)) == [cards.CANCEL]
    done = make_task(state=TaskState.DONE, slack_file_id="F1", credits=18)
    assert buttons(done) == [
        cards.REGENERATE,
        cards.REMIX,
        cards.UPSCALE_X2,
        cards.UPSCALE_X4,
        cards.REDRAW_4K,
        cards.VARIATIONS,
        cards.SAVE_PROMPT,
        cards.DELETE,
    ]
    assert cards.REDRAW_4K not in buttons(make_task(state=TaskState.DONE, resolution="4K"))
    for state in (TaskState.FAILED, TaskState.TIMED_OUT, TaskState.CANCELLED):
        assert buttons(make_task(state=state)) == [cards.RETRY, cards.DELETE]


def test_redraw_at_4k_says_it_draws_a_new_picture_and_costs_more():
    done = make_task(state=TaskState.DONE, slack_file_id="F1", credits=18)
    redraw = next(b for b in cards.task_actions(done).to_dict()["elements"] if b["action_id"] == cards.REDRAW_4K)
    confirm = json.dumps(redraw["confirm"], ensure_ascii=False)
    assert redraw["text"]["text"] == "Redraw at 4K" and "new picture" in confirm and "not this image" in confirm
    assert "costs ≈24 credits" in confirm and "this one cost ≈18 credits" in confirm


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


def test_caption_names_requester_number_options_time_and_cost():
    caption = cards.result_caption(make_task(duration=65.0, credits=24, resolution="4K"))
    assert caption == "<@U123> here is your image #7 · 16:9 · 4K · png · 1:05 · ≈24 credits"


def test_every_card_carries_the_image_number_first_in_its_details():
    for state in TaskState:
        task = make_task(state=state, credits=18 if state is TaskState.DONE else None, slack_file_id="F1")
        (details,) = [b for b in cards.card_blocks(task, now=1020.0, estimate=TYPICAL) if b["type"] == "context"]
        assert details["elements"][0]["text"].startswith("#7 · 16:9 · 2K · png · for <@U123>"), state
    waiting = cards.card_blocks(make_task(), now=1020.0, estimate=None, waiting_for=5)
    assert "#7 · 16:9 · 2K · png" in json.dumps(waiting, ensure_ascii=False)


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
    assert "2 images · ≈36 credits" in text and "10 images · ≈192 credits" in text
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


# ---- outside text is bounded: huge inputs still make blocks Slack accepts ------------------------------------------

ADVICE = "Try rephrasing the prompt; if it names real people or brands, describe them instead."
HUGE_FAIL_MSG = "<!channel> content policy " + "kie words " * 500  # 5,000+ characters from kie.ai
HUGE_PROMPT = "<@U999> & " + "a very long prompt " * 530  # 10,000+ characters
LONG_NAMES = json.dumps([[f"F{i}", f"photo {i} " + "ü" * 500 + ".png"] for i in range(8)])


def kie_failure(fail_msg: str = HUGE_FAIL_MSG) -> str:
    """An error message as the runner writes it: kie's failMsg in the middle, the advice at the end."""
    return f"The generation failed. kie.ai said: “{fail_msg}”. {ADVICE}"


def huge_task(**changes) -> Task:
    values: dict = dict(
        prompt=HUGE_PROMPT,
        avoid="& " * 3000,
        input_files=LONG_NAMES,
        parent_task_id=3,
        relation="remix",
        kie_task_id="k" * 5000,
        error_message=kie_failure(),
        permalink="https://banana-test.slack.com/archives/C1/p1" + "9" * 5000,
        duration=61.0,
    )
    values.update(changes)
    return make_task(**values)


def accepted_message(blocks: list[dict], text: str) -> None:
    """What Slack checks before it posts or edits a message (the stand-in's checks), and the limits it adds."""
    from standins.slack.blocks import MAX_MESSAGE_BLOCKS, blocks_arg, text_arg

    blocks_arg({"blocks": blocks}, MAX_MESSAGE_BLOCKS, {})
    text_arg({"text": text})
    assert 0 < len(text) <= 300  # the notification line: short, whatever the prompt
    within_block_kit(blocks)


def accepted_view(view: dict) -> None:
    """What Slack checks before it shows a view: the stand-in's views checks, and the limits it adds."""
    from standins.slack import SlackStandIn

    SlackStandIn()._validate_view(view, allowed_types=(view["type"],))
    within_block_kit(view)
    assert len(view.get("private_metadata", "")) <= 3000
    if view["type"] == "modal":
        assert len(view["title"]["text"]) <= 24


def within_block_kit(node) -> None:
    """Limits slack_sdk and the stand-in leave to Slack: button, option and confirm texts, context elements."""
    if isinstance(node, list):
        for item in node:
            within_block_kit(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "button":
        assert len(node["text"]["text"]) <= 75 and len(node.get("value", "")) <= 2000
    if node.get("type") == "context":
        assert len(node["elements"]) <= 10
        assert all(len(e.get("text", "")) <= 3000 for e in node["elements"])
    if node.get("type") == "section":
        assert len(node["text"]["text"]) <= 3000
    if node.get("type") == "header":
        assert len(node["text"]["text"]) <= 150
    if isinstance(node.get("confirm"), dict) and "title" in node["confirm"]:  # a confirm dialog, not its button
        confirm = node["confirm"]
        assert len(confirm["title"]["text"]) <= 100 and len(confirm["text"]["text"]) <= 300
    for option in node.get("options", []):
        assert len(option["text"]["text"]) <= 75
    for value in node.values():
        within_block_kit(value)


def test_a_5000_character_fail_msg_still_ends_the_card_with_the_failure_and_its_advice():
    task = huge_task(state=TaskState.FAILED, credits=0)
    card = cards.card_blocks(task, now=2000, estimate=TYPICAL)
    accepted_message(card, cards.card_text(task))
    failure = card[0]["text"]["text"]
    assert failure.startswith(":x: *Failed.* The generation failed. kie.ai said: “&lt;!channel&gt; content policy")
    assert f"”. {ADVICE}" in failure  # the end of the message survives: the middle (kie's words) was cut
    assert "…" in failure and "<!channel>" not in failure
    assert "nothing charged" in json.dumps(card)
    assert cards.card_text(task).startswith("Image failed: ")


def test_every_state_of_a_card_with_huge_outside_text_is_accepted():
    for state in TaskState:
        task = huge_task(state=state, credits=18 if state is TaskState.DONE else None, slack_file_id="F1")
        card = cards.card_blocks(
            task, now=2000, estimate=TYPICAL, queue_position=3 if state is TaskState.QUEUED else None
        )
        accepted_message(card, cards.card_text(task))
        assert "<@U999>" not in json.dumps(card)
    timed_out = json.dumps(cards.card_blocks(huge_task(state=TaskState.TIMED_OUT), now=2000, estimate=TYPICAL))
    assert "kie.ai/logs" in timed_out and "k" * 90 in timed_out and "k" * 200 not in timed_out


def test_a_cancelled_card_keeps_the_end_of_a_long_reason():
    reason = "Stopped because " + "kie said no " * 600 + "so nothing was charged."
    card = cards.card_blocks(huge_task(state=TaskState.CANCELLED, error_message=reason), now=2000, estimate=TYPICAL)
    accepted_message(card, "Image cancelled")
    assert "so nothing was charged." in card[0]["text"]["text"]


def test_result_caption_stays_short_with_huge_inputs():
    caption = cards.result_caption(huge_task(state=TaskState.DONE, credits=18))
    assert len(caption) <= 3000 and "remix of #3 · 8 input images" in caption


def test_home_with_huge_outside_text_is_accepted_and_leaves_out_a_link_too_long_to_show():
    tasks = [
        huge_task(id=i, state=state, credits=18 if state is TaskState.DONE else None)
        for i, state in enumerate([TaskState.DONE, TaskState.FAILED, TaskState.GENERATING, TaskState.TIMED_OUT] * 3)
    ][: home.HOME_PAGE_SIZE]
    tasks[0] = huge_task(id=100, state=TaskState.DONE, credits=18, permalink="https://banana-test.slack.com/p100")
    view = home.home_view(home_page(tasks, has_more=True, page=2), DEFAULTS)
    accepted_view(view)
    text = json.dumps(view, ensure_ascii=False)
    assert "<https://banana-test.slack.com/p100|open thread>" in text
    assert "9" * 100 not in text  # the 5,000-character link is left out, not cut into a link to nowhere
    assert all("<@U999>" not in t for t in mrkdwn_texts(view))


def test_the_form_with_eight_500_character_file_names_is_accepted():
    from bot.blocks import modals
    from prompts.options import InputFile

    inputs = tuple(InputFile(id=f"F0FILE{i:05d}", name=f"photo {i} " + "ü&<" * 170) for i in range(8))
    setup = modals.FormSetup(
        title="Remix these images, please, with a title far too long for Slack",
        defaults=DEFAULTS,
        context=modals.FormContext(channel_id="C1", thread_ts="1.000200", inputs=inputs, parent_task_id=7),
        notes=("Left out: " + "a-very-long-file-name.pdf is not an image; " * 200,),
        allow_uploads=True,
    )
    view = modals.generation_modal(setup)
    accepted_view(view)
    shown = view["blocks"][0]["text"]["text"]
    assert shown.startswith(":frame_with_picture: *8 images:* photo 0") and "&lt;" in shown and "…" in shown
    back = modals.FormContext.from_metadata(view["private_metadata"])
    assert [f.id for f in back.inputs] == [f.id for f in inputs]  # the ids always survive; names are only shown
    assert back.channel_id == "C1" and back.thread_ts == "1.000200" and back.parent_task_id == 7


def test_form_metadata_drops_names_before_it_outgrows_slack():
    from bot.blocks import modals
    from prompts.options import InputFile

    inputs = tuple(InputFile(id="F" + "0" * 300 + str(i), name="😀" * 500) for i in range(8))
    metadata = modals.FormContext(channel_id="C1", inputs=inputs).to_metadata()
    assert len(metadata) <= 3000
    assert [f.id for f in modals.FormContext.from_metadata(metadata).inputs] == [f.id for f in inputs]


def test_notices_and_problems_fit_and_a_problem_keeps_its_advice():
    from bot.blocks import modals

    problem = modals.problem_view(kie_failure())
    accepted_view(problem)
    text = problem["blocks"][0]["text"]["text"]
    assert text.startswith(":warning: The generation failed. kie.ai said:") and text.endswith(ADVICE)
    notice = modals.notice_view("A title far longer than twenty-four characters", "<@U1> " + "x" * 5000)
    accepted_view(notice)
    assert notice["title"]["text"].endswith("…")


async def test_a_5000_character_fail_msg_from_kie_ends_the_real_card_with_the_advice(banana, kie, slack):
    from standins.kie import Outcome

    kie.plan(Outcome(kind="fail", fail_code="400", fail_msg=HUGE_FAIL_MSG))
    await banana.command("a lighthouse " + "at dawn " * 400)
    task = await banana.only_task()
    assert task.state is TaskState.FAILED
    card = slack.message("C0GENERAL1", task.message_ts)  # the stand-in checked every edit as Slack would
    failure = card.blocks[0]["text"]["text"]
    assert failure.startswith(":x: *Failed.* The generation failed. kie.ai said: “&lt;!channel&gt; content policy")
    assert f"”. {ADVICE}\n> a lighthouse at dawn at dawn" in failure  # the advice, then the prompt it was for
    assert "nothing charged" in json.dumps(card.blocks)


async def test_remixing_eight_images_with_500_character_names_opens_a_form_slack_accepts(banana, kie, slack):
    from tests.test_remix import image_bytes, opened_form, post_with_files

    files = [(image_bytes("red"), f"photo {i} " + "ß" * 490 + ".png", "image/png") for i in range(8)]
    message, added = post_with_files(slack, *files)
    form = await opened_form(banana, slack, message)  # views.open: the stand-in checked it as Slack would
    assert len(form["private_metadata"]) <= 3000 and "8 images" in json.dumps(form)

    response = await banana.submit(form, prompt="a collage")
    assert response.status_code == 200 and response.json()["response_action"] == "update"
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    assert [f.id for f in task.inputs] == [f.id for f in added]

"""The prompt studio in Slack: each command opens its form, the built prompt is shown and editable, and generating it
ends in a kie task with exactly that prompt. Saved prompts are listed and reused."""

from __future__ import annotations

import json

import pytest

from banana.cli import run
from bot.blocks import cards, studio
from bot.settings import load_settings
from prompts import studio as words
from prompts.builders import (
    CareerContext,
    CareerRole,
    InfographicContext,
    QuoteContext,
    build_career_timeline,
    build_infographic,
    build_quote_card,
)
from prompts.catalog import load_brand, load_catalog
from prompts.options import PRICES, Options
from prompts.tasks import SavedPrompt, Task, TaskState
from tests.conftest import CHANNEL_ID

CREATE = "/api/v1/jobs/createTask"
EN_DASH = words.EN_DASH

OUR_BRAND = """
name = "Acme Podcasts"
tone = "Curious and kind."
logo = "a red circle with a white A"
never = ["clip art"]

[colours]
primary = "#E63946"
ink = "#1D3557"
paper = "#F1FAEE"

[fonts]
headings = "Playfair Display"
body = "Source Sans"
"""


async def open_form(banana, slack, text: str) -> dict:
    """`/banana <text>`; returns the form it opened (the stand-in has already checked it against Slack's rules)."""
    count = len(slack.views_opened)
    response = await banana.command(text)
    assert response.status_code == 200 and response.text == ""
    await slack.wait_for(lambda: len(slack.views_opened) > count)
    return slack.views_opened[-1]


async def review_step(banana, slack, form: dict, **fields) -> dict:
    """Submit a studio form; returns the review step it is replaced with, as Slack would show it."""
    response = await banana.submit(form, **fields)
    answer = response.json()
    assert answer["response_action"] == "update", answer
    slack._validate_view(answer["view"], allowed_types=("modal",))  # what Slack checks before it shows a view
    return {**answer["view"], "id": form["id"]}  # an update keeps the modal's id


def element(view: dict, block_id: str) -> dict:
    return next(b for b in view["blocks"] if b.get("block_id") == block_id)["element"]


def shown_prompt(review: dict) -> str:
    parts = [b["element"].get("initial_value", "") for b in review["blocks"] if studio._is_part(b.get("block_id", ""))]
    return studio.join_prompt(parts)


async def generated_prompt(banana, kie) -> tuple[dict, object]:
    task = await banana.only_task()
    assert task.state is TaskState.DONE
    (create,) = kie.requests_to(CREATE)
    return create.json["input"], task


async def test_infographic_command_ends_in_a_task_with_the_built_prompt(start_banana, kie, slack, tmp_path):
    brand_file = tmp_path / "brand.toml"
    brand_file.write_text(OUR_BRAND, encoding="utf-8")
    banana = await start_banana(BRAND_FILE=str(brand_file))
    form = await open_form(banana, slack, "infographic 5 ways to grow a podcast\n- Pick one niche\n- Publish weekly")
    assert element(form, words.TITLE)["initial_value"] == "5 ways to grow a podcast"
    assert element(form, words.KEY_POINTS)["initial_value"] == "- Pick one niche\n- Publish weekly"
    assert len(element(form, words.LAYOUT)["option_groups"]) >= 5

    review = await review_step(
        banana,
        slack,
        form,
        template="how_to_steps",
        layout="funnel",
        style="bold_editorial",
        palette="dark",
        density="airy",
        subtitle="The Growth Show, episode 42",
        guest="Ada Lovelace, CTO at Acme",
    )
    services = banana.services
    catalog, brand = services.catalog, services.brand
    expected = build_infographic(
        catalog.layouts["funnel"],
        catalog.templates["how_to_steps"],
        catalog.style("bold_editorial", "dark", "airy"),
        brand,
        InfographicContext(
            title="5 ways to grow a podcast",
            subtitle="The Growth Show, episode 42",
            guest="Ada Lovelace, CTO at Acme",
            key_points=("Pick one niche", "Publish weekly"),
        ),
    )
    assert shown_prompt(review) == expected
    assert element(review, "aspect_ratio")["initial_option"]["value"] == "4:5"  # what a funnel suits best
    assert "Funnel · How-to steps · Bold editorial" in json.dumps(review, ensure_ascii=False)

    response = await banana.submit(review)
    assert response.json()["response_action"] == "update"
    sent, task = await generated_prompt(banana, kie)
    assert sent["prompt"] == expected and sent["aspect_ratio"] == "4:5"
    for carried in ("Layout: Funnel.", "Template: How-to steps.", "Style: Bold editorial.", "Colours: Dark mode."):
        assert carried in sent["prompt"]
    for carried in ("#E63946", "#1D3557", "#F1FAEE", "Acme Podcasts", "Do not include: clip art"):
        assert carried in sent["prompt"]
    for carried in ('"Pick one niche"', '"Publish weekly"', '"Ada Lovelace, CTO at Acme"', '"The Growth Show'):
        assert carried in sent["prompt"]
    assert task.channel_id == CHANNEL_ID and task.prompt == expected
    assert "Started" in json.dumps(slack.views[form["id"]])


async def test_quote_command_ends_in_a_task_quoting_exactly(banana, kie, slack):
    form = await open_form(banana, slack, 'quote "Ship it, then make it better" — Ada Lovelace, CTO at Acme')
    assert element(form, words.QUOTE)["initial_value"] == "Ship it, then make it better"
    assert element(form, words.SPEAKER)["initial_value"] == "Ada Lovelace"
    assert element(form, words.ROLE)["initial_value"] == "CTO at Acme"

    review = await review_step(banana, slack, form, layout="big_marks", style="playful", palette="pastel")
    catalog, brand = banana.services.catalog, banana.services.brand
    card = catalog.quote_card
    expected = build_quote_card(
        card.layouts["big_marks"],
        card,
        catalog.style("playful", "pastel", card.density.id),
        brand,
        QuoteContext("Ship it, then make it better", "Ada Lovelace", "CTO at Acme"),
    )
    assert shown_prompt(review) == expected
    await banana.submit(review)
    sent, _ = await generated_prompt(banana, kie)
    assert sent["prompt"] == expected and sent["aspect_ratio"] == "1:1"
    assert '"Ship it, then make it better"' in sent["prompt"]
    for carried in (
        "Layout: Big quotation marks.",
        "Template: Quote card.",
        "Style: Playful.",
        "Colours: Soft pastel.",
    ):
        assert carried in sent["prompt"]
    assert all(colour in sent["prompt"] for colour in brand.hexes)


async def test_timeline_command_with_an_edited_prompt_and_options(banana, kie, slack):
    form = await open_form(banana, slack, "timeline Ada Lovelace")
    assert element(form, words.PERSON)["initial_value"] == "Ada Lovelace"
    roles = f"2019{EN_DASH}present CTO at Acme\n2015-2019: Designer, Foo Inc"
    review = await review_step(banana, slack, form, roles=roles, layout="vertical", headline="Builds tools")
    catalog, brand = banana.services.catalog, banana.services.brand
    timeline = catalog.career_timeline
    expected = build_career_timeline(
        timeline.layouts["vertical"],
        timeline,
        catalog.style(density=timeline.density.id),
        brand,
        CareerContext(
            "Ada Lovelace",
            (
                CareerRole(f"2015{EN_DASH}2019", "Designer", "Foo Inc"),
                CareerRole(f"2019{EN_DASH}present", "CTO", "Acme"),
            ),
            "Builds tools",
        ),
    )
    assert shown_prompt(review) == expected
    assert element(review, "aspect_ratio")["initial_option"]["value"] == "4:5"

    edited = expected + "\nAdd a subtle paper texture."
    await banana.submit(review, prompt_1=edited, aspect_ratio="9:16", resolution="4K")
    sent, task = await generated_prompt(banana, kie)
    assert sent["prompt"] == edited and (sent["aspect_ratio"], sent["resolution"]) == ("9:16", "4K")
    assert sent["prompt"].index('"Designer"') < sent["prompt"].index('"CTO"')  # oldest first
    for carried in ("Layout: Vertical timeline.", "Template: Career timeline.", "Style: Clean modern."):
        assert carried in sent["prompt"]
    assert all(colour in sent["prompt"] for colour in brand.hexes)
    assert task.credits == 24


async def test_a_form_with_problems_stays_open_and_says_what_to_fix(banana, kie, slack):
    form = await open_form(banana, slack, "timeline Ada Lovelace")
    response = await banana.submit(form, roles="CTO at Acme since 2019")
    answer = response.json()
    assert answer["response_action"] == "errors" and "should start with its years" in answer["errors"]["roles"]
    form = await open_form(banana, slack, "infographic Sleep")
    response = await banana.submit(form, key_points="\n".join(f"point {i}" for i in range(13)))
    assert "At most 12 points" in response.json()["errors"]["key_points"]
    assert not kie.requests_to(CREATE)


async def test_the_review_step_respects_the_budget(start_banana, kie, slack):
    banana = await start_banana(USER_DAILY_CREDIT_CAP="0")
    form = await open_form(banana, slack, "quote “Less, but better” — Dieter Rams, designer")
    review = await review_step(banana, slack, form)
    response = await banana.submit(review)
    answer = response.json()
    assert answer["response_action"] == "errors" and "prompt_1" in answer["errors"]
    assert not kie.requests_to(CREATE)


async def test_studio_words_with_options_stay_a_plain_prompt(banana, kie, slack):
    await banana.command("infographic of sleep stages, flat icons --ar 16:9")
    sent, _ = await generated_prompt(banana, kie)
    assert sent["prompt"] == "infographic of sleep stages, flat icons" and sent["aspect_ratio"] == "16:9"
    assert not slack.views_opened


async def test_a_saved_prompt_is_listed_and_reused(banana, kie, slack):
    await banana.command("a lighthouse at dawn, isometric --ar 16:9 --no text")
    original = await banana.only_task()
    card = slack.message(CHANNEL_ID, original.message_ts)
    assert cards.SAVE_PROMPT in json.dumps(card.blocks)

    await banana.click(cards.SAVE_PROMPT, str(original.id), message_ts=original.message_ts)
    await slack.wait_for(lambda: slack.views_opened and slack.views_opened[-1]["callback_id"] == "studio_save_prompt")
    response = await banana.submit(slack.views_opened[-1], name="Lighthouse hero")
    assert response.json()["response_action"] == "update" and "Saved" in json.dumps(response.json())

    await banana.click(cards.SAVE_PROMPT, str(original.id), message_ts=original.message_ts)
    await slack.wait_for(lambda: len(slack.views_opened) == 2)
    response = await banana.submit(slack.views_opened[-1], name="lighthouse HERO")
    assert "already called" in response.json()["errors"]["name"]

    await banana.command("prompts")
    await slack.wait_for(lambda: any("Lighthouse hero" in json.dumps(r) for r in slack.responses))
    listing = slack.responses[-1]
    (use,) = [
        b["accessory"] for b in listing["blocks"] if b.get("accessory", {}).get("action_id") == "saved_prompt_use"
    ]

    await banana.click(studio.USE_SAVED_PROMPT, use["value"], message_ts="1700000000.000100")
    await slack.wait_for(lambda: slack.views_opened[-1]["callback_id"] == studio.REVIEW)
    review = slack.views_opened[-1]
    assert shown_prompt(review) == "a lighthouse at dawn, isometric"
    assert element(review, "aspect_ratio")["initial_option"]["value"] == "16:9"
    assert element(review, "avoid")["initial_value"] == "text"
    await banana.submit(review)
    _, again = await banana.settle(2)
    assert again.state is TaskState.DONE and again.reused_from is None  # a new image, not the cached one
    creates = kie.requests_to(CREATE)
    assert len(creates) == 2 and creates[1].json["input"] == creates[0].json["input"]
    assert creates[1].json["input"]["prompt"] == "a lighthouse at dawn, isometric\n\nDo not include: text."


async def test_a_long_saved_prompt_is_shown_in_parts_and_sent_whole(banana, kie, slack):
    paragraphs = [f"Paragraph {n}: " + " ".join(["detail"] * 140) for n in range(8)]  # about 8,000 characters
    long_prompt = "\n\n".join(paragraphs)
    services = banana.services
    await services.store.save_prompt("T0TEAM001", "U0OTHER001", "Long one", long_prompt, services.defaults)
    await banana.command("prompts long")
    await slack.wait_for(lambda: any("Long one" in json.dumps(r) for r in slack.responses))
    use = next(b["accessory"] for b in slack.responses[-1]["blocks"] if "accessory" in b)
    await banana.click(studio.USE_SAVED_PROMPT, use["value"], message_ts="1700000000.000100")
    await slack.wait_for(lambda: bool(slack.views_opened))
    review = slack.views_opened[-1]
    parts = [b for b in review["blocks"] if studio._is_part(b.get("block_id", ""))]
    assert len(parts) == 3 and all(len(p["element"]["initial_value"]) <= 3000 for p in parts)
    await banana.submit(review)
    sent, _ = await generated_prompt(banana, kie)
    assert sent["prompt"] == long_prompt


async def test_listing_with_nothing_saved(banana, slack):
    await banana.command("prompts")
    await slack.wait_for(lambda: bool(slack.responses))
    assert "No saved prompts yet" in slack.responses[-1]["text"]


async def test_a_broken_brand_file_stops_start_up_naming_the_file_and_the_field(app_env, tmp_path):
    brand_file = tmp_path / "brand.toml"
    brand_file.write_text(OUR_BRAND.replace('primary = "#E63946"', 'primary = "red"'), encoding="utf-8")
    settings = load_settings({**app_env, "BRAND_FILE": str(brand_file)}, env_file=None)
    with pytest.raises(SystemExit) as caught:
        await run(settings)
    message = str(caught.value)
    assert message.startswith("Banana cannot start:")
    assert str(brand_file) in message and "colours.primary" in message and "hex colour" in message


# ----------------------------------------------------------------------------------- the commands' text and parts


@pytest.mark.parametrize(
    ("text", "quote", "speaker", "role"),
    [
        (
            '"Ship it, then make it better" — Ada Lovelace, CTO at Acme',
            "Ship it, then make it better",
            "Ada Lovelace",
            "CTO at Acme",
        ),
        (f"“We ship — always” {EN_DASH} Ada O'Neil, CTO", "We ship — always", "Ada O'Neil", "CTO"),
        (
            '"Well-known truth" - Jean-Luc Picard, Captain, USS Enterprise',
            "Well-known truth",
            "Jean-Luc Picard",
            "Captain, USS Enterprise",
        ),
        ("Ship it — then fix it — Ada, CTO", "Ship it — then fix it", "Ada", "CTO"),
        ('"Less, but better" -- Dieter Rams', "Less, but better", "Dieter Rams", ""),
        ("just the words", "just the words", "", ""),
    ],
)
def test_quote_command_text(text, quote, speaker, role):
    assert words.quote_prefill(text) == {words.QUOTE: quote, words.SPEAKER: speaker, words.ROLE: role}


def test_career_roles_are_read_one_a_line_oldest_first():
    roles = words.career_roles(
        f"2019{EN_DASH}now CTO at Acme\n- 2015 - 2019: Designer, Foo Inc\n2012 Intern @ Google\n\n"
        "2010 to 2012 Freelance illustrator\n2008-2010 | Head of Design AT Big Co"
    )
    assert [(r.years, r.title, r.company) for r in roles] == [
        (f"2008{EN_DASH}2010", "Head of Design", "Big Co"),
        (f"2010{EN_DASH}2012", "Freelance illustrator", ""),
        ("2012", "Intern", "Google"),
        (f"2015{EN_DASH}2019", "Designer", "Foo Inc"),
        (f"2019{EN_DASH}present", "CTO", "Acme"),
    ]
    for text, says in (
        ("", "at least one role"),
        ("2019", "needs the role"),
        ("\n".join(["2019 CTO at A"] * 13), "At most 12"),
    ):
        with pytest.raises(words.FormProblems, match=says):
            words.career_roles(text)


def test_infographic_command_text_and_key_points():
    assert words.infographic_prefill("Sleep") == {words.TITLE: "Sleep", words.KEY_POINTS: ""}
    notes = "A long note about the episode. " * 10
    assert words.infographic_prefill(notes)[words.TITLE] == ""  # too long for a title: kept as notes
    assert words.key_points("- one\n2. two\n\n• three\n3) four") == ("one", "two", "three", "four")


def test_split_and_join_keep_the_prompt():
    catalog = load_catalog()
    prompt = build_quote_card(
        catalog.quote_card.default_layout,
        catalog.quote_card,
        catalog.style(),
        load_brand(),
        QuoteContext("Less, but better", "Dieter Rams"),
    )
    assert studio.split_prompt(prompt) == [prompt] and studio.join_prompt([prompt]) == prompt
    lines = "\n".join(f"line {n} " + "word " * 60 for n in range(40))  # one paragraph far over 3,000 characters
    parts = studio.split_prompt(f"First paragraph.\n\n{lines}\n\nLast paragraph.")
    assert all(len(part) <= studio.SLACK_INPUT_CHARS for part in parts) and len(parts) >= 4
    assert studio.join_prompt(parts).split() == f"First paragraph. {lines} Last paragraph.".split()
    one_long_line = "word " * 2000
    assert all(len(part) <= studio.SLACK_INPUT_CHARS for part in studio.split_prompt(one_long_line))


# ---- outside text is bounded, and prices are estimates ---------------------------------------------------------------

HUGE_NAME = "<!channel> Episode takeaways " + "ü" * 480  # longer than the form allows: an older or imported name
# Just under kie's 10,000 characters once "Do not include: text." is added.
HUGE_PROMPT = "\n\n".join(f"Paragraph {n}: <@U999> & " + " ".join(["detail"] * 137) for n in range(10))


def accepted_message(message: dict) -> None:
    """What Slack checks before it posts a message (the stand-in's checks)."""
    from standins.slack.blocks import MAX_MESSAGE_BLOCKS, blocks_arg, text_arg

    blocks_arg({"blocks": message.get("blocks")}, MAX_MESSAGE_BLOCKS, {})
    text_arg(message)
    assert 0 < len(message["text"]) <= 300


async def test_a_saved_prompt_with_a_huge_name_and_prompt_is_listed_and_reviewed(banana, kie, slack):
    services = banana.services
    options = Options("16:9", "4K", "png")
    await services.store.save_prompt("T0TEAM001", "U0OTHER001", HUGE_NAME, HUGE_PROMPT, options, avoid="text")
    await banana.command("prompts episode")
    await slack.wait_for(lambda: any("Episode takeaways" in json.dumps(r) for r in slack.responses))
    listing = slack.responses[-1]  # the stand-in's response_url checked its blocks as Slack would
    accepted_message(listing)
    assert "&lt;!channel&gt; Episode takeaways" in json.dumps(listing) and "<!channel>" not in json.dumps(listing)

    use = next(b["accessory"] for b in listing["blocks"] if "accessory" in b)
    await banana.click(studio.USE_SAVED_PROMPT, use["value"], message_ts="1700000000.000100")
    await slack.wait_for(lambda: bool(slack.views_opened))
    review = slack.views_opened[-1]  # views.open: checked by the stand-in
    assert shown_prompt(review) == HUGE_PROMPT
    resolution = element(review, "resolution")
    assert [o["text"]["text"] for o in resolution["options"]] == [
        "1K · ≈18 credits",
        "2K · ≈18 credits",
        "4K · ≈24 credits",
    ]
    assert resolution["initial_option"]["value"] == "4K"
    assert (await banana.submit(review)).json()["response_action"] == "update"
    sent, task = await generated_prompt(banana, kie)
    assert sent["prompt"] == HUGE_PROMPT + "\n\nDo not include: text." and task.credits == 24


def test_the_review_step_with_huge_outside_text_fits_slack(slack):
    review = studio.Review(
        prompt=HUGE_PROMPT,
        options=Options("1:1", "2K", "png"),
        channel_id=CHANNEL_ID,
        summary="*" + "&lt;b&gt; " * 1000 + "*",
        avoid="watermarks, " * 500,
        title="A title much longer than Slack's twenty-four characters",
        source="saved:12",
    )
    view = studio.review_modal(review, PRICES)
    slack._validate_view(view, allowed_types=("modal",))
    assert shown_prompt(view) == HUGE_PROMPT  # nothing of the prompt itself is lost
    assert len(element(view, "avoid")["initial_value"]) <= 3000
    note = view["blocks"][0]["elements"][0]["text"]
    assert note.startswith("*&lt;b&gt; ") and "… 9,8" in note  # the summary is cut, never inside an escape
    assert "Edit anything you like, then press *Generate*." in note and "shown in 4 parts" in note
    assert len(view["title"]["text"]) <= 24 and json.loads(view["private_metadata"])["s"] == "saved:12"


def test_saving_a_huge_prompt_and_listing_with_a_huge_search_fit_slack(slack):
    task = Task(
        id=7,
        team_id="T1",
        user_id="U1",
        channel_id=CHANNEL_ID,
        prompt=HUGE_PROMPT,
        avoid="",
        aspect_ratio="1:1",
        resolution="2K",
        output_format="png",
        state=TaskState.DONE,
        created_at=0.0,
        updated_at=0.0,
    )
    slack._validate_view(studio.save_prompt_modal(task), allowed_types=("modal",))
    nothing = studio.saved_prompts_message([], search="<!here> " + "podcast " * 800)
    assert len(nothing["text"]) <= 300 and "<!here>" not in nothing["text"] and "&lt;!here&gt;" in nothing["text"]
    many = [
        SavedPrompt(i, "T1", "U1", HUGE_NAME, HUGE_PROMPT, "", "1:1", "2K", "png", 0.0)
        for i in range(studio.SAVED_PROMPTS_SHOWN + 1)
    ]
    listing = studio.saved_prompts_message(many, search="episode " * 800, more=True)
    accepted_message(listing)
    view = studio.review_modal(studio.saved_prompt_review(many[0], CHANNEL_ID), PRICES)
    slack._validate_view(view, allowed_types=("modal",))
    assert "&lt;!channel&gt; Episode takeaways" in json.dumps(view) and shown_prompt(view) == HUGE_PROMPT

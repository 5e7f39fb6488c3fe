"""The prompt studio's catalog and builders: data checked at start-up; prompts complete, exact and within limits."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.blocks.studio import EN_DASH, FIELD_CHARS, MAX_KEY_POINTS, MAX_ROLES
from bot.settings import SettingsError, load_settings
from prompts.builders import (
    CareerContext,
    CareerRole,
    InfographicContext,
    PromptTooLong,
    QuoteContext,
    build_career_timeline,
    build_infographic,
    build_quote_card,
)
from prompts.catalog import (
    BRAND_FONT_CHARS,
    BRAND_MAX_COLOURS,
    BRAND_MAX_NEVER,
    BRAND_NAME_CHARS,
    BRAND_NEVER_CHARS,
    BRAND_SHORT_CHARS,
    BRAND_TEXT_CHARS,
    CATALOG_DIR,
    Brand,
    BrandColour,
    CatalogError,
    load_brand,
    load_catalog,
)
from prompts.options import MAX_PROMPT_CHARS

CATALOG = load_catalog()
BRAND = load_brand()
CONTEXT = InfographicContext(
    title="5 ways to grow a podcast audience",
    subtitle="The Growth Show, episode 42",
    guest="Ada Lovelace, CTO at Acme",
    key_points=("Pick one niche and own it", "Publish every week, same day", 'Ask for one "review" per episode'),
    footer="Listen at example.fm",
)


def test_the_catalog_has_28_layouts_and_10_templates():
    assert len(CATALOG.layouts) == 28
    assert len(CATALOG.templates) == 10
    names = {layout.name for layout in CATALOG.layouts.values()}
    for wanted in ("Timeline", "Process flow", "Comparison", "Hub and spoke", "Pyramid", "Funnel", "2\u00d72 matrix"):
        assert wanted in names
    for wanted in ("Cycle", "Roadmap", "Iceberg", "Mind map", "Venn diagram", "Statistics dashboard", "Checklist"):
        assert wanted in names
    assert "Before and after" in names
    templates = {template.name for template in CATALOG.templates.values()}
    assert templates == {
        "Key takeaways",
        "How-to steps",
        "Statistics highlight",
        "Myth vs fact",
        "Framework explainer",
        "Episode summary",
        "Guest profile",
        "Tips list",
        "Quote collection",
        "Comparison",
    }


def test_the_style_system_has_each_part():
    assert len(CATALOG.styles) >= 6 and len(CATALOG.palettes) >= 4 and len(CATALOG.densities) == 3
    assert {s.typography.id for s in CATALOG.styles.values()} and {s.illustration.id for s in CATALOG.styles.values()}
    assert CATALOG.style().palette.id == "brand"  # the forms start with the brand's own colours
    assert CATALOG.quote_card.layouts and CATALOG.career_timeline.layouts


def test_every_choice_fits_a_slack_picker():
    choices = [
        *CATALOG.layouts.values(),
        *CATALOG.templates.values(),
        *CATALOG.styles.values(),
        *CATALOG.palettes.values(),
        *CATALOG.densities.values(),
        *CATALOG.quote_card.layouts.values(),
        *CATALOG.career_timeline.layouts.values(),
    ]
    assert all(len(choice.label) <= 75 and len(choice.id) <= 150 for choice in choices)
    assert all(len(layout.group) <= 75 for layout in CATALOG.layouts.values())


def test_every_template_suggests_layouts_that_exist():
    for template in CATALOG.templates.values():
        assert template.layouts and all(layout in CATALOG.layouts for layout in template.layouts)
        assert CATALOG.layout_for(template).id == template.layouts[0]


@pytest.mark.parametrize("template_id", list(CATALOG.templates))
def test_every_layout_and_template_builds_a_complete_prompt(template_id):
    template = CATALOG.templates[template_id]
    style = CATALOG.style()
    for layout in CATALOG.layouts.values():
        prompt = build_infographic(layout, template, style, BRAND, CONTEXT)
        assert 0 < len(prompt) < MAX_PROMPT_CHARS
        assert f"Layout: {layout.name}." in prompt and layout.composition in prompt
        assert f"Template: {template.name}." in prompt
        assert f"Style: {style.preset.name}." in prompt and f"Colours: {style.palette.name}." in prompt
        assert all(colour.hex in prompt for colour in BRAND.colours)
        assert '- Title: "5 ways to grow a podcast audience"' in prompt
        assert '- Point 3: "Ask for one "review" per episode"' in prompt  # the user's text, untouched
        assert prompt == build_infographic(layout, template, style, BRAND, CONTEXT)  # deterministic


def test_every_style_palette_and_density_is_named_in_the_prompt():
    layout, template = CATALOG.layouts["timeline"], CATALOG.templates["key_takeaways"]
    for preset in CATALOG.styles.values():
        for palette in CATALOG.palettes.values():
            for density in CATALOG.densities.values():
                style = CATALOG.style(preset.id, palette.id, density.id)
                prompt = build_infographic(layout, template, style, BRAND, CONTEXT)
                assert f"Style: {preset.name}." in prompt and preset.typography.description in prompt
                assert f"Colours: {palette.name}." in prompt and all(c in prompt for c in palette.colours)
                assert f"Density: {density.name}." in prompt


def test_without_key_points_the_model_is_asked_to_write_them():
    prompt = build_infographic(
        CATALOG.layouts["funnel"], CATALOG.templates["tips_list"], CATALOG.style(), BRAND, InfographicContext("Sleep")
    )
    assert '- Title: "Sleep"' in prompt and "Points: none given" in prompt
    assert "Subtitle" not in prompt and "Guest" not in prompt  # empty fields are left out, not printed as ""


def test_the_brand_never_rules_become_negative_instructions():
    prompt = build_infographic(
        CATALOG.layouts["venn"], CATALOG.templates["comparison"], CATALOG.style(), BRAND, CONTEXT
    )
    avoid = prompt.rsplit("\n\n", 1)[-1]
    assert avoid.startswith("Do not include: watermarks;")
    assert all(rule in avoid for rule in BRAND.never)
    assert "misspelled, garbled or invented words" in avoid


def test_a_quote_card_quotes_the_quote_exactly():
    quote = QuoteContext(
        quote="Ship it — then make it “better”, señor.",
        speaker="Zoë O'Neil",
        role="CTO, Acme & Co",
        source="The Growth Show",
    )
    card = CATALOG.quote_card
    for layout in card.layouts.values():
        style = CATALOG.style("playful", "pastel", card.density.id)
        prompt = build_quote_card(layout, card, style, BRAND, quote)
        assert '- Quote: "Ship it — then make it “better”, señor."' in prompt
        assert '- Speaker: "Zoë O\'Neil"' in prompt and '- Role: "CTO, Acme & Co"' in prompt
        assert f"Layout: {layout.name}." in prompt and "Template: Quote card." in prompt
        assert "Style: Playful." in prompt and all(colour.hex in prompt for colour in BRAND.colours)
        assert prompt == build_quote_card(layout, card, style, BRAND, quote)


def test_a_career_timeline_lists_every_role_in_order():
    career = CareerContext(
        person="Ada Lovelace",
        headline="Builder of developer tools",
        roles=(CareerRole("2012", "Intern", "Google"), CareerRole(f"2019{EN_DASH}present", "CTO", "Acme")),
    )
    timeline = CATALOG.career_timeline
    for layout in timeline.layouts.values():
        prompt = build_career_timeline(layout, timeline, CATALOG.style(), BRAND, career)
        first = prompt.index('1. Years: "2012" · Role: "Intern" · Company: "Google"')
        assert first < prompt.index(f'2. Years: "2019{EN_DASH}present" · Role: "CTO" · Company: "Acme"')
        assert '- Name: "Ada Lovelace"' in prompt and f"Layout: {layout.name}." in prompt
        assert "Template: Career timeline." in prompt and all(colour.hex in prompt for colour in BRAND.colours)


def biggest_brand() -> Brand:
    """A brand at every limit its file may reach."""
    return Brand(
        name="N" * BRAND_NAME_CHARS,
        colours=tuple(BrandColour(f"role number {i}", "#ABCDEF") for i in range(BRAND_MAX_COLOURS)),
        heading_font="F" * BRAND_FONT_CHARS,
        body_font="F" * BRAND_FONT_CHARS,
        tone="T" * BRAND_TEXT_CHARS,
        logo="L" * BRAND_TEXT_CHARS,
        logo_placement="P" * BRAND_SHORT_CHARS,
        never=tuple(f"{i}" * BRAND_NEVER_CHARS for i in range(BRAND_MAX_NEVER)),
    )


def test_the_longest_brand_and_fields_still_fit_kies_limit():
    brand = biggest_brand()
    points_each = FIELD_CHARS["key_points"] // MAX_KEY_POINTS - 1
    context = InfographicContext(
        title="t" * FIELD_CHARS["title"],
        subtitle="s" * FIELD_CHARS["subtitle"],
        guest="g" * FIELD_CHARS["guest"],
        key_points=tuple("p" * points_each for _ in range(MAX_KEY_POINTS)),
        footer="f" * FIELD_CHARS["footer"],
    )
    longest = 0
    for preset in CATALOG.styles.values():
        for palette in CATALOG.palettes.values():
            style = CATALOG.style(preset.id, palette.id, "dense")
            for template in CATALOG.templates.values():
                for layout in CATALOG.layouts.values():
                    longest = max(longest, len(build_infographic(layout, template, style, brand, context)))
    quote = QuoteContext("q" * FIELD_CHARS["quote"], "s" * FIELD_CHARS["speaker"], "r" * FIELD_CHARS["role"], "x" * 150)
    roles = tuple(CareerRole(f"2019{EN_DASH}present", "r" * 80, "c" * 60) for _ in range(MAX_ROLES))
    career = CareerContext("p" * FIELD_CHARS["person"], roles, "h" * FIELD_CHARS["headline"])
    style = CATALOG.style("bold_editorial", "brand_on_white")
    for layout in CATALOG.quote_card.layouts.values():
        longest = max(longest, len(build_quote_card(layout, CATALOG.quote_card, style, brand, quote)))
    for layout in CATALOG.career_timeline.layouts.values():
        longest = max(longest, len(build_career_timeline(layout, CATALOG.career_timeline, style, brand, career)))
    assert longest < MAX_PROMPT_CHARS


def test_a_prompt_over_kies_limit_says_by_how_much():
    context = InfographicContext(title="Too much", key_points=("x" * 9_000,))
    with pytest.raises(PromptTooLong) as caught:
        build_infographic(CATALOG.layouts["timeline"], CATALOG.templates["tips_list"], CATALOG.style(), BRAND, context)
    assert caught.value.length > MAX_PROMPT_CHARS and "10,000" in str(caught.value) and "Shorten" in str(caught.value)


# ---------------------------------------------------------------------------------------------------- brand files

GOOD_BRAND = """
name = "Acme Podcasts"
tone = "Curious and kind."
logo = "a red circle with a white A"
never = ["watermarks", "clip art"]

[colours]
primary = "#e63946"
ink = "#1D3557"

[fonts]
headings = "Playfair Display"
body = "Source Sans"
"""


def brand_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "our-brand.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_brand_file_of_ones_own(tmp_path):
    brand = load_brand(brand_file(tmp_path, GOOD_BRAND))
    assert brand.name == "Acme Podcasts" and brand.hexes == ("#E63946", "#1D3557")
    assert [c.role for c in brand.colours] == ["primary", "ink"]
    assert (brand.heading_font, brand.body_font, brand.never) == (
        "Playfair Display",
        "Source Sans",
        ("watermarks", "clip art"),
    )
    assert brand.logo_placement == ""


def test_the_default_brand_is_complete():
    assert BRAND.name and BRAND.tone and BRAND.logo and BRAND.never and len(BRAND.colours) >= 3


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (('primary = "#e63946"', 'primary = "red"'), "colours.primary", "must be a hex colour"),
        (('tone = "Curious and kind."\n', ""), "tone", "is missing"),
        (("[fonts]", "[font]"), "font", "did you mean 'fonts'"),
        (('body = "Source Sans"', 'body = "Source Sans"\nnever = ["x"]'), "fonts.never", "belongs at the top"),
        (('never = ["watermarks", "clip art"]', 'never = "watermarks"'), "never", "must be a list of text"),
        (('name = "Acme Podcasts"', f'name = "{"A" * 81}"'), "name", "at most 80 characters"),
    ],
)
def test_a_broken_brand_file_names_the_file_and_the_field(tmp_path, change, field, says):
    path = brand_file(tmp_path, GOOD_BRAND.replace(*change))
    with pytest.raises(CatalogError) as caught:
        load_brand(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and f"{field}: " in message and says in message


def test_every_problem_in_a_brand_file_is_named_at_once(tmp_path):
    path = brand_file(tmp_path, GOOD_BRAND.replace('"#e63946"', '"#e639"').replace('"#1D3557"', "7"))
    with pytest.raises(CatalogError) as caught:
        load_brand(path)
    assert len(caught.value.problems) == 2
    assert "colours.primary" in str(caught.value) and "colours.ink" in str(caught.value)


def test_a_brand_file_that_is_not_toml_or_not_there(tmp_path):
    with pytest.raises(CatalogError, match=r"our-brand\.toml: is not valid TOML: .*line 2"):
        load_brand(brand_file(tmp_path, 'name = "A"\ntone = \n'))
    with pytest.raises(CatalogError, match="does not exist"):
        load_brand(tmp_path / "missing.toml")


def test_brand_file_setting(tmp_path):
    required = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "KIEAI_API_KEY": "k"}
    assert load_settings(required, env_file=None).brand_file is None
    path = brand_file(tmp_path, GOOD_BRAND)
    assert load_settings({**required, "BRAND_FILE": str(path)}, env_file=None).brand_file == path
    with pytest.raises(SettingsError, match=r"BRAND_FILE names .*nowhere\.toml.*not a file"):
        load_settings({**required, "BRAND_FILE": str(tmp_path / "nowhere.toml")}, env_file=None)


# ---------------------------------------------------------------------------------------------- catalog files


def catalog_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    for file in CATALOG_DIR.glob("*.toml"):
        shutil.copy(file, tmp_path / file.name)
    text = (tmp_path / name).read_text(encoding="utf-8")
    assert old in text
    (tmp_path / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("name", "old", "new", "says"),
    [
        ("layouts.toml", 'aspect_ratio = "16:9"', 'aspect_ratio = "auto"', "timeline.aspect_ratio: must be one of"),
        ("layouts.toml", "hint = ", "hnt = ", "timeline.hnt: is not a known field (did you mean 'hint'?)"),
        ("templates.toml", '"numbered_list", "bento_grid"', '"numbred_list", "bento_grid"', "key_takeaways.layouts[0]"),
        ("styles.toml", 'typography = "geometric_sans"', 'typography = "comic"', "styles.clean_modern.typography"),
        ("styles.toml", 'colours = ["#FFFFFF"', 'colours = ["white"', "palettes.brand_on_white.colours[0]"),
        ("formats.toml", 'density = "airy"', 'density = "roomy"', "quote_card.density"),
    ],
)
def test_a_broken_catalog_file_names_the_file_and_the_field(tmp_path, name, old, new, says):
    directory = catalog_copy(tmp_path, name, old, new)
    with pytest.raises(CatalogError) as caught:
        load_catalog(directory)
    assert str(caught.value).startswith(str(directory / name)) and says in str(caught.value)

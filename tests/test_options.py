import pytest

from prompts.command import kie_prompt, parse_command_text
from prompts.options import ASPECT_RATIOS, MAX_PROMPT_CHARS, CommandError, Options

DEFAULTS = Options("1:1", "2K", "png")


def parse(text: str):
    return parse_command_text(text, DEFAULTS)


def test_prompt_with_options_at_the_end():
    request = parse("a lighthouse at dawn, isometric --ar 16:9 --res 2K")
    assert request.prompt == "a lighthouse at dawn, isometric"
    assert request.options == Options("16:9", "2K", "png")


def test_defaults_apply_when_no_option_is_given():
    assert parse("a cat").options == DEFAULTS


def test_options_anywhere_and_in_any_case():
    request = parse("--AR 9:16 a poster --res 4k of a cat --format JPEG")
    assert request.prompt == "a poster of a cat"
    assert request.options == Options("9:16", "4K", "jpg")


def test_equals_form_and_phone_dashes():
    assert parse("cat --ar=21:9").options.aspect_ratio == "21:9"
    assert parse("cat \u2014ar 4:5").options.aspect_ratio == "4:5"
    assert parse("cat \u2013res 1K").options.resolution == "1K"


@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
def test_every_aspect_ratio_kie_offers(ratio):
    assert parse(f"cat --ar {ratio}").options.aspect_ratio == ratio


def test_no_takes_everything_up_to_the_next_flag():
    request = parse("quote card --no text, watermarks, logos --ar 1:1")
    assert request.avoid == "text, watermarks, logos"
    assert "Do not include: text, watermarks, logos." in kie_prompt(request)
    assert kie_prompt(request).startswith("quote card")


def test_multiline_prompt_keeps_its_lines():
    assert parse("line one\nline two --ar 1:1").prompt == "line one\nline two"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Tell me what to draw"),
        ("   ", "Tell me what to draw"),
        ("--ar 16:9", "Tell me what to draw"),
        ("cat --ar 7:3", "`--ar` got `7:3`"),
        ("cat --ar", "`--ar` got nothing"),
        ("cat --res 8K", "`--res` got `8K`"),
        ("cat --format gif", "`--format` got `gif`"),
        ("cat --seed 4", "I don't know the option `--seed`"),
        ("cat --ar 1:1 --ar 16:9", "given twice"),
        ("cat --no", "`--no` needs what to leave out"),
    ],
)
def test_bad_input_says_what_is_wrong(text, says):
    with pytest.raises(CommandError) as caught:
        parse(text)
    assert says in str(caught.value)


def test_prompt_over_kie_limit_is_refused_with_its_length():
    with pytest.raises(CommandError, match="10,001 characters"):
        parse("x" * (MAX_PROMPT_CHARS + 1))
    assert parse("x" * MAX_PROMPT_CHARS).prompt == "x" * MAX_PROMPT_CHARS


def test_avoid_counts_toward_the_limit():
    with pytest.raises(CommandError, match="kie takes at most 10,000"):
        parse("x" * (MAX_PROMPT_CHARS - 10) + " --no watermarks please")


def test_n_makes_one_to_four_images_and_says_so_when_out_of_range():
    assert parse("a cat --n 1").count == 1  # the usual single image, as the docs say
    assert parse("a cat --n 4").count == 4
    with pytest.raises(CommandError) as caught:
        parse("a cat --n 5")
    assert "use 2 to 4" in str(caught.value) and "`--n 1`, or no `--n`, makes one image" in str(caught.value)

"""Pure prompt builders: catalog choices, the brand and the user's context in, one prompt for kie out.

The same input always gives the same prompt, character for character, and every prompt fits kie's limit or the builder
says by how much it does not. Words the image must show are quoted exactly as the user gave them (runs of spaces and
line breaks inside one field become one space), and the prompt asks the model to print them as written.
"""

from __future__ import annotations

from dataclasses import dataclass

from prompts.catalog import Brand, Format, Layout, Template, VisualStyle
from prompts.options import MAX_PROMPT_CHARS
from prompts.references import studio_placement

# Nano Banana Pro has no negative-prompt field: what to leave out is written as an instruction it reads.
ALWAYS_AVOID = ("misspelled, garbled or invented words", "placeholder or lorem ipsum text")


class PromptTooLong(ValueError):
    """The context given makes the prompt longer than kie accepts; the message says by how much."""

    def __init__(self, length: int, limit: int = MAX_PROMPT_CHARS) -> None:
        self.length = length
        self.limit = limit
        super().__init__(
            f"With this text the prompt would be {length:,} characters; kie takes at most {limit:,}. "
            f"Shorten the text by about {length - limit:,} characters."
        )


@dataclass(frozen=True)
class InfographicContext:
    title: str
    subtitle: str = ""  # the show or the episode
    guest: str = ""
    key_points: tuple[str, ...] = ()  # when empty, the model writes the points itself
    footer: str = ""  # a call to action, such as where to listen


@dataclass(frozen=True)
class QuoteContext:
    quote: str
    speaker: str
    role: str = ""
    source: str = ""  # the show or the episode


@dataclass(frozen=True)
class CareerRole:
    years: str  # "2015-2019", "2021-present", "2012" (with an en dash)
    title: str
    company: str


@dataclass(frozen=True)
class CareerContext:
    person: str
    roles: tuple[CareerRole, ...]  # in the order they are shown, oldest first
    headline: str = ""


def build_infographic(
    layout: Layout, template: Template, style: VisualStyle, brand: Brand, context: InfographicContext
) -> str:
    lines = [_line("Title", context.title), _line("Subtitle", context.subtitle), _line("Guest", context.guest)]
    if context.key_points:
        lines += [_line(f"Point {number}", point) for number, point in enumerate(context.key_points, start=1)]
        closing = "Apart from these, add only the short labels the layout needs."
    else:
        lines.append("- Points: none given; write three to six short, specific points on the title, under 12 words")
        closing = "Keep every other word short and accurate."
    lines.append(_line("Footer", context.footer))
    return _finish(
        _opening("a finished, ready-to-publish infographic", brand),
        _layout_part(layout),
        _template_part(template),
        *_style_parts(style, brand),
        _brand_part(brand),
        _text_part(lines, closing),
        _avoid_part(brand),
    )


def build_quote_card(layout: Layout, card: Format, style: VisualStyle, brand: Brand, quote: QuoteContext) -> str:
    lines = [
        _line("Quote", quote.quote),
        _line("Speaker", quote.speaker),
        _line("Role", quote.role),
        _line("Source", quote.source),
    ]
    return _finish(
        _opening("a finished, shareable quote card", brand),
        _layout_part(layout),
        f"Template: {card.name}. {card.goal} {card.composition}",
        *_style_parts(style, brand),
        _brand_part(brand),
        _text_part(lines, "Apart from these, add no other words."),
        _avoid_part(brand),
    )


def build_career_timeline(
    layout: Layout, timeline: Format, style: VisualStyle, brand: Brand, career: CareerContext
) -> str:
    lines = [_line("Name", career.person), _line("Headline", career.headline), "- Roles, in this order:"]
    for number, role in enumerate(career.roles, start=1):
        lines.append(
            f'  {number}. Years: "{_clean(role.years)}" · Role: "{_clean(role.title)}" · '
            f'Company: "{_clean(role.company)}"'
        )
    return _finish(
        _opening("a finished career timeline graphic", brand),
        _layout_part(layout),
        f"Template: {timeline.name}. {timeline.goal} {timeline.composition}",
        *_style_parts(style, brand),
        _brand_part(brand),
        _text_part(lines, "Apart from these, add only the short labels the layout needs."),
        _avoid_part(brand),
    )


def _opening(what: str, brand: Brand) -> str:
    return f"Create {what} for {_clean(brand.name)}, following every part of this brief."


def _layout_part(layout: Layout) -> str:
    return f"Layout: {layout.name}. {layout.composition} It suits {layout.suits}."


def _template_part(template: Template) -> str:
    sections = "; ".join(template.sections)
    return f"Template: {template.name}. {template.goal} Sections, in reading order: {sections}. {template.guidance}"


def _style_parts(style: VisualStyle, brand: Brand) -> list[str]:
    preset, palette = style.preset, style.palette
    brand_colours = ", ".join(str(colour) for colour in brand.colours)
    colours = f"Colours: {palette.name}. {palette.usage} Brand colours, use these exact values: {brand_colours}."
    if palette.colours:
        colours += f" Supporting colours: {', '.join(palette.colours)}."
    return [
        f"Style: {preset.name}. {preset.mood} Typography: {preset.typography.description} "
        f"Illustration: {preset.illustration.description}",
        colours,
        f"Density: {style.density.name}. {style.density.description}",
    ]


def _brand_part(brand: Brand) -> str:
    """The brand in words; where the brand has images, the logo is placed from its image (sent to kie first) and the
    style references are described as style to follow (references.py numbers them as the job sends them)."""
    logo_image, styles = studio_placement(brand)
    logo = f"Logo: {_sentence(', '.join(filter(None, (brand.logo, brand.logo_placement))))}" if brand.logo else ""
    return " ".join(
        filter(
            None,
            (
                f"Brand: {_sentence(brand.name)}",
                f"Headings in {brand.heading_font}; body text in {_sentence(brand.body_font)}",
                logo_image or logo,
                styles,
                f"Tone of every word: {_sentence(brand.tone)}",
            ),
        )
    )


def _text_part(lines: list[str], closing: str) -> str:
    intro = (
        "Text in the image. Print each quoted text exactly as written here, with the same words, spelling, capitals, "
        "numbers and punctuation, without the quotation marks around it:"
    )
    return "\n".join([intro, *(line for line in lines if line), closing])


def _avoid_part(brand: Brand) -> str:
    seen: set[str] = set()
    rules = []
    for rule in (*brand.never, *ALWAYS_AVOID):
        rule = rule.strip().rstrip(".")
        if rule and rule.casefold() not in seen:
            seen.add(rule.casefold())
            rules.append(rule)
    return f"Do not include: {'; '.join(rules)}."


def _line(label: str, text: str) -> str:
    """`- Title: "…"`, or nothing when the field was left empty."""
    text = _clean(text)
    return f'- {label}: "{text}"' if text else ""


def _clean(text: str) -> str:
    return " ".join(text.split())


def _sentence(text: str) -> str:
    text = _clean(text)
    return text if not text or text[-1] in ".!?" else text + "."


def _finish(*parts: str) -> str:
    prompt = "\n\n".join(part for part in parts if part)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise PromptTooLong(len(prompt))
    return prompt

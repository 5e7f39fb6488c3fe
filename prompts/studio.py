"""The prompt studio's words: what `/banana infographic|quote|timeline <text>` fills in, the rules for each field, and
the prompt built from the fields, with the aspect ratio its layout suits. Pure: the forms that show and read the
fields are Block Kit (bot/blocks/studio.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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
from prompts.catalog import Brand, Catalog, Layout

KINDS = ("infographic", "quote", "timeline")


# The fields a studio form fills, by name (the forms use them as block ids, one input per block).
LAYOUT, TEMPLATE, STYLE, PALETTE, DENSITY = "layout", "template", "style", "palette", "density"
TITLE, SUBTITLE, GUEST, KEY_POINTS, FOOTER = "title", "subtitle", "guest", "key_points", "footer"
QUOTE, SPEAKER, ROLE, SOURCE = "quote", "speaker", "role", "source"
PERSON, HEADLINE, ROLES = "person", "headline", "roles"
NAME = "name"

MAX_KEY_POINTS = 12
MAX_ROLES = 12
# What each context field holds at most; with these, every prompt stays well within kie's 10,000 characters.
FIELD_CHARS = {
    TITLE: 150,
    SUBTITLE: 150,
    GUEST: 150,
    FOOTER: 150,
    KEY_POINTS: 2500,
    QUOTE: 600,
    SPEAKER: 80,
    ROLE: 120,
    SOURCE: 150,
    PERSON: 80,
    HEADLINE: 150,
    ROLES: 2000,
    NAME: 80,
}


class FormProblems(Exception):
    """What to fix in a submitted form, by block id, shown under each field."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors.values()))


@dataclass(frozen=True)
class Built:
    """A prompt built from a studio form, with what it was built from and the shape that suits it."""

    prompt: str
    aspect_ratio: str
    summary: str


class Fields(Protocol):
    """A studio form's values, by field name; a field the form did not have reads as empty."""

    def text(self, name: str) -> str: ...

    def choice(self, name: str) -> str | None: ...


# ------------------------------------------------------------------------------------------------ the commands' text


def infographic_prefill(text: str) -> dict[str, str]:
    """`/banana infographic <topic or notes>`: a short first line is the title, the other lines are the key points.

    A first line too long for a title is taken as notes: everything goes into the key points."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return {}
    title, rest = (lines[0], lines[1:]) if len(lines[0]) <= FIELD_CHARS[TITLE] else ("", lines)
    return {TITLE: title, KEY_POINTS: "\n".join(rest)[: FIELD_CHARS[KEY_POINTS]]}


EN_DASH, EM_DASH = "\u2013", "\u2014"
_OPENING_MARKS = "\"“„«'\u2018”"
_CLOSING_MARKS = "\"”“»'\u2019"
# Before the speaker: an em or en dash, `--`, or a hyphen with spaces round it (so "well-known" is not cut).
_ATTRIBUTION = re.compile(rf"\s*(?:[{EM_DASH}{EN_DASH}]|--)\s*|\s+-\s+")


def quote_prefill(text: str) -> dict[str, str]:
    """`/banana quote "<quote>" — <name>, <role>`; straight or curly quotes, and the dash phones type, all work.

    The dash right after the closing quotation mark wins, so dashes inside the quote stay in it. Without quotation
    marks, the last dash separates the quote from the speaker."""
    text = " ".join(text.split())
    dashes = list(_ATTRIBUTION.finditer(text))
    after_quote = [d for d in dashes if text[: d.start()].rstrip().endswith(tuple(_CLOSING_MARKS))]
    candidates = after_quote or dashes
    chosen = candidates[-1] if candidates else None
    quote, who = (text[: chosen.start()], text[chosen.end() :]) if chosen else (text, "")
    quote = quote.strip()
    if len(quote) >= 2 and quote[0] in _OPENING_MARKS and quote[-1] in _CLOSING_MARKS:
        quote = quote[1:-1].strip()
    name, _, role = who.partition(",")
    return {
        QUOTE: quote[: FIELD_CHARS[QUOTE]],
        SPEAKER: name.strip()[: FIELD_CHARS[SPEAKER]],
        ROLE: role.strip()[: FIELD_CHARS[ROLE]],
    }


def timeline_prefill(text: str) -> dict[str, str]:
    """`/banana timeline <name>`; lines after the name, if any, are roles."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return {}
    return {PERSON: lines[0][: FIELD_CHARS[PERSON]], ROLES: "\n".join(lines[1:])[: FIELD_CHARS[ROLES]]}


_BULLET = re.compile(rf"^\s*(?:[-*•·{EN_DASH}{EM_DASH}]|\d{{1,2}}[.)])\s+")


def key_points(text: str) -> tuple[str, ...]:
    """One point per line; bullets and numbers the person typed are list markers, not words to print."""
    points = tuple(_BULLET.sub("", line).strip() for line in text.splitlines())
    points = tuple(point for point in points if point)
    if len(points) > MAX_KEY_POINTS:
        raise FormProblems(
            {KEY_POINTS: f"At most {MAX_KEY_POINTS} points fit on one infographic; there are {len(points)}."}
        )
    return points


_YEAR = r"(?:19|20)\d{2}"
_ROLE_YEARS = re.compile(
    rf"^(?P<start>{_YEAR})(?:\s*(?:[-{EN_DASH}{EM_DASH}]|to)\s*(?P<end>{_YEAR}|present|now|today|current))?"
    r"(?:\s*[:,|·]\s*|\s+)",
    re.IGNORECASE,
)
_COMPANY_MARKS = (" | ", " @ ", " at ", ", ", " · ", f" {EM_DASH} ", f" {EN_DASH} ")
ROLE_EXAMPLE = f"2015{EN_DASH}2019 Designer at Acme"


def career_roles(text: str) -> tuple[CareerRole, ...]:
    """One role per line: years, then the role, then the company (after `at`, `@`, `|` or a comma); oldest first."""
    found: list[tuple[int, CareerRole]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = _BULLET.sub("", line).strip()
        if not line:
            continue
        match = _ROLE_YEARS.match(line + " ")
        if match is None:
            raise FormProblems({ROLES: f"{_line(number, line)} should start with its years, like {ROLE_EXAMPLE}."})
        end = match["end"]
        if end and not end[0].isdigit():
            end = "present"
        years = f"{match['start']}{EN_DASH}{end}" if end else match["start"]
        title, company = _split_company(line[match.end() :].strip())
        if not title:
            raise FormProblems({ROLES: f"{_line(number, line)} needs the role after the years, like {ROLE_EXAMPLE}."})
        found.append((int(match["start"]), CareerRole(years=years, title=title, company=company)))
    if not found:
        raise FormProblems({ROLES: f"Add at least one role, one per line, like {ROLE_EXAMPLE}."})
    if len(found) > MAX_ROLES:
        raise FormProblems({ROLES: f"At most {MAX_ROLES} roles fit on one timeline; there are {len(found)}."})
    return tuple(role for _, role in sorted(found, key=lambda pair: pair[0]))


def _line(number: int, line: str) -> str:
    shown = line if len(line) <= 40 else line[:39].rstrip() + "…"
    return f"Line {number} (“{shown}”)"


def _split_company(text: str) -> tuple[str, str]:
    """ "Designer at Acme" is the role and the company; the first kind of mark found is used, at its last place, and
    `at` in any letter case."""
    for mark in _COMPANY_MARKS:
        index = text.lower().rfind(mark)
        if index > 0 and text[index + len(mark) :].strip():
            return text[:index].strip(), text[index + len(mark) :].strip()
    return text, ""


# ------------------------------------------------------------------------------------------------- the prompt


def build_prompt(kind: str, fields: Fields, catalog: Catalog, brand: Brand) -> Built:
    """The prompt a studio form of `kind` asks for. Raises FormProblems with what to fix, by field."""
    builders = {"infographic": _infographic, "quote": _quote_card, "timeline": _career_timeline}
    return builders[kind](fields, catalog, brand)


def _infographic(values: Fields, catalog: Catalog, brand: Brand) -> Built:
    template = catalog.templates.get(values.choice(TEMPLATE) or "") or next(iter(catalog.templates.values()))
    layout = catalog.layout_for(template, values.choice(LAYOUT))
    style = catalog.style(values.choice(STYLE), values.choice(PALETTE), values.choice(DENSITY))
    context = InfographicContext(
        title=_required(values, TITLE, "Give it a title or topic."),
        subtitle=values.text(SUBTITLE),
        guest=values.text(GUEST),
        key_points=key_points(values.text(KEY_POINTS)),
        footer=values.text(FOOTER),
    )
    prompt = _built(lambda: build_infographic(layout, template, style, brand, context), KEY_POINTS)
    return Built(prompt, layout.aspect_ratio, f"{layout.name} · {template.name} · {style.summary}")


def _quote_card(values: Fields, catalog: Catalog, brand: Brand) -> Built:
    card = catalog.quote_card
    layout = _format_layout(card.layouts, values.choice(LAYOUT))
    style = catalog.style(values.choice(STYLE), values.choice(PALETTE), card.density.id)
    quote = QuoteContext(
        quote=_required(values, QUOTE, "Type the quote."),
        speaker=_required(values, SPEAKER, "Say who said it."),
        role=values.text(ROLE),
        source=values.text(SOURCE),
    )
    prompt = _built(lambda: build_quote_card(layout, card, style, brand, quote), QUOTE)
    return Built(prompt, layout.aspect_ratio, f"{layout.name} · {card.name} · {style.summary}")


def _career_timeline(values: Fields, catalog: Catalog, brand: Brand) -> Built:
    timeline = catalog.career_timeline
    layout = _format_layout(timeline.layouts, values.choice(LAYOUT))
    style = catalog.style(values.choice(STYLE), values.choice(PALETTE), timeline.density.id)
    career = CareerContext(
        person=_required(values, PERSON, "Whose career is it?"),
        headline=values.text(HEADLINE),
        roles=career_roles(values.text(ROLES)),
    )
    prompt = _built(lambda: build_career_timeline(layout, timeline, style, brand, career), ROLES)
    return Built(prompt, layout.aspect_ratio, f"{layout.name} · {timeline.name} · {style.summary}")


def _format_layout(layouts: dict[str, Layout], chosen: str | None) -> Layout:
    return layouts.get(chosen or "") or next(iter(layouts.values()))


def _required(values: Fields, block_id: str, problem: str) -> str:
    text = values.text(block_id).strip()
    if not text:
        raise FormProblems({block_id: problem})
    if len(text) > FIELD_CHARS[block_id]:  # Slack enforces max_length; this guards against anything else
        raise FormProblems({block_id: f"At most {FIELD_CHARS[block_id]:,} characters, please."})
    return text


def _built(build: Callable[[], str], longest_field: str) -> str:
    try:
        return build()
    except PromptTooLong as error:
        raise FormProblems({longest_field: str(error)}) from None

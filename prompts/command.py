"""From what a person typed or filled in to a checked generation request, and the prompt kie receives."""

from __future__ import annotations

import re

from prompts.inputs import too_many_inputs
from prompts.options import (
    ASPECT_RATIOS,
    MAX_PROMPT_CHARS,
    MAX_VARIATIONS,
    OUTPUT_FORMATS,
    RESOLUTIONS,
    CommandError,
    GenerationRequest,
    InputFile,
    Options,
)
from prompts.references import BrandImages, brand_sentence


def kie_prompt(request: GenerationRequest, brand: BrandImages | None = None) -> str:
    """The prompt kie receives: the person's words, with what to leave out stated as a plain negative instruction,
    and, when the brand's images go with it, which reference images are the brand's.

    Nano Banana Pro has no negative-prompt field, so `--no` becomes words the model reads. The brand's sentence is
    left out of a prompt it would take past kie's limit (the images still go; `checked` let the prompt through)."""
    prompt = request.prompt.strip()
    avoid = request.avoid.strip().rstrip(".")
    if avoid:
        prompt = f"{prompt}\n\nDo not include: {avoid}."
    sentence = brand_sentence(brand, len(request.inputs)) if brand is not None else ""
    if sentence and len(prompt) + 2 + len(sentence) <= MAX_PROMPT_CHARS:
        prompt = f"{prompt}\n\n{sentence}"
    return prompt


_FLAG = re.compile(r"(?<!\S)(?:--|\u2014|\u2013)([A-Za-z][\w-]*)(?:=(\S*))?")  # -- or em/en dash
_ALIASES = {
    "ar": "ar",
    "aspect": "ar",
    "res": "res",
    "resolution": "res",
    "format": "format",
    "no": "no",
    "fresh": "fresh",
    "no-brand": "no-brand",
    "n": "n",
    "variations": "n",
}
_FORMAT_ALIASES = {"png": "png", "jpg": "jpg", "jpeg": "jpg"}


def parse_command_text(text: str, defaults: Options) -> GenerationRequest:
    """Parse `a lighthouse --ar 16:9 --res 2K --format jpg --no text, logos`.

    Flags may stand anywhere; `--no` takes everything up to the next flag. Phones turn `--` into an em dash, so `—ar`
    works too.
    """
    prompt_parts: list[str] = []
    values: dict[str, str] = {}
    matches = list(_FLAG.finditer(text))
    prompt_parts.append(text[: matches[0].start()] if matches else text)
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        name = _ALIASES.get(match.group(1).lower())
        if name is None:
            raise CommandError(
                f"I don't know the option `--{match.group(1)}`. Use `--ar`, `--res`, `--format`, `--no`, `--n`, "
                "`--fresh` or `--no-brand`; `/banana help` shows them all."
            )
        if name in values:
            raise CommandError(f"`--{name}` is given twice; keep one.")
        rest = text[match.end() : end]
        if name == "no":
            values[name] = ((match.group(2) or "") + rest).strip()
            continue
        if name in ("fresh", "no-brand"):  # a switch: it takes no value
            values[name] = "yes"
            prompt_parts.append(rest)
            continue
        if match.group(2) is not None:  # --ar=16:9
            value, leftover = match.group(2), rest
        else:
            value, leftover = [*rest.split(maxsplit=1), "", ""][:2]
        values[name] = value
        prompt_parts.append(leftover)

    prompt = " ".join(part.strip() for part in prompt_parts if part.strip())
    options = Options(
        aspect_ratio=_pick("ar", values.get("ar"), ASPECT_RATIOS, defaults.aspect_ratio),
        resolution=_pick("res", values.get("res"), RESOLUTIONS, defaults.resolution),
        output_format=_pick("format", values.get("format"), OUTPUT_FORMATS, defaults.output_format, _FORMAT_ALIASES),
    )
    if "no" in values and not values["no"]:
        raise CommandError("`--no` needs what to leave out, for example `--no text, watermarks`.")
    return build_request(
        prompt=prompt,
        options=options,
        avoid=values.get("no", ""),
        fresh="fresh" in values,
        count=_count(values.get("n")),
        brand="no-brand" not in values,
    )


def _count(value: str | None) -> int:
    if value is None:
        return 1
    if not value.isdigit() or not 1 <= int(value) <= MAX_VARIATIONS:
        shown = f"`{value}`" if value else "nothing"
        raise CommandError(
            f"`--n` got {shown}; use 2 to {MAX_VARIATIONS} to get that many variations at once, for example `--n 3` "
            "(`--n 1`, or no `--n`, makes one image)."
        )
    return int(value)


def mentions_options(text: str) -> bool:
    """Whether the text uses any of the command's options, such as `--ar 16:9`; unknown `--words` do not count."""
    return any(match.group(1).lower() in _ALIASES for match in _FLAG.finditer(text))


def build_request(
    *,
    prompt: str,
    options: Options,
    avoid: str = "",
    inputs: tuple[InputFile, ...] = (),
    parent_task_id: int | None = None,
    relation: str | None = None,
    fresh: bool = False,
    source: str = "command",
    count: int = 1,
    brand: bool = True,
) -> GenerationRequest:
    """A request from any surface, checked the same way: a prompt, valid options, within kie's limits."""
    return checked(
        GenerationRequest(
            prompt=prompt.strip(),
            options=options,
            avoid=avoid.strip(),
            inputs=inputs,
            parent_task_id=parent_task_id,
            relation=relation if parent_task_id else None,
            fresh=fresh or count > 1,  # variations are new images, never an earlier one again
            source=source,
            count=count,
            brand=brand,
        )
    )


def checked(request: GenerationRequest) -> GenerationRequest:
    """The request, if today's rules take it; a stored task asked again (Regenerate, Retry) is checked here too, since
    it may come from an older version with other rules."""
    if not request.prompt.strip():
        raise CommandError("Tell me what to draw, for example `/banana a lighthouse at dawn, isometric --ar 16:9`.")
    options = request.options
    for name, value, allowed in (
        ("ar", options.aspect_ratio, ASPECT_RATIOS),
        ("res", options.resolution, RESOLUTIONS),
        ("format", options.output_format, OUTPUT_FORMATS),
    ):
        if value not in allowed:
            _pick(name, value or "", allowed, "")
    if not 1 <= request.count <= MAX_VARIATIONS:
        raise CommandError(f"I make 1 to {MAX_VARIATIONS} images at once; {request.count} were asked for.")
    if too_many := too_many_inputs(len(request.inputs)):
        raise CommandError(too_many)
    prompt = kie_prompt(request)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise CommandError(
            f"That prompt is {len(prompt):,} characters; kie takes at most {MAX_PROMPT_CHARS:,}. "
            "Shorten it and try again."
        )
    return request


def _pick(
    flag: str, value: str | None, allowed: tuple[str, ...], default: str, aliases: dict[str, str] | None = None
) -> str:
    if value is None:
        return default
    by_folded = aliases or {a.casefold(): a for a in allowed}
    chosen = by_folded.get(value.casefold())
    if chosen is None:
        shown = f"`{value}`" if value else "nothing"
        raise CommandError(f"`--{flag}` got {shown}; use one of {', '.join(f'`{a}`' for a in allowed)}.")
    return chosen


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<([^@#!>][^|>]*)(?:\|([^>]*))?>")  # <https://…|label>, <mailto:…>
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def message_words(text: str, bot_user_id: str | None) -> str:
    """What a person wrote to Banana in a message, as plain words: the mention of Banana taken out, links as their
    labels, and Slack's escaping of &, < and > undone (https://api.slack.com/reference/surfaces/formatting#escaping).
    Mentions of other people stay as Slack wrote them."""
    text = _MENTION.sub(lambda m: "" if m.group(1) == bot_user_id else m.group(0), text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    for entity, character in _ENTITIES:
        text = text.replace(entity, character)
    return text.strip()


def mentions(text: str, user_id: str | None) -> bool:
    """Whether a message's text mentions this user (Banana: such a message also arrives as an app_mention)."""
    return bool(user_id) and any(m.group(1) == user_id for m in _MENTION.finditer(text))

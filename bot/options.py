"""What a generation request is, every option kie offers, and parsing `/banana` text into a request."""

from __future__ import annotations

import re
from dataclasses import dataclass

from prompts import compose_prompt

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto")
RESOLUTIONS = ("1K", "2K", "4K")
OUTPUT_FORMATS = ("png", "jpg")
MAX_PROMPT_CHARS = 10_000  # kie's limit for input.prompt
MAX_INPUT_IMAGES = 8


@dataclass(frozen=True)
class Prices:
    """Credits one image costs at each resolution; a failed task costs nothing. Settings may change them."""

    one_k: int = 18
    two_k: int = 18
    four_k: int = 24

    def __getitem__(self, resolution: str) -> int:
        return {"1K": self.one_k, "2K": self.two_k, "4K": self.four_k}[resolution]

    def summary(self) -> str:
        """`1K and 2K cost 18 credits, 4K costs 24`: resolutions with the same price named together."""
        groups: dict[int, list[str]] = {}
        for resolution in RESOLUTIONS:
            groups.setdefault(self[resolution], []).append(resolution)
        parts = []
        for price, names in groups.items():
            who = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
            parts.append(f"{who} {'costs' if len(names) == 1 else 'cost'} {price}")
        return parts[0] + " credits" + "".join(f", {part}" for part in parts[1:])


# What kie charges for nano-banana-pro today; the PRICE_1K, PRICE_2K and PRICE_4K settings override it.
PRICES = Prices()


@dataclass(frozen=True)
class Options:
    aspect_ratio: str
    resolution: str
    output_format: str

    def summary(self) -> str:
        return f"{self.aspect_ratio} · {self.resolution} · {self.output_format}"


@dataclass(frozen=True)
class InputFile:
    """A Slack file chosen as an input image; the name is only for showing it."""

    id: str
    name: str = ""


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    options: Options
    avoid: str = ""
    inputs: tuple[InputFile, ...] = ()
    parent_task_id: int | None = None  # set when the input is a result of this app
    relation: str | None = None  # how it came from the parent: remix, regenerate, upscale, retry
    fresh: bool = False  # generate anew even if an identical request already has an image

    @property
    def kie_prompt(self) -> str:
        return compose_prompt(self.prompt, self.avoid)


class CommandError(ValueError):
    """Input the user must fix; the message says what is wrong and how to fix it."""


_FLAG = re.compile(r"(?<!\S)(?:--|\u2014|\u2013)([A-Za-z][\w-]*)(?:=(\S*))?")  # -- or em/en dash
_ALIASES = {
    "ar": "ar",
    "aspect": "ar",
    "res": "res",
    "resolution": "res",
    "format": "format",
    "no": "no",
    "fresh": "fresh",
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
                f"I don't know the option `--{match.group(1)}`. Use `--ar`, `--res`, `--format`, `--no` or `--fresh`; "
                "`/banana help` shows them all."
            )
        if name in values:
            raise CommandError(f"`--{name}` is given twice; keep one.")
        rest = text[match.end() : end]
        if name == "no":
            values[name] = ((match.group(2) or "") + rest).strip()
            continue
        if name == "fresh":  # a switch: it takes no value
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
    return build_request(prompt=prompt, options=options, avoid=values.get("no", ""), fresh="fresh" in values)


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
) -> GenerationRequest:
    """A request from any surface, checked the same way: a prompt, valid options, within kie's limits."""
    prompt = prompt.strip()
    if not prompt:
        raise CommandError("Tell me what to draw, for example `/banana a lighthouse at dawn, isometric --ar 16:9`.")
    for name, value, allowed in (
        ("ar", options.aspect_ratio, ASPECT_RATIOS),
        ("res", options.resolution, RESOLUTIONS),
        ("format", options.output_format, OUTPUT_FORMATS),
    ):
        if value not in allowed:
            _pick(name, value or "", allowed, "")
    if len(inputs) > MAX_INPUT_IMAGES:
        raise CommandError(f"kie takes at most {MAX_INPUT_IMAGES} images; {len(inputs)} were given.")
    request = GenerationRequest(
        prompt=prompt,
        options=options,
        avoid=avoid.strip(),
        inputs=inputs,
        parent_task_id=parent_task_id,
        relation=relation if parent_task_id else None,
        fresh=fresh,
    )
    if len(request.kie_prompt) > MAX_PROMPT_CHARS:
        raise CommandError(
            f"That prompt is {len(request.kie_prompt):,} characters; kie takes at most {MAX_PROMPT_CHARS:,}. "
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

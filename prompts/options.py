"""Every option kie offers and what a generation request is: plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto")
RESOLUTIONS = ("1K", "2K", "4K")
OUTPUT_FORMATS = ("png", "jpg")
MAX_PROMPT_CHARS = 10_000  # kie's limit for input.prompt
MAX_INPUT_IMAGES = 8
MAX_VARIATIONS = 4  # images of one request made side by side (`--n`, the Variations button)

# How a task came from its parent, as the card says it ("edit of #12").
RELATIONS = {
    "edit": "edit of",
    "remix": "remix of",
    "variation": "variation of",
    "upscale": "4K version of",
    "regenerate": "again from",
    "retry": "retry of",
}


@dataclass(frozen=True)
class Prices:
    """Credits one image costs at each resolution; a failed task costs nothing. Settings may change them."""

    one_k: int = 18
    two_k: int = 18
    four_k: int = 24

    def __getitem__(self, resolution: str) -> int:
        return {"1K": self.one_k, "2K": self.two_k, "4K": self.four_k}[resolution]


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
    relation: str | None = None  # how it came from the parent: one of RELATIONS
    fresh: bool = False  # generate anew even if an identical request already has an image
    source: str = "command"  # the surface it came from: command, form, studio:<kind>, saved:<id>, button, mention
    count: int = 1  # how many images of it to make side by side (variations); each is its own task
    brand: bool = True  # the workspace's brand images may go with it (`--no-brand` turns them off for one image)


class CommandError(ValueError):
    """Input the user must fix; the message says what is wrong and how to fix it."""

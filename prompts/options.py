"""Every option kie offers and what a generation request is: plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto")
RESOLUTIONS = ("1K", "2K", "4K")
OUTPUT_FORMATS = ("png", "jpg")
MAX_PROMPT_CHARS = 10_000  # kie's limit for input.prompt
MAX_INPUT_IMAGES = 8
MAX_VARIATIONS = 4  # images of one request made side by side (`--n`, the Variations button)

# The kie models a task runs on (docs.kie.ai/market/google/pro-image-to-image, docs.kie.ai/market/topaz/image-upscale).
NANO_BANANA_PRO = "nano-banana-pro"
TOPAZ_UPSCALE = "topaz/image-upscale"
# kie's upscaler: "The longest side of the uploaded image resolution × upscale_factor cannot exceed 20,000 pixels",
# JPEG, PNG or WebP, "Maximum file size: 10MB" (kie.ai/topaz-image-upscale).
UPSCALE_FACTORS = (2, 4)
UPSCALE_MAX_SIDE = 20_000
UPSCALE_MAX_BYTES = 10 * 1024 * 1024

# How a task came from its parent, as the card says it ("edit of #12").
RELATIONS = {
    "edit": "edit of",
    "remix": "remix of",
    "variation": "variation of",
    "upscale": "4K version of",  # drawn again at 4K (the Redraw at 4K button)
    "upscale_x2": "upscale ×2 of",  # the same picture, enlarged by kie's upscaler
    "upscale_x4": "upscale ×4 of",
    "regenerate": "again from",
    "retry": "retry of",
}


@dataclass(frozen=True)
class Prices:
    """Credits one image costs at each resolution; a failed task costs nothing. Settings may change them."""

    one_k: int = 18
    two_k: int = 18
    four_k: int = 24
    # kie's upscaler by the result's size (a price key of `upscale_price_key`): 10 credits up to 2K, 20 up to 4K, 40
    # beyond, as kie's model listing gives them (kie-cli-mcp v3.0.1 release notes; unverified, so shown with ≈).
    upscale_2k: int = 10
    upscale_4k: int = 20
    upscale_8k: int = 40

    def __getitem__(self, key: str) -> int:
        """The price of a resolution ("1K") or of an upscale's result size ("upscale 4K")."""
        return {
            "1K": self.one_k,
            "2K": self.two_k,
            "4K": self.four_k,
            "upscale 2K": self.upscale_2k,
            "upscale 4K": self.upscale_4k,
            "upscale 8K": self.upscale_8k,
        }[key]

    def dearest(self, model: str) -> int:
        """The most one image of `model` can cost."""
        if model == TOPAZ_UPSCALE:
            return max(self.upscale_2k, self.upscale_4k, self.upscale_8k)
        return max(self.one_k, self.two_k, self.four_k)


# What kie charges for nano-banana-pro today; the PRICE_1K, PRICE_2K and PRICE_4K settings override it.
PRICES = Prices()


def upscale_price_key(longest_side: int) -> str:
    """The price key of an upscale whose result's longest side is this many pixels."""
    if longest_side <= 2048:
        return "upscale 2K"
    return "upscale 4K" if longest_side <= 4096 else "upscale 8K"


# Nano Banana Pro's longest side at 1K for each aspect ratio; 2K doubles it and 4K quadruples it (Google's table of
# Gemini 3 Pro Image sizes, ai.google.dev/gemini-api/docs/image-generation). "auto" may be any: the longest is assumed.
_LONGEST_AT_1K = {
    "1:1": 1024,
    "2:3": 1264,
    "3:2": 1264,
    "3:4": 1200,
    "4:3": 1200,
    "4:5": 1152,
    "5:4": 1152,
    "9:16": 1376,
    "16:9": 1376,
    "21:9": 1584,
}


def drawn_longest_side(aspect_ratio: str, resolution: str) -> int:
    """The longest side of an image Nano Banana Pro draws with these options, for a result whose size was not read."""
    longest = _LONGEST_AT_1K.get(aspect_ratio, max(_LONGEST_AT_1K.values()))
    return longest * {"1K": 1, "2K": 2, "4K": 4}.get(resolution, 4)


def upscale_refusal(longest_side: int, factor: int) -> str | None:
    """Why kie's upscaler cannot enlarge an image with this longest side by `factor`, or None when it can."""
    if factor not in UPSCALE_FACTORS:
        return f"Upscale takes ×{' or ×'.join(map(str, UPSCALE_FACTORS))}, not ×{factor}."
    if longest_side * factor > UPSCALE_MAX_SIDE:
        return (
            f"×{factor} would make it {longest_side * factor:,} px on its longest side, and kie.ai's upscaler stops at "
            f"{UPSCALE_MAX_SIDE:,} px."
        )
    return None


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
    model: str = NANO_BANANA_PRO  # the kie model it runs on
    upscale_factor: int | None = None  # an upscale: how many times larger (its one input is the image to enlarge)
    size: tuple[int, int] | None = None  # an upscale: the result's width and height, known before it is made

    @property
    def price_key(self) -> str:
        """What the price table prices it by: its resolution, or for an upscale its result's size."""
        if self.model == TOPAZ_UPSCALE and self.size:
            return upscale_price_key(max(self.size))
        return self.options.resolution


class CommandError(ValueError):
    """Input the user must fix; the message says what is wrong and how to fix it."""

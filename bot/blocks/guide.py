"""`/banana help`: every option, the surfaces and the prices, in one private message."""

from __future__ import annotations

from bot.blocks.cards import VARIATIONS_BUTTON_COUNT
from bot.blocks.text import ESTIMATE, prices_text
from prompts.options import ASPECT_RATIOS, MAX_VARIATIONS, OUTPUT_FORMATS, PRICES, RESOLUTIONS, Options, Prices


def help_text(defaults: Options, prices: Prices = PRICES) -> str:
    return "\n".join(
        [
            "*Banana* makes images with Nano Banana Pro.",
            "`/banana <what to draw> [--ar RATIO] [--res SIZE] [--format png|jpg] [--no THINGS TO LEAVE OUT] "
            f"[--n 2-{MAX_VARIATIONS}] [--no-brand]`",
            "",
            f"• `--ar` aspect ratio: {', '.join(f'`{a}`' for a in ASPECT_RATIOS)} (default `{defaults.aspect_ratio}`)",
            f"• `--res` resolution: {', '.join(f'`{r}`' for r in RESOLUTIONS)} (default `{defaults.resolution}`;"
            f" {prices_text(prices)})",
            f"• `--format`: {', '.join(f'`{f}`' for f in OUTPUT_FORMATS)} (default `{defaults.output_format}`)",
            "• `--no`: what to leave out, for example `--no text, watermarks`",
            f"• `--n`: make `2` to `{MAX_VARIATIONS}` images of the prompt at once, each charged as one image",
            "• `--no-brand`: leave the workspace's brand images (its logo and style references) out of this image",
            "",
            "Example: `/banana a lighthouse at dawn, isometric --ar 16:9 --res 2K`",
            "A progress message appears in the channel and the image arrives in its thread.",
            "",
            "*Edit in the thread:* in a result's thread, mention Banana with what to change, for example "
            "`@Banana make the sky stormy --ar 9:16`: it edits the newest image there; "
            "add its number (`#12`, on its card and caption) to pick an earlier one.",
            f"*Variations* on a result makes {VARIATIONS_BUTTON_COUNT} more images of the same request at once. "
            "In the Home tab, *Family* shows what an image came from and what was made from it.",
            "",
            "*Start from images:* use *Remix with Banana* from the ⋮ menu of any message with images (up to 8), "
            "press *Remix* on a result, or type `/banana` alone (or use the *New image* shortcut) for a form where you "
            "can upload PNG, JPEG or WebP images.",
            "",
            "*Prompt studio:* long, branded prompts written for you. Each opens a form with layouts, templates and "
            "styles, then shows the prompt so you can edit it before generating.",
            "• `/banana infographic <topic or notes>`: an infographic, for example from a podcast episode",
            '• `/banana quote "<quote>" — <name>, <role>`: a quote card',
            "• `/banana timeline <name>`: a career timeline",
            "Press *Save prompt* on any finished image to keep its prompt in the workspace's library; "
            "`/banana prompts` lists them, each with a *Use* button.",
            "",
            "`/banana usage` shows what you and the workspace have spent, and any limits. Failed images cost nothing.",
            f"Prices with {ESTIMATE} are estimates from Banana's price table; an image shows kie.ai's exact cost, "
            f"without {ESTIMATE}, once kie.ai reports it.",
        ]
    )

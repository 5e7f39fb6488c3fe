"""How many input images kie takes, checked in one place for every surface (the command's request, the form)."""

from __future__ import annotations

from prompts.options import MAX_INPUT_IMAGES


def too_many_inputs(count: int) -> str | None:
    """What to tell the person when `count` input images are more than kie takes; None when they fit."""
    if count > MAX_INPUT_IMAGES:
        return f"kie takes at most {MAX_INPUT_IMAGES} images; {count} were given."
    return None

"""Turning what a user asks for into the prompt kie receives.

The prompt studio's catalog is in `prompts.catalog` and its builders in `prompts.builders`; import them from there.
They use `bot.options`, which imports this package, so this file must not import them.
"""

from prompts.compose import compose_prompt

__all__ = ["compose_prompt"]

"""Turning what a user asks for into the prompt kie receives."""

from prompts.compose import compose_prompt

__all__ = ["compose_prompt"]

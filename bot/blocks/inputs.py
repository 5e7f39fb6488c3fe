"""The text field every form uses: a label, a box of at most `most` characters, filled with what is known."""

from __future__ import annotations

from slack_sdk.models.blocks import InputBlock, PlainTextInputElement


def text_input(
    block_id: str,
    label: str,
    initial: str | None,
    *,
    most: int | None = None,
    optional: bool = False,
    multiline: bool = False,
    placeholder: str | None = None,
    hint: str | None = None,
) -> InputBlock:
    """A text field whose action id is its block id, so a submission reads it by one name."""
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        hint=hint,
        element=PlainTextInputElement(
            action_id=block_id,
            multiline=multiline,
            max_length=most,
            initial_value=initial or None,
            placeholder=placeholder,
        ),
    )

"""Pure prompt builders."""


def compose_prompt(prompt: str, avoid: str = "") -> str:
    """The user's prompt, with what to leave out stated as a plain negative instruction.

    Nano Banana Pro has no negative-prompt field, so `--no` becomes words the model reads.
    """
    prompt = prompt.strip()
    avoid = avoid.strip().rstrip(".")
    if not avoid:
        return prompt
    return f"{prompt}\n\nDo not include: {avoid}."

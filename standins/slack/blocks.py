"""Block Kit checks shared by messages (chat.*, response_url, files.completeUploadExternal) and views.

The limits and error wording follow Slack's Block Kit reference; errors carry the JSON pointer Slack puts in its
``invalid_blocks`` / ``invalid_arguments`` messages.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .core import SlackError, SlackFile, as_str

MAX_MESSAGE_BLOCKS = 50
MAX_MESSAGE_TEXT = 40_000

BLOCK_TYPES = {
    "actions",
    "call",
    "context",
    "context_actions",
    "divider",
    "file",
    "header",
    "image",
    "input",
    "markdown",
    "rich_text",
    "section",
    "table",
    "video",
}
SLACK_FILE_IMAGE_TYPES = {"png", "jpg", "jpeg", "gif"}


def text_arg(args: dict[str, Any]) -> str | None:
    text = as_str(args.get("text"))
    if text is not None and len(text) > MAX_MESSAGE_TEXT:
        raise SlackError("msg_too_long")
    return text


def blocks_arg(args: dict[str, Any], limit: int, files: Mapping[str, SlackFile]) -> list[dict[str, Any]] | None:
    raw = args.get("blocks")
    if raw is None or raw == "":
        return None
    if not isinstance(raw, list):
        # A string here is one that did not decode as JSON.
        raise SlackError("invalid_blocks_format")
    errors = block_errors(raw, limit, "/blocks", files)
    if errors:
        raise SlackError(
            "invalid_blocks", errors=errors, response_metadata={"messages": [f"[ERROR] {e}" for e in errors]}
        )
    return raw


def text_errors(obj: Any, pointer: str, *, max_len: int, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"must provide a text object [json-pointer:{pointer}]"]
    if plain_only and obj["type"] != "plain_text":
        return [f"must be a plain_text object [json-pointer:{pointer}/type]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(text) > max_len:
        return [f"must be less than {max_len + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _text_input_errors(element: dict[str, Any], at: str) -> list[str]:
    """Slack's limits on a plain_text_input: lengths from 0 to 3000, and an initial value within them."""
    errors: list[str] = []
    for key in ("min_length", "max_length"):
        value = element.get(key)
        if value is not None and (not isinstance(value, int) or not 0 <= value <= 3000):
            errors.append(f"must be between 0 and 3000 [json-pointer:{at}/{key}]")
    initial = element.get("initial_value")
    if initial is not None and (not isinstance(initial, str) or len(initial) > 3000):
        errors.append(f"must be less than 3001 characters [json-pointer:{at}/initial_value]")
    return errors


def block_errors(blocks: Any, limit: int, pointer: str, files: Mapping[str, SlackFile] | None) -> list[str]:
    """Every problem Slack would report for ``blocks`` (at ``pointer``); ``files`` resolves slack_file images.

    With ``files=None`` only the shape is checked: a slack_file is not looked up (views do that after, see
    :func:`slack_file_errors`)."""
    if not isinstance(blocks, list):
        return [f"must provide an array [json-pointer:{pointer}]"]
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"no more than {limit} items allowed [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        at = f"{pointer}/{index}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"must provide an object with a type [json-pointer:{at}]")
            continue
        block_type = block["type"]
        if block_type not in BLOCK_TYPES:
            errors.append(f"unsupported type: {block_type} [json-pointer:{at}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                errors.append(f"must be 1-255 characters [json-pointer:{at}/block_id]")
            elif block_id in block_ids:
                errors.append(f"duplicate block_id [json-pointer:{at}/block_id]")
            block_ids.add(str(block_id))
        errors.extend(_one_block_errors(block, at, files))
    return errors


def _one_block_errors(block: dict[str, Any], at: str, files: Mapping[str, SlackFile] | None) -> list[str]:
    block_type = block["type"]
    errors: list[str] = []
    if block_type == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"must provide either text or fields [json-pointer:{at}]")
        if "text" in block:
            errors.extend(text_errors(block["text"], f"{at}/text", max_len=3000))
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or not 0 < len(fields) <= 10:
                errors.append(f"must provide 1-10 items [json-pointer:{at}/fields]")
            else:
                for i, item in enumerate(fields):
                    errors.extend(text_errors(item, f"{at}/fields/{i}", max_len=2000))
        if "accessory" in block:
            errors.extend(_element_errors(block["accessory"], f"{at}/accessory", files))
    elif block_type == "header":
        errors.extend(text_errors(block.get("text"), f"{at}/text", max_len=150, plain_only=True))
    elif block_type == "image":
        errors.extend(_image_errors(block, at, files))
        if "title" in block:
            errors.extend(text_errors(block["title"], f"{at}/title", max_len=2000, plain_only=True))
    elif block_type == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= 25:
            errors.append(f"must provide 1-25 items [json-pointer:{at}/elements]")
        else:
            action_ids: set[str] = set()
            for i, element in enumerate(elements):
                errors.extend(_element_errors(element, f"{at}/elements/{i}", files))
                action_id = element.get("action_id") if isinstance(element, dict) else None
                if action_id is not None:
                    if action_id in action_ids:
                        errors.append(f"duplicate action_id [json-pointer:{at}/elements/{i}/action_id]")
                    action_ids.add(action_id)
    elif block_type == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= 10:
            errors.append(f"must provide 1-10 items [json-pointer:{at}/elements]")
        else:
            for i, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") == "image":
                    errors.extend(_image_errors(element, f"{at}/elements/{i}", files))
                else:
                    errors.extend(text_errors(element, f"{at}/elements/{i}", max_len=3000))
    elif block_type == "input":
        errors.extend(text_errors(block.get("label"), f"{at}/label", max_len=2000, plain_only=True))
        element = block.get("element")
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            errors.append(f"must provide an element [json-pointer:{at}/element]")
        else:
            errors.extend(_element_errors(element, f"{at}/element", files))
        if "hint" in block:
            errors.extend(text_errors(block["hint"], f"{at}/hint", max_len=2000, plain_only=True))
    elif block_type == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not 0 < len(text) <= 12000:
            errors.append(f"must be 1-12000 characters [json-pointer:{at}/text]")
    return errors


def _element_errors(element: Any, at: str, files: Mapping[str, SlackFile] | None) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"must provide an element object [json-pointer:{at}]"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or not 0 < len(action_id) <= 255):
        errors.append(f"must be 1-255 characters [json-pointer:{at}/action_id]")
    if element["type"] == "button":
        errors.extend(text_errors(element.get("text"), f"{at}/text", max_len=75, plain_only=True))
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            errors.append(f"must be less than 2001 characters [json-pointer:{at}/value]")
        url = element.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > 3000):
            errors.append(f"must be less than 3001 characters [json-pointer:{at}/url]")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"must be primary or danger [json-pointer:{at}/style]")
    elif element["type"] == "image":
        errors.extend(_image_errors(element, at, files))
    elif element["type"] == "plain_text_input":
        errors.extend(_text_input_errors(element, at))
    elif element["type"] == "file_input":
        # https://docs.slack.dev/reference/block-kit/block-elements/file-input-element: 1 to 10 files.
        most = element.get("max_files")
        if most is not None and (not isinstance(most, int) or not 1 <= most <= 10):
            errors.append(f"must be between 1 and 10 [json-pointer:{at}/max_files]")
    elif element["type"] == "checkboxes":
        # https://docs.slack.dev/reference/block-kit/block-elements/checkboxes-element: 1 to 10 options.
        options = element.get("options")
        if not isinstance(options, list) or not 0 < len(options) <= 10:
            errors.append(f"must provide 1-10 items [json-pointer:{at}/options]")
    return errors


def _image_errors(image: dict[str, Any], at: str, files: Mapping[str, SlackFile] | None) -> list[str]:
    errors: list[str] = []
    alt_text = image.get("alt_text")
    if not isinstance(alt_text, str) or not 0 < len(alt_text) <= 2000:
        errors.append(f"must be 1-2000 characters [json-pointer:{at}/alt_text]")
    has_url, has_file = "image_url" in image, "slack_file" in image
    if has_url == has_file:
        errors.append(f"must provide exactly one of image_url or slack_file [json-pointer:{at}]")
    elif has_url:
        url = image["image_url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 3000:
            errors.append(f"downloading image failed [json-pointer:{at}/image_url]")
    else:
        problem = _slack_file_problem(image["slack_file"], files)
        if problem:
            errors.append(f"{problem} [json-pointer:{at}/slack_file]")
    return errors


def slack_file_errors(blocks: Any, pointer: str, files: Mapping[str, SlackFile]) -> list[str]:
    """The images in ``blocks`` whose slack_file is not a usable file: unknown, deleted (in Slack itself, or with
    files.delete), never shared, or not an image.

    Slack checks the file when the blocks are posted, so a file deleted after an earlier post makes the same blocks
    invalid: views.publish then fails with ``invalid_blocks`` and "invalid slack file" (bolt-python#1251).
    https://api.slack.com/reference/block-kit/composition-objects#slack_file
    https://api.slack.com/methods/views.publish
    """
    errors: list[str] = []
    for image, at in _images(blocks, pointer):
        ref = image.get("slack_file")
        if ref is None:
            continue
        problem = _slack_file_problem(ref, files)
        if problem:
            errors.append(f"{problem} [json-pointer:{at}/slack_file]")
    return errors


def _images(blocks: Any, pointer: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every image in ``blocks`` with its JSON pointer: image blocks, section accessories, context elements."""
    if not isinstance(blocks, list):
        return
    for index, block in enumerate(blocks):
        if not isinstance(block, dict):
            continue
        at = f"{pointer}/{index}"
        if block.get("type") == "image":
            yield block, at
        accessory = block.get("accessory")
        if block.get("type") == "section" and isinstance(accessory, dict) and accessory.get("type") == "image":
            yield accessory, f"{at}/accessory"
        elements = block.get("elements")
        if block.get("type") == "context" and isinstance(elements, list):
            for i, element in enumerate(elements):
                if isinstance(element, dict) and element.get("type") == "image":
                    yield element, f"{at}/elements/{i}"


def _slack_file_problem(ref: Any, files: Mapping[str, SlackFile] | None) -> str | None:
    if not isinstance(ref, dict) or ("id" in ref) == ("url" in ref):
        return "must provide exactly one of id or url"
    if files is None:
        return None
    file: SlackFile | None
    if "id" in ref:
        file = files.get(ref["id"])
    else:
        file = next(
            (f for f in files.values() if ref["url"] in (f.url_private, f.url_private_download, f.permalink)),
            None,
        )
    # A file uploaded without a channel is private to the uploader: Slack says "invalid slack file".
    if file is None or file.deleted or file.share_ts is None or file.filetype not in SLACK_FILE_IMAGE_TYPES:
        return "invalid slack file"
    return None

"""Text for Slack: escaping, shortening to Slack's limits, credit figures, clocks, bars and the time to come.

User text is always escaped, so a prompt pings nobody. Outside text (prompts, file names, names people type, kie.ai's
messages, links) is always cut to fit the place it goes: Slack refuses a whole message or view when one text is too
long. Credit figures from the price table are estimates and say so with "≈"; kie.ai's own figure is shown as it is.
"""

from __future__ import annotations

import math

from prompts.estimates import Estimate
from prompts.options import RESOLUTIONS, Prices

BAR_WIDTH = 20

# Slack's Block Kit limits, in characters (https://api.slack.com/reference/block-kit).
SECTION_CHARS = 3000  # a section's text
CONTEXT_CHARS = 3000  # one context element's text; a context block holds at most CONTEXT_ELEMENTS
CONTEXT_ELEMENTS = 10
HEADER_CHARS = 150
BUTTON_TEXT_CHARS = 75
BUTTON_VALUE_CHARS = 2000
OPTION_TEXT_CHARS = 75  # a select's plain_text option
MODAL_TITLE_CHARS = 24
CONFIRM_TITLE_CHARS = 100
CONFIRM_TEXT_CHARS = 300
METADATA_CHARS = 3000  # a view's private_metadata
ALT_TEXT_CHARS = 2000
FALLBACK_CHARS = 300  # a message's `text`: Slack takes 40,000, but notifications show one line
FAILURE_CHARS = 1500  # a failure message on a card or in a notice; the middle (kie.ai's words) goes first
LINK_CHARS = 1000  # a link longer than this is left out rather than cut (a cut link leads nowhere)

ESTIMATE = "≈"


def escape(text: str) -> str:
    """Slack's three control characters; escaping them turns `<!channel>` or `<@U123>` into plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int) -> str:
    """Plain text cut at the end to at most `limit` characters, with "…" where it was cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[: max(0, limit)]
    return text[: limit - 1].rstrip() + "…"


def shorten_middle(text: str, limit: int) -> str:
    """Plain text cut in the middle to at most `limit` characters: its start and its end (often the advice) stay."""
    text = text.strip()
    if len(text) <= limit or limit < 3:
        return shorten(text, limit)
    head = (limit - 1) // 2
    tail = limit - 1 - head
    return text[:head].rstrip() + "…" + text[len(text) - tail :].lstrip()


def escaped(text: str, limit: int, *, middle: bool = False) -> str:
    """`text` escaped for mrkdwn, then at most `limit` characters long, counted after escaping and never cut inside
    an escape. Cut at the end, or with `middle` in the middle so the start and the end both stay."""
    text = text.strip()
    pieces = [escape(char) for char in text]
    if sum(len(piece) for piece in pieces) <= limit:
        return "".join(pieces)
    if limit <= 1:
        return "…"[: max(0, limit)]
    if not middle:
        return _take(pieces, limit - 1).rstrip() + "…"
    head = _take(pieces, (limit - 1) // 2)
    tail = "".join(reversed(_take_reversed(pieces, limit - 1 - len(head))))
    return head.rstrip() + "…" + tail.lstrip()


def _take(pieces: list[str], budget: int) -> str:
    taken: list[str] = []
    for piece in pieces:
        budget -= len(piece)
        if budget < 0:
            break
        taken.append(piece)
    return "".join(taken)


def _take_reversed(pieces: list[str], budget: int) -> list[str]:
    """The last pieces that fit in `budget`, last first."""
    taken: list[str] = []
    for piece in reversed(pieces):
        budget -= len(piece)
        if budget < 0:
            break
        taken.append(piece)
    return taken


def clip(mrkdwn: str, limit: int) -> str:
    """Text already written as mrkdwn, cut at the end to at most `limit` characters, never inside a link, a mention
    or an escape."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = mrkdwn[: max(0, limit - 1)]
    opened = cut.rfind("<")
    if opened > cut.rfind(">"):
        cut = cut[:opened]
    amp = cut.rfind("&")
    if amp >= 0 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut.rstrip() + "…" if limit >= 1 else ""


def link(url: str | None, label: str) -> str | None:
    """A mrkdwn link, or None when the address is not one Slack can show whole: too long, or not plain http(s)."""
    if not url or len(url) > LINK_CHARS or not url.startswith(("https://", "http://")):
        return None
    if any(char in url for char in "<>| \n\t"):
        return None
    return f"<{url}|{escape(label)}>"


# ------------------------------------------------------------------------------------------------------ credits


def credit_amount(amount: float) -> str:
    """A number of credits as people read it: 18, 17.5, 0.25, 1,234; never "18.0", at most two decimals."""
    if not math.isfinite(amount):
        return str(amount)
    rounded = round(float(amount), 2) + 0.0  # + 0.0: never "-0"
    if rounded == int(rounded):
        return f"{int(rounded):,}"
    return f"{rounded:,.2f}".rstrip("0")


def approx(amount: float, *, exact: bool) -> str:
    """A credit figure: "17.5" when kie.ai reported it, "≈18" when it is an estimate (the price table's)."""
    return credit_amount(amount) if exact else ESTIMATE + credit_amount(amount)


def credits_text(amount: float, *, exact: bool) -> str:
    """ "≈18 credits" (an estimate), "17.5 credits" (kie.ai's own figure), "1 credit"."""
    number = approx(amount, exact=exact)
    return f"{number} credit" if credit_amount(amount) == "1" else f"{number} credits"


def prices_text(prices: Prices) -> str:
    """`1K and 2K cost ≈18 credits, 4K costs ≈24`: the price table, an estimate, with equal prices named together."""
    groups: dict[int, list[str]] = {}
    for resolution in RESOLUTIONS:
        groups.setdefault(prices[resolution], []).append(resolution)
    parts = []
    for price, names in groups.items():
        who = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        parts.append(f"{who} {'costs' if len(names) == 1 else 'cost'} {approx(price, exact=False)}")
    return parts[0] + " credits" + "".join(f", {part}" for part in parts[1:])


# ------------------------------------------------------------------------------------------------ clocks and bars


def clock(seconds: float) -> str:
    """0:07, 1:42, 1:02:03."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_bar(fraction: float) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled)


RANGE_DASH = "\u2013"  # an en dash, as ranges are printed
NEARLY_DONE = 0.95  # the bar of a task past its typical time, or uploading: never full before the image is there


def time_to_come(elapsed: float, estimate: Estimate | None) -> str:
    """What a card says of the time still to come, claiming no more than Banana knows: "no estimate yet" without
    history; "usually 20 to 45 s" (with a dash) where tasks vary widely; else "about 0:12 left", then "finishing…"
    once the typical time has passed, and "taking longer than usual" once nine tenths of tasks would have been done."""
    if estimate is None:
        return "no estimate yet"
    if elapsed >= estimate.high:
        return "taking longer than usual"
    if estimate.typical is None:
        return f"usually {duration_range(estimate.low, estimate.high)}"
    left = estimate.typical - elapsed
    return f"about {clock(left)} left" if left >= 1 else "finishing…"


def progress_fraction(elapsed: float, estimate: Estimate | None) -> float | None:
    """How full the bar is: elapsed against the typical time (or the range's end); None, no bar, without an estimate."""
    if estimate is None:
        return None
    goal = estimate.typical if estimate.typical is not None else estimate.high
    return min(elapsed / goal, NEARLY_DONE) if goal > 0 else NEARLY_DONE


def duration_range(low: float, high: float) -> str:
    """A range as people say it, widened to round numbers, never narrowed: 20 to 45 s, 40 s to 1.5 min, 1 to 2.5 min,
    each written with RANGE_DASH."""
    start, end = rough_duration(low, up=False), rough_duration(high, up=True)
    if start == end:
        return end
    start_amount, start_unit = start.split(" ")
    return f"{start_amount}{RANGE_DASH}{end}" if end.endswith(f" {start_unit}") else f"{start}{RANGE_DASH}{end}"


def rough_duration(seconds: float, *, up: bool) -> str:
    """ "20 s" (in steps of 5 s) under a minute, "1.5 min" (in half minutes) from there; rounded up or down."""
    step = 5 if seconds < 60 else 30
    steps = math.ceil(seconds / step) if up else math.floor(seconds / step)
    rounded = max(step, steps * step)
    if rounded < 60:
        return f"{rounded} s"
    return f"{rounded / 60:g} min"

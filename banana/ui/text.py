"""Text for Slack: escaping, shortening, clocks and bars. User text is always escaped, so a prompt pings nobody."""

from __future__ import annotations

BAR_WIDTH = 20


def escape(text: str) -> str:
    """Slack's three control characters; escaping them turns `<!channel>` or `<@U123>` into plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def clock(seconds: float) -> str:
    """0:07, 1:42, 1:02:03."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_bar(fraction: float) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled)

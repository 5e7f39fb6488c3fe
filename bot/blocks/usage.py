"""The words of `/banana usage`: a person's and the workspace's spend against the caps, and kie.ai's balance."""

from __future__ import annotations

from bot.blocks.text import FAILURE_CHARS, approx, credit_amount, credits_text, escaped, prices_text
from prompts.options import Prices
from prompts.usage import Spend, UsageReport


def usage_text(report: UsageReport, *, balance: str | None = None) -> str:
    """The private answer to `/banana usage`. `balance` is the kie.ai line, for admins only."""
    lines = [
        "*Banana usage* (days and months in UTC)",
        f"• *You today:* {_line(report.today, report.user_daily_cap, 'a day')}",
        f"• *You this month:* {_line(report.month, None, '')}",
        f"• *The workspace this month:* {_line(report.workspace_month, report.workspace_monthly_cap, 'a month')}",
    ]
    if balance is not None:  # it may carry kie.ai's own words
        lines.append(f"• *kie.ai balance:* {escaped(balance, FAILURE_CHARS, middle=True)}")
    lines.append(f"Prices: {prices_text(report.prices)}. A failed image costs nothing.")
    lines.append("≈ marks an estimate from the price table; kie.ai's own figures are shown without it.")
    return "\n".join(lines)


def _line(spend: Spend, cap: int | None, per: str) -> str:
    credits = credits_text(spend.credits, exact=not spend.credits_estimated)
    text = f"{spend.images} image{'' if spend.images == 1 else 's'} · {credits}"
    if spend.running:
        text += f" · {spend.running_images} running ({credits_text(spend.running, exact=False)} when done)"
    if cap is not None:
        left = approx(max(0, cap - spend.committed), exact=not spend.committed_estimated)
        text += f" · limit {credit_amount(cap)} {per}, {left} left"
    return text


def balance_text(balance: float, prices: Prices, resolution: str) -> str:
    """The kie.ai balance as admins see it (kie.ai's own figure, maybe fractional), with a warning when it cannot pay
    for one more image at the price table's estimate."""
    text = credits_text(balance, exact=True)
    if balance < prices[resolution]:
        price = credits_text(prices[resolution], exact=False)
        text += f" :warning: not enough for one {resolution} image ({price}); top it up at kie.ai"
    return text

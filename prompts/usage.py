"""What a person and a workspace have spent, as `/banana usage` shows it: plain data, counted by bot/services/budget.py
and worded by bot/blocks/usage.py."""

from __future__ import annotations

from dataclasses import dataclass

from prompts.options import Prices


@dataclass(frozen=True)
class Spend:
    """What a person or a workspace used in one period."""

    images: int  # images delivered
    credits: float  # credits recorded on their tasks
    running_images: int = 0  # tasks still running, whose credits are not recorded yet
    running: int = 0  # those tasks at their price
    exact_credits: float = 0.0  # the part of `credits` kie.ai itself reported

    @property
    def credits_estimated(self) -> bool:
        """Whether any of the recorded credits came from the price table rather than from kie.ai."""
        return abs(self.credits - self.exact_credits) >= 0.005

    @property
    def committed(self) -> float:
        """Credits spent plus credits the running tasks will cost: what a cap is checked against."""
        return self.credits + self.running

    @property
    def committed_estimated(self) -> bool:
        return self.credits_estimated or self.running > 0


@dataclass(frozen=True)
class UsageReport:
    """Everything `/banana usage` shows a person."""

    today: Spend
    month: Spend
    workspace_month: Spend
    user_daily_cap: int | None
    workspace_monthly_cap: int | None
    prices: Prices

"""How long a task takes, from its command to its image in the thread, as far as Banana knows: plain data that the
engine works out from history and the card puts into words."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    """Seconds from the command to the image: the range most tasks end in (a tenth were done by `low`, nine tenths by
    `high`), and a `typical` time to count down from, only where the range is narrow enough to trust one."""

    low: float
    high: float
    typical: float | None = None

    @property
    def likely(self) -> float:
        """When to expect the image: the typical time, else the middle of the range."""
        return self.typical if self.typical is not None else (self.low + self.high) / 2

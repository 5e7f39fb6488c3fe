"""The engine's services, handed to listeners through Bolt's context (never through globals)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.budget import Budget
from bot.home import HomeTab
from bot.kie import KieClient
from bot.options import Options
from bot.runner import JobRunner
from bot.settings import Settings
from bot.slack import SlackDelivery
from bot.store import TaskStore
from prompts.catalog import Brand, Catalog


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: TaskStore
    kie: KieClient
    slack: SlackDelivery
    runner: JobRunner
    home: HomeTab
    budget: Budget  # prices, spend and the optional caps
    catalog: Catalog  # the prompt studio's layouts, templates and styles
    brand: Brand  # the brand every studio prompt follows (BRAND_FILE)

    @property
    def defaults(self) -> Options:
        return self.settings.defaults

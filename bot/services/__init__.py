"""The engine's services, handed to listeners through Bolt's context (never through globals: handlers.payloads
`services_of` reads them there)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clients.kie import KieClient
from bot.clients.slack import SlackDelivery
from bot.clients.tokens import Installs
from bot.jobs.runner import JobRunner
from bot.services.budget import Budget
from bot.services.home import HomeTab
from bot.services.starter import TaskStarter
from bot.services.tasks import Tasks
from bot.settings import Settings
from bot.store import TaskStore
from prompts.catalog import Brand, Catalog
from prompts.options import Options


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: TaskStore
    kie: KieClient
    slack: SlackDelivery
    runner: JobRunner
    starter: TaskStarter  # the one way every surface starts a task
    tasks: Tasks  # cancel, delete, and the cost kie reports
    home: HomeTab
    budget: Budget  # prices, spend and the optional caps
    catalog: Catalog  # the prompt studio's layouts, templates and styles
    brand: Brand  # the brand every studio prompt follows (BRAND_FILE)
    installs: Installs | None = None  # installed through OAuth in many workspaces; None: one workspace

    @property
    def defaults(self) -> Options:
        return self.settings.defaults

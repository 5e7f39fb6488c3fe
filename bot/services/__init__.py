"""The engine's services, handed to listeners through Bolt's context (never through globals)."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt.context.async_context import AsyncBoltContext

from bot.clients.kie import KieClient
from bot.clients.slack import SlackDelivery
from bot.clients.tokens import Installs
from bot.jobs.runner import JobRunner
from bot.services.budget import Budget
from bot.services.home import HomeTab
from bot.services.starter import TaskStarter
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
    home: HomeTab
    budget: Budget  # prices, spend and the optional caps
    catalog: Catalog  # the prompt studio's layouts, templates and styles
    brand: Brand  # the brand every studio prompt follows (BRAND_FILE)
    installs: Installs | None = None  # installed through OAuth in many workspaces; None: one workspace

    @property
    def defaults(self) -> Options:
        return self.settings.defaults


def services_of(context: AsyncBoltContext) -> Services:
    """The engine, as a listener gets it: put in every request's context by the app's middleware."""
    services = context["services"]
    assert isinstance(services, Services)
    return services

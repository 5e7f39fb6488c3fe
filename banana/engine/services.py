"""The engine's services, handed to listeners through Bolt's context (never through globals)."""

from __future__ import annotations

from dataclasses import dataclass

from slack_bolt.context.async_context import AsyncBoltContext

from banana.domain.options import Options
from banana.engine.budget import Budget
from banana.engine.home import HomeTab
from banana.engine.kie import KieClient
from banana.engine.runner import JobRunner
from banana.engine.settings import Settings
from banana.engine.slack import SlackDelivery
from banana.engine.starter import TaskStarter
from banana.engine.store import TaskStore
from banana.engine.tokens import Installs
from banana.prompts.catalog import Brand, Catalog


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

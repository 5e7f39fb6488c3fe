"""The engine's services, handed to listeners through Bolt's context (never through globals: handlers.payloads
`services_of` reads them there)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clients.kie import KieClient
from bot.clients.kie_keys import KieKeys
from bot.clients.slack import SlackDelivery
from bot.clients.tokens import Installs
from bot.jobs.runner import JobRunner
from bot.services.brand_kit import BrandKit
from bot.services.budget import Budget
from bot.services.home import HomeTab
from bot.services.starter import TaskStarter
from bot.services.tasks import Tasks
from bot.services.workspace_settings import WorkspaceSettings
from bot.settings import Settings
from bot.store import TaskStore
from prompts.catalog import Brand, Catalog
from prompts.options import Options


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: TaskStore
    kie: KieClient  # the operator's key
    kie_keys: KieKeys  # the key each workspace spends from: its own, or the operator's
    slack: SlackDelivery
    runner: JobRunner
    starter: TaskStarter  # the one way every surface starts a task
    tasks: Tasks  # cancel, delete, and the cost kie reports
    home: HomeTab
    budget: Budget  # prices, spend and the optional caps
    catalog: Catalog  # the prompt studio's layouts, templates and styles
    brand: Brand  # the operator's brand (BRAND_FILE): what a workspace without a brand kit follows
    installs: Installs | None = None  # installed through OAuth in many workspaces; None: one workspace
    workspaces: WorkspaceSettings | None = None  # each workspace's own settings, set by its admins
    brands: BrandKit | None = None  # each workspace's brand kit, set by its admins

    @property
    def defaults(self) -> Options:
        """The operator's defaults; a request in a workspace takes `defaults_for` it."""
        return self.settings.defaults

    async def thread_replies_in(self, team_id: str) -> bool:
        """Whether plain thread replies edit an image there: the operator allows it, and the workspace keeps it on."""
        if self.workspaces is None:
            return self.settings.thread_replies
        return (await self.workspaces.effective(team_id)).thread_replies

    async def elsewhere(self, team_id: str, channel_id: str | None) -> str | None:
        """The note for someone asking outside the channels the workspace lets Banana work in; None where it works."""
        return await self.workspaces.elsewhere(team_id, channel_id) if self.workspaces is not None else None

    async def brand_for(self, team_id: str) -> Brand:
        """The brand a workspace's studio prompts follow: its brand kit, else the operator's."""
        return self.brand if self.brands is None else await self.brands.brand_for(team_id)

    async def defaults_for(self, team_id: str) -> Options:
        if self.workspaces is None:
            return self.settings.defaults
        return await self.workspaces.defaults(team_id)

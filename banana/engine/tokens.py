"""Bot tokens when Banana is installed in many workspaces: each workspace's own, from the installation store, refreshed
before it expires (token rotation), one refresh per workspace at a time across replicas."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

from banana.engine.store import TaskStore, bot_for

log = logging.getLogger(__name__)


class NotInstalled(Exception):
    """The workspace has no installation: it uninstalled Banana, or its tokens were revoked."""


class FreshBots(AsyncInstallationStore):
    """The installation store as Bolt's authorization and the job runner both see it: a bot whose token is about to
    expire is refreshed first (`bot_for`), so Bolt never rotates a token itself and two replicas never both spend the
    same single-use refresh token."""

    def __init__(
        self, store: TaskStore, installations: AsyncInstallationStore, rotator: AsyncTokenRotator, *, minutes: int = 120
    ) -> None:
        self._store = store
        self._installations = installations
        self._rotator = rotator
        self._minutes = minutes

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self._installations.async_save(installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await self._installations.async_save_bot(bot)

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        return await bot_for(
            self._store,
            self._installations,
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
            rotator=self._rotator,
            minutes_before_expiry=self._minutes,
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        await self.async_find_bot(enterprise_id=enterprise_id, team_id=team_id)  # the bot's token, fresh first
        return await self._installations.async_find_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, is_enterprise_install=is_enterprise_install
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._installations.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self._installations.async_delete_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
        )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._installations.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)

    async def bot_token(self, team_id: str) -> str:
        """The workspace's bot token, for work outside a request (a job, a Home refresh)."""
        bot = await self.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            raise NotInstalled(team_id)
        return bot.bot_token


@dataclass(frozen=True)
class Installs:
    """What installing through OAuth needs: the workspaces' bots, kept fresh, and the OAuth flow's states."""

    bots: FreshBots
    states: AsyncOAuthStateStore

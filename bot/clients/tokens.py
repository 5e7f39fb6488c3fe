"""Bot tokens when Banana is installed in many workspaces: each workspace's own, from the installation store, refreshed
before it expires (token rotation), one refresh per workspace at a time across replicas; which installs are refused;
and what ends a workspace's stay (an uninstall, a revoked token, a refresh Slack refuses)."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings
from bot.store import TaskStore, bot_for

log = logging.getLogger(__name__)

# oauth.v2.access's answers to a refresh that mean the refresh token is dead for good (spent, revoked, or the app
# removed): https://api.slack.com/methods/oauth.v2.access, https://docs.slack.dev/authentication/using-token-rotation.
# Anything else (internal_error, a rate limit, bad_client_secret) is not the workspace's fault and is raised.
REFUSED_REFRESH = frozenset(
    {"invalid_refresh_token", "invalid_grant", "token_revoked", "account_inactive", "invalid_auth"}
)


class NotInstalled(Exception):
    """The workspace has no installation: it uninstalled Banana, its tokens were revoked, Slack refused to refresh
    them, or the operator no longer allows it (ALLOWED_WORKSPACES)."""


class FreshBots(AsyncInstallationStore):
    """The installation store as Bolt's authorization and the job runner both see it: a bot whose token is about to
    expire is refreshed first (`bot_for`), under a lock, so two callers never both spend the same single-use refresh
    token. A workspace the operator does not allow has no bot here; one whose refresh Slack refuses is forgotten
    (`forget_workspace`) and has none either."""

    def __init__(
        self,
        store: TaskStore,
        installations: AsyncInstallationStore,
        rotator: AsyncTokenRotator,
        *,
        allowed: Callable[[str | None, str | None], bool] = lambda _team, _enterprise: True,
        minutes: int = 120,
    ) -> None:
        self._store = store
        self._installations = installations
        self._rotator = rotator
        self._allowed = allowed
        self._minutes = minutes
        # Ends a workspace's running tasks (the job runner's `end_workspace`, set once the runner exists: the runner
        # needs these bots' tokens first).
        self.end_work: Callable[[str], int] = lambda _team: 0

    @property
    def logger(self) -> logging.Logger:
        return log

    async def forget_settings(self, team_id: str) -> None:
        await self._store.forget_settings(team_id)

    async def async_save(self, installation: Installation) -> None:
        await self._installations.async_save(installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await self._installations.async_save_bot(bot)

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        if not self._allowed(team_id, enterprise_id):
            return None  # kept as stored, in case the operator lists it again
        try:
            return await bot_for(
                self._store,
                self._installations,
                enterprise_id=enterprise_id,
                team_id=team_id,
                is_enterprise_install=is_enterprise_install,
                rotator=self._rotator,
                minutes_before_expiry=self._minutes,
            )
        except SlackTokenRotationError as error:
            code = error.api_error.response.get("error")
            if code not in REFUSED_REFRESH:
                raise
            why = f"Slack refused to refresh its bot token ({code})"
            await forget_workspace(self, self.end_work, team_id=team_id or "", enterprise_id=enterprise_id, why=why)
            return None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        # The bot's token, fresh first; none for a workspace not allowed or forgotten.
        if await self.async_find_bot(enterprise_id=enterprise_id, team_id=team_id) is None:
            return None
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
        """The workspace's bot token, for work outside a request (a job, a Home refresh). NotInstalled when there is
        none, so the work ends quietly, as after an uninstall."""
        if not self._allowed(team_id, None):
            raise NotInstalled(f"{team_id}, which is not in ALLOWED_WORKSPACES")
        bot = await self.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            raise NotInstalled(team_id)
        return bot.bot_token


async def forget_workspace(
    bots: FreshBots | None, end_work: Callable[[str], int], *, team_id: str, enterprise_id: str | None, why: str
) -> None:
    """Banana can no longer act in a workspace (uninstalled, its bot token revoked, or a refresh Slack refused): its
    installation is deleted, so nothing tries the dead token again, and its running tasks end quietly at their next
    step, and its admins' settings are deleted. One log line. Its history stays until an operator deletes it
    (`banana-bot forget-workspace`)."""
    ended = end_work(team_id)  # first: a job that meets the missing token meanwhile must find its work ended
    if bots is not None:
        await bots.async_delete_all(enterprise_id=enterprise_id, team_id=team_id)
        await bots.forget_settings(team_id)
    log.info("workspace %s: %s; its installation is forgotten and %d running task(s) end here", team_id, why, ended)


class Refusal(enum.Enum):
    """Why an install is refused."""

    ENTERPRISE = "an Enterprise Grid install"  # org-wide, or a workspace of an org: not supported yet
    NOT_ALLOWED = "not in ALLOWED_WORKSPACES"


def install_refusal(settings: Settings, installation: Installation) -> Refusal | None:
    """Whether Banana refuses this install (before anything of it is stored), and why."""
    if installation.enterprise_id or installation.is_enterprise_install:
        return Refusal.ENTERPRISE
    if not settings.may_install(installation.team_id, installation.enterprise_id):
        return Refusal.NOT_ALLOWED
    return None


async def revoke_tokens(client: AsyncWebClient, installation: Installation) -> None:
    """Revoke every token a refused install handed Banana (https://api.slack.com/methods/auth.revoke), so nothing
    usable is left behind; with its last token gone Slack treats the app as uninstalled
    (https://api.slack.com/events/app_uninstalled). A failure is logged: nothing was stored either way."""
    for token in (installation.bot_token, installation.user_token):
        if not token:
            continue
        try:
            await client.auth_revoke(token=token)
        except (SlackApiError, aiohttp.ClientError, OSError) as error:
            reason = error.response.get("error") if isinstance(error, SlackApiError) else type(error).__name__
            log.warning("could not revoke a token of the refused install in %s (%s)", installation.team_id, reason)


@dataclass(frozen=True)
class Installs:
    """What installing through OAuth needs: the workspaces' bots, kept fresh, and the OAuth flow's states."""

    bots: FreshBots
    states: AsyncOAuthStateStore

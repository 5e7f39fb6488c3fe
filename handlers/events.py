"""Events: the App Home tab shows the person who opens it their own tasks; an uninstall ends a workspace's work."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.clients.tokens import forget_workspace
from bot.services import services_of


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(app_home_opened)
    app.event("app_uninstalled")(app_uninstalled)
    app.event("tokens_revoked")(tokens_revoked)


async def app_home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
    if event.get("tab", "home") != "home":
        return
    await services_of(context).home.publish(context.team_id or "", event["user"])


async def app_uninstalled(context: AsyncBoltContext) -> None:
    """Banana was uninstalled: its tokens are gone, so its installation is forgotten and the workspace's tasks end
    quietly (there is nowhere left to post). Its history stays until an operator deletes it (`banana-bot forget`)."""
    await _forget_workspace(context, "uninstalled")


async def tokens_revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
    """Only the bot's token matters to Banana; a revoked user token changes nothing."""
    if (event.get("tokens") or {}).get("bot"):
        await _forget_workspace(context, "bot token revoked")


async def _forget_workspace(context: AsyncBoltContext, why: str) -> None:
    services = services_of(context)
    await forget_workspace(
        services.installs.bots if services.installs is not None else None,
        services.runner.end_workspace,
        team_id=context.team_id or "",
        enterprise_id=context.enterprise_id,
        why=why,
    )

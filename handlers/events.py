"""Events: the App Home tab shows the person who opens it their own tasks; an uninstall ends a workspace's work."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from bot.clients.tokens import forget_workspace
from handlers.payloads import Request, event_request, services_of


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(app_home_opened)
    app.event("app_uninstalled")(app_uninstalled)
    app.event("tokens_revoked")(tokens_revoked)


async def app_home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
    if event.get("tab", "home") != "home":
        return
    asking = event_request(event, context)
    await services_of(context).home.publish(asking.team_id, asking.user_id)


async def app_uninstalled(event: dict[str, Any], context: AsyncBoltContext) -> None:
    """Banana was uninstalled: its tokens are gone, so its installation is forgotten and the workspace's tasks end
    quietly (there is nowhere left to post). Its history stays until an operator deletes it (`banana-bot forget`)."""
    await _forget_workspace(event_request(event, context), context, "uninstalled")


async def tokens_revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
    """Only the bot's token matters to Banana; a revoked user token changes nothing."""
    if (event.get("tokens") or {}).get("bot"):
        await _forget_workspace(event_request(event, context), context, "bot token revoked")


async def _forget_workspace(asking: Request, context: AsyncBoltContext, why: str) -> None:
    services = services_of(context)
    await forget_workspace(
        services.installs.bots if services.installs is not None else None,
        services.runner.end_workspace,
        team_id=asking.team_id,
        enterprise_id=asking.enterprise_id,
        why=why,
    )

"""Events: the App Home tab shows the person who opens it their own tasks."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

from banana.engine.services import services_of


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(app_home_opened)


async def app_home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
    if event.get("tab", "home") != "home":
        return
    await services_of(context).home.publish(context.team_id or "", event["user"])

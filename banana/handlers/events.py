"""Events: the App Home tab shows the person who opens it their own tasks."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from banana.engine.services import Services


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(app_home_opened)


async def app_home_opened(event: dict, context: dict) -> None:
    if event.get("tab", "home") != "home":
        return
    services: Services = context["services"]
    await services.home.publish(event["user"])

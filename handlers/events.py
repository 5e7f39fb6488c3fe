"""Events: the App Home tab shows the person who opens it their own tasks."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import home_view
from bot.services import Services

HOME_TASKS = 20


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(app_home_opened)


async def app_home_opened(event: dict, client: AsyncWebClient, context: dict) -> None:
    if event.get("tab", "home") != "home":
        return
    services: Services = context["services"]
    user_id = event["user"]
    tasks = await services.store.for_user(user_id, limit=HOME_TASKS)
    await client.views_publish(user_id=user_id, view=home_view(tasks, services.defaults))

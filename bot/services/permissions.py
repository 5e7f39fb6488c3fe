"""Who may manage a task (cancel it, delete it): the person who asked for it, or a workspace admin."""

from __future__ import annotations

from bot.clients.slack import SlackDelivery
from prompts.tasks import Task


async def may_manage(slack: SlackDelivery, task: Task, user_id: str, verb: str) -> str | None:
    """None when `user_id` may `verb` the task; else what to tell them. Slack is asked only about someone else's."""
    if user_id == task.user_id or await slack.team(task.team_id).is_admin(user_id):
        return None
    return f"Only the person who asked for this image (<@{task.user_id}>) or an admin can {verb} it."

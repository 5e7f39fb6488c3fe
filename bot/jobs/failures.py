"""How a job ends early: a failure told to the person who asked, a shutdown, or a workspace that is gone."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot.clients.tokens import NotInstalled
from prompts.tasks import TaskState

WORKSPACE_GONE = "Banana was uninstalled from this workspace, or its access was revoked, so the task ended here."
# Slack's answers that mean the workspace's token no longer works: nothing more can be said there.
GONE_ERRORS = frozenset({"invalid_auth", "account_inactive", "token_revoked", "not_authed", "team_access_not_granted"})
INTERNAL_ERROR = "Something broke on our side. Try again; if it repeats, tell an admin."


def workspace_gone(error: Exception) -> bool:
    if isinstance(error, NotInstalled):
        return True
    return isinstance(error, SlackApiError) and error.response.get("error") in GONE_ERRORS


class TaskFailed(Exception):
    """Why a task ended without an image; `message` is written for the person who asked."""

    def __init__(self, code: str, message: str, *, state: TaskState = TaskState.FAILED, credits: float = 0) -> None:
        self.code = code
        self.message = message
        self.state = state
        self.credits = credits
        super().__init__(f"{code}: {message}")


class Stopping(Exception):
    """The app is shutting down, or another replica holds the task now: leave it as stored, for the next holder."""

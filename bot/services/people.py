"""Only people start work: a message written by a person, never one from a bot, an app, a workflow, Slackbot or an
edit. Every event path that can spend credits (mentions, thread replies, and any later one) goes through
`from_a_person` (as the listeners' `people_only` middleware, in handlers/payloads.py), so the rule lives here once.
"""

from __future__ import annotations

from typing import Any

# The message subtypes a person makes by writing (https://docs.slack.dev/reference/events/message, "Message
# subtypes"): a file shared with a message, a reply also sent to the channel, a /me message. Every other subtype is
# made by Slack or an app: bot_message (an integration or workflow), message_changed and message_deleted (an edit or a
# deletion, not a new request), message_replied, channel_join and the rest.
PEOPLE_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "me_message"})

# Slackbot (reminders, custom responses) has no bot_id, only this user id (Slack's API team, quoted in
# getsentry/gib-potato#84).
SLACKBOT = "USLACKBOT"


def from_a_person(event: dict[str, Any], bot_user_id: str | None) -> bool:
    """Whether `event` (a message or app_mention) is a message a person wrote, as Slack first delivered it.

    An app's post carries `bot_id` and `bot_profile` (https://docs.slack.dev/reference/events/message/bot_message:
    "detect if a message was sent by a bot by the presence of the bot_id and bot_profile fields"), and `app_id` also
    when it posts with a user token: none of them may start work, or two bots mentioning each other would loop.
    Slack sends app_mention again, with a new event_id, when a message is edited (bolt-js#960, slack-go#1256); the
    event then carries `edited`, and an edit is never a new request. Slack's own notices are `hidden`, and
    message_replied can come without its subtype (https://docs.slack.dev/reference/events/message/message_replied,
    "Bug alert"), but never with a `user` of its own.
    """
    user = event.get("user")
    return (
        bool(user)
        and user not in (bot_user_id, SLACKBOT)
        and not any(event.get(field) for field in ("bot_id", "bot_profile", "app_id", "edited", "hidden"))
        and (event.get("subtype") or None) in PEOPLE_SUBTYPES
    )

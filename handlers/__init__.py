"""Bolt listeners, one module per surface. Each parses, validates, acks first and hands work to the engine.

No listener module imports another: what they share lives below them, in the engine and the Block Kit builders.
"""

from slack_bolt.async_app import AsyncApp

from handlers import actions, commands, events, mentions, messages, shortcuts, views


def register(app: AsyncApp) -> None:
    # messages (the DM) before mentions: Bolt runs only the first listener a message event matches, and mentions
    # hears every message event.
    for surface in (commands, shortcuts, views, actions, events, messages, mentions):
        surface.register(app)
    # Last, and only here: they answer what none of the listeners above took (a button, shortcut or form from an
    # older version), so they must come after every one of them.
    actions.register_stale(app)

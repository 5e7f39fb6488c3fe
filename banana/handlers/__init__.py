"""Bolt listeners, one module per surface. Each parses, validates, acks first and hands work to the engine.

No listener module imports another: what they share lives below them, in the engine and the Block Kit builders.
"""

from slack_bolt.async_app import AsyncApp

from banana.handlers import actions, commands, events, mentions, shortcuts, views


def register(app: AsyncApp) -> None:
    for surface in (commands, shortcuts, views, actions, events, mentions):
        surface.register(app)
    # Last, and only here: they answer what none of the listeners above took (a button, shortcut or form from an
    # older version), so they must come after every one of them.
    actions.register_stale(app)

"""Bolt listeners, one module per surface. Each parses, validates, acks first and hands work to the engine."""

from slack_bolt.async_app import AsyncApp

from banana.handlers import actions, commands, events, shortcuts, studio, views


def register(app: AsyncApp) -> None:
    for surface in (commands, shortcuts, views, actions, events, studio):
        surface.register(app)

"""Bolt listeners, one module per surface. Each parses, validates, acks first and hands work to the engine."""

from slack_bolt.async_app import AsyncApp

from handlers import commands, events


def register(app: AsyncApp) -> None:
    commands.register(app)
    events.register(app)

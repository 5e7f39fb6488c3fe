"""Banana's composition root: image generation for Slack, driving Nano Banana Pro through the kie.ai API.

The app is three packages beside this one, each a floor; a module imports only from its own floor or the floors below
it (tests/test_layers.py), and nothing imports this package:

1. `prompts`: what text becomes: the shared vocabulary (options, the request, a task and its states), the `/banana`
   parser, the prompt studio's catalog and builders. Plain data and pure functions.
2. `bot`: Block Kit builders, then the engine's rooms: settings, the store, the clients of kie.ai and Slack, the jobs
   in flight, and the services people's actions call.
3. `handlers`: Bolt listeners, one module per surface; none imports another.

Here, on top: `app` (wiring, the server, `banana-bot doctor`), `sandbox` (the whole app between the local stand-ins)
and `cli` (the `banana-bot` command).
"""

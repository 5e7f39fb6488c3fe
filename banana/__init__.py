"""Banana: image generation for Slack, driving Nano Banana Pro through the kie.ai API.

Each subpackage is a floor; a module imports only from its own floor or the floors below it (tests/test_layers.py):

1. `domain`: the shared vocabulary: options, requests, tasks and their states. Plain data, no I/O.
2. `prompts`: what people ask for, turned into the prompt kie receives.
3. `ui`: pure Block Kit builders: data in, blocks out, no client.
4. `engine`: settings, store, kie client, Slack delivery, the runner, caps and limits.
5. `handlers`: Bolt listeners, one module per surface; none imports another.
6. `app`: the composition root: the Bolt app, HTTP and Socket Mode.
7. `sandbox`: the whole app between the local stand-ins.
8. `cli`: the `banana-bot` command.
"""

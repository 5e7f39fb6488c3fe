"""The engine and its Block Kit builders, in rooms that change together, from the ground up (tests/test_layers.py):

- `blocks`: pure Block Kit builders: data in, blocks out, no client, no parsing;
- `settings`, `redaction`: the configuration every room reads, and the log formatter that keeps secrets out;
- `store`: the only place that writes SQL: SQLite or PostgreSQL behind one interface;
- `clients`: kie.ai and Slack, with their limits, tokens, and the images that go to kie;
- `jobs`: the work in flight: the job runner, its poll schedule, edits in a thread;
- `services`: what people's actions call: starting a task, budgets, Home, privacy, who may start work.
"""

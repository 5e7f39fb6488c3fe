"""The benchmark: the real app between the kie.ai and Slack stand-ins, each in its own process (python -m bench)."""

"""``python -m standins.slack --port 8082 [--channels N] ...``: run the stand-in until interrupted."""

from .server import main

main()

"""No secret reaches a log line, whichever library logged it: the whole formatted line is redacted, traceback included.

Redacted are the secrets Banana knows (its configured ones, and any the engine learns and `remember`s) and anything
shaped like a credential, known or not: Slack tokens (`xoxb-…`, `xoxe.xoxb-…`, refresh tokens `xoxe-1-…`, app tokens
`xapp-…`), `Bearer …` values, `token=…`, `client_secret=…`, `code=…` and like pairs in form bodies, URLs, JSON and
Python reprs (slack_sdk's DEBUG lines print request and response bodies as dicts), and a PostgreSQL URL's password.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from logging import _SysExcInfoType

REDACTED = "[redacted]"

# Shorter values are not secrets worth mangling every log line for.
_SHORTEST_SECRET = 4

# Keys whose value is a credential: anything ending in token, secret, password or key of an API, and OAuth's code.
_KEY = r"(?i:\b\w*(?:token|secret|password|passwd|api_?key)|\bcode)"

_SHAPES = re.compile(
    "|".join(
        (
            # Slack's tokens; what follows the prefix is the secret. Not anchored to a word start: percent-encoded
            # text puts hex digits right before it (%22xoxb-…).
            r"(?P<slack>xox[a-z][-.]|xapp-)[\w.\-]+",
            r"(?P<bearer>(?i:bearer)\s+)[^\s'\",;&]+",
            # key=value in a form body, a query string or a keyword/value conninfo
            rf"(?P<pair>{_KEY}=)[^&\s'\",;]+",
            # "key": "value" (JSON) and 'key': 'value' (a Python dict's repr); bounded, so no input is quadratic
            rf"(?P<json>\"{_KEY}\"\s*:\s*)\"(?:[^\"\\]|\\.){{0,4096}}\"",
            rf"(?P<repr>'{_KEY}'\s*:\s*)'[^']{{0,4096}}'",
            # postgresql://user:password@host: up to the last @, as a password may hold an unescaped one
            r"(?P<url>postgres(?:ql)?://[^:/@\s'\"]*:)[^\s'\"]{0,512}(?=@)",
        )
    )
)


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    assert kind is not None
    if kind == "json":
        return f'{match[kind]}"{REDACTED}"'
    if kind == "repr":
        return f"{match[kind]}'{REDACTED}'"
    return f"{match[kind]}{REDACTED}"


class _Known:
    """The secrets known by value, as one compiled pattern (longest first, so none is left half-redacted)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self.pattern: re.Pattern[str] | None = None

    def add(self, values: tuple[str | None, ...]) -> None:
        with self._lock:
            new = {v for v in values if v and len(v) >= _SHORTEST_SECRET} - self._values
            if new:
                self._values |= new
                ordered = sorted(self._values, key=len, reverse=True)
                self.pattern = re.compile("|".join(map(re.escape, ordered)))


_known = _Known()


def remember(*secrets: str | None) -> None:
    """Redact these values from every log line from now on (empty and very short values are ignored)."""
    _known.add(secrets)


def redact(text: str) -> str:
    """`text` without any known secret or credential-shaped string."""
    pattern = _known.pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    return _SHAPES.sub(_replace, text)


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record. The traceback is redacted before logging caches it on the record
    (`record.exc_text`), so no other handler is handed a clear copy either."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))

    def formatException(self, ei: _SysExcInfoType) -> str:
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))


class RedactingHandler(logging.StreamHandler[TextIO]):
    """A stream handler whose report of a log call that failed to format names the call, not its arguments:
    logging's own prints the message and arguments as they are."""

    def handleError(self, record: logging.LogRecord) -> None:
        if logging.raiseExceptions:
            failure = sys.exc_info()[0]
            reason = failure.__name__ if failure else "error"
            sys.stderr.write(f"--- Logging error ({reason}) in a call at {record.pathname}:{record.lineno} ---\n")

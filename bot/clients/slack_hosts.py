"""Where a Slack token may go: the one rule every request carrying a bot token to a URL it was handed obeys.

A file's `url_private` is not always Slack's: a *remote* file (files.remote.add, any app in the workspace may add
one) keeps there the URL its creator chose, and Slack's page for it says never to send a token to it
(https://docs.slack.dev/reference/methods/files.remote.info). So a token goes only over https to Slack's own hosts,
`slack.com`, `slack-gov.com` (GovSlack) and their subdomains (`files.slack.com`, `files-origin.slack.com`, ...), on
the default port: the rule slack-go adopted for the same hole (v0.30.1, GHSA-3q3v-34v2-g88f). The one other origin
is the configured SLACK_API_URL's, scheme, host and port exactly: the operator chose it, and it is how the stand-ins
are reached in tests.

URLs are read with yarl, the parser aiohttp itself uses to send the request, so what is checked is what is asked.
"""

from __future__ import annotations

import re
from typing import Any

from yarl import URL

# Slack's domains: a token may go to these and any host under them.
SLACK_DOMAINS = ("slack.com", "slack-gov.com")
# A DNS name as Slack's hosts are spelled: letters, digits and hyphens in dot-separated labels, nothing else.
_DNS_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def may_carry_token(url: str, api_url: str) -> bool:
    """Whether `url` may be requested with a Slack token: https on a Slack host (default port), or exactly the
    origin (scheme, host, port) of `api_url`, the configured SLACK_API_URL. Anything that does not parse cleanly,
    carries a user name or password, or holds spaces, control characters or backslashes may not."""
    origin = _origin(url)
    if origin is None:
        return False
    if origin == _origin(api_url):
        return True
    scheme, host, port = origin
    return scheme == "https" and port == 443 and _is_slack_host(host)


def is_remote_file(file: dict[str, Any]) -> bool:
    """Whether a Slack file object is a remote (external) file: a link its creator keeps outside Slack, whose
    `url_private` points wherever they chose (https://docs.slack.dev/reference/methods/files.remote.add)."""
    return file.get("is_external") is True or file.get("mode") == "external"


def _origin(url: str) -> tuple[str, str, int] | None:
    if not url or any(c <= " " or c in "\\\x7f" for c in url):
        return None
    try:
        parsed = URL(url)
        port = parsed.port
    except ValueError:
        return None
    host = (parsed.raw_host or "").lower()
    scheme = parsed.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host or port is None or not 0 < port < 65536:
        return None
    if "@" in _authority(url):
        return None  # user info, even empty: `https://files.slack.com@evil.example/` goes to evil.example
    return scheme, host, port


def _authority(url: str) -> str:
    """The text between `//` and the path, query or fragment, as written (yarl drops an empty user info)."""
    rest = url.partition("//")[2]
    return re.split(r"[/?#]", rest, maxsplit=1)[0]


def _is_slack_host(host: str) -> bool:
    if not _DNS_NAME.fullmatch(host):
        return False  # an IP address, a percent-encoded name or anything else that is not a plain DNS name
    return any(host == domain or host.endswith("." + domain) for domain in SLACK_DOMAINS)
